from rankdistill.config.settings import Bm25IndexSettings
from rankdistill.retrieval.bm25 import build_index
from rankdistill.workflow import run

s = Bm25IndexSettings(**snakemake.params.settings)
run(snakemake, build_index, snakemake.input.docstore, snakemake.output.index, threads=snakemake.threads, **s.kwargs())
