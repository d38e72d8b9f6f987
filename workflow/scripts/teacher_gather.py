from rankdistill.teacher import merge_shards
from rankdistill.workflow import run

run(snakemake, merge_shards, list(snakemake.input.runs), list(snakemake.input.summaries), snakemake.output.run,
    snakemake.output.summary, tag=snakemake.wildcards.teacher)
