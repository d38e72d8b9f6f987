import numpy as np
import pandas as pd
import pytest

from rankdistill.datasets import read_qrels
from rankdistill.evaluate import compare, evaluate_run, per_query, read_per_query
from rankdistill.runs import read_run
from rankdistill.table import TableSpec, collect, to_latex, to_markdown, write_tables


def _random_runs(n_sys=4, n_q=30, n_d=20, seed=0):
    rng = np.random.default_rng(seed)
    qrels = pd.DataFrame([(str(q), f"d{d}", int(rng.integers(0, 4))) for q in range(n_q) for d in range(n_d)],
                         columns=["qid", "docno", "label"])
    runs = {}
    for s, noise in zip(range(n_sys), [1.5, 1.5, 0.3, 4.0, 5.0]):
        rows = [(str(q), f"d{d}", float(lab + rng.normal(0, noise))) for q, d, lab in
                zip(qrels.qid, qrels.docno.str[1:].astype(int), qrels.label)]
        runs[f"s{s}"] = pd.DataFrame(rows, columns=["qid", "docno", "score"])
    return runs, qrels


def test_per_query_matches_ir_measures():
    import ir_measures

    runs, qrels = _random_runs()
    df = per_query(runs["s1"], qrels, ["nDCG@10", "RR(rel=2)@10"])
    agg = ir_measures.calc_aggregate([ir_measures.parse_measure("nDCG@10")], qrels.rename(columns={"qid": "query_id", "docno": "doc_id", "label": "relevance"}),
                                     runs["s1"].rename(columns={"qid": "query_id", "docno": "doc_id"}))
    assert df[df.measure == "nDCG@10"]["value"].mean() == pytest.approx(list(agg.values())[0])
    assert set(df.measure) == {"nDCG@10", "RR(rel=2)@10"}


def test_significance_matches_pyterrier_experiment():
    """Same p-values and reject decisions as pt.Experiment(baseline=..., correction='holm')."""
    import pyterrier as pt

    runs, qrels = _random_runs()
    names = list(runs)
    res = pt.Experiment([runs[n] for n in names], pd.DataFrame({"qid": sorted(set(qrels.qid)), "query": "x"}),
                        qrels, [pt.measures.nDCG @ 10], names=names, baseline=0, correction="holm")
    res = res.set_index("name")
    values = {n: per_query(runs[n], qrels, ["nDCG@10"]).set_index("qid")["value"] for n in names}
    comp = compare(values, "s0", alpha=0.05, correction="holm")
    for n in names[1:]:
        assert comp[n].mean == pytest.approx(res.loc[n, "nDCG@10"])
        assert comp[n].p_value == pytest.approx(res.loc[n, "nDCG@10 p-value"])
        assert comp[n].p_corrected == pytest.approx(res.loc[n, "nDCG@10 p-value corrected"])
        assert comp[n].significant == bool(res.loc[n, "nDCG@10 reject"])
    assert any(comp[n].significant for n in names[1:]) and not all(comp[n].significant for n in names[1:])


def test_significance_against_scipy_statsmodels_by_hand():
    from scipy.stats import ttest_rel
    from statsmodels.stats.multitest import multipletests

    idx = [str(i) for i in range(8)]
    base = pd.Series([0.5, 0.4, 0.6, 0.3, 0.5, 0.7, 0.2, 0.4], index=idx)
    a = base + np.array([0.1, 0.2, 0.05, 0.15, 0.1, 0.12, 0.2, 0.1])
    b = base + np.array([0.01, -0.02, 0.03, 0.0, -0.01, 0.02, 0.0, 0.01])
    c = base.copy()
    comp = compare({"base": base, "a": a, "b": b.iloc[:6], "c": c}, "base")
    p = [ttest_rel(a, base).pvalue, ttest_rel(b.iloc[:6], base.iloc[:6]).pvalue, 1.0]
    rej, corr, _, _ = multipletests(p, method="holm")
    assert [comp[s].p_value for s in "abc"] == pytest.approx(p)
    assert [comp[s].p_corrected for s in "abc"] == pytest.approx(corr)
    assert [comp[s].significant for s in "abc"] == list(rej)
    assert comp["b"].n == 6  # tested on the shared queries only


@pytest.mark.parametrize("year, expected", [("dl19", 0.5058), ("dl20", 0.4796)])
def test_official_bm25_runs_on_trec_dl(trec_dl, tmp_path, year, expected):
    df = evaluate_run(trec_dl / year / "bm25-top100.run", trec_dl / year / "qrels.txt", tmp_path / "e.tsv", ["nDCG@10"])
    assert df["value"].mean() == pytest.approx(expected, abs=5e-5)
    assert read_per_query(tmp_path / "e.tsv").equals(df)


def _spec(**kw):
    return TableSpec(systems=["bm25", "s1", "s2", "s3"], first_stages=["bm25", "dense"], query_sets=["qa"], baseline="s1", **kw)


def _files(tmp_path):
    runs, qrels = _random_runs()
    files = {}
    for fs in ("bm25", "dense"):
        for i, s in enumerate(["s0", "s1", "s2", "s3"]):
            name = "bm25" if s == "s0" else s
            if name == "bm25" and fs != "bm25":
                continue
            p = tmp_path / f"{name}-{fs}.tsv"
            per_query(runs[s], qrels, ["nDCG@10"]).to_csv(p, sep="\t", index=False)
            files[(name, fs, "qa")] = str(p)
    return files


def test_table_rendering(tmp_path):
    spec = _spec(labels={"bm25": "BM25", "s1": "Student_1"}, provenance="Configuration: config/my_cfg.yaml.")
    long = write_tables(spec, _files(tmp_path), tmp_path / "t.tex", tmp_path / "t.csv", tmp_path / "t.md")
    tex = (tmp_path / "t.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\multicolumn{1}{c}{dense}" in tex
    rows = {l.split(" & ")[0]: l for l in tex.splitlines() if " & " in l}
    assert rows["Student\\_1"].count(r"\dagger") == 0  # the baseline itself is never marked
    assert "--" in rows["BM25"]  # a first stage has no value in another first stage's column
    col = long[(long.first_stage == "bm25")].sort_values("value", ascending=False)
    best, second = col.iloc[0], col.iloc[1]
    assert rf"\textbf{{{best.value:.3f}}}" in rows[spec.label(best.system).replace("_", "\\_")]
    assert rf"\underline{{{second.value:.3f}}}" in rows[spec.label(second.system).replace("_", "\\_")]
    sig = long[long.significant]
    assert len(sig) > 0
    for r in sig.itertuples():
        assert rf"{r.value:.3f}" in rows[spec.label(r.system).replace("_", "\\_")]
    assert tex.count(r"$^\dagger$") == len(sig)
    assert r"config/my\_cfg.yaml" in tex and "Holm-corrected" in tex
    md = (tmp_path / "t.md").read_text()
    assert md.count("†") == len(sig) + 1 and "config/my_cfg.yaml" in md  # + the caption's explanation
    csv = pd.read_csv(tmp_path / "t.csv")
    assert len(csv) == len(long) == 7
