from rankdistill.config.settings import ColbertRerankSettings
from rankdistill.retrieval.colbert import rerank
from rankdistill.workflow import run

s = ColbertRerankSettings(**snakemake.params.settings)
run(snakemake, rerank, snakemake.input.run, snakemake.input.queries, snakemake.input.docstore, snakemake.output.run,
    threads=snakemake.threads, tag=snakemake.wildcards.reranker, **s.kwargs())
