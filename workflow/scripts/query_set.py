from rankdistill.datasets.build import build_query_set
from rankdistill.workflow import run

run(snakemake, build_query_set, snakemake.params.spec, snakemake.params.collection,
    snakemake.output.queries, snakemake.output.qrels)
