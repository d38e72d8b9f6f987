from rankdistill.figures import write_figure
from rankdistill.workflow import run

run(snakemake, write_figure, snakemake.params.spec, snakemake.params.cells, snakemake.input.per_query,
    pdf=snakemake.output.pdf, png=snakemake.output.png, csv=snakemake.output.csv)
