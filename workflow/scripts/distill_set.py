from rankdistill.config.settings import DistillSettings
from rankdistill.distill import build_distill_set
from rankdistill.workflow import run

s = DistillSettings(**snakemake.params.settings)
run(snakemake, build_distill_set, snakemake.input.ranking, snakemake.input.first_stage, snakemake.input.queries,
    snakemake.output.table, snakemake.output.run, snakemake.output.stats, name=snakemake.wildcards.distill_set,
    **s.kwargs())
