"""Real text through the pipeline: config/examples/dl20-to-dl19.yaml (a student distilled on TREC DL 2020 from the
MiniLM bi-encoder's ranking, with generated training queries, beats BM25 on DL 2019), run by snakemake in a copy
of the workflow; benchmarks/distill_real.py is only a runner of the same config."""

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import Workflow
from rankdistill import config as rdconfig

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("distill_real", ROOT / "benchmarks" / "distill_real.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_example_config_is_valid_and_reads_its_data_from_the_data_folder(tmp_path):
    """Without the data: the config validates, every data path is rebased, the DAG is the expected one."""
    bench = _bench()
    cfg = bench.example_config(tmp_path / "data", "results")
    text = json.dumps(cfg)
    assert "../shared/data" not in text and str((tmp_path / "data").resolve()) in text
    full = rdconfig.validate(cfg)
    assert full["query_sets"]["pseudo"]["kind"] == "generated"
    assert full["distill_sets"]["train"] == {"kind": "pool", "sets": ["pseudo", "real"]}
    assert full["students"]["student"]["precision"] == "auto"  # never pinned to this CPU
    cfg = bench.example_config(tmp_path / "data", "results", {"students.student.epochs": 2})
    assert cfg["students"]["student"]["epochs"] == 2


def test_the_holdout_config_never_reads_dl19_nor_a_held_out_candidate(trec_dl, tmp_path):
    """--holdout: the settings are chosen on held-out DL20 queries whose BM25 candidates are in no generated
    query's collection; DL19 is nowhere in the config."""
    bench = _bench()
    cfg = rdconfig.validate(bench.holdout_config(trec_dl.parent, str(tmp_path / "res"), 14))
    assert "dl19" not in json.dumps(cfg) and cfg["evaluation"]["query_sets"] == ["held"]
    data = tmp_path / "res" / "holdout-data"
    held = {line.split()[2] for line in open(data / "held.run")}
    pool = {json.loads(line)["docno"] for line in open(data / "pool.jsonl")}
    assert len({line.split()[0] for line in open(data / "held.run")}) == 14 and held and not held & pool
    assert cfg["query_sets"]["pseudo"]["collection"] == "pool"
    assert cfg["students"]["student"]["validation"]["query_set"] == "held"


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_student_distilled_on_dl20_beats_bm25_on_dl19(trec_dl, minilm, tmp_path):
    """The example config at its settings (chosen on a DL20 hold-out, never on DL19), end to end. The teacher's
    DL19 row is left out (as the hand-wired test did): it changes nothing the student learns. Training dominates
    (docs/guide/real-text-check.md): 15-30 min in bf16 on 2 cores, longer in fp32 on a CPU without native bf16,
    hence the hour's limit (the suite's 90 minutes still hold)."""
    bench = _bench()
    wf = Workflow(tmp_path / "wf", bench.example_config(trec_dl.parent, "results",
                                                        {"evaluation.systems": ["bm25", "student"]}))
    wf.snakemake("results/table.tex", timeout=3500)
    res = wf.root / "results"
    fig = bench.table_figures(res)
    assert fig["bm25_dl19"] == pytest.approx(0.5058, abs=1e-3)  # the official BM25 run, as evaluated elsewhere
    assert fig["queries_per_source"]["real"] == 54 and fig["queries_per_source"]["pseudo"] > 1_900
    gen = json.loads((res / "queries/pseudo/generated.json").read_text())
    pseudo = json.loads((res / "distill/pseudo.json").read_text())
    dropped = sum(pseudo["dropped_unanswered"].values())  # spans BM25 finds nothing for (`unanswered: drop`)
    assert 0 < dropped < 50 and gen["passages_excluded"] == 0
    assert gen["queries"] == fig["queries_per_source"]["pseudo"] + dropped
    metrics = pd.read_csv(res / "models/students/student/metrics.csv")
    assert metrics["loss"].dropna().iloc[-1] < 0.69  # RankNet below its chance level log 2
    assert fig["student_dl19"] > fig["bm25_dl19"] + 0.05, fig  # a clear margin ...
    assert fig["student_vs_bm25_p_dl19"] < 0.05, fig  # ... and a significant one (paired t-test, 43 queries)
