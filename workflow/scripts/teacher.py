from rankdistill.config.settings import TeacherSettings
from rankdistill.teacher import rerank_run_file
from rankdistill.workflow import run

s = TeacherSettings(**snakemake.params.settings)
run(snakemake, rerank_run_file, snakemake.input.run, snakemake.input.queries, snakemake.input.docstore,
    snakemake.output.run, snakemake.output.summary, **s.kwargs(), shard=snakemake.params.shard,
    shards=snakemake.params.shards, cache_dir=snakemake.params.cache_dir, convert_dir=snakemake.params.convert_dir,
    threads=snakemake.threads, tag=snakemake.wildcards.teacher)
