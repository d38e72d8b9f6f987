"""Training: stage-1 sampling, both stages learn, resume after a hard kill, DDP (gloo, 2 processes)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _train_data  # noqa: E402

from rankdistill.datasets.queries import read_qrels, read_queries  # noqa: E402
from rankdistill.students.data import Stage1Data, Stage2Data, _step_queries  # noqa: E402
from rankdistill.students.train import train_stage1, train_stage2  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    return _train_data.make_with_distill_set(folder)


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "model.safetensors"))


def test_stage1_groups_positive_plus_unjudged_negatives(data):
    qrels = read_qrels(data["qrels"])
    q = read_queries(data["queries"])
    s1 = Stage1Data(data["run"], qrels, dict(zip(q["qid"], q["query"])), negatives=3, depth=8, min_relevance=1, seed=5)
    groups = s1.step_groups(0, 6)
    assert sorted(g.qid for g in groups) == [str(i) for i in range(1, 7)]
    rel = set(zip(qrels.qid, qrels.docno))
    for g in groups:
        assert len(g.docnos) == 4 and g.targets == [1.0, 0.0, 0.0, 0.0] and len(set(g.docnos)) == 4
        assert (g.qid, g.docnos[0]) in rel and not any((g.qid, d) in rel for d in g.docnos[1:])
    # query 1's relevant passage was not retrieved: it is added anyway
    assert [g for g in groups if g.qid == "1"][0].docnos[0] == "fox-0"
    again = s1.step_groups(0, 6)
    assert [g.docnos for g in again] == [g.docnos for g in groups]  # a step's sample depends on (seed, step) only
    assert [g.docnos for g in s1.step_groups(1, 6)] != [g.docnos for g in groups]


def test_step_queries_cover_each_epoch_once():
    qids = [str(i) for i in range(10)]
    epoch = [q for s in range(3) for q in _step_queries(qids, s, 4, seed=1, wrap=False)]
    assert sorted(epoch) == sorted(qids) and len(_step_queries(qids, 2, 4, 1, wrap=False)) == 2
    wrapped = [q for s in range(5) for q in _step_queries(qids, s, 4, seed=1)]
    assert sorted(wrapped) == sorted(qids * 2)


def test_stage2_groups_are_whole_queries(data):
    import pandas as pd

    q = read_queries(data["queries"])
    s2 = Stage2Data(pd.read_parquet(data["distill_parquet"]), dict(zip(q["qid"], q["query"])), seed=1)
    for g in s2.step_groups(0, 4):
        assert len(g.docnos) == 6 and g.targets == [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]


def test_two_stages_train_and_learn(bert_tiny, data, tmp_path):
    torch.set_num_threads(1)
    common = dict(query_length=8, doc_length=16, lr=2e-3, dropout=0.0, threads=1)
    s1 = train_stage1(bert_tiny, data["run"], data["qrels"], data["queries"], data["docstore"], str(tmp_path / "s1"),
                      str(tmp_path / "scratch"), steps=3, batch_queries=3, negatives=3, depth=8, **common)
    assert s1["steps"] == 3 and (tmp_path / "s1" / "loss.png").exists()
    summary = train_stage2(str(tmp_path / "s1"), data["distill_parquet"], data["queries"], data["docstore"],
                           str(tmp_path / "s2"), str(tmp_path / "scratch"), start_is_checkpoint=True, epochs=8,
                           batch_queries=4, loss="ranknet", **common)
    rows = (tmp_path / "s2" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr,pairs,pairs_per_s,seconds,chance,val" and len(rows) == 9
    loss = [float(r.split(",")[1]) for r in rows[1:]]
    assert loss[-1] < loss[0] * 0.8, loss  # same 4 queries every epoch: the loss must fall
    assert summary["dual"] and not (tmp_path / "scratch").joinpath("x").exists()
    # the stage-2 student starts from stage 1: its weights moved away from them
    w1, w2 = _weights(tmp_path / "s1"), _weights(tmp_path / "s2")
    assert not torch.equal(w1["linear.weight"], w2["linear.weight"])



def test_fp32_stage1_then_bf16_stage2_in_one_process(bert_tiny, data, tmp_path):
    """accelerate keeps one precision per process; a session that trains an fp32 stage 1 and then a bf16 stage 2
    (the default's CPU recipe through the Python API) gets both, each recorded in its train.json."""
    torch.set_num_threads(1)
    common = dict(query_length=8, doc_length=16, lr=2e-3, dropout=0.0, threads=1)
    train_stage1(bert_tiny, data["run"], data["qrels"], data["queries"], data["docstore"], str(tmp_path / "s1"),
                 str(tmp_path / "scratch"), steps=2, batch_queries=3, negatives=3, depth=8, precision="fp32", **common)
    train_stage2(str(tmp_path / "s1"), data["distill_parquet"], data["queries"], data["docstore"], str(tmp_path / "s2"),
                 str(tmp_path / "scratch"), start_is_checkpoint=True, epochs=2, batch_queries=4, loss="ranknet",
                 precision="bf16", **common)
    precisions = [json.loads((tmp_path / f / "train.json").read_text())["precision"] for f in ("s1", "s2")]
    assert precisions == ["fp32", "bf16"]

def _stage2_cmd(bert_tiny, data, out, scratch, crash_after=None, loss="adr-mse"):
    kw = dict(start=bert_tiny, distill=data["distill_parquet"], queries=data["queries"], docstore=data["docstore"],
              out=str(out), scratch=str(scratch), start_is_checkpoint=False, query_length=8, doc_length=16, epochs=3,
              batch_queries=2, accumulation=2, loss=loss, save_every=2, lr=1e-3, threads=1, crash_after=crash_after)
    return [sys.executable, "-m", "rankdistill.students.train", "stage2", "--json", json.dumps(kw)]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_weights(bert_tiny, data, tmp_path):
    # dropout stays on: resuming must restore the RNG states too
    ref = subprocess.run(_stage2_cmd(bert_tiny, data, tmp_path / "ref", tmp_path / "scr-ref"), env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    killed = subprocess.run(_stage2_cmd(bert_tiny, data, tmp_path / "out", tmp_path / "scr", crash_after=5), env=_env(),
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == 137 and not (tmp_path / "out").exists()
    ckpts = [p.name for p in (tmp_path / "scr").rglob("step-*")]
    assert "step-00000004" in ckpts  # step 5 ran after the last checkpoint and is lost
    resumed = subprocess.run(_stage2_cmd(bert_tiny, data, tmp_path / "out", tmp_path / "scr"), env=_env(),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "train.json").read_text())["resumed_from"] == 4
    a, b = _weights(tmp_path / "ref"), _weights(tmp_path / "out")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ra = (tmp_path / "ref" / "metrics.csv").read_text().splitlines()
    rb = (tmp_path / "out" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[:2] for r in ra] == [r.split(",")[:2] for r in rb]


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_one_process(bert_tiny, data, tmp_path):
    def cmd(out, launcher):
        kw = dict(start=bert_tiny, distill=data["distill_parquet"], queries=data["queries"], docstore=data["docstore"],
                  out=str(out), scratch=str(tmp_path / f"scr-{out.name}"), start_is_checkpoint=False, query_length=8,
                  doc_length=16, epochs=2, batch_queries=4, loss="ranknet", lr=1e-3, dropout=0.0, threads=1,
                  precision="fp32")  # float noise between one and two processes is the subject: bf16 rounds it away
        return launcher + ["-m", "rankdistill.students.train", "stage2", "--json", json.dumps(kw)]

    import socket

    with socket.socket() as sock:  # a free port, so parallel test runs do not collide
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(port)]
    two = subprocess.run(cmd(tmp_path / "two", torchrun), env=_env(), capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run(cmd(tmp_path / "one", [sys.executable]), env=_env(), capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    assert json.loads((tmp_path / "two" / "train.json").read_text())["processes"] == 2
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    # the first step's loss (same weights) is the mean over all 4 queries in both runs
    la = (tmp_path / "one" / "metrics.csv").read_text().splitlines()[1].split(",")
    lb = (tmp_path / "two" / "metrics.csv").read_text().splitlines()[1].split(",")
    assert float(la[1]) == pytest.approx(float(lb[1]), abs=1e-5) and la[3] == lb[3] == "24"
    # same updates (gradients averaged over the processes), up to float noise that Adam amplifies in
    # near-zero gradients; processes training on their own halves would differ by whole steps
    start = _weights_of_backbone(bert_tiny)
    k = "embeddings.word_embeddings.weight"
    da, db = a[k] - start, b[k] - start
    assert da.norm() > 0 and (da - db).norm() / da.norm() < 1e-2
    assert max((a[n] - b[n]).abs().max().item() for n in a) < 2e-4  # one Adam step is ~1e-3


def _weights_of_backbone(path):
    from safetensors.torch import load_file

    sd = load_file(str(Path(path) / "model.safetensors"))
    return next(v for k, v in sd.items() if k.endswith("word_embeddings.weight"))


def test_length_buckets_score_every_pair_as_one_padded_batch_does(bert_tiny):
    """Training's forward passes go one length bucket at a time (less padding); the scores, in the pairs' order,
    equal one padded batch's, and gradients flow through all of them."""
    from rankdistill.students.loop import _scores_by_bucket, length_buckets
    from rankdistill.students.model import CrossEncoder, collate

    torch.manual_seed(0)
    m = CrossEncoder.from_backbone(bert_tiny, query_length=8, doc_length=24, seed=3).eval()
    queries = ["what is a fox", "tides", "how do plants grow in winter"] * 7
    docs = [" ".join(["word"] * (1 + 3 * i % 20)) + f" fox {i}" for i in range(len(queries))]
    ids, types = m.encode(queries, docs)
    chunks = length_buckets(ids, 4)
    assert sorted(np.concatenate(chunks).tolist()) == list(range(len(ids)))
    assert all(len(ids[a]) <= len(ids[b]) for c in chunks for a, b in zip(c, c[1:]))
    whole = m(**collate(ids, types, m.pairs.pad_id, 8))
    parts = _scores_by_bucket(m, ids, types, m.pairs.pad_id, chunks, torch.device("cpu"))
    torch.testing.assert_close(parts, whole, atol=1e-5, rtol=0)
    parts.sum().backward()
    assert m.linear.weight.grad is not None and m.linear.weight.grad.abs().sum() > 0
