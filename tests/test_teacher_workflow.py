"""The teacher in the workflow: config schema and references, DAG, sharded == unsharded, free reruns."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import tiny_config

from rankdistill import config as rdconfig
from rankdistill.errors import ConfigError
from rankdistill.config.views import limit_queries, teacher_cells


def _cfg(**teacher):
    t = {"kind": "llm", "model": "some/model", **teacher}
    return rdconfig.validate(tiny_config(teachers={"t": t}))


def test_llm_teacher_defaults_are_rank_llms():
    t = _cfg()["teachers"]["t"]
    assert (t["window"], t["step"], t["depth"], t["prompt"], t["backend"]) == (20, 10, 100, "rankzephyr", "hf")
    assert (t["max_passage_words"], t["context_size"], t["max_new_tokens"], t["stop_at_eos"]) == (300, 4096, None, False)
    assert t["shards"] == 1 and t["queries"] == {}


@pytest.mark.parametrize("bad,match", [
    ({"windw": 10}, "windw"),
    ({"prompt": "rankvicuna"}, "rankvicuna"),
    ({"backend": "tgi"}, "tgi"),
    ({"step": 30, "window": 20}, "step"),
    ({"queries": {"nope": 10}}, "nope"),
    ({"evaluate": {"first_stages": ["dense"]}}, "evaluate.first_stages"),
])
def test_bad_teacher_settings_name_the_key(bad, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(**bad)


def test_import_teacher_references_and_table_rows():
    imp = {"kind": "import", "runs": {"bm25": {"train": "irds:msmarco-passage/train/rank-distillm-rankzephyr"}}}
    cfg = rdconfig.validate(tiny_config(teachers={"rz": imp}))
    assert teacher_cells(cfg, "rz") == [] and "rz" not in rdconfig.systems(cfg)  # no evaluation cell: no row
    imp2 = copy.deepcopy(imp)
    imp2["runs"]["bm25"]["test-a"] = "runs/rz-test-a.run"
    cfg = rdconfig.validate(tiny_config(teachers={"rz": imp2}))
    assert teacher_cells(cfg, "rz") == [("bm25", "test-a")] and "rz" in rdconfig.systems(cfg)
    for bad, match in [({"colbert": {"train": "x.run"}}, "'colbert' is not a first stage"),
                       ({"bm25": {"dev": "x.run"}}, "'dev' is not a query set"),
                       ({"bm25": {"train": "https://example.org/x.run"}}, "checksum")]:
        with pytest.raises(ConfigError, match=match):
            rdconfig.validate(tiny_config(teachers={"rz": {"kind": "import", "runs": bad}}))


def test_training_queries_follow_the_distillation_sets():
    cfg = tiny_config(teachers={"t": {"kind": "llm", "model": "m", "depth": 20}})
    cfg["distill_sets"] = {
        "a": {"kind": "teacher", "teacher": "t", "first_stage": "bm25", "query_set": "train", "queries": 8, "depth": 20},
        "b": {"kind": "teacher", "teacher": "t", "first_stage": "bm25", "query_set": "train", "queries": 15, "depth": 10},
    }
    try:
        cfg = rdconfig.validate(cfg)
    except ConfigError as e:  # other stages' checks (students) may need more; the teacher part is what we test
        if "teacher" in str(e):
            raise
    assert limit_queries(cfg, "t", "bm25", "train") == 15  # the largest sample any set uses
    assert limit_queries(cfg, "t", "bm25", "test-a") is None  # evaluated: every query
    cfg["teachers"]["t"]["queries"] = {"train": 5}
    assert limit_queries(cfg, "t", "bm25", "train") == 5
    cfg["teachers"]["t"]["queries"] = {}
    cfg["distill_sets"]["b"]["queries"] = None
    assert limit_queries(cfg, "t", "bm25", "train") is None


def test_teacher_evaluate_narrows_its_table_cells():
    cfg = _cfg(evaluate={"query_sets": ["test-b"]})
    assert teacher_cells(cfg, "t") == [("bm25", "test-b")]
    assert teacher_cells(_cfg(), "t") == [("bm25", "test-a"), ("bm25", "test-b")]


# ---------------------------------------------------------------- the DAG, for real


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    """A tiny random Llama + trained tokenizer saved as a local model folder (a model reference)."""
    from rankdistill.teacher import tiny

    d = tmp_path_factory.mktemp("tiny-teacher") / "model"
    tok = tiny.build_tokenizer()
    tiny.build_model(tok, layers=2, hidden=64, seed=1).save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)


def _teacher_cfg(model, **kw):
    t = {"kind": "llm", "model": model, "window": 6, "step": 3, "depth": 12, "batch_size": 4,
         "max_passage_words": 12, "max_new_tokens": 12, "device": "cpu", **kw}
    return tiny_config(teachers={"tiny": t})


@pytest.mark.slow
def test_dag_plans_teacher_rows_and_shards(workflow_factory, tiny_teacher):
    wf = workflow_factory(_teacher_cfg(tiny_teacher))
    jobs = wf.jobs("results/table.tex")
    assert jobs["teacher_llm"] == 2 and jobs["evaluate"] == 2 + 2  # bm25 and the teacher on test-a, test-b
    wf.write_config(_teacher_cfg(tiny_teacher, shards=3))
    jobs = wf.jobs("results/table.tex")
    assert jobs["teacher_shard"] == 6 and jobs["teacher_gather"] == 2 and "teacher_llm" not in jobs


@pytest.mark.slow
def test_workflow_sharded_run_equals_unsharded_and_a_rerun_is_free(workflow_factory, tiny_teacher, tmp_path):
    target = "results/teacher/tiny/bm25/test-a.run"
    wf = workflow_factory(_teacher_cfg(tiny_teacher))
    wf.snakemake(target)
    unsharded = (wf.root / target).read_bytes()
    summary = json.loads((wf.root / "results/teacher/tiny/bm25/test-a.json").read_text())
    assert summary["queries"] == 12 and summary["repair"]["generated"] == summary["repair"]["windows"] > 0
    log = (wf.root / "results/logs/teacher/tiny/bm25/test-a.log").read_text()
    assert "repair:" in log  # repair statistics go to the rule log

    # Snakemake deletes the outputs before rerunning; the window cache is outside them: no LLM call
    wf.snakemake(target, "--forcerun", "teacher_llm")
    again = json.loads((wf.root / "results/teacher/tiny/bm25/test-a.json").read_text())
    assert again["repair"]["generated"] == 0 and again["repair"]["cached"] == summary["repair"]["windows"]
    assert (wf.root / target).read_bytes() == unsharded

    import shutil

    shutil.rmtree(wf.root / "results/scratch")  # shards must compute, not reuse the unsharded cache
    wf.write_config(_teacher_cfg(tiny_teacher, shards=3))
    wf.snakemake(target, "--forcerun", "teacher_shard")
    assert (wf.root / target).read_bytes() == unsharded
    gathered = json.loads((wf.root / "results/teacher/tiny/bm25/test-a.json").read_text())
    assert gathered["shards"] == 3 and gathered["repair"]["generated"] == summary["repair"]["windows"]
