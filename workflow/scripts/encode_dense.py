from rankdistill.retrieval.dense import build_index
from rankdistill.workflow import run

run(snakemake, build_index, snakemake.input.docstore, snakemake.output.index, model=snakemake.params.model,
    pooling=snakemake.params.pooling, similarity=snakemake.params.similarity,
    doc_length=snakemake.params.doc_length, doc_prefix=snakemake.params.doc_prefix,
    batch_size=snakemake.params.batch_size, shard_size=snakemake.params.shard_size, threads=snakemake.threads)
