# Distillation sets: a seeded query sample, candidates in teacher order, targets d + 1 - rank.


def distill_inputs(wildcards):
    ds = config["distill_sets"][wildcards.distill_set]
    if ds["kind"] == "teacher":
        ranking = f"results/teacher/{ds['teacher']}/{ds['first_stage']}/{ds['query_set']}.run"
    else:  # a first stage's own ranking (teacher-independent)
        ranking = first_stage_run(ds["ranker"], ds["query_set"])
    return {
        "ranking": ranking,
        "first_stage": first_stage_run(ds["first_stage"], ds["query_set"]),
        "queries": query_file(ds["query_set"]),
    }


rule distill_set:
    input:
        unpack(distill_inputs),
    output:
        table="results/distill/{distill_set}.parquet",
        run="results/distill/{distill_set}.run",
        stats="results/distill/{distill_set}.json",
    log:
        "results/logs/distill/{distill_set}.log",
    wildcard_constraints:
        distill_set=_alternatives(config.get("distill_sets", {})),
    params:
        spec=lambda wc: setting("distill_sets", wc.distill_set),
        code=code_version("rankdistill.distill", "rankdistill.runs"),
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    conda:
        "../../envs/students.yaml"
    script:
        "../scripts/distill_set.py"
