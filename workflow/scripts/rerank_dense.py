from rankdistill.retrieval.dense import rerank_run_file
from rankdistill.workflow import run

run(snakemake, rerank_run_file, snakemake.input.run, snakemake.input.queries, snakemake.input.docstore, snakemake.output.run,
    depth=snakemake.params.depth, threads=snakemake.threads, tag=snakemake.wildcards.reranker,
    **snakemake.params.settings)
