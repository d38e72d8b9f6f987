from rankdistill.provenance import write_summary
from rankdistill.workflow import run

run(snakemake, write_summary, list(snakemake.input.results), snakemake.output.md)
