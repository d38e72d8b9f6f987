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
        spec=config["collection"],
        code=code_version("rankdistill.datasets", "rankdistill.textfiles"),
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
        spec=lambda wc: setting("query_sets", wc.query_set),
        collection=synthetic_collection,
        code=code_version("rankdistill.datasets", "rankdistill.textfiles"),
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    conda:
        "../../envs/pyterrier.yaml"
    script:
        "../scripts/query_set.py"
