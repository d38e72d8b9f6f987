from rankdistill.distill import pool_distill_sets
from rankdistill.workflow import run

run(snakemake, pool_distill_sets, list(snakemake.input.tables), list(snakemake.input.stats), snakemake.output.table,
    snakemake.output.run, snakemake.output.stats, sources=snakemake.params.sources,
    name=snakemake.wildcards.distill_set)
