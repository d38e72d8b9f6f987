from rankdistill.retrieval.bm25 import build_index
from rankdistill.workflow import run

run(snakemake, build_index, snakemake.input.docstore, snakemake.output.index,
    backend=snakemake.params.backend, stemmer=snakemake.params.stemmer, threads=snakemake.threads)
