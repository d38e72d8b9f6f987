from rankdistill.config.settings import DenseRetrieveSettings
from rankdistill.retrieval.dense import retrieve
from rankdistill.workflow import run

s = DenseRetrieveSettings(**snakemake.params.settings)
run(snakemake, retrieve, snakemake.input.index, snakemake.input.queries, snakemake.output.run,
    threads=snakemake.threads, tag=snakemake.wildcards.first_stage, **s.kwargs())
