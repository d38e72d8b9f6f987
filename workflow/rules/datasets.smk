rule collection:
    input:
        corpus=collection_files,
    output:
        docstore=R("collection/docs.sqlite"),
    log:
        R("logs/collection.log"),
    benchmark:
        R("benchmarks/collection.tsv")
    params:
        settings=PLAN.collection(),
        code=CODE("collection.py"),
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(240),
    conda:
        "../../envs/pyterrier.yaml"
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
    params:
        settings=PLAN.query_set,
        code=CODE("query_set.py"),
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    conda:
        "../../envs/pyterrier.yaml"
    script:
        "../scripts/query_set.py"
