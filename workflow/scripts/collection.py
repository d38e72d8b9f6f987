from rankdistill.datasets.build import build_collection
from rankdistill.workflow import run

run(snakemake, build_collection, snakemake.params.spec, snakemake.output.docstore)
