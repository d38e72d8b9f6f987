"""benchmarks/default_cold.py's check of the embedded default's three conditions, on hand-made tables."""

import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HEADER = ["system", "first_stage", "query_set", "measure", "depth", "value", "significant"]


def _bench():
    spec = importlib.util.spec_from_file_location("default_cold", ROOT / "benchmarks" / "default_cold.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CONFIG = {"students": {"single": {"distill_set": "mix"}, "dual": {"distill_set": "mix", "stage1": "s1"}},
          "distill_sets": {"mix": {"kind": "first_stage", "ranker": "hybrid", "first_stage": ["bm25", "dense"]}}}


def _write(tmp_path, main, ablation):
    for name, rows in (("table.csv", main), ("ablation_bm25.csv", ablation)):
        pd.DataFrame([(s, fs, qs, "nDCG@10", 100, v, sig) for s, fs, qs, v, sig in rows], columns=HEADER).to_csv(
            tmp_path / name, index=False)


def _tables(single=(0.70, 0.72, 0.71, 0.74), dual=(0.69, 0.705, 0.70, 0.74), sig=True):
    cells = [("bm25", "a"), ("bm25", "b"), ("dense", "a"), ("dense", "b")]
    main = [("bm25", "bm25", "a", 0.63, False), ("bm25", "bm25", "b", 0.66, False),
            ("dense", "dense", "a", 0.67, False), ("dense", "dense", "b", 0.72, False)]
    main += [("hybrid", fs, qs, v, False) for (fs, qs), v in zip(cells, (0.70, 0.72, 0.71, 0.74))]
    main += [("single", fs, qs, v, False) for (fs, qs), v in zip(cells, single)]
    main += [("dual", fs, qs, v, False) for (fs, qs), v in zip(cells, dual)]
    abl = [r[:4] + (sig,) for r in main if r[1] == "bm25" and r[0] in ("single", "dual")]
    return main, abl


def test_the_conditions_hold_and_each_failure_is_named(tmp_path):
    bench = _bench()
    _write(tmp_path, *_tables())
    got = bench.check_tables(tmp_path, CONFIG)
    assert all(got["conditions"].values()) and got["best_students"] == ["single"]
    # a dual student below the dense retriever, and one cell 0.03 under its teacher
    _write(tmp_path, *_tables(dual=(0.69, 0.705, 0.66, 0.74)))
    got = bench.check_tables(tmp_path, CONFIG)
    assert got["above_first_stage"] == ["dual dense a: 0.6600 <= dense 0.6700"]
    assert got["teacher_gap"] == ["dual dense a: 0.6600 < hybrid 0.7100 - 0.02"]
    assert not got["conditions"]["within_0.02_of_teacher"]
    # +0.07 / +0.06 but not significant: no best student
    _write(tmp_path, *_tables(sig=False))
    got = bench.check_tables(tmp_path, CONFIG)
    assert got["best_students"] == [] and not got["conditions"]["best_student_0.05_over_bm25_significant"]
    # +0.04 on one BM25 column is not enough
    _write(tmp_path, *_tables(single=(0.70, 0.70, 0.71, 0.74)))
    assert _bench().check_tables(tmp_path, CONFIG)["best_students"] == []


def test_a_missing_table_is_named_with_the_command_that_builds_it(tmp_path, capsys):
    main, abl = _tables()
    _write(tmp_path, main, abl)
    (tmp_path / "ablation_bm25.csv").unlink()  # results/table.tex builds table.csv only; rule all builds this
    assert _bench().main(["--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ablation_bm25.csv is missing" in err and "snakemake --cores 8" in err and "Traceback" not in err
