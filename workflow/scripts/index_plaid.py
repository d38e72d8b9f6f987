from rankdistill.config.settings import PlaidSettings
from rankdistill.retrieval.colbert import build_plaid
from rankdistill.workflow import run

s = PlaidSettings(**snakemake.params.settings)
run(snakemake, build_plaid, snakemake.input.index, snakemake.output.plaid, threads=snakemake.threads, **s.kwargs())
