# Students (trained or released checkpoints) re-rank each evaluated first stage's top-k
# (inference.depth, default evaluation.depth); the runs join the table through system_run().


rule rerank:
    input:
        unpack(rerank_inputs),
    output:
        run=R("rerank/{student}/{first_stage}/{query_set}.run"),
    log:
        R("logs/rerank/{student}/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/rerank/{student}/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        student=_alternatives(config.get("students", {})),
    params:
        model=rerank_model,
        model_files=student_model_files,
        depth=lambda wc: config["students"][wc.student]["inference"]["depth"] or EVAL["depth"],
        lengths=rerank_lengths,
        inference=lambda wc: {k: v for k, v in config["students"][wc.student]["inference"].items() if k != "depth"},
        code=code_version("rankdistill.rerank", "rankdistill.model", "rankdistill.packed", "rankdistill.runs"),
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
        gpu=1,
    conda:
        "../../envs/students.yaml"
    script:
        "../scripts/rerank.py"
