from rankdistill.students.rerank import rerank_run_file
from rankdistill.workflow import run

run(snakemake, rerank_run_file, snakemake.params.model, snakemake.input.run, snakemake.input.queries,
    snakemake.input.docstore, snakemake.output.run, depth=snakemake.params.depth, tag=snakemake.wildcards.student,
    threads=snakemake.threads, **snakemake.params.lengths, **snakemake.params.inference)
