from rankdistill.config.settings import StudentSettings
from rankdistill.train import train_stage2, validation_kwargs
from rankdistill.workflow import run

s = StudentSettings(**snakemake.params.settings)
run(snakemake, train_stage2, s.start, snakemake.input.distill, snakemake.input.queries, snakemake.input.docstore,
    snakemake.output.model, snakemake.params.scratch, start_is_checkpoint="start" in snakemake.input.keys(),
    threads=snakemake.threads, name=snakemake.wildcards.student,
    validation=validation_kwargs(s.validation, snakemake.input), **s.train_kwargs())
