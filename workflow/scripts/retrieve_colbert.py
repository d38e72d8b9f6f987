from rankdistill.config.settings import ColbertRetrieveSettings
from rankdistill.retrieval.colbert import retrieve_configured
from rankdistill.workflow import run

s = ColbertRetrieveSettings(**snakemake.params.settings)
run(snakemake, retrieve_configured, snakemake.input.index, snakemake.input.queries, snakemake.output.run,
    threads=snakemake.threads, tag=snakemake.wildcards.first_stage, **s.kwargs())
