"""The table's dagger is Holm's decision, not the uncorrected p < alpha (data where the two disagree)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rankdistill.table import TableSpec, collect, to_latex, to_markdown

N = 20


def _with_p(p: float, base: np.ndarray) -> np.ndarray:
    """``base + d`` whose paired two-sided t-test against ``base`` has exactly p-value ``p``."""
    e = np.tile([1.0, -1.0], N // 2) * np.linspace(0.5, 1.5, N)
    e = (e - e.mean()) / e.std(ddof=1)  # mean 0, sd 1: t = mu * sqrt(N)
    mu = stats.t.ppf(1 - p / 2, N - 1) / np.sqrt(N)
    return base + 0.01 * (mu + e)


@pytest.fixture
def files(tmp_path):
    base = np.linspace(0.3, 0.6, N)
    systems = {"base": base, "a": _with_p(0.03, base), "b": _with_p(0.04, base), "c": _with_p(0.001, base)}
    out = {}
    for s, v in systems.items():
        p = tmp_path / f"{s}.tsv"
        pd.DataFrame({"qid": [str(i) for i in range(N)], "measure": "nDCG@10", "value": v}).to_csv(p, sep="\t", index=False)
        out[(s, "bm25", "dl19")] = str(p)
    return out


def test_dagger_follows_holm_not_the_uncorrected_p_value(files):
    spec = TableSpec(systems=["base", "a", "b", "c"], first_stages=["bm25"], query_sets=["dl19"], baseline="base",
                     decimals=4)
    long = collect(spec, files).set_index("system")
    # the uncorrected p-values are what the data was built for: a and b below alpha, c far below
    assert long.loc["a", "p_value"] == pytest.approx(0.03, rel=1e-6)
    assert long.loc["b", "p_value"] == pytest.approx(0.04, rel=1e-6)
    # Holm over 3 tests: 0.001 < 0.05/3 rejects c; 0.03 > 0.05/2 stops: a and b are not significant
    assert list(long.loc[["a", "b", "c"], "significant"]) == [False, False, True]
    md = to_markdown(spec, long.reset_index())
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("|")}
    assert "†" in rows["c"] and "†" not in rows["a"] and "†" not in rows["b"] and "†" not in rows["base"]
    tex = to_latex(spec, long.reset_index())
    lines = {s: next(line for line in tex.splitlines() if line.strip().startswith(s + " ")) for s in "abc"}
    assert r"\dagger" in lines["c"] and r"\dagger" not in lines["a"] and r"\dagger" not in lines["b"]
    # uncorrected, both a and b would be marked: the correction matters on this data
    plain = collect(TableSpec(**{**spec.__dict__, "correction": "none"}), files).set_index("system")
    assert list(plain.loc[["a", "b", "c"], "significant"]) == [True, True, True]
