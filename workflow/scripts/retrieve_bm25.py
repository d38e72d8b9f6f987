from rankdistill.config.settings import Bm25RetrieveSettings
from rankdistill.retrieval.bm25 import retrieve
from rankdistill.workflow import run

s = Bm25RetrieveSettings(**snakemake.params.settings)
run(snakemake, retrieve, snakemake.input.index, snakemake.input.queries, snakemake.output.run,
    threads=snakemake.threads, tag=snakemake.wildcards.first_stage, **s.kwargs())
