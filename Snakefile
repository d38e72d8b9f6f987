# rankdistill: Rank-DistiLLM as a Snakemake workflow.
#   snakemake --cores 8 results/table.tex                               (embedded default)
#   snakemake --cores 8 --configfile config/paper.yaml results/table.tex (the paper)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/first_stage.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        table="results/table.tex",
