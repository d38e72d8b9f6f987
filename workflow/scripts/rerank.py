from rankdistill.config.settings import CrossEncoderRerankSettings
from rankdistill.rerank import rerank_run
from rankdistill.workflow import run

s = CrossEncoderRerankSettings(**snakemake.params.settings).kwargs()
run(snakemake, rerank_run, s.pop("model"), snakemake.input.run, snakemake.input.queries, snakemake.input.docstore,
    snakemake.output.run, tag=snakemake.wildcards.student, threads=snakemake.threads, **s)
