from rankdistill.retrieval.dense import retrieve
from rankdistill.workflow import run

run(snakemake, retrieve, snakemake.input.index, snakemake.input.queries, snakemake.output.run,
    model=snakemake.params.model, pooling=snakemake.params.pooling, similarity=snakemake.params.similarity,
    query_length=snakemake.params.query_length, query_prefix=snakemake.params.query_prefix,
    depth=snakemake.params.depth, batch_size=snakemake.params.batch_size, threads=snakemake.threads,
    tag=snakemake.wildcards.first_stage)
