from rankdistill.config.settings import CollectionSettings
from rankdistill.datasets.build import build_collection
from rankdistill.workflow import run

s = CollectionSettings(**snakemake.params.settings)
run(snakemake, build_collection, s.spec, snakemake.output.docstore)
