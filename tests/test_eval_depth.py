"""``evaluation.depth`` cuts each run at exactly its top-k, in the library and through the workflow."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import tiny_config
from rankdistill.evaluate import evaluate_run


def _write(tmp_path, ranked, relevant):
    run = "".join(f"1 Q0 {d} {r} {100 - r} x\n" for r, d in enumerate(ranked, start=1))
    (tmp_path / "r.run").write_text(run)
    (tmp_path / "q.txt").write_text("".join(f"1 0 {d} 1\n" for d in relevant))
    return tmp_path / "r.run", tmp_path / "q.txt"


@pytest.mark.parametrize("depth,ap,recall", [(None, (1 / 3 + 2 / 4) / 2, 1.0), (5, (1 / 3 + 2 / 4) / 2, 1.0),
                                             (4, (1 / 3 + 2 / 4) / 2, 1.0), (3, (1 / 3) / 2, 0.5), (2, 0.0, 0.0)])
def test_depth_cut_is_exact(tmp_path, depth, ap, recall):
    """Relevant passages at ranks 3 and 4: a cut one too deep or too shallow changes AP and recall."""
    run, qrels = _write(tmp_path, ["a", "b", "c", "d", "e", "f"], ["c", "d"])
    df = evaluate_run(run, qrels, tmp_path / "out.tsv", ["AP", "R@1000"], depth=depth)
    got = df.set_index("measure")["value"]
    assert got["AP"] == pytest.approx(ap, abs=1e-12) and got["R@1000"] == pytest.approx(recall, abs=1e-12)


@pytest.mark.slow
def test_workflow_evaluates_exactly_the_configured_depth(workflow_factory):
    """The evaluate rule gets evaluation.depth as is: its per-query AP equals a cut at exactly k,
    and differs from k - 1 and k + 1 on this data (so an off-by-one anywhere on the way fails)."""
    import ir_measures

    from rankdistill.datasets.queries import read_qrels
    from rankdistill.runs import read_run

    k = 7
    cfg = tiny_config()
    cfg["evaluation"] = {**cfg["evaluation"], "depth": k, "measures": ["AP", "nDCG@5"]}
    wf = workflow_factory(cfg)
    target = "results/eval/bm25/bm25/test-a.tsv"
    wf.snakemake(target)
    got = pd.read_csv(wf.root / target, sep="\t", dtype={"qid": str})
    got = got[got.measure == "AP"].set_index("qid")["value"].sort_index()
    run_path = next(iter((wf.root / "results").rglob("test-a.run")))
    qrels_path = next(p for p in (wf.root / "results").rglob("qrels.txt") if "test-a" in str(p))
    run, qrels = read_run(run_path), read_qrels(qrels_path)
    qd = {}
    for q, d, lab in zip(qrels["qid"], qrels["docno"], qrels["label"]):
        qd.setdefault(str(q), {})[str(d)] = int(lab)

    def ap_at(depth):  # the cut computed here, independently of rankdistill.runs.cut
        top = {}
        for q, g in run.groupby("qid"):
            g = g.sort_values(["score", "docno"], ascending=[False, False]).head(depth)
            top[str(q)] = dict(zip(g["docno"], g["score"]))
        vals = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.AP], qd, top)}
        return pd.Series(vals).sort_index()

    exact = ap_at(k)
    assert (got - exact.loc[got.index]).abs().max() < 1e-12
    assert (ap_at(k - 1).loc[got.index] != got).any() and (ap_at(k + 1).loc[got.index] != got).any()
