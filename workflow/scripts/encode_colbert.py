from rankdistill.config.settings import ColbertIndexSettings
from rankdistill.retrieval.colbert import build_index
from rankdistill.workflow import run

s = ColbertIndexSettings(**snakemake.params.settings)
run(snakemake, build_index, snakemake.input.docstore, snakemake.output.index, threads=snakemake.threads, **s.kwargs())
