from rankdistill.config.settings import Stage1Settings
from rankdistill.train import train_stage1, validation_kwargs
from rankdistill.workflow import run

s = Stage1Settings(**snakemake.params.settings)
run(snakemake, train_stage1, s.backbone, snakemake.input.run, snakemake.input.qrels, snakemake.input.queries,
    snakemake.input.docstore, snakemake.output.model, snakemake.params.scratch, threads=snakemake.threads,
    name=snakemake.wildcards.stage1, validation=validation_kwargs(s.validation, snakemake.input), **s.train_kwargs())
