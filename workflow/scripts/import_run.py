from rankdistill.retrieval.imported import import_run
from rankdistill.workflow import run

run(snakemake, import_run, snakemake.params.source, snakemake.output.run, queries=snakemake.input.queries,
    depth=snakemake.params.depth, cache_dir=snakemake.params.cache_dir, docstore=snakemake.input.docstore, tag=snakemake.wildcards.first_stage)
