"""Tiny hand-made training inputs (docstore, queries, qrels, first-stage run, distillation table)."""

from pathlib import Path

import pandas as pd

from rankdistill.datasets.docstore import build_docstore
from rankdistill.datasets.queries import write_qrels, write_queries
from rankdistill.runs import write_run

TOPICS = ["fox", "river", "castle", "piano", "comet", "garden"]


def make(folder: Path, queries: int = 6, passages: int = 10) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    docs = []
    for t in TOPICS[:queries]:
        for i in range(passages):
            words = " ".join([t] * (i % 3 + 1))
            docs.append({"docno": f"{t}-{i}", "text": f"a passage about {words} number {i} with some filler words"})
    build_docstore(docs, folder / "docs.sqlite")
    qs = pd.DataFrame({"qid": [str(i + 1) for i in range(queries)], "query": [f"tell me about the {t}" for t in TOPICS[:queries]]})
    write_queries(qs, folder / "queries.tsv")
    # relevant: passage 0 of each topic; query 1's relevant passage is NOT in its run (added anyway)
    qrels = pd.DataFrame({"qid": qs["qid"], "docno": [f"{t}-0" for t in TOPICS[:queries]], "label": 1})
    write_qrels(qrels, folder / "qrels.txt")
    rows = []
    for q, t in zip(qs["qid"], TOPICS):
        start = 1 if q == "1" else 0
        for i in range(start, passages):
            rows.append((q, f"{t}-{i}", float(passages - i)))
    run = pd.DataFrame(rows, columns=["qid", "docno", "score"])
    write_run(run, folder / "first.run")
    # teacher order: reversed first-stage order (a clear, learnable signal)
    teacher = run.assign(score=-run["score"])
    write_run(teacher, folder / "teacher.run")
    return {k: str(folder / v) for k, v in dict(docstore="docs.sqlite", queries="queries.tsv", qrels="qrels.txt",
                                                run="first.run", teacher="teacher.run").items()}


def make_with_distill_set(folder: Path, num_queries: int = 4, depth: int = 6) -> dict:
    """:func:`make` plus a distillation set of the teacher's run (``distill_parquet`` / ``_run`` / ``_json``)."""
    from rankdistill.distill import build_distill_set

    d = make(folder / "data")
    for k in ("parquet", "run", "json"):
        d[f"distill_{k}"] = str(folder / f"ds.{k}")
    build_distill_set(d["teacher"], d["run"], d["queries"], d["distill_parquet"], d["distill_run"], d["distill_json"],
                      num_queries=num_queries, depth=depth, name="ds")
    return d
