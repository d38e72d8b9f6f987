# Helper functions of the student rules (distill.smk, train.smk, rerank.smk).


def distill_inputs(wildcards):
    """The ranking and the first-stage run of each candidate source (a list when `first_stage` is one)."""
    ds = config["distill_sets"][wildcards.distill_set]
    firsts = distill_first_stages(ds)

    def ranking(fs):
        if ds["kind"] == "teacher":
            return R(f"teacher/{ds['teacher']}/{fs}/{ds['query_set']}.run")
        if ds["ranker"] in config["first_stages"]:  # a first stage's own ranking (teacher-independent)
            return first_stage_run(ds["ranker"], ds["query_set"])
        return R(f"rerank/{ds['ranker']}/{fs}/{ds['query_set']}.run")  # a re-ranker's run (e.g. a fusion)

    one = isinstance(ds["first_stage"], str)
    rankings = [ranking(fs) for fs in firsts]
    runs = [first_stage_run(fs, ds["query_set"]) for fs in firsts]
    return {
        "ranking": rankings[0] if one else rankings,
        "first_stage": runs[0] if one else runs,
        "queries": query_file(ds["query_set"]),
    }


DOCSTORE = R("collection/docs.sqlite")


def validation_inputs(entry, first_stage):
    """val_run / val_qrels / val_queries of an entry's `validation` block (none when it names no query set)."""
    v = entry.get("validation") or {}
    if not v.get("query_set"):
        return {}
    return {
        "val_run": first_stage_run(v.get("first_stage") or first_stage, v["query_set"]),
        "val_qrels": query_file(v["query_set"], "qrels.txt"),
        "val_queries": query_file(v["query_set"]),
    }


def stage1_inputs(wildcards):
    s = config["stage1"][wildcards.stage1]
    return {
        "run": first_stage_run(s["first_stage"], s["query_set"]),
        "qrels": query_file(s["query_set"], "qrels.txt"),
        "queries": query_file(s["query_set"]),
        "docstore": DOCSTORE,
        **validation_inputs(s, s["first_stage"]),
    }


def training_threads(wildcards):
    """A training job's threads: 1 for a narrow backbone such as BERT-tiny (rankdistill.hardware.training_threads:
    several run side by side instead), else 8, capped at --cores; --set-threads overrides it."""
    from rankdistill.config.models import hidden_size
    from rankdistill.hardware import training_threads as threads_for

    if "stage1" in wildcards.keys():
        backbone = config["stage1"][wildcards.stage1].get("backbone")
    else:
        st = config["students"][wildcards.student]
        backbone = config["stage1"][st["stage1"]].get("backbone") if st.get("stage1") else st.get("backbone")
    return threads_for(hidden_size(backbone), 8)


def student_start(student):
    """(input folder or None, reference): a dual student starts from its stage-1 model."""
    return PLAN.student_start(student)


def student_inputs(wildcards):
    st = config["students"][wildcards.student]
    ds = config["distill_sets"][st["distill_set"]]
    qsets = distill_query_sets(config, st["distill_set"])  # several for a pool
    inputs = {
        "distill": R(f"distill/{st['distill_set']}.parquet"),
        "queries": query_file(qsets[0]) if len(qsets) == 1 else [query_file(q) for q in qsets],
        "docstore": DOCSTORE,
        **validation_inputs(st, distill_first_stages(ds, config)[0]),
    }
    path, _ = student_start(wildcards.student)
    if path:
        inputs["start"] = path
    return inputs


cross_encoder_entry = PLAN.cross_encoder_entry
cross_encoder_folder = PLAN.cross_encoder_folder


def candidate_inputs(wildcards):
    """What every re-ranker reads: the first stage's run, the queries and the document store."""
    return {
        "run": first_stage_run(wildcards.first_stage, wildcards.query_set),
        "queries": query_file(wildcards.query_set),
        "docstore": docstore_of(wildcards.query_set),
    }


def rerank_inputs(wildcards):
    """A cross-encoder's candidates, plus its folder when this workflow trains it."""
    inputs = candidate_inputs(wildcards)
    folder = cross_encoder_folder(wildcards.student)
    if folder:
        inputs["model"] = folder
    cpu = PLAN.cpu_model(wildcards.student)
    if cpu:  # a CPU runtime's converted model (rule convert_cpu)
        inputs["cpu_model"] = cpu
    return inputs


def convert_cpu_inputs(wildcards):
    """The folder of a cross-encoder this workflow trains (a released checkpoint is a param's fingerprint)."""
    folder = cross_encoder_folder(wildcards.student)
    return {"model": folder} if folder else {}


def stage1_model_files(wildcards):
    """Fingerprint of a stage-1 model's backbone (a local folder's content, a package's version)."""
    return model_files(config["stage1"][wildcards.stage1].get("backbone"))


def student_model_files(wildcards):
    """Fingerprint of the model a student starts from or is: a single-stage backbone, a pretrained checkpoint.

    A dual student's start is its stage-1 folder, an input (a workflow output is never hashed here).
    """
    st = config["students"][wildcards.student]
    return model_files(
        st.get("model") if st["kind"] == "pretrained" else (None if st.get("stage1") else st.get("backbone"))
    )


# --- bi-encoder and ColBERT re-rankers (rerank.smk: rerank_dense, rerank_colbert) ---


def rerank_model_files(wildcards):
    """Fingerprint of a released cross-encoder that re-ranks (a trained or stage-1 folder is an input instead)."""
    if cross_encoder_folder(wildcards.student):
        return None
    return model_files(cross_encoder_entry(wildcards.student)[1].get("model"))


def reranker_model_files(wildcards):
    """Fingerprint of a bi-encoder / ColBERT re-ranker's model."""
    return model_files(config["rerankers"][wildcards.reranker].get("model"))


def fusion_inputs(wildcards):
    """A fusion re-ranker's candidates (the first stage's run) and each component first stage's run."""
    r = config["rerankers"][wildcards.reranker]
    return {
        "run": first_stage_run(wildcards.first_stage, wildcards.query_set),
        "components": [first_stage_run(c, wildcards.query_set) for c in r["components"]],
    }
