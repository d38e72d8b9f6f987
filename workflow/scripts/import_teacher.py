from rankdistill.config.settings import ImportSettings
from rankdistill.retrieval.imported import import_run
from rankdistill.workflow import run

s = ImportSettings(**snakemake.params.settings)
run(snakemake, import_run, s.source, snakemake.output.run, queries=snakemake.input.queries, depth=s.depth,
    cache_dir=snakemake.params.cache_dir, docstore=snakemake.input.docstore, tag=snakemake.wildcards.teacher,
    unknown_docnos=s.unknown_docnos, summary=snakemake.output.summary)
