# The LLM teacher: listwise sliding-window re-ranking of a first stage's top-k (rankdistill.teacher).
#   results/teacher/{teacher}/{first_stage}/{query_set}.run   (+ .json: repair statistics, throughput)
# The window cache lives in results/scratch/teacher/... (not an output: Snakemake deletes outputs
# before a job runs), so a killed job resumes and a rerun with the same model and prompts is free.
# A teacher with `shards: n` runs n jobs over disjoint query subsets and gathers them into the run
# an unsharded job writes.


rule teacher_llm:
    input:
        **TEACHER_INPUT,
    output:
        run=R("teacher/{teacher}/{first_stage}/{query_set}.run"),
        summary=R("teacher/{teacher}/{first_stage}/{query_set}.json"),
    log:
        R("logs/teacher/{teacher}/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/teacher/{teacher}/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        teacher=_alternatives(llm_teachers(sharded=False)),
    conda:
        "../../envs/teacher.yaml"
    threads: 4
    resources:
        mem_mb=teacher_mem,
        runtime=per_attempt(1440),
        gpu=teacher_gpu,
    params:
        settings=PLAN.teacher,
        model_files=teacher_model_files,
        shard=0,
        shards=1,
        cache_dir=R("scratch/teacher/{teacher}/{first_stage}/{query_set}"),
        convert_dir=teacher_convert_dir,
        code=CODE("teacher.py"),
    script:
        "../scripts/teacher.py"


rule teacher_shard:
    input:
        **TEACHER_INPUT,
    output:
        run=R("teacher/{teacher}/{first_stage}/{query_set}.shard-{shard}.run"),
        summary=R("teacher/{teacher}/{first_stage}/{query_set}.shard-{shard}.json"),
    log:
        R("logs/teacher/{teacher}/{first_stage}/{query_set}.shard-{shard}.log"),
    benchmark:
        R("benchmarks/teacher/{teacher}/{first_stage}/{query_set}.shard-{shard}.tsv")
    wildcard_constraints:
        teacher=_alternatives(llm_teachers(sharded=True)),
        shard=r"\d+",
    conda:
        "../../envs/teacher.yaml"
    threads: 4
    resources:
        mem_mb=teacher_mem,
        runtime=per_attempt(1440),
        gpu=teacher_gpu,
    params:
        settings=PLAN.teacher,
        model_files=teacher_model_files,
        shard=lambda wc: int(wc.shard),
        shards=teacher_shards,
        cache_dir=R("scratch/teacher/{teacher}/{first_stage}/{query_set}"),
        convert_dir=teacher_convert_dir,
        code=CODE("teacher.py"),
    script:
        "../scripts/teacher.py"


rule teacher_gather:
    input:
        runs=teacher_shard_files("run"),
        summaries=teacher_shard_files("json"),
    output:
        run=R("teacher/{teacher}/{first_stage}/{query_set}.run"),
        summary=R("teacher/{teacher}/{first_stage}/{query_set}.json"),
    log:
        R("logs/teacher/{teacher}/{first_stage}/{query_set}.log"),
    wildcard_constraints:
        teacher=_alternatives(llm_teachers(sharded=True)),
    conda:
        "../../envs/teacher.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        code=CODE("teacher_gather.py"),
    script:
        "../scripts/teacher_gather.py"


rule teacher_import:
    input:
        queries=query_file("{query_set}"),
        docstore=query_docstore,
        source_file=imported_teacher_file,
    output:
        run=R("teacher/{teacher}/{first_stage}/{query_set}.run"),
        summary=R("teacher/{teacher}/{first_stage}/{query_set}.json"),
    log:
        R("logs/teacher/{teacher}/{first_stage}/{query_set}.log"),
    benchmark:
        R("benchmarks/teacher/{teacher}/{first_stage}/{query_set}.tsv")
    wildcard_constraints:
        teacher=_alternatives(names_of_kind("teachers", "import")),
    conda:
        "../../envs/teacher.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(120),
    params:
        settings=PLAN.imported_teacher_run,
        cache_dir=R("cache/downloads"),
        code=CODE("import_teacher.py"),
    script:
        "../scripts/import_teacher.py"
