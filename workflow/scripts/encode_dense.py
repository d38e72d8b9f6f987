from rankdistill.config.settings import DenseIndexSettings
from rankdistill.retrieval.dense import build_index
from rankdistill.workflow import run

s = DenseIndexSettings(**snakemake.params.settings)
run(snakemake, build_index, snakemake.input.docstore, snakemake.output.index, threads=snakemake.threads, **s.kwargs())
