from rankdistill.distill import build_distill_set
from rankdistill.workflow import run

spec = snakemake.params.spec
run(snakemake, build_distill_set, snakemake.input.ranking, snakemake.input.first_stage, snakemake.input.queries,
    snakemake.output.table, snakemake.output.run, snakemake.output.stats, num_queries=spec["queries"],
    depth=spec["depth"], mode=spec.get("mode", "projection"), seed=spec["seed"],
    min_candidates=spec["min_candidates"], name=snakemake.wildcards.distill_set)
