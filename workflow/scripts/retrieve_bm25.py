from rankdistill.retrieval.bm25 import retrieve
from rankdistill.workflow import run

run(snakemake, retrieve, snakemake.input.index, snakemake.input.queries, snakemake.output.run,
    backend=snakemake.params.backend, k1=snakemake.params.k1, b=snakemake.params.b,
    depth=snakemake.params.depth, threads=snakemake.threads, tag=snakemake.wildcards.first_stage)
