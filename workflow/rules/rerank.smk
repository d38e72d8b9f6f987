# Students (trained or released checkpoints) re-rank each evaluated first stage's top-k
# (evaluation.depth); the runs join the table through system_run().


def rerank_inputs(wildcards):
    st = config["students"][wildcards.student]
    inputs = {
        "run": first_stage_run(wildcards.first_stage, wildcards.query_set),
        "queries": query_file(wildcards.query_set),
        "docstore": "results/collection/docs.sqlite",
    }
    if st["kind"] == "trained":
        inputs["model"] = f"results/models/students/{wildcards.student}"
    return inputs


def rerank_model(wildcards):
    st = config["students"][wildcards.student]
    return st["model"] if st["kind"] == "pretrained" else f"results/models/students/{wildcards.student}"


def rerank_lengths(wildcards):
    """Length overrides: a pretrained checkpoint's own unless set; a trained student's are in its folder."""
    st = config["students"][wildcards.student]
    if st["kind"] == "pretrained":
        return {"query_length": st.get("query_length"), "doc_length": st.get("doc_length")}
    return {"query_length": None, "doc_length": None}


rule rerank:
    input:
        unpack(rerank_inputs),
    output:
        run="results/rerank/{student}/{first_stage}/{query_set}.run",
    log:
        "results/logs/rerank/{student}/{first_stage}/{query_set}.log",
    benchmark:
        "results/benchmarks/rerank/{student}/{first_stage}/{query_set}.tsv"
    wildcard_constraints:
        student=_alternatives(config.get("students", {})),
    params:
        model=rerank_model,
        depth=EVAL["depth"],
        lengths=rerank_lengths,
        inference=lambda wc: dict(config["students"][wc.student]["inference"]),
        code=code_version("rankdistill.rerank", "rankdistill.model", "rankdistill.runs"),
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
        gpu=1,
    conda:
        "../../envs/students.yaml"
    script:
        "../scripts/rerank.py"
