# Out-of-domain evaluation (issue 13; the paper's TIREx table): the named `collections`, each first stage's index
# over each of them, and results/table_ood.{tex,csv,md}. The default collection keeps its paths
# (collection/docs.sqlite, index/<first stage>); a named one lives under collection/<name>/. The indexing
# rules are the default collection's (same scripts and settings) with the collection's store as input.


wildcard_constraints:
    collection=_alternatives(config.get("collections", {})),


use rule collection as collection_named with:
    input:
        corpus=collection_files,
    output:
        docstore=R("collection/{collection}/docs.sqlite"),
    log:
        R("logs/collection/{collection}.log"),
    benchmark:
        R("benchmarks/collection/{collection}.tsv")
    params:
        settings=PLAN.collection_named,
        code=CODE("collection.py"),


use rule index_bm25 as index_bm25_named with:
    input:
        docstore=R("collection/{collection}/docs.sqlite"),
    output:
        index=directory(R("collection/{collection}/index/{first_stage}")),
    log:
        R("logs/collection/{collection}/index/{first_stage}.log"),
    benchmark:
        R("benchmarks/collection/{collection}/index/{first_stage}.tsv")


use rule encode_dense as encode_dense_named with:
    input:
        docstore=R("collection/{collection}/docs.sqlite"),
    output:
        index=directory(R("collection/{collection}/index/{first_stage}")),
    log:
        R("logs/collection/{collection}/index/{first_stage}.log"),
    benchmark:
        R("benchmarks/collection/{collection}/index/{first_stage}.tsv")


use rule encode_colbert as encode_colbert_named with:
    input:
        docstore=R("collection/{collection}/docs.sqlite"),
    output:
        index=directory(R("collection/{collection}/index/{first_stage}")),
    log:
        R("logs/collection/{collection}/index/{first_stage}.log"),
    benchmark:
        R("benchmarks/collection/{collection}/index/{first_stage}.tsv")


use rule index_plaid as index_plaid_named with:
    input:
        index=R("collection/{collection}/index/{first_stage}"),
    output:
        plaid=directory(R("collection/{collection}/plaid/{first_stage}")),
    log:
        R("logs/collection/{collection}/plaid/{first_stage}.log"),
    benchmark:
        R("benchmarks/collection/{collection}/plaid/{first_stage}.tsv")


rule ood_evaluate:
    input:
        run=lambda wc: system_run(wc.system, wc.first_stage, wc.query_set),
        first_stage=lambda wc: first_stage_run(wc.first_stage, wc.query_set),
        qrels=query_file("{query_set}", "qrels.txt"),
    output:
        per_query=R("eval_ood/{system}/{first_stage}/{query_set}.tsv"),
    log:
        R("logs/eval_ood/{system}/{first_stage}/{query_set}.log"),
    conda:
        "../../envs/pyterrier.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        **PLAN.ood_evaluation(),
        code=CODE("ood_evaluate.py"),
    script:
        "../scripts/ood_evaluate.py"


if config.get("ood"):

    rule ood_table:
        input:
            per_query=[PLAN.ood_eval_file(*cell) for cell in PLAN.ood_cells()],
        output:
            tex=report(
                R("table_ood.tex"),
                caption="../report/table_ood.rst",
                category="Tables",
                subcategory="Out-of-domain table",
                labels={"table": "ood", "format": "LaTeX"},
            ),
            csv=report(
                R("table_ood.csv"),
                caption="../report/table_ood.rst",
                category="Tables",
                subcategory="Out-of-domain table",
                labels={"table": "ood", "format": "CSV"},
            ),
            md=report(
                R("table_ood.md"),
                caption="../report/table_ood.rst",
                category="Tables",
                subcategory="Out-of-domain table",
                labels={"table": "ood", "format": "Markdown"},
            ),
            provenance=report(
                R("table_ood.provenance.md"),
                caption="../report/provenance.rst",
                category="Provenance",
                labels={"result": "ood table"},
            ),
        log:
            R("logs/table_ood.log"),
        conda:
            "../../envs/pyterrier.yaml"
        threads: 1
        resources:
            mem_mb=per_attempt(2000),
            runtime=per_attempt(10),
        params:
            cells=PLAN.ood_cells(),
            spec=PLAN.ood(config_citation()),
            code=CODE("ood_table.py", "rankdistill.provenance"),
        script:
            "../scripts/ood_table.py"
