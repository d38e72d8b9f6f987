# Re-ranking: students (trained or released checkpoints) and the `rerankers:` section (bi-encoders, ColBERT,
# released cross-encoders, stage-1 models) re-rank each evaluated first stage's top-k; the runs join the table
# through system_run(). One rule per scorer: cross-encoders (students, `cross-encoder` and `stage1` re-rankers)
# share `rerank`; bi-encoders `rerank_dense`; score fusion `rerank_fusion`; ColBERT `rerank_colbert`.


rule convert_cpu:
    """A cross-encoder converted for a CPU runtime (ONNX Runtime / OpenVINO, fp32 or int8): rankdistill.students.cpu."""
    input:
        unpack(convert_cpu_inputs),
    output:
        model=directory(R("cpu/{student}/{engine}")),
    log:
        R("logs/cpu/{student}/{engine}.log"),
    wildcard_constraints:
        student=_alternatives(list(config.get("students", {})) + names_of_kind("rerankers", "cross-encoder", "stage1")),
        engine="onnx|onnx-int8|openvino|openvino-int8",
    conda:
        "../../envs/students.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    params:
        settings=PLAN.cpu_conversion,
        model_files=rerank_model_files,
        code=CODE("convert_cpu.py"),
    script:
        "../scripts/convert_cpu.py"


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
        student=_alternatives(list(config.get("students", {})) + names_of_kind("rerankers", "cross-encoder", "stage1")),
    conda:
        "../../envs/students.yaml"
    # one thread: a cross-encoder job is GPU-bound, or on a CPU mostly start-up (Python, torch, the model: ~8 s
    # of a BERT-tiny job that scores 2500 pairs in 1.6 s), so small CPU runs re-rank two or more cells at once;
    # `--set-threads rerank=N` for big CPU models
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
        gpu=1,
    params:
        settings=PLAN.cross_encoder_rerank,
        model_files=rerank_model_files,
        code=CODE("rerank.py"),
    script:
        "../scripts/rerank.py"


rule rerank_dense:
    input:
        unpack(candidate_inputs),
    output:
        run=R("rerank/{reranker}/{first_stage}/{query_set}.run"),
    log:
        R("logs/rerank/{reranker}/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/rerank/{reranker}/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        reranker=_alternatives(names_of_kind("rerankers", "dense")),
    conda:
        "../../envs/neural.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
        gpu=1,
    params:
        settings=PLAN.reranker,
        model_files=reranker_model_files,
        code=CODE("rerank_dense.py"),
    script:
        "../scripts/rerank_dense.py"


rule rerank_fusion:
    input:
        unpack(fusion_inputs),
    output:
        run=R("rerank/{reranker}/{first_stage}/{query_set}.run"),
    log:
        R("logs/rerank/{reranker}/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/rerank/{reranker}/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        reranker=_alternatives(names_of_kind("rerankers", "fusion")),
    conda:
        "../../envs/students.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        settings=PLAN.reranker,
        code=CODE("rerank_fusion.py"),
    script:
        "../scripts/rerank_fusion.py"


rule rerank_colbert:
    input:
        unpack(candidate_inputs),
    output:
        run=R("rerank/{reranker}/{first_stage}/{query_set}.run"),
    log:
        R("logs/rerank/{reranker}/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/rerank/{reranker}/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        reranker=_alternatives(names_of_kind("rerankers", "colbert")),
    conda:
        "../../envs/neural.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
        gpu=1,
    params:
        settings=PLAN.reranker,
        model_files=reranker_model_files,
        code=CODE("rerank_colbert.py"),
    script:
        "../scripts/rerank_colbert.py"
