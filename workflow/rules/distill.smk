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
        distill_set=_alternatives(
            [d for d in config.get("distill_sets", {}) if d not in names_of_kind("distill_sets", "pool")]
        ),
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


# A pool: several distillation sets in one (e.g. generated queries + real training queries), per-source counts
# in its .json.


rule distill_pool:
    input:
        tables=lambda wc: [R(f"distill/{m}.parquet") for m in config["distill_sets"][wc.distill_set]["sets"]],
        stats=lambda wc: [R(f"distill/{m}.json") for m in config["distill_sets"][wc.distill_set]["sets"]],
    output:
        table=R("distill/{distill_set}.parquet"),
        run=R("distill/{distill_set}.run"),
        stats=R("distill/{distill_set}.json"),
    log:
        R("logs/distill/{distill_set}.log"),
    wildcard_constraints:
        distill_set=_alternatives(names_of_kind("distill_sets", "pool")),
    conda:
        "../../envs/students.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    params:
        sources=lambda wc: list(config["distill_sets"][wc.distill_set]["sets"]),
        code=CODE("distill_pool.py"),
    script:
        "../scripts/distill_pool.py"
