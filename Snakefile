# rankdistill: Rank-DistiLLM as a Snakemake workflow.
#   snakemake --cores 8 results/table.tex                               (embedded default)
#   snakemake --cores 8 --configfile config/paper.yaml results/table.tex (the paper)
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# --configfile replaces the embedded default instead of being merged into it (Snakemake would
# otherwise deep-merge config/paper.yaml over the synthetic default's keys)
if not config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    query_set=_alternatives(config["query_sets"]),
    first_stage=_alternatives(config["first_stages"]),
    system=_alternatives(SYSTEM_NAMES),


include: "workflow/rules/datasets.smk"
include: "workflow/rules/first_stage.smk"
include: "workflow/rules/teacher.smk"
include: "workflow/rules/students_common.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/rerank.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/ablations_common.smk"
include: "workflow/rules/ablations.smk"
include: "workflow/rules/report.smk"


onstart:
    preflight_check()


rule all:
    default_target: True
    input:
        table="results/table.tex",
        ablation_tables=expand("results/ablation_{name}.tex", name=config.get("tables", {})),
        figures=expand("results/figures/{name}.{ext}", name=config.get("figures", {}), ext=("pdf", "png")),
        provenance="results/provenance.md",
