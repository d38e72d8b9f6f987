"""The figure's point is the mean of the per-query-set means, not the mean of all queries pooled: tested
with query sets of different sizes (4 queries and 1 query), where the two differ (0.5 vs 0.2)."""

from __future__ import annotations

import pandas as pd
import pytest

from rankdistill.figures import figure_data


def _per_query(path, values):
    pd.DataFrame({"qid": [f"q{i}" for i in range(len(values))], "measure": "nDCG@10", "value": values}).to_csv(
        path, sep="\t", index=False)
    return str(path)


@pytest.mark.parametrize("lines", ["first_stage", "distill_first_stage"])
def test_point_is_the_mean_of_per_set_means_with_unequal_set_sizes(tmp_path, lines):
    files = {("s", "bm25", "big"): _per_query(tmp_path / "big.tsv", [0.0, 0.0, 0.0, 0.0]),
             ("s", "bm25", "small"): _per_query(tmp_path / "small.tsv", [1.0])}
    spec = {"panels": [{"points": [{"system": "s", "x": 10, "x_label": "10", "distill_first_stage": "bm25"}],
                        "xlabel": "Depth", "title": None, "x_scale": "auto"}],
            "lines": lines, "first_stages": ["bm25"], "query_sets": ["big", "small"], "measure": "nDCG@10",
            "ylabel": None, "labels": {}}
    data = figure_data(spec, files)
    assert len(data) == 1 and data.iloc[0]["cells"] == 2
    assert data.iloc[0]["value"] == pytest.approx(0.5, abs=1e-12)  # pooled over the 5 queries it would be 0.2
