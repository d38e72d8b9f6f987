rule evaluate:
    input:
        run=lambda wc: system_run(wc.system, wc.first_stage, wc.query_set),
        qrels=query_file("{query_set}", "qrels.txt"),
    output:
        per_query=R("eval/{system}/{first_stage}/{query_set}.tsv"),
    log:
        R("logs/eval/{system}/{first_stage}/{query_set}.log"),
    conda:
        "../../envs/pyterrier.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        settings=PLAN.evaluation(),
        code=CODE("evaluate.py"),
    script:
        "../scripts/evaluate.py"


rule table:
    input:
        per_query=[eval_file(*cell) for cell in table_cells()],
    output:
        tex=report(
            R("table.tex"),
            caption="../report/table.rst",
            category="Tables",
            subcategory="Main table",
            labels={"table": "main", "format": "LaTeX"},
        ),
        csv=report(
            R("table.csv"),
            caption="../report/table.rst",
            category="Tables",
            subcategory="Main table",
            labels={"table": "main", "format": "CSV"},
        ),
        md=report(
            R("table.md"),
            caption="../report/table.rst",
            category="Tables",
            subcategory="Main table",
            labels={"table": "main", "format": "Markdown"},
        ),
        provenance=report(
            R("table.provenance.md"),
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"result": "main table"},
        ),
    log:
        R("logs/table.log"),
    conda:
        "../../envs/pyterrier.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        cells=table_cells(),
        spec=PLAN.table(config_citation()),
        code=CODE("table.py", "rankdistill.provenance"),
    script:
        "../scripts/table.py"
