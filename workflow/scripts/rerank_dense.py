from rankdistill.config.settings import DenseRerankSettings
from rankdistill.retrieval.dense import rerank
from rankdistill.workflow import run

s = DenseRerankSettings(**snakemake.params.settings)
run(snakemake, rerank, snakemake.input.run, snakemake.input.queries, snakemake.input.docstore, snakemake.output.run,
    threads=snakemake.threads, tag=snakemake.wildcards.reranker, **s.kwargs())
