# rankdistill: Rank-DistiLLM as a Snakemake workflow.
#   snakemake --cores 8 results/table.tex                               (embedded default)
#   snakemake --cores 8 results/table.tex --configfile config/paper.yaml (the paper; targets before
#   --configfile, which takes several files and would read results/table.tex as a config file)
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
include: "workflow/rules/export.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/ablations_common.smk"
include: "workflow/rules/ablations.smk"
include: "workflow/rules/ood.smk"
include: "workflow/rules/report.smk"


onstart:
    preflight_check()
    if workflow.local_exec:  # Ctrl-C / SIGTERM stop running jobs now, not after they finish
        stop_jobs_on_signals()


rule all:
    default_target: True
    input:
        **all_results(),