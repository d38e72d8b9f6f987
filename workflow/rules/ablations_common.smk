# Helper functions of the ablation table and figure rules (ablations.smk): rows, columns, points and specs
# come from PLAN (rankdistill.config.plan / views).


def ablation_cells(wildcards):
    return PLAN.ablation_cells(wildcards)


def figure_cells(wildcards):
    return PLAN.figure_cells(wildcards)
