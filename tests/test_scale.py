"""benchmarks/scale.py at its smallest: every stage of the CPU chain runs through the package API in its
own process and reports wall time, throughput, peak RSS and disk use; growth exponents between sizes."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from conftest import ROOT

pytest.importorskip("pyterrier_pisa")


def _scale():
    spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "benchmarks" / "scale.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scale_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_the_lengths_follow_ms_marco_passages():
    lengths = _scale().passage_lengths(200_000)
    assert 54 < lengths.mean() < 58 and 22 < lengths.std() < 28 and lengths.min() >= 3 and lengths.max() <= 250


@pytest.mark.slow
def test_the_chain_at_its_smallest_size(tmp_path):
    scale = _scale()
    out = tmp_path / "scale.json"
    report = scale.main(["--sizes", "1000", "2000", "--queries", "40", "--work", str(tmp_path / "w"),
                         "--json", str(out)])
    assert json.loads(out.read_text())["sizes"] == [1000, 2000]
    for r, n in zip(report["results"], (1000, 2000)):
        st = r["stages"]
        assert list(st) == list(scale.STAGES)
        assert st["collection"]["units"] == st["index"]["units"] == n  # every passage stored and indexed
        assert st["retrieve"]["units"] == 40 and st["evaluate"]["units"] == 40
        assert st["distill"]["units"] >= 40 * 50  # ~100 candidates per query
        assert 0 < st["stage1"]["units"] <= 40
        for s in st.values():
            assert s["wall_s"] > 0 and s["peak_rss_mb"] > 0 and s["disk_mb"] > 0
    e = report["exponents"]["1000->2000"]
    assert set(e) == set(scale.STAGES) and all(v["peak_rss_mb"] is not None for v in e.values())
    assert not (tmp_path / "w" / "n1000").exists()  # no --keep: each size's files are removed
