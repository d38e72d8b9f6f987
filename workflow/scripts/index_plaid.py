from rankdistill.retrieval.colbert import build_plaid
from rankdistill.workflow import run

run(snakemake, build_plaid, snakemake.input.index, snakemake.output.plaid, nbits=snakemake.params.plaid["nbits"],
    kmeans_niters=snakemake.params.plaid["kmeans_niters"], seed=snakemake.params.plaid["seed"],
    threads=snakemake.threads)
