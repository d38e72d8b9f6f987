"""accumulation: auto sizes training micro-batches from the device's memory (rankdistill.students.memory):
the estimate follows the backbone's shape, the choice follows the memory available, is logged and recorded,
and training with it equals training with the integer it resolved to."""

import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _train_data  # noqa: E402

from rankdistill import hardware  # noqa: E402
from rankdistill.students import memory  # noqa: E402

MIB = 2**20
ELECTRA_BASE = SimpleNamespace(hidden_size=768, num_hidden_layers=12, num_attention_heads=12)


def test_the_estimate_matches_the_measured_electra_base_activations():
    """benchmarks/train.py --activation-memory measured 132 MiB per 32+256-token pair under bf16 autocast."""
    bf16 = memory.activation_bytes_per_pair(ELECTRA_BASE, 291, "bf16") / MIB
    assert 110 < bf16 < 170
    assert memory.activation_bytes_per_pair(ELECTRA_BASE, 291, "fp32") == 2 * memory.activation_bytes_per_pair(
        ELECTRA_BASE, 291, "bf16")
    # checkpointing keeps each layer's input and one layer's activations: far less
    assert memory.activation_bytes_per_pair(ELECTRA_BASE, 291, "bf16", checkpointing=True) < bf16 * MIB / 5
    # longer sequences cost more than linearly (attention scores)
    assert memory.activation_bytes_per_pair(ELECTRA_BASE, 512, "bf16") > 512 / 291 * bf16 * MIB


def _groups(n, pairs):
    return [SimpleNamespace(docnos=[f"d{i}"] * pairs) for i in range(n)]


@pytest.mark.parametrize("available_gib, expected", [(64, 1), (0.001, 32)])
def test_auto_takes_as_few_micro_batches_as_fit(bert_tiny, monkeypatch, caplog, available_gib, expected):
    from rankdistill.students.model import CrossEncoder

    model = CrossEncoder.from_backbone(bert_tiny, query_length=8, doc_length=16)
    monkeypatch.setattr(memory, "available_memory", lambda device: int(available_gib * 2**30))
    with caplog.at_level(logging.INFO, logger="rankdistill.students.memory"):
        acc = memory.Accumulation("auto", model, "fp32", torch.device("cpu"))
        assert acc(_groups(32, 100)) == expected
    assert "train.accumulation: auto -> " in caplog.text
    assert hardware.RUNTIME_CHOICES["train.accumulation"]["value"] == expected
    if expected == 32:  # not even one query fits the estimate: it says what to do
        assert "gradient_checkpointing" in hardware.RUNTIME_CHOICES["train.accumulation"]["reason"]


def test_the_split_follows_the_pair_budget(bert_tiny, monkeypatch):
    from rankdistill.students.model import CrossEncoder

    model = CrossEncoder.from_backbone(bert_tiny, query_length=8, doc_length=16)
    per_pair = memory.activation_bytes_per_pair(model.backbone.config, memory.sequence_length(model), "fp32")
    # room for 250 pairs: two queries of 100 per micro-batch -> 16 micro-batches for 32 queries
    monkeypatch.setattr(memory, "available_memory", lambda device: int(250 * per_pair / memory.CPU_SHARE) + 1)
    acc = memory.Accumulation("auto", model, "fp32", torch.device("cpu"))
    assert acc(_groups(32, 100)) == 16
    assert acc(_groups(3, 100)) == 2  # fewer queries (the last step of an epoch)
    assert memory.Accumulation(3, model, "fp32", torch.device("cpu"))(_groups(32, 100)) == 3  # an integer is kept
    assert memory.Accumulation(8, model, "fp32", torch.device("cpu"))(_groups(2, 100)) == 2  # never more than queries


def test_auto_trains_the_model_of_the_integer_it_resolves_to(bert_tiny, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from rankdistill.distill import build_distill_set
    from rankdistill.students.train import train_stage2

    d = _train_data.make(tmp_path / "data")
    ds = {k: str(tmp_path / f"ds.{k}") for k in ("parquet", "run", "json")}
    build_distill_set(d["teacher"], d["run"], d["queries"], ds["parquet"], ds["run"], ds["json"], num_queries=4,
                      depth=6, name="ds")
    torch.set_num_threads(1)
    monkeypatch.setenv(hardware.PRECISION_ENV, "fp32")
    monkeypatch.setattr(memory, "available_memory", lambda device: 1)  # one query per micro-batch

    def train(out, accumulation):
        train_stage2(bert_tiny, ds["parquet"], d["queries"], d["docstore"], str(out), str(out) + ".scratch",
                     start_is_checkpoint=False, query_length=8, doc_length=16, epochs=1, batch_queries=4,
                     accumulation=accumulation, loss="ranknet", lr=1e-3, dropout=0.0, threads=1)
        return load_file(str(out / "model.safetensors"))

    a, b = train(tmp_path / "auto", "auto"), train(tmp_path / "four", 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    meta = json.loads((tmp_path / "auto" / "train.json").read_text())
    assert meta["accumulation"] == 4 and meta["settings"]["accumulation"] == "auto"
    assert meta["runtime"]["train.accumulation"]["value"] == 4
    # with memory to spare, auto is one micro-batch: the model of accumulation 1
    monkeypatch.setattr(memory, "available_memory", lambda device: 2**40)
    c, e = train(tmp_path / "auto1", "auto"), train(tmp_path / "one", 1)
    assert all(torch.equal(c[k], e[k]) for k in c) and not all(torch.equal(a[k], c[k]) for k in a)
