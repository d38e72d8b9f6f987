# Helper functions of the student rules (distill.smk, train.smk, rerank.smk).

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


DOCSTORE = "results/collection/docs.sqlite"
TRAIN_CODE = code_version("rankdistill.train", "rankdistill.model", "rankdistill.losses", "rankdistill.distill")


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


def student_start(student):
    """(input folder or None, reference): a dual student starts from its stage-1 model."""
    st = config["students"][student]
    if st.get("stage1"):
        path = f"results/models/stage1/{st['stage1']}"
        return path, path
    return None, st["backbone"]


def student_inputs(wildcards):
    st = config["students"][wildcards.student]
    ds = config["distill_sets"][st["distill_set"]]
    inputs = {
        "distill": f"results/distill/{st['distill_set']}.parquet",
        "queries": query_file(ds["query_set"]),
        "docstore": DOCSTORE,
        **validation_inputs(st, ds["first_stage"]),
    }
    path, _ = student_start(wildcards.student)
    if path:
        inputs["start"] = path
    return inputs


def rerank_inputs(wildcards):
    st = config["students"][wildcards.student]
    inputs = {
        "run": first_stage_run(wildcards.first_stage, wildcards.query_set),
        "queries": query_file(wildcards.query_set),
        "docstore": "results/collection/docs.sqlite",
    }
    if st["kind"] == "trained":
        inputs["model"] = f"results/models/students/{wildcards.student}"
    return inputs


def rerank_model(wildcards):
    st = config["students"][wildcards.student]
    return st["model"] if st["kind"] == "pretrained" else f"results/models/students/{wildcards.student}"


def rerank_lengths(wildcards):
    """Length overrides: a pretrained checkpoint's own unless set; a trained student's are in its folder."""
    st = config["students"][wildcards.student]
    if st["kind"] == "pretrained":
        return {"query_length": st.get("query_length"), "doc_length": st.get("doc_length")}
    return {"query_length": None, "doc_length": None}
