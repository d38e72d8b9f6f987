from rankdistill.students.train import student_settings, train_stage2, validation_kwargs
from rankdistill.workflow import run

s = student_settings(snakemake.params.spec)
run(snakemake, train_stage2, snakemake.params.start, snakemake.input.distill, snakemake.input.queries,
    snakemake.input.docstore, snakemake.output.model, snakemake.params.scratch,
    start_is_checkpoint="start" in snakemake.input.keys(), threads=snakemake.threads,
    name=snakemake.wildcards.student, validation=validation_kwargs(snakemake.params.spec.get("validation"),
                                                                   snakemake.input), **s)
