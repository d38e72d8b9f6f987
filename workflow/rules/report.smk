# The report's provenance page: how the results rule all builds were made (rankdistill.provenance.lineage over
# their manifests: code, packages, models and every job upstream). Run `snakemake --report report.html` after
# `snakemake` (the default target): Snakemake's report needs every output it marks in the target's DAG.

REPORTED_RESULTS = (
    [R("table.tex")]
    + expand(R("ablation_{name}.tex"), name=config.get("tables", {}))
    + expand(R("figures/{name}.pdf"), name=config.get("figures", {}))
)


rule provenance:
    input:
        results=REPORTED_RESULTS,
    output:
        md=report(R("provenance.md"), caption="../report/provenance.rst", category="Provenance"),
    log:
        R("logs/provenance.log"),
    params:
        code=code_version("rankdistill.provenance"),
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    conda:
        "../../envs/pyterrier.yaml"
    script:
        "../scripts/provenance.py"
