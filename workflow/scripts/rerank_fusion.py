from rankdistill.config.settings import FusionRerankSettings
from rankdistill.retrieval.fusion import rerank_run_file
from rankdistill.workflow import run

s = FusionRerankSettings(**snakemake.params.settings)
components = dict(zip(s.components, snakemake.input.components))
run(snakemake, rerank_run_file, snakemake.input.run, components, snakemake.output.run, weights=s.components,
    normalization=s.normalization, rrf_k=s.rrf_k, depth=s.depth, tag=snakemake.wildcards.reranker)
