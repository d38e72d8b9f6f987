from rankdistill.config.settings import QuerySetSettings
from rankdistill.datasets.build import build_query_set
from rankdistill.workflow import run

s = QuerySetSettings(**snakemake.params.settings)
run(snakemake, build_query_set, s.spec, s.collection, snakemake.output.queries, snakemake.output.qrels)
