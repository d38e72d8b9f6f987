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
    params:
        backend=lambda wc: config["first_stages"][wc.first_stage]["backend"],
        stemmer=lambda wc: config["first_stages"][wc.first_stage]["stemmer"],
        code=code_version("rankdistill.retrieval.bm25", "rankdistill.datasets.docstore"),
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(240),
    conda:
        "../../envs/pyterrier.yaml"
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
    params:
        backend=lambda wc: config["first_stages"][wc.first_stage]["backend"],
        k1=lambda wc: config["first_stages"][wc.first_stage]["k1"],
        b=lambda wc: config["first_stages"][wc.first_stage]["b"],
        depth=lambda wc: config["first_stages"][wc.first_stage]["depth"],
        code=code_version("rankdistill.retrieval.bm25", "rankdistill.runs"),
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
    conda:
        "../../envs/pyterrier.yaml"
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
    params:
        model=first_stage_param("model"),
        model_files=first_stage_model_files,
        pooling=first_stage_param("pooling"),
        similarity=first_stage_param("similarity"),
        doc_length=first_stage_param("doc_length"),
        doc_prefix=first_stage_param("doc_prefix"),
        batch_size=first_stage_param("batch_size"),
        shard_size=first_stage_param("shard_size"),
        code=code_version("rankdistill.retrieval.dense", "rankdistill.retrieval.encoders"),
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(480),
        gpu=1,
    conda:
        "../../envs/neural.yaml"
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
    params:
        model=first_stage_param("model"),
        model_files=first_stage_model_files,
        pooling=first_stage_param("pooling"),
        similarity=first_stage_param("similarity"),
        query_length=first_stage_param("query_length"),
        query_prefix=first_stage_param("query_prefix"),
        depth=first_stage_param("depth"),
        batch_size=first_stage_param("batch_size"),
        code=code_version("rankdistill.retrieval.dense", "rankdistill.retrieval.encoders", "rankdistill.runs"),
    threads: 4
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
        gpu=1,
    conda:
        "../../envs/neural.yaml"
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
    params:
        model=first_stage_param("model"),
        model_files=first_stage_model_files,
        doc_length=first_stage_param("doc_length"),
        batch_size=first_stage_param("batch_size"),
        shard_size=first_stage_param("shard_size"),
        code=code_version("rankdistill.retrieval.colbert", "rankdistill.retrieval.encoders"),
    threads: 4
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(720),
        gpu=1,
    conda:
        "../../envs/neural.yaml"
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
    params:
        plaid=first_stage_param("plaid"),
        code=code_version("rankdistill.retrieval.colbert", "rankdistill.retrieval.encoders"),
    threads: 8
    resources:
        mem_mb=per_attempt(64000),
        runtime=per_attempt(720),
        gpu=1,
    conda:
        "../../envs/plaid.yaml"
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
    params:
        model=first_stage_param("model"),
        model_files=first_stage_model_files,
        index_kind=first_stage_param("index"),
        plaid=first_stage_param("plaid"),
        query_length=first_stage_param("query_length"),
        depth=first_stage_param("depth"),
        batch_size=first_stage_param("batch_size"),
        code=code_version("rankdistill.retrieval.colbert", "rankdistill.retrieval.encoders", "rankdistill.runs"),
    threads: 4
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(240),
        gpu=1,
    conda:
        "../../envs/neural.yaml"
    script:
        "../scripts/retrieve_colbert.py"


rule import_run:
    input:
        queries=query_file("{query_set}"),
        docstore=query_docstore,
        source_file=imported_run_file,
    output:
        run=R("first_stage/{first_stage}/{query_set}.run"),
    log:
        R("logs/first_stage/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/first_stage/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        first_stage=_alternatives(names_of_kind("first_stages", "import")),
    params:
        source=imported_run_source,
        depth=first_stage_param("depth"),
        cache_dir=R("cache/downloads"),
        code=code_version("rankdistill.retrieval.imported", "rankdistill.runs", "rankdistill.textfiles"),
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(120),
    conda:
        "../../envs/pyterrier.yaml"
    script:
        "../scripts/import_run.py"
