from rankdistill.retrieval.colbert import retrieve_configured
from rankdistill.workflow import run

run(snakemake, retrieve_configured, snakemake.input.index, snakemake.input.queries, snakemake.output.run,
    model=snakemake.params.model, index_kind=snakemake.params.index_kind, query_length=snakemake.params.query_length,
    depth=snakemake.params.depth, plaid=snakemake.params.plaid, batch_size=snakemake.params.batch_size,
    threads=snakemake.threads, tag=snakemake.wildcards.first_stage)
