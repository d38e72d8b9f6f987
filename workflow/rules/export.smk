# Export for serving: a trained student as a self-contained folder (rankdistill.export): the Hugging Face folder
# sentence-transformers' CrossEncoder and transformers load (trust_remote_code), ONNX fp32 + int8 files, and a
# model card with its training data, teacher, settings and its rows of the table.


rule export_student:
    input:
        model=R("models/students/{student}"),
        table=R("table.csv"),
    output:
        folder=directory(R("export/{student}")),
    log:
        R("logs/export/{student}.log"),
    wildcard_constraints:
        student=_alternatives(names_of_kind("students", "trained")),
    conda:
        "../../envs/students.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    params:
        info=PLAN.export_info,
        code=CODE("export_student.py"),
    script:
        "../scripts/export_student.py"
