# Two-stage training. Stage-1 models are named config entries (stage1:), so students with the same
# stage-1 settings share one; resumable checkpoints live in results/scratch/ (not an output, which
# Snakemake would delete before a rerun), keyed by the settings.


rule train_stage1:
    input:
        unpack(stage1_inputs),
    output:
        model=report(
            directory(R("models/stage1/{stage1}")),
            patterns=["{curve,loss}.png", "{log,metrics}.csv"],
            caption="../report/stage1_curve.rst",
            category="Training",
            subcategory="Stage 1: {stage1}",
            labels={"model": "{stage1}", "stage": "1"},
        ),
    log:
        R("logs/train/stage1/{stage1}.log"),
    benchmark:
        R("benchmarks/train/stage1/{stage1}.tsv")
    wildcard_constraints:
        stage1=_alternatives(config.get("stage1", {})),
    conda:
        "../../envs/students.yaml"
    threads: training_threads
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(24 * 60),
        gpu=1,
    params:
        settings=PLAN.stage1,
        model_files=stage1_model_files,
        scratch=lambda wc: R(f"scratch/train/stage1/{wc.stage1}"),
        code=CODE("train_stage1.py"),
    script:
        "../scripts/train_stage1.py"


rule train_student:
    input:
        unpack(student_inputs),
    output:
        model=report(
            directory(R("models/students/{student}")),
            patterns=["{curve,loss}.png", "{log,metrics}.csv"],
            caption="../report/training_curve.rst",
            category="Training",
            subcategory="Student: {student}",
            labels={"model": "{student}", "stage": "2"},
        ),
    log:
        R("logs/train/students/{student}.log"),
    benchmark:
        R("benchmarks/train/students/{student}.tsv")
    wildcard_constraints:
        student=_alternatives(names_of_kind("students", "trained")),
    conda:
        "../../envs/students.yaml"
    threads: training_threads
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(24 * 60),
        gpu=1,
    params:
        settings=PLAN.student,
        model_files=student_model_files,
        scratch=lambda wc: R(f"scratch/train/students/{wc.student}"),
        code=CODE("train_student.py"),
    script:
        "../scripts/train_student.py"
