# Helper functions of the student rules (distill.smk, train.smk, rerank.smk).

def distill_inputs(wildcards):
    ds = config["distill_sets"][wildcards.distill_set]
    if ds["kind"] == "teacher":
        ranking = R(f"teacher/{ds['teacher']}/{ds['first_stage']}/{ds['query_set']}.run")
    else:  # a first stage's own ranking (teacher-independent)
        ranking = first_stage_run(ds["ranker"], ds["query_set"])
    return {
        "ranking": ranking,
        "first_stage": first_stage_run(ds["first_stage"], ds["query_set"]),
        "queries": query_file(ds["query_set"]),
    }


DOCSTORE = R("collection/docs.sqlite")
TRAIN_CODE = code_version("rankdistill.train", "rankdistill.model", "rankdistill.losses", "rankdistill.distill")


def stage1_inputs(wildcards):
    s = config["stage1"][wildcards.stage1]
    return {
        "run": first_stage_run(s["first_stage"], s["query_set"]),
        "qrels": query_file(s["query_set"], "qrels.txt"),
        "queries": query_file(s["query_set"]),
        "docstore": DOCSTORE,
    }


def student_start(student):
    """(input folder or None, reference): a dual student starts from its stage-1 model."""
    st = config["students"][student]
    if st.get("stage1"):
        path = R(f"models/stage1/{st['stage1']}")
        return path, path
    return None, st["backbone"]


def student_inputs(wildcards):
    st = config["students"][wildcards.student]
    ds = config["distill_sets"][st["distill_set"]]
    inputs = {
        "distill": R(f"distill/{st['distill_set']}.parquet"),
        "queries": query_file(ds["query_set"]),
        "docstore": DOCSTORE,
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
        "docstore": R("collection/docs.sqlite"),
    }
    if st["kind"] == "trained":
        inputs["model"] = R(f"models/students/{wildcards.student}")
    return inputs


def rerank_model(wildcards):
    st = config["students"][wildcards.student]
    return st["model"] if st["kind"] == "pretrained" else R(f"models/students/{wildcards.student}")


def rerank_lengths(wildcards):
    """Length overrides: a pretrained checkpoint's own unless set; a trained student's are in its folder."""
    st = config["students"][wildcards.student]
    if st["kind"] == "pretrained":
        return {"query_length": st.get("query_length"), "doc_length": st.get("doc_length")}
    return {"query_length": None, "doc_length": None}


def stage1_model_files(wildcards):
    """Fingerprint of a stage-1 model's backbone (a local folder's content, a package's version)."""
    return model_files(config["stage1"][wildcards.stage1].get("backbone"))


def student_model_files(wildcards):
    """Fingerprint of the model a student starts from or is: a single-stage backbone, a pretrained checkpoint.

    A dual student's start is its stage-1 folder, an input (a workflow output is never hashed here).
    """
    st = config["students"][wildcards.student]
    return model_files(st.get("model") if st["kind"] == "pretrained" else (None if st.get("stage1") else st.get("backbone")))
