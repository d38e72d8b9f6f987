# Two-stage training. Stage-1 models are named config entries (stage1:), so students with the same
# stage-1 settings share one; resumable checkpoints live in results/scratch/ (not an output, which
# Snakemake would delete before a rerun), keyed by the settings.


rule train_stage1:
    input:
        unpack(stage1_inputs),
    output:
        # the training curve (loss.png: loss, chance level, lr, validation metric) and its numbers (metrics.csv)
        model=report(directory("results/models/stage1/{stage1}"), patterns=["{name}.png", "{name}.csv"],
                     caption="../report/training_curve_stage1.rst", category="Training", subcategory="stage 1"),
    log:
        "results/logs/train/stage1/{stage1}.log",
    benchmark:
        "results/benchmarks/train/stage1/{stage1}.tsv"
    wildcard_constraints:
        stage1=_alternatives(config.get("stage1", {})),
    params:
        spec=lambda wc: setting("stage1", wc.stage1),
        scratch=lambda wc: f"results/scratch/train/stage1/{wc.stage1}",
        code=TRAIN_CODE,
    threads: 8
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(24 * 60),
        gpu=1,
    conda:
        "../../envs/students.yaml"
    script:
        "../scripts/train_stage1.py"


rule train_student:
    input:
        unpack(student_inputs),
    output:
        model=report(directory("results/models/students/{student}"), patterns=["{name}.png", "{name}.csv"],
                     caption="../report/training_curve.rst", category="Training", subcategory="students"),
    log:
        "results/logs/train/students/{student}.log",
    benchmark:
        "results/benchmarks/train/students/{student}.tsv"
    wildcard_constraints:
        student=_alternatives(names_of_kind("students", "trained")),
    params:
        spec=lambda wc: setting("students", wc.student),
        start=lambda wc: student_start(wc.student)[1],
        scratch=lambda wc: f"results/scratch/train/students/{wc.student}",
        code=TRAIN_CODE,
    threads: 8
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(24 * 60),
        gpu=1,
    conda:
        "../../envs/students.yaml"
    script:
        "../scripts/train_student.py"
