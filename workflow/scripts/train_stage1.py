from rankdistill.students.train import train_stage1, validation_kwargs
from rankdistill.workflow import run

s = dict(snakemake.params.spec)
backbone, ql, dl = s.pop("backbone"), s.pop("query_length"), s.pop("doc_length")
for key in ("first_stage", "query_set"):
    s.pop(key)
val = validation_kwargs(s.pop("validation", None), snakemake.input)
run(snakemake, train_stage1, backbone, snakemake.input.run, snakemake.input.qrels, snakemake.input.queries,
    snakemake.input.docstore, snakemake.output.model, snakemake.params.scratch, query_length=ql, doc_length=dl,
    threads=snakemake.threads, name=snakemake.wildcards.stage1, validation=val, **s)
