from rankdistill.retrieval.colbert import build_index
from rankdistill.workflow import run

run(snakemake, build_index, snakemake.input.docstore, snakemake.output.index, model=snakemake.params.model,
    doc_length=snakemake.params.doc_length, batch_size=snakemake.params.batch_size,
    shard_size=snakemake.params.shard_size, threads=snakemake.threads)
