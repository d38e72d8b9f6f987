"""The DAG end to end on a tiny synthetic config, lint, and the paper config's dry run."""

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, tiny_config


@pytest.mark.slow
def test_tiny_dag_end_to_end(workflow_factory):
    wf = workflow_factory(tiny_config())
    wf.snakemake("results/table.tex")
    tex = (wf.root / "results" / "table.tex").read_text()
    assert r"\toprule" in tex and "bm25" in tex
    long = pd.read_csv(wf.root / "results" / "table.csv")
    assert set(long.query_set) == {"test-a", "test-b"} and (long.n_queries == 12).all()
    assert ((long.value > 0.2) & (long.value < 0.95)).all()
    # every rule logged, nothing half-written left behind
    assert (wf.root / "results" / "logs" / "table.log").exists()
    assert not list((wf.root / "results").rglob("*.tmp"))
    # rerunning does nothing
    out = wf.snakemake("-n", "results/table.tex").stdout
    assert "Nothing to be done" in out


def test_lint_is_clean():
    p = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Congratulations" in p.stdout + p.stderr, p.stdout + p.stderr


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
