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
