"""First stages in the DAG: a tiny ColBERT and an imported run (URL + local path) end to end,
and the paper config's dry run with the ColBERTv2 import and compute (PLAID) paths."""

from __future__ import annotations

import hashlib
import http.server
import threading

import numpy as np
import pandas as pd
import pytest

from rankdistill.retrieval import colbert, encoders
from rankdistill.runs import read_run, write_run

from conftest import tiny_config


def _published_run(tmp_path, split: str, n_queries: int) -> pd.DataFrame:
    """A run over the tiny synthetic collection, as if someone had published it."""
    from rankdistill.datasets.synthetic import SyntheticCollection, SyntheticSpec

    world = SyntheticCollection(SyntheticSpec(seed=7, passages=600))
    docnos = [d["docno"] for d in world.iter_passages()]
    queries, _ = world.queries(split, n_queries)
    rng = np.random.default_rng(0)
    rows = [(q, docnos[i], float(s)) for q in queries["qid"]
            for i, s in zip(rng.choice(len(docnos), 120, replace=False), rng.normal(size=120))]
    return pd.DataFrame(rows, columns=["qid", "docno", "score"])


@pytest.mark.slow
def test_tiny_colbert_and_imported_runs_end_to_end(workflow_factory, bert_tiny, tmp_path):
    ckpt = colbert.init_checkpoint(bert_tiny, tmp_path / "tiny-colbert", dim=32, seed=1, doc_maxlen=64)
    www = tmp_path / "www"
    www.mkdir()
    write_run(_published_run(tmp_path, "test-a", 12), www / "a.run", tag="published")
    write_run(_published_run(tmp_path, "test-b", 12), tmp_path / "b.run", tag="published")
    sha_a = hashlib.sha256((www / "a.run").read_bytes()).hexdigest()

    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(www), **kw)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        cfg = tiny_config()
        cfg["first_stages"]["colbert"] = {"kind": "colbert", "model": str(ckpt), "depth": 50, "shard_size": 250,
                                          "label": "ColBERT (tiny)"}
        cfg["first_stages"]["pub"] = {"kind": "import", "depth": 100, "runs": {
            "test-a": {"url": f"http://127.0.0.1:{httpd.server_address[1]}/a.run", "sha256": sha_a},
            "test-b": str(tmp_path / "b.run")}}
        cfg["evaluation"]["first_stages"] = ["bm25", "colbert", "pub"]
        wf = workflow_factory(cfg)
        counts = wf.jobs("results/table.tex")
        assert counts["encode_colbert"] == 1 and counts["retrieve_colbert"] == 2 and counts["import_run"] == 2
        assert "index_plaid" not in counts
        wf.snakemake("results/table.tex")
    finally:
        httpd.shutdown()
        httpd.server_close()

    res = wf.root / "results"
    meta = encoders.read_meta(res / "index" / "colbert")
    assert meta["kind"] == "colbert" and meta["passages"] == 600 and len(meta["shards"]) == 3 and meta["dim"] == 32
    for qs in ("test-a", "test-b"):
        run = read_run(res / "first_stage" / "colbert" / f"{qs}.run")
        assert run.groupby("qid").size().eq(50).all() and run.qid.nunique() == 12
        pub = read_run(res / "first_stage" / "pub" / f"{qs}.run")
        assert pub.groupby("qid").size().eq(100).all()  # cut to the configured depth
    # the URL source went through the checksummed cache
    assert (res / "cache" / "downloads" / f"sha256-{sha_a}" / "a.run").exists()
    long = pd.read_csv(res / "table.csv")
    assert {"bm25", "colbert", "pub"} <= set(long.first_stage)
    assert "Nothing to be done" in wf.snakemake("-n", "results/table.tex").stdout


def test_paper_config_dry_run_shows_colbertv2_import_and_compute_paths(workflow_factory):
    wf = workflow_factory(tiny_config())
    # rule all: the main table uses the published runs, the colbert-check table our PLAID retrieval
    p = wf.snakemake("-n", "-p", "--configfile", "config/paper.yaml")
    out = p.stdout
    for rule in ("import_run", "encode_colbert", "index_plaid", "retrieve_colbert"):
        assert f"rule {rule}:" in out, rule
    assert "results/first_stage/colbertv2/dl19.run" in out and "results/plaid/colbertv2-plaid" in out


def test_import_stage_without_a_run_for_a_query_set_is_a_clear_dag_error(workflow_factory, tmp_path):
    cfg = tiny_config()
    cfg["first_stages"]["pub"] = {"kind": "import", "runs": {"test-a": str(tmp_path / "a.run")}}
    wf = workflow_factory(cfg)
    p = wf.snakemake("-n", "results/first_stage/pub/test-b.run", check=False)
    assert p.returncode != 0
    assert "has no run for query set 'test-b'" in p.stdout + p.stderr
