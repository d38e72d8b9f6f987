from rankdistill.config.settings import QuerySetSettings
from rankdistill.datasets.generated import build_generated_query_set
from rankdistill.workflow import run

s = QuerySetSettings(**snakemake.params.settings)
exclude = [(label, path, depth) for (label, depth), path in zip(snakemake.params.exclude, snakemake.input.exclude)]
run(snakemake, build_generated_query_set, s.spec, snakemake.wildcards.query_set, snakemake.input.docstore,
    snakemake.output.queries, snakemake.output.qrels, snakemake.output.stats, exclude=exclude,
    openings_queries=snakemake.input.get("openings"))
