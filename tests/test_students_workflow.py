"""Students in the workflow: config checks, shared stage-1 models in the DAG, re-ranking runs, end to end."""

import json

import numpy as np
import pytest

from conftest import tiny_config
from rankdistill import config as rdconfig
from rankdistill.errors import ConfigError

pytestmark = pytest.mark.usefixtures("fp32_numerics")  # scores compared at float tolerance (conftest)

BT = "package:cognition/model"


def students_config(**extra):
    cfg = tiny_config()
    cfg["distill_sets"] = {"bm25-order": {"kind": "first_stage", "ranker": "bm25", "first_stage": "bm25",
                                          "query_set": "train", "queries": 10, "depth": 8}}
    cfg["stage1"] = {"tiny-infonce": {"backbone": BT, "first_stage": "bm25", "query_set": "train", "steps": 2,
                                      "batch_queries": 4, "negatives": 3, "depth": 20, "query_length": 8,
                                      "doc_length": 32}}
    small = {"epochs": 1, "batch_queries": 4, "query_length": 8, "doc_length": 32}
    cfg["students"] = {
        "dual-ranknet": {"kind": "trained", "stage1": "tiny-infonce", "distill_set": "bm25-order", "loss": "ranknet", **small},
        "dual-adr": {"kind": "trained", "stage1": "tiny-infonce", "distill_set": "bm25-order", "loss": "adr-mse", **small},
        "single-ranknet": {"kind": "trained", "backbone": BT, "distill_set": "bm25-order", **small},
    }
    cfg["evaluation"]["baseline"] = "dual-ranknet"
    cfg.update(extra)
    return cfg


def test_config_defaults_and_valid():
    cfg = rdconfig.validate(students_config())
    st = cfg["students"]["dual-ranknet"]
    assert st["lr"] == 1e-5 and st["inference"]["precision"] == "auto" and cfg["stage1"]["tiny-infonce"]["lr"] == 1e-5
    assert cfg["distill_sets"]["bm25-order"]["seed"] == 42


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c["students"]["dual-adr"].update(backbone=BT), "dual-stage student starts from its stage1"),
    (lambda c: c["students"]["single-ranknet"].pop("backbone"), "needs a backbone"),
    (lambda c: c["students"]["dual-adr"].update(stage1="nope"), "is not a stage1 entry"),
    (lambda c: c["students"]["dual-adr"].update(distill_set="nope"), "is not a distillation set"),
    (lambda c: c["distill_sets"].update(t={"kind": "teacher", "teacher": "llm", "first_stage": "bm25",
                                           "query_set": "train"}), "is not a teacher"),
    (lambda c: c["students"]["dual-adr"].update(loss="listnet"), "listnet"),
    (lambda c: c["students"].update(p={"kind": "pretrained"}), "'model' is a required property"),
])
def test_config_errors_name_the_key(mutate, message):
    cfg = students_config()
    mutate(cfg)
    with pytest.raises(ConfigError, match=message):
        rdconfig.validate(cfg)


def test_rerun_distill_set_needs_teacher_of_that_depth():
    cfg = students_config(teachers={"llm": {"kind": "llm", "depth": 20}})
    cfg["distill_sets"]["t"] = {"kind": "teacher", "teacher": "llm", "first_stage": "bm25", "query_set": "train",
                                "depth": 10, "mode": "rerun"}
    from rankdistill.config.checks import check_students

    problems = check_students(cfg | {"distill_sets": {"t": {**cfg["distill_sets"]["t"], "seed": 42, "min_candidates": 1}}})
    assert any("needs a teacher that ranks the top 10" in p for p in problems)


def test_dag_shares_stage1_between_dual_students(workflow_factory, tmp_path):
    (tmp_path / "released").mkdir()
    (tmp_path / "released" / "config.json").write_text('{"architectures": ["BertForSequenceClassification"]}')
    cfg = students_config()
    cfg["students"]["zoo"] = {"kind": "pretrained", "model": str(tmp_path / "released")}
    jobs = workflow_factory(cfg).jobs("results/table.tex")
    assert jobs["train_stage1"] == 1  # dual-ranknet and dual-adr train stage 1 once
    assert jobs["train_student"] == 3 and jobs["distill_set"] == 1
    assert jobs["rerank"] == 4 * 2  # 4 students x (1 first stage x 2 query sets); the zoo model only re-ranks


def test_rerank_run_on_trec_dl(trec_dl, bert_tiny, tmp_path):
    from rankdistill.datasets.docstore import build_docstore
    from rankdistill.datasets.queries import read_queries
    from rankdistill.students.model import CrossEncoder
    from rankdistill.students.rerank import rerank_run_file
    from rankdistill.students.scoring import score_pairs
    from rankdistill.runs import cut, read_run, write_run
    from rankdistill.textfiles import iter_lines

    d = trec_dl / "dl19"
    build_docstore((json.loads(line) for _, line in iter_lines(d / "passages.jsonl")), tmp_path / "docs.sqlite")
    bm25 = read_run(d / "bm25-top100.run")
    small = bm25[bm25["qid"].isin(sorted(set(bm25["qid"]))[:3])]
    write_run(small, tmp_path / "bm25.run")
    CrossEncoder.from_backbone(bert_tiny, 16, 64, seed=1).save_pretrained(tmp_path / "model")
    rerank_run_file(str(tmp_path / "model"), tmp_path / "bm25.run", d / "queries.tsv", tmp_path / "docs.sqlite",
               tmp_path / "out.run", depth=10, tag="tiny")
    out = read_run(tmp_path / "out.run")
    top = cut(small, 10)
    assert sorted(zip(out["qid"], out["docno"])) == sorted(zip(top["qid"], top["docno"]))
    assert out.groupby("qid")["rank"].apply(list).map(lambda r: r == list(range(1, 11))).all()
    assert open(tmp_path / "out.run").readline().split()[-1] == "tiny"
    # the written scores are the model's scores of (query, passage)
    q = dict(zip(*read_queries(d / "queries.tsv")[["qid", "query"]].T.values))
    row = out.iloc[0]
    from rankdistill.datasets.docstore import DocStore

    text = DocStore(tmp_path / "docs.sqlite").text(row["docno"])
    m = CrossEncoder.load(str(tmp_path / "model"))
    assert score_pairs(m, [q[row["qid"]]], [text])[0] == pytest.approx(row["score"], abs=1e-5)
    assert out.groupby("qid")["score"].apply(lambda s: np.all(np.diff(s.values) <= 0)).all()


@pytest.mark.slow
def test_end_to_end_students_join_the_table(workflow_factory, bert_tiny, tmp_path):
    from rankdistill.students.model import CrossEncoder

    CrossEncoder.from_backbone(bert_tiny, 8, 32, seed=2).save_pretrained(tmp_path / "released")
    cfg = students_config()
    del cfg["students"]["dual-adr"], cfg["students"]["single-ranknet"]
    cfg["students"]["zoo"] = {"kind": "pretrained", "model": str(tmp_path / "released")}
    # a held-out query set validates stage 1 and the dual student (training curves: val column, train.json)
    cfg["query_sets"]["val"] = {"kind": "synthetic", "split": "val", "queries": 6}
    cfg["stage1"]["tiny-infonce"]["validation"] = {"query_set": "val", "queries": 4, "depth": 10, "every": 1}
    cfg["students"]["dual-ranknet"]["validation"] = {"query_set": "val", "queries": 4, "depth": 10, "every": 2}
    wf = workflow_factory(cfg)
    wf.snakemake("results/table.md")
    for folder, vals in (("stage1/tiny-infonce", ["1", "2"]), ("students/dual-ranknet", ["2", "3"])):
        rows = (wf.root / "results/models" / folder / "metrics.csv").read_text().splitlines()
        assert rows[0] == "step,loss,lr,pairs,pairs_per_s,seconds,chance,val"
        assert [r.split(",")[0] for r in rows[1:] if r.split(",")[-1]] == vals  # every N steps and the last
        v = json.loads((wf.root / "results/models" / folder / "train.json").read_text())["validation"]
        assert v["queries"] == 4 and 0 <= v["start"] <= 1 and 0 <= v["final"] <= 1
    table = (wf.root / "results" / "table.md").read_text()
    assert "dual-ranknet" in table and "zoo" in table
    metrics = (wf.root / "results/models/students/dual-ranknet/metrics.csv").read_text().splitlines()
    assert metrics[0].startswith("step,loss") and len(metrics) == 4  # 10 queries / 4 per step = 3 steps
    stats = json.loads((wf.root / "results/distill/bm25-order.json").read_text())
    assert stats["queries"] == 10 and stats["candidates_per_query"]["max"] == 8
    assert not (wf.root / "results/scratch/train/students/dual-ranknet").exists() or not any(
        (wf.root / "results/scratch/train/students/dual-ranknet").rglob("step-*"))
