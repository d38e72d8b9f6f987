rule index_bm25:
    input:
        docstore="results/collection/docs.sqlite",
    output:
        index=directory("results/index/{first_stage}"),
    log:
        "results/logs/index/{first_stage}.log",
    benchmark:
        "results/benchmarks/index/{first_stage}.tsv"
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
        index="results/index/{first_stage}",
        queries=query_file("{query_set}"),
    output:
        run="results/first_stage/{first_stage}/{query_set}.run",
    log:
        "results/logs/first_stage/{first_stage}/{query_set}.log",
    benchmark:
        "results/benchmarks/first_stage/{first_stage}/{query_set}.tsv"
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
