rule index_bm25:
    input:
        docstore=R("collection/docs.sqlite"),
    output:
        index=directory(R("index/{first_stage}")),
    log:
        R("logs/index/{first_stage}.log"),
    benchmark:
        R("benchmarks/index/{first_stage}.tsv")
    wildcard_constraints:
        first_stage=_alternatives(names_of_kind("first_stages", "bm25")),
    conda:
        "../../envs/pyterrier.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(240),
    params:
        settings=PLAN.bm25_index,
        code=CODE("index_bm25.py"),
    script:
        "../scripts/index_bm25.py"


rule retrieve_bm25:
    input:
        index=query_index,
        queries=query_file("{query_set}"),
    output:
        run=R("first_stage/{first_stage}/{query_set}.run"),
    log:
        R("logs/first_stage/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/first_stage/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        first_stage=_alternatives(names_of_kind("first_stages", "bm25")),
    conda:
        "../../envs/pyterrier.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
    params:
        settings=PLAN.bm25_retrieve,
        code=CODE("retrieve_bm25.py"),
    script:
        "../scripts/retrieve_bm25.py"


# --- neural first stages (dense bi-encoder, ColBERT) and imported runs ------------------------


rule encode_dense:
    input:
        docstore=R("collection/docs.sqlite"),
    output:
        index=directory(R("index/{first_stage}")),
    log:
        R("logs/index/{first_stage}.log"),
    benchmark:
        R("benchmarks/index/{first_stage}.tsv")
    wildcard_constraints:
        first_stage=_alternatives(names_of_kind("first_stages", "dense")),
    conda:
        "../../envs/neural.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(480),
        gpu=1,
    params:
        settings=PLAN.dense_index,
        model_files=first_stage_model_files,
        code=CODE("encode_dense.py"),
    script:
        "../scripts/encode_dense.py"


rule retrieve_dense:
    input:
        index=query_index,
        queries=query_file("{query_set}"),
    output:
        run=R("first_stage/{first_stage}/{query_set}.run"),
    log:
        R("logs/first_stage/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/first_stage/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        first_stage=_alternatives(names_of_kind("first_stages", "dense")),
    conda:
        "../../envs/neural.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
        gpu=1,
    params:
        settings=PLAN.dense_retrieve,
        model_files=first_stage_model_files,
        code=CODE("retrieve_dense.py"),
    script:
        "../scripts/retrieve_dense.py"


rule encode_colbert:
    input:
        docstore=R("collection/docs.sqlite"),
    output:
        index=directory(R("index/{first_stage}")),
    log:
        R("logs/index/{first_stage}.log"),
    benchmark:
        R("benchmarks/index/{first_stage}.tsv")
    wildcard_constraints:
        first_stage=_alternatives(names_of_kind("first_stages", "colbert")),
    conda:
        "../../envs/neural.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(720),
        gpu=1,
    params:
        settings=PLAN.colbert_index,
        model_files=first_stage_model_files,
        code=CODE("encode_colbert.py"),
    script:
        "../scripts/encode_colbert.py"


rule index_plaid:
    input:
        index=R("index/{first_stage}"),
    output:
        plaid=directory(R("plaid/{first_stage}")),
    log:
        R("logs/plaid/{first_stage}.log"),
    benchmark:
        R("benchmarks/plaid/{first_stage}.tsv")
    wildcard_constraints:
        first_stage=_alternatives(
            [n for n in names_of_kind("first_stages", "colbert") if config["first_stages"][n]["index"] == "plaid"]
        ),
    conda:
        "../../envs/plaid.yaml"
    threads: 8
    resources:
        mem_mb=per_attempt(64000),
        runtime=per_attempt(720),
        gpu=1,
    params:
        settings=PLAN.plaid,
        code=CODE("index_plaid.py"),
    script:
        "../scripts/index_plaid.py"


rule retrieve_colbert:
    input:
        index=colbert_search_index,
        queries=query_file("{query_set}"),
    output:
        run=R("first_stage/{first_stage}/{query_set}.run"),
    log:
        R("logs/first_stage/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/first_stage/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        first_stage=_alternatives(names_of_kind("first_stages", "colbert")),
    conda:
        "../../envs/neural.yaml"
    threads: 4
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(240),
        gpu=1,
    params:
        settings=PLAN.colbert_retrieve,
        model_files=first_stage_model_files,
        code=CODE("retrieve_colbert.py"),
    script:
        "../scripts/retrieve_colbert.py"


rule import_run:
    input:
        queries=query_file("{query_set}"),
        docstore=query_docstore,
        source_file=imported_run_file,
    output:
        run=R("first_stage/{first_stage}/{query_set}.run"),
        summary=R("first_stage/{first_stage}/{query_set}.import.json"),
    log:
        R("logs/first_stage/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/first_stage/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        first_stage=_alternatives(names_of_kind("first_stages", "import")),
    conda:
        "../../envs/pyterrier.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(120),
    params:
        settings=PLAN.imported_run,
        cache_dir=R("cache/downloads"),
        code=CODE("import_run.py"),
    script:
        "../scripts/import_run.py"
