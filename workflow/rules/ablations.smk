# Extra tables (config `tables:` -> results/ablation_<name>.{tex,csv,md}) and line figures (config `figures:` ->
# results/figures/<name>.{pdf,png,csv}, the notebook's sub-sampling figure). Rows, columns and points come from
# rankdistill.config.views (grid experiments or explicit systems); both read the per-query evaluation files.


rule ablation_table:
    input:
        per_query=lambda wc: [eval_file(*cell) for cell in ablation_cells(wc)],
    output:
        tex=report(
            R("ablation_{ablation}.tex"),
            caption="../report/ablation_table.rst",
            category="Tables",
            subcategory="Ablation {ablation}",
            labels={"table": "{ablation}", "format": "LaTeX"},
        ),
        csv=report(
            R("ablation_{ablation}.csv"),
            caption="../report/ablation_table.rst",
            category="Tables",
            subcategory="Ablation {ablation}",
            labels={"table": "{ablation}", "format": "CSV"},
        ),
        md=report(
            R("ablation_{ablation}.md"),
            caption="../report/ablation_table.rst",
            category="Tables",
            subcategory="Ablation {ablation}",
            labels={"table": "{ablation}", "format": "Markdown"},
        ),
        provenance=report(
            R("ablation_{ablation}.provenance.md"),
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"result": "table {ablation}"},
        ),
    log:
        R("logs/ablation_{ablation}.log"),
    wildcard_constraints:
        ablation=_alternatives(config.get("tables", {})),
    conda:
        "../../envs/pyterrier.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        cells=PLAN.ablation_cells,
        spec=lambda wc: PLAN.ablation(wc, config_citation()),
        code=CODE("table.py", "rankdistill.provenance"),
    script:
        "../scripts/table.py"


rule figure:
    input:
        per_query=lambda wc: [eval_file(*cell) for cell in figure_cells(wc)],
    output:
        pdf=report(
            R("figures/{figure}.pdf"),
            caption="../report/subsampling_figure.rst",
            category="Figures",
            labels={"figure": "{figure}", "format": "PDF"},
        ),
        png=report(
            R("figures/{figure}.png"),
            caption="../report/subsampling_figure.rst",
            category="Figures",
            labels={"figure": "{figure}", "format": "PNG"},
        ),
        csv=R("figures/{figure}.csv"),
        provenance=report(
            R("figures/{figure}.provenance.md"),
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"result": "figure {figure}"},
        ),
    log:
        R("logs/figures/{figure}.log"),
    wildcard_constraints:
        figure=_alternatives(config.get("figures", {})),
    conda:
        "../../envs/pyterrier.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        cells=PLAN.figure_cells,
        spec=PLAN.figure,
        code=CODE("figure.py", "rankdistill.provenance"),
    script:
        "../scripts/figure.py"
