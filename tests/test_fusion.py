"""Score fusion (`rerankers: {kind: fusion}`): exact fused scores for each normalisation, candidates a component
did not retrieve, bad inputs, config checks, and a fusion re-ranker as a table row and as the ranker a
distillation set learns from, through the workflow."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_config
from rankdistill import config as rdconfig
from rankdistill.errors import ConfigError, InputError
from rankdistill.retrieval.fusion import fuse, rerank_run_file
from rankdistill.runs import read_run, sort_run, write_run


def _run(rows):
    return sort_run(pd.DataFrame(rows, columns=["qid", "docno", "score"]))


CAND = _run([("q1", "a", 10.0), ("q1", "b", 8.0), ("q1", "c", 6.0), ("q1", "d", 1.0),
             ("q2", "a", 3.0), ("q2", "e", 2.0)])
# a second ranker: reverses q1's order, misses c, and has a passage (z) that is no candidate
OTHER = _run([("q1", "d", 0.9), ("q1", "b", 0.5), ("q1", "a", 0.1), ("q1", "z", 0.05),
              ("q2", "e", 0.7), ("q2", "a", 0.2)])


def _scores(run):
    return {(q, d): s for q, d, s in zip(run.qid, run.docno, run.score)}


def test_minmax_fusion_is_the_weighted_sum_of_per_query_minmax_scores():
    got = _scores(fuse(CAND, {"x": CAND, "y": OTHER}, {"x": 0.3, "y": 0.7}, "minmax", depth=None))
    # x over q1's candidates: min 1, max 10; y over the candidates it scored (a, b, d): min 0.1, max 0.9;
    # c is missing from y: y's lowest value there (0); z is not a candidate (not in the output)
    want = {("q1", "a"): 0.3 * 1 + 0.7 * 0, ("q1", "b"): 0.3 * 7 / 9 + 0.7 * 0.5, ("q1", "c"): 0.3 * 5 / 9 + 0.0,
            ("q1", "d"): 0.3 * 0 + 0.7 * 1, ("q2", "a"): 0.3 * 1 + 0.7 * 0, ("q2", "e"): 0.3 * 0 + 0.7 * 1}
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-12), k
    # the order follows the fused score: d (0.7) > b > a > c on q1
    out = sort_run(fuse(CAND, {"x": CAND, "y": OTHER}, {"x": 0.3, "y": 0.7}, "minmax", depth=None))
    assert list(out[out.qid == "q1"].docno) == ["d", "b", "a", "c"]


def test_zscore_rrf_and_raw_normalisations():
    z = _scores(fuse(CAND, {"x": CAND}, {"x": 1.0}, "zscore", depth=None))
    s = np.array([10.0, 8.0, 6.0, 1.0])
    np.testing.assert_allclose([z[("q1", d)] for d in "abcd"], (s - s.mean()) / s.std(), atol=1e-12)
    r = _scores(fuse(CAND, {"x": CAND, "y": OTHER}, {"x": 1.0, "y": 2.0}, "rrf", rrf_k=60, depth=None))
    # y ranks q1's candidates d, b, a (c unretrieved: contributes 0)
    assert r[("q1", "c")] == pytest.approx(1 / 63)
    assert r[("q1", "d")] == pytest.approx(1 / 64 + 2 / 61)
    assert r[("q1", "a")] == pytest.approx(1 / 61 + 2 / 63)
    raw = _scores(fuse(CAND, {"y": OTHER}, {"y": 1.0}, "none", depth=None))
    assert raw[("q1", "b")] == 0.5 and raw[("q1", "c")] == 0.1  # missing: the lowest raw score it gave a candidate


def test_depth_cuts_the_candidates_and_equal_scores_normalise_to_zero():
    out = fuse(CAND, {"x": CAND, "y": OTHER}, {"x": 0.5, "y": 0.5}, depth=2)
    assert sorted(zip(out.qid, out.docno)) == [("q1", "a"), ("q1", "b"), ("q2", "a"), ("q2", "e")]
    flat = _run([("q1", "a", 2.0), ("q1", "b", 2.0)])
    assert set(fuse(flat, {"x": flat}, {"x": 1.0}, depth=None).score) == {0.0}


def test_bad_fusion_inputs_name_the_file_or_setting(tmp_path):
    write_run(CAND, tmp_path / "cand.run")
    write_run(OTHER[OTHER.qid == "q1"], tmp_path / "part.run")
    with pytest.raises(InputError, match=r"part\.run: 1 queries of the re-ranked run are missing.*q2"):
        rerank_run_file(tmp_path / "cand.run", {"x": tmp_path / "cand.run", "y": tmp_path / "part.run"},
                        tmp_path / "o.run", weights={"x": 1.0, "y": 1.0})
    assert not (tmp_path / "o.run").exists()
    with pytest.raises(ConfigError, match="'y' needs a finite weight"):
        fuse(CAND, {"x": CAND, "y": OTHER}, {"x": 1.0})
    with pytest.raises(ConfigError, match="normalization must be one of"):
        fuse(CAND, {"x": CAND}, {"x": 1.0}, "max")
    (tmp_path / "bad.run").write_text("q1 Q0 a 1 not-a-score t\n")
    with pytest.raises(InputError, match=r"bad\.run:1"):
        rerank_run_file(tmp_path / "cand.run", {"x": tmp_path / "bad.run"}, tmp_path / "o.run", weights={"x": 1.0})
    # the file version writes what fuse gives
    rerank_run_file(tmp_path / "cand.run", {"x": tmp_path / "cand.run"}, tmp_path / "o.run", weights={"x": 2.0},
                    depth=3)
    got = read_run(tmp_path / "o.run")
    assert list(got[got.qid == "q1"].docno) == ["a", "b", "c"] and got.score.max() == 2.0


def _fusion_config():
    cfg = tiny_config()
    cfg["first_stages"]["bm25b"] = {"kind": "bm25", "k1": 1.6, "b": 0.9, "depth": 100}
    cfg["evaluation"]["first_stages"] = ["bm25", "bm25b"]
    cfg["rerankers"] = {"fz": {"kind": "fusion", "components": {"bm25": 0.4, "bm25b": 0.6}, "depth": 30,
                               "label": "Fusion"}}
    cfg["distill_sets"] = {"fz-set": {"kind": "first_stage", "ranker": "fz", "first_stage": "bm25",
                                      "query_set": "train", "depth": 20}}
    return cfg


def test_fusion_config_checks():
    cfg = rdconfig.validate(_fusion_config())
    assert cfg["rerankers"]["fz"]["normalization"] == "minmax" and cfg["rerankers"]["fz"]["rrf_k"] == 60
    assert "fz" in rdconfig.systems(cfg)
    bad = _fusion_config()
    bad["rerankers"]["fz"]["components"] = {"bm25": 0.5, "dense": 0.5}
    bad["distill_sets"]["fz-set"]["depth"] = 40
    bad["distill_sets"]["other"] = {"kind": "first_stage", "ranker": "nope", "first_stage": "bm25", "query_set": "train"}
    with pytest.raises(ConfigError) as e:
        rdconfig.validate(bad)
    msg = str(e.value)
    assert "rerankers.fz.components: 'dense' is not a first stage" in msg
    assert "distill_sets.fz-set.depth: 40 is deeper than the re-ranker's depth 30" in msg
    assert "distill_sets.other.ranker: 'nope' is not a first stage or re-ranker" in msg
    bad = _fusion_config()
    bad["rerankers"]["fz"]["components"] = {"bm25": "high"}
    with pytest.raises(ConfigError, match="components"):
        rdconfig.validate(bad)


def test_fusion_reranks_and_feeds_a_distillation_set_through_the_workflow(workflow_factory):
    wf = workflow_factory(rdconfig.validate(_fusion_config()))
    jobs = wf.jobs("results/table.csv", "results/distill/fz-set.parquet")
    assert jobs["rerank_fusion"] == 2 * 2 + 1  # (bm25, bm25b) x (test-a, test-b), and the training queries' set
    wf.snakemake("results/table.csv", "results/distill/fz-set.parquet")
    res = wf.root / "results"
    comps = {n: read_run(res / f"first_stage/{n}/test-a.run") for n in ("bm25", "bm25b")}
    for fs in ("bm25", "bm25b"):
        got = read_run(res / f"rerank/fz/{fs}/test-a.run")
        want = sort_run(fuse(comps[fs], comps, {"bm25": 0.4, "bm25b": 0.6}, depth=30))
        assert list(zip(got.qid, got.docno, got["rank"])) == list(zip(want.qid, want.docno, want["rank"]))
        np.testing.assert_allclose(got.score, want.score, atol=1e-12)
    long = pd.read_csv(res / "table.csv")
    assert {(r.first_stage, r.query_set) for r in long[long.system == "fz"].itertuples()} == {
        (fs, qs) for fs in ("bm25", "bm25b") for qs in ("test-a", "test-b")}
    # the distillation set is the fusion's order of each training query's BM25 top 20
    table = pd.read_parquet(res / "distill/fz-set.parquet")
    fz = read_run(res / "rerank/fz/bm25/train.run")
    fz = fz[fz["rank"] <= 30]
    q = table.qid.iloc[0]
    bm = read_run(res / "first_stage/bm25/train.run")
    top20 = set(bm[(bm.qid == q) & (bm["rank"] <= 20)].docno)
    got = list(table[table.qid == q].sort_values("rank").docno)
    score = dict(zip(fz[fz.qid == q].docno, fz[fz.qid == q].score))
    assert set(got) == top20 and len(got) == 20  # (ties in fused score: the distillation set's docno order)
    assert all(score[a] >= score[b] for a, b in zip(got, got[1:]))
    # changing a weight re-runs the fusion and what depends on it, not the first stages
    cfg = _fusion_config()
    cfg["rerankers"]["fz"]["components"]["bm25"] = 0.1
    wf.write_config(rdconfig.validate(cfg))
    jobs = wf.jobs("results/table.csv", "results/distill/fz-set.parquet")
    assert jobs["rerank_fusion"] == 5 and jobs.get("distill_set") == 1 and "retrieve_bm25" not in jobs


def test_a_distillation_set_over_two_first_stages_deals_its_queries_to_both(workflow_factory):
    """first_stage: [bm25, bm25b]: the fusion ranks each first stage's training lists, and every other sampled
    query takes bm25b's top 20 instead of bm25's (the default's students learn BM25's and the dense lists)."""
    cfg = _fusion_config()
    cfg["distill_sets"]["fz-set"]["first_stage"] = ["bm25", "bm25b"]
    bad = _fusion_config()
    bad["distill_sets"]["fz-set"]["first_stage"] = ["bm25", "nope"]
    with pytest.raises(ConfigError, match=r"distill_sets.fz-set.first_stage: 'nope' is not a first stage"):
        rdconfig.validate(bad)
    wf = workflow_factory(rdconfig.validate(cfg))
    jobs = wf.jobs("results/distill/fz-set.parquet")
    assert jobs["rerank_fusion"] == 2 and jobs["distill_set"] == 1  # the fusion over each first stage's train lists
    wf.snakemake("results/distill/fz-set.parquet")
    res = wf.root / "results"
    table = pd.read_parquet(res / "distill/fz-set.parquet")
    qids = list(dict.fromkeys(table.qid))
    fs_runs = {fs: read_run(res / f"first_stage/{fs}/train.run") for fs in ("bm25", "bm25b")}
    for i, q in enumerate(qids):
        fs = ("bm25", "bm25b")[i % 2]
        run = fs_runs[fs]
        top20 = set(run[(run.qid == q) & (run["rank"] <= 20)].docno)
        assert set(table[table.qid == q].docno) == top20, (i, q, fs)
    bm = fs_runs["bm25"]
    differs = [q for q in qids[1::2] if set(table[table.qid == q].docno) != set(bm[(bm.qid == q) & (bm["rank"] <= 20)].docno)]
    assert differs, "bm25b's lists equal bm25's for every query: the test would not see the dealing"
    stats = json.loads((res / "distill/fz-set.json").read_text())
    assert sorted(stats["queries_per_source"].values()) == [len(qids) // 2, len(qids) - len(qids) // 2]
