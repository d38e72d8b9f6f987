from rankdistill.export import export_student
from rankdistill.workflow import run

run(snakemake, export_student, snakemake.input.model, snakemake.output.folder, name=snakemake.wildcards.student,
    info=snakemake.params.info, table=snakemake.input.table)
