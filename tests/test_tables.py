"""Publishable tables on hand-made per-query files: several measures, significance marks (baseline
and pairwise, Holm vs uncorrected), captions, per-measure evaluation depth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_rel
from statsmodels.stats.multitest import multipletests

from rankdistill.config import validate
from rankdistill.errors import ConfigError, InputError
from rankdistill.evaluate import per_query
from rankdistill.table import TableSpec, write_tables

N = 10
QIDS = [f"q{i}" for i in range(N)]
BASE = np.array([0.30, 0.50, 0.40, 0.60, 0.20, 0.55, 0.45, 0.35, 0.50, 0.40])
WIGGLE = np.array([1, -1] * (N // 2)) * 0.1  # mean 0: paired differences mu + WIGGLE


def _write(path, **measures):
    rows = [(q, m, float(v)) for m, vals in measures.items() for q, v in zip(QIDS, vals)]
    pd.DataFrame(rows, columns=["qid", "measure", "value"]).to_csv(path, sep="\t", index=False)
    return str(path)


def _holm_case(tmp_path):
    """base, a and b: a and b each differ from base at p < 0.05 uncorrected, but not after Holm."""
    a, b = BASE + 0.088 + WIGGLE, BASE + 0.082 + WIGGLE
    pa, pb = ttest_rel(a, BASE).pvalue, ttest_rel(b, BASE).pvalue
    assert pa < 0.05 and pb < 0.05  # the premise: both significant uncorrected ...
    assert not multipletests([pa, pb], method="holm")[0].any()  # ... and neither after Holm
    # a second measure where a is far better (significant either way) and b equal to the base
    files = {}
    for name, v, rr in (("base", BASE, BASE), ("a", a, BASE + 0.3 + WIGGLE / 5), ("b", b, BASE)):
        files[(name, "bm25", "dl19")] = _write(tmp_path / f"{name}.tsv", **{"nDCG@10": v, "RR@10": rr})
    return files, pa, pb


def _rows(tex: str) -> dict[str, str]:
    return {l.split(" & ")[0]: l.removesuffix(r" \\") for l in tex.splitlines() if " & " in l and not l.startswith(" &")}


@pytest.mark.parametrize("correction", ["holm", "none"])
def test_holm_changes_the_marks_against_the_baseline(tmp_path, correction):
    files, pa, pb = _holm_case(tmp_path)
    spec = TableSpec(systems=["base", "a", "b"], first_stages=["bm25"], query_sets=["dl19"],
                     measures=["nDCG@10", "RR@10"], baseline="base", correction=correction)
    long = write_tables(spec, files, tmp_path / "t.tex", tmp_path / "t.csv", tmp_path / "t.md")
    tex = (tmp_path / "t.tex").read_text()
    rows = _rows(tex)
    # two measures: one column group each, then the first stage and query set
    assert r"\multicolumn{1}{c}{nDCG@10} & \multicolumn{1}{c}{RR@10}" in tex
    a_ndcg, a_rr = rows["a"].split(" & ")[1:3]
    b_ndcg, b_rr = rows["b"].split(" & ")[1:3]
    if correction == "none":
        assert a_ndcg.endswith(r"$^\dagger$") and b_ndcg.endswith(r"$^\dagger$")
        assert "uncorrected" in tex
    else:
        assert r"\dagger" not in a_ndcg and r"\dagger" not in b_ndcg
        assert "Holm-corrected across the other systems of the column" in tex
    assert a_rr.endswith(r"$^\dagger$") and r"\dagger" not in b_rr  # RR@10: a far better, b identical
    assert r"\dagger" not in rows["base"]
    got = long.set_index(["system", "measure"])
    assert got.loc[("a", "nDCG@10"), "p_value"] == pytest.approx(pa)
    assert got.loc[("b", "nDCG@10"), "p_value"] == pytest.approx(pb)
    want = multipletests([pa, pb], method="holm")[1] if correction == "holm" else [pa, pb]
    assert [got.loc[(s, "nDCG@10"), "p_corrected"] for s in "ab"] == pytest.approx(list(want))
    assert got.loc[("b", "RR@10"), "p_value"] == 1.0
    csv = pd.read_csv(tmp_path / "t.csv")
    assert len(csv) == 6 and set(csv.measure) == {"nDCG@10", "RR@10"}
    # the caption says what bold, underline and the dagger mean, with the test, correction and alpha
    md = (tmp_path / "t.md").read_text()
    assert "† marks a significant difference from base (two-sided paired t-test" in md and "α=0.05" in md
    assert "| System | nDCG@10 bm25 dl19 | RR@10 bm25 dl19 |" in md
    assert "Best per column in bold, second best underlined." in md


def test_one_table_per_measure(tmp_path):
    files, _, _ = _holm_case(tmp_path)
    spec = TableSpec(systems=["base", "a", "b"], first_stages=["bm25"], query_sets=["dl19"],
                     measures=["nDCG@10", "RR@10"], baseline="base", layout="tables", tex_label="tab:main",
                     depths={"nDCG@10": 100, "RR@10": None})
    write_tables(spec, files, tmp_path / "t.tex", tmp_path / "t.csv", tmp_path / "t.md")
    tex = (tmp_path / "t.tex").read_text()
    assert tex.count(r"\begin{table}") == 2 and tex.count(r"\end{table}") == 2
    assert r"\label{tab:main-ndcg-10}" in tex and r"\label{tab:main-rr-10}" in tex
    first, second = tex.split(r"\end{table}")[:2]
    assert r"\caption{nDCG@10 of each system" in first and "nDCG@10 is computed on each run's top 100 per query." in first
    assert r"\caption{RR@10 of each system" in second and "RR@10 is computed on each run's full ranking." in second
    assert (tmp_path / "t.md").read_text().count("| System |") == 2
    spec.layout = "columns"
    write_tables(spec, files, tmp_path / "t.tex", tmp_path / "t.csv", tmp_path / "t.md")
    tex = (tmp_path / "t.tex").read_text()
    assert tex.count(r"\begin{table}") == 1 and r"\label{tab:main}" in tex
    assert "Computed on each run's top 100 per query (nDCG@10) and full ranking (RR@10)." in tex


def _pairwise_files(tmp_path):
    """bm25 (first stage, own column only), dense (first stage), x and y re-rank both first stages.

    bm25 column: x far better than bm25, not significantly better than y; y better than bm25 at
    p < 0.05 uncorrected only.
    """
    files = {}
    x = BASE + 0.12 + WIGGLE * 0.3
    y = BASE + 0.082 + WIGGLE
    files[("bm25", "bm25", "dl19")] = _write(tmp_path / "bm25.tsv", **{"nDCG@10": BASE})
    files[("x", "bm25", "dl19")] = _write(tmp_path / "x-bm25.tsv", **{"nDCG@10": x})
    files[("y", "bm25", "dl19")] = _write(tmp_path / "y-bm25.tsv", **{"nDCG@10": y})
    files[("dense", "dense", "dl19")] = _write(tmp_path / "dense.tsv", **{"nDCG@10": BASE + 0.2})
    files[("x", "dense", "dl19")] = _write(tmp_path / "x-dense.tsv", **{"nDCG@10": BASE + 0.2})
    files[("y", "dense", "dl19")] = _write(tmp_path / "y-dense.tsv", **{"nDCG@10": BASE + 0.1 + WIGGLE / 4})
    return files, x, y


def test_pairwise_letters_include_first_stages_and_follow_holm(tmp_path):
    files, x, y = _pairwise_files(tmp_path)
    p_yb = ttest_rel(y, BASE).pvalue
    p3 = [ttest_rel(BASE, x).pvalue, ttest_rel(BASE, y).pvalue, ttest_rel(x, y).pvalue]
    assert p_yb < 0.05 and not multipletests(p3, method="holm")[0][1]  # Holm drops y > bm25
    spec = TableSpec(systems=["bm25", "dense", "x", "y"], first_stages=["bm25", "dense"], query_sets=["dl19"],
                     significance="pairwise", labels={"bm25": "BM25"})
    long = write_tables(spec, files, tmp_path / "t.tex", tmp_path / "t.csv", tmp_path / "t.md")
    tex = (tmp_path / "t.tex").read_text()
    rows = _rows(tex)
    assert set(rows) >= {"(a) BM25", "(b) dense", "(c) x", "(d) y"}
    bm25_col = {k: v.split(" & ")[1] for k, v in rows.items() if k.startswith("(")}
    dense_col = {k: v.split(" & ")[2] for k, v in rows.items() if k.startswith("(")}
    assert bm25_col["(c) x"].endswith("$^{a}$")  # x beats the first stage BM25 in BM25's column
    assert "$^" not in bm25_col["(d) y"] and "$^" not in bm25_col["(a) BM25"]  # Holm: y vs BM25 not significant
    assert bm25_col["(b) dense"] == "--" and dense_col["(a) BM25"] == "--"
    # dense column: dense and x identical (p = 1), both better than y
    assert dense_col["(b) dense"].endswith("$^{d}$") and dense_col["(c) x"].endswith("$^{d}$")
    assert "$^" not in dense_col["(d) y"]
    assert r"\dagger" not in tex and "across all pairs of systems in the column" in tex
    got = long.set_index(["system", "first_stage"])
    assert got.loc[("x", "bm25"), "better_than"] == "bm25" and got.loc[("y", "bm25"), "better_than"] == ""
    want = multipletests(p3, method="holm")[1]
    assert f"bm25={want[1]:.4g}" in got.loc[("y", "bm25"), "pairwise_p_corrected"]
    md = (tmp_path / "t.md").read_text()
    assert "(c) x" in md and "<sup>a</sup>" in md
    # uncorrected, y beats BM25 too
    spec.correction = "none"
    long = write_tables(spec, files, tmp_path / "u.tex", tmp_path / "u.csv", tmp_path / "u.md")
    assert long.set_index(["system", "first_stage"]).loc[("y", "bm25"), "better_than"] == "bm25"


def test_first_stage_baseline_caption_names_the_columns_without_it(tmp_path):
    files, _, _ = _pairwise_files(tmp_path)
    spec = TableSpec(systems=["bm25", "dense", "x", "y"], first_stages=["bm25", "dense"], query_sets=["dl19"],
                     baseline="bm25", labels={"bm25": "BM25", "dense": "Dense", "dl19": "DL19"})
    long = write_tables(spec, files, tmp_path / "t.tex", tmp_path / "t.csv", tmp_path / "t.md")
    md = (tmp_path / "t.md").read_text()
    assert "Columns without BM25 (Dense DL19) have no test." in md
    assert not long[long.first_stage == "dense"].significant.any()
    assert long.set_index(["system", "first_stage"]).loc[("x", "bm25"), "significant"]


def test_missing_measure_names_the_file(tmp_path):
    files, _, _ = _holm_case(tmp_path)
    spec = TableSpec(systems=["base", "a"], first_stages=["bm25"], query_sets=["dl19"], measures=["AP"])
    with pytest.raises(InputError, match=r"base\.tsv.*no values for AP"):
        write_tables(spec, files, tmp_path / "t.tex", tmp_path / "t.csv", tmp_path / "t.md")
    assert not (tmp_path / "t.tex").exists()


def test_per_measure_depth():
    qrels = pd.DataFrame([("1", f"d{i}", 1) for i in range(20)], columns=["qid", "docno", "label"])
    run = pd.DataFrame([("1", f"d{i}", float(100 - i)) for i in range(20)], columns=["qid", "docno", "score"])
    df = per_query(run, qrels, ["R@20", "AP", "nDCG@5"], depth={"R@20": None, "AP": 10, "nDCG@5": 10})
    got = dict(zip(df.measure, df.value))
    assert got["R@20"] == pytest.approx(1.0)  # the full run
    assert got["AP"] == pytest.approx(0.5)  # 10 of 20 relevant retrieved, all at the top
    assert got["nDCG@5"] == pytest.approx(1.0)
    assert list(df.measure) == ["R@20", "AP", "nDCG@5"] or set(df.measure) == {"R@20", "AP", "nDCG@5"}


def _config(**evaluation):
    from conftest import tiny_config

    cfg = tiny_config()
    cfg["evaluation"].update(evaluation)
    return cfg


def test_a_measure_deeper_than_its_depth_is_a_config_error():
    with pytest.raises(ConfigError, match=r"R@1000 needs each run's top 1000 but is computed on the top 50"):
        validate(_config(measures=["nDCG@10", "R@1000"]))
    cfg = validate(_config(measures=["nDCG@10", "R@1000"], measure_depths={"R@1000": None}))
    assert cfg["evaluation"]["measure_depths"] == {"R@1000": None}
    validate(_config(measures=["nDCG@10", "R@1000"], measure_depths={"R@1000": 1000}))
    with pytest.raises(ConfigError, match=r"measure_depths: 'AP' is not one of evaluation.measures"):
        validate(_config(measure_depths={"AP": None}))
    cfg = _config()
    cfg["table"] = {"measures": ["AP"]}
    with pytest.raises(ConfigError, match=r"table.measures: 'AP' must be one of evaluation.measures"):
        validate(cfg)


def test_a_table_of_first_stages_on_their_own_runs(workflow_factory):
    """tables.<name>.first_stages: own -- first stages share the query set columns, so they are compared."""
    from conftest import tiny_config

    from rankdistill.config.views import table_view

    cfg = tiny_config()
    cfg["first_stages"]["bm25b"] = {"kind": "bm25", "k1": 1.5, "b": 0.9, "depth": 100}
    cfg["tables"] = {"fs": {"systems": ["bm25", "bm25b"], "first_stages": "own", "significance": "pairwise",
                            "measures": ["nDCG@10"]}}
    v = table_view(validate(cfg), "fs")
    assert v["first_stages"] == ["own"] and v["significance"] == "pairwise" and v["measures"] == ["nDCG@10"]
    assert "each first stage's own run" in v["caption"] and v["labels"]["own"] == "Own run"
    wf = workflow_factory(cfg)
    out = wf.snakemake("-n", "results/ablation_fs.tex").stdout
    for f in ("results/eval/bm25/bm25/test-a.tsv", "results/eval/bm25b/bm25b/test-b.tsv"):
        assert f in out, f
    bad = tiny_config()
    bad["first_stages"]["bm25b"] = cfg["first_stages"]["bm25b"]
    bad["students"] = {}
    bad["tables"] = {"fs": {"systems": ["bm25", "nope"], "first_stages": "own"}}
    with pytest.raises(ConfigError, match=r"tables.fs.systems: 'nope' is not a first stage, teacher, re-ranker or student"):
        validate(bad)


def test_own_run_cells_compare_first_stages(tmp_path):
    files, _, _ = _pairwise_files(tmp_path)
    own = {("bm25", "own", "dl19"): files[("bm25", "bm25", "dl19")],
           ("dense", "own", "dl19"): _write(tmp_path / "dense-own.tsv", **{"nDCG@10": BASE + 0.2 + WIGGLE / 4})}
    spec = TableSpec(systems=["bm25", "dense"], first_stages=["own"], query_sets=["dl19"], significance="pairwise",
                     labels={"own": "Own run"})
    long = write_tables(spec, own, tmp_path / "t.tex", tmp_path / "t.csv", tmp_path / "t.md")
    assert long.set_index("system").loc["dense", "better_than"] == "bm25"  # dense = BM25 + 0.2 +- 0.025
    assert r"\multicolumn{1}{c}{Own run}" in (tmp_path / "t.tex").read_text()
