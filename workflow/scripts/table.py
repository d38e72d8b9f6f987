from rankdistill.table import write_tables_for_cells
from rankdistill.workflow import run

run(snakemake, write_tables_for_cells, snakemake.params.spec, snakemake.params.cells, snakemake.input.per_query,
    tex=snakemake.output.tex, csv=snakemake.output.csv, md=snakemake.output.md)
