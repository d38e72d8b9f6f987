from rankdistill.evaluate import evaluate_run
from rankdistill.workflow import run

run(snakemake, evaluate_run, snakemake.input.run, snakemake.input.qrels, snakemake.output.per_query,
    measures=snakemake.params.measures, depth=snakemake.params.depth)
