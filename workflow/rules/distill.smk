# Distillation sets: a seeded query sample, candidates in teacher order, targets d + 1 - rank.


rule distill_set:
    input:
        unpack(distill_inputs),
    output:
        table=R("distill/{distill_set}.parquet"),
        run=R("distill/{distill_set}.run"),
        stats=R("distill/{distill_set}.json"),
    log:
        R("logs/distill/{distill_set}.log"),
    wildcard_constraints:
        distill_set=_alternatives(config.get("distill_sets", {})),
    conda:
        "../../envs/students.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    params:
        settings=PLAN.distill,
        code=CODE("distill_set.py"),
    script:
        "../scripts/distill_set.py"
