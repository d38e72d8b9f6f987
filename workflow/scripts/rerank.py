from rankdistill.config.settings import CrossEncoderRerankSettings
from rankdistill.students.rerank import rerank_run_file
from rankdistill.workflow import run

s = CrossEncoderRerankSettings(**snakemake.params.settings).kwargs()
run(snakemake, rerank_run_file, s.pop("model"), snakemake.input.run, snakemake.input.queries, snakemake.input.docstore,
    snakemake.output.run, tag=snakemake.wildcards.student, threads=snakemake.threads,
    cpu_model=snakemake.input.get("cpu_model"), **s)
