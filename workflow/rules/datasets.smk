rule collection:
    input:
        corpus=collection_files,
    output:
        docstore=R("collection/docs.sqlite"),
    log:
        R("logs/collection.log"),
    benchmark:
        R("benchmarks/collection.tsv")
    conda:
        "../../envs/pyterrier.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(240),
    params:
        settings=PLAN.collection(),
        code=CODE("collection.py"),
    script:
        "../scripts/collection.py"


rule query_set:
    input:
        unpack(query_set_files),
    output:
        queries=R("queries/{query_set}/queries.tsv"),
        qrels=R("queries/{query_set}/qrels.txt"),
    log:
        R("logs/queries/{query_set}.log"),
    wildcard_constraints:
        query_set=_alternatives([q for q in config["query_sets"] if q not in names_of_kind("query_sets", "generated")]),
    conda:
        "../../envs/pyterrier.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        settings=PLAN.query_set,
        code=CODE("query_set.py"),
    script:
        "../scripts/query_set.py"


# Training queries generated from a collection (query_sets kind generated): the source passage is the
# positive (qrels); generated.json holds the counts, drops and why (rankdistill.datasets.generated).
# method llm runs an LLM (the teacher's backends and environment; a GPU for vllm); its prompt, model
# fingerprint and InPars-filter settings are params, the filter's BM25 index an input.


rule generate_queries:
    input:
        unpack(generated_query_inputs),
    output:
        queries=R("queries/{query_set}/queries.tsv"),
        qrels=R("queries/{query_set}/qrels.txt"),
        stats=R("queries/{query_set}/generated.json"),
    log:
        R("logs/queries/{query_set}.log"),
    benchmark:
        R("benchmarks/queries/{query_set}.tsv")
    wildcard_constraints:
        query_set=_alternatives(names_of_kind("query_sets", "generated")),
    conda:
        "../../envs/generate.yaml"
    threads: generated_threads
    resources:
        mem_mb=generated_mem,
        runtime=generated_runtime,
        gpu=generated_gpu,
    params:
        settings=PLAN.query_set,
        exclude=generated_exclude,
        prompt=generated_prompt,
        model_files=generated_model_files,
        filter_bm25=generated_filter_bm25,
        convert_dir=generated_convert_dir,
        code=CODE("generate_queries.py"),
    script:
        "../scripts/generate_queries.py"
