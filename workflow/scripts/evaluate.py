from rankdistill.config.settings import EvaluationSettings
from rankdistill.evaluate import evaluate_run
from rankdistill.workflow import run

s = EvaluationSettings(**snakemake.params.settings)
run(snakemake, evaluate_run, snakemake.input.run, snakemake.input.qrels, snakemake.output.per_query, **s.kwargs())
