from rankdistill.teacher import rerank
from rankdistill.workflow import run

run(snakemake, rerank, snakemake.input.run, snakemake.input.queries, snakemake.input.docstore,
    snakemake.output.run, snakemake.output.summary, **snakemake.params.settings,
    limit_queries=snakemake.params.limit_queries, shard=snakemake.params.shard, shards=snakemake.params.shards,
    cache_dir=snakemake.params.cache_dir, convert_dir=snakemake.params.convert_dir, threads=snakemake.threads,
    tag=snakemake.wildcards.teacher)
