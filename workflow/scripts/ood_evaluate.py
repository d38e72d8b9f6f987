from rankdistill.ood import evaluate_cell
from rankdistill.workflow import run

run(snakemake, evaluate_cell, snakemake.input.run, snakemake.input.first_stage, snakemake.input.qrels,
    snakemake.output.per_query, measures=snakemake.params.measures, candidates=snakemake.params.candidates,
    depth=snakemake.params.depth)
