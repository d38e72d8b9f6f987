from rankdistill.ood import write_ood_table
from rankdistill.workflow import run

run(snakemake, write_ood_table, snakemake.params.spec, snakemake.params.cells, snakemake.input.per_query,
    tex=snakemake.output.tex, csv=snakemake.output.csv, md=snakemake.output.md)
