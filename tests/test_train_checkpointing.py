"""Gradient checkpointing (TrainSettings.gradient_checkpointing): same loss and gradients, less saved memory."""

import copy
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _train_data  # noqa: E402

from rankdistill.students import losses  # noqa: E402
from rankdistill.students.model import CrossEncoder  # noqa: E402
from rankdistill.students.loop import enable_gradient_checkpointing  # noqa: E402
from rankdistill.students.train import train_stage2  # noqa: E402


def _step(model, batch, groups, width):
    """One forward + backward as fit does it; returns the loss and the bytes autograd saved for the backward."""
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    torch.manual_seed(123)  # the same dropout masks in both models
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        scores = model(**batch).view(groups, width)
    targets = torch.arange(width, 0, -1, dtype=torch.float32).expand(groups, width)
    loss = losses.ranknet(scores, targets)
    loss.backward()
    return loss.detach(), sum(saved.values())


def test_same_loss_and_gradients_with_less_saved_activations(bert_tiny):
    torch.set_num_threads(1)
    plain = CrossEncoder.from_backbone(bert_tiny, query_length=8, doc_length=48, seed=0)
    ckpt = copy.deepcopy(plain)
    enable_gradient_checkpointing(ckpt)
    plain.train()
    ckpt.train()  # dropout stays on: the recomputed layers must replay the same masks
    docs = [f"passage {i} about " + " ".join(["rivers", "castles", "foxes"][i % 3] for _ in range(5 + i)) for i in range(12)]
    batch = plain.batch(["a query about rivers"] * 6 + ["castles and foxes"] * 6, docs)
    loss_a, saved_a = _step(plain, batch, 2, 6)
    loss_b, saved_b = _step(ckpt, batch, 2, 6)
    assert torch.allclose(loss_a, loss_b, rtol=0, atol=1e-6), (loss_a, loss_b)
    grads_a = {n: p.grad for n, p in plain.named_parameters() if p.grad is not None}
    grads_b = {n: p.grad for n, p in ckpt.named_parameters() if p.grad is not None}
    assert grads_a.keys() == grads_b.keys() and len(grads_a) == len(list(plain.parameters()))
    for n in grads_a:
        assert torch.allclose(grads_a[n], grads_b[n], rtol=1e-4, atol=1e-7), n
    # it is really on: the layers keep their inputs only (BERT-tiny: 2 layers; far less is saved)
    assert saved_b < saved_a / 2, (saved_a, saved_b)


@pytest.fixture(scope="module")
def distill_data(tmp_path_factory):
    from rankdistill.distill import build_distill_set

    folder = tmp_path_factory.mktemp("ckpt")
    d = _train_data.make(folder / "data")
    out = [str(folder / f"ds.{k}") for k in ("parquet", "run", "json")]
    build_distill_set(d["teacher"], d["run"], d["queries"], *out, num_queries=4, depth=6, name="ds")
    d["distill"] = out[0]
    return d


def test_training_with_it_gives_the_same_model(bert_tiny, distill_data, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import rankdistill.students.loop as loop

    enabled = []

    def spy(model):  # the real function, recording that fit switched it on
        enable_gradient_checkpointing(model)
        enabled.append(any(getattr(m, "gradient_checkpointing", False) for m in model.modules()))

    monkeypatch.setattr(loop, "enable_gradient_checkpointing", spy)
    d = distill_data
    runs = {}
    for gc in (False, True):
        out = tmp_path / f"gc-{gc}"
        train_stage2(bert_tiny, d["distill"], d["queries"], d["docstore"], str(out), str(tmp_path / "scratch"),
                     start_is_checkpoint=False, query_length=8, doc_length=16, epochs=2, batch_queries=2,
                     accumulation=2, loss="ranknet", lr=1e-3, threads=1, gradient_checkpointing=gc)
        summary = json.loads((out / "train.json").read_text())
        assert summary["settings"]["gradient_checkpointing"] is gc
        loss = [float(r.split(",")[1]) for r in (out / "metrics.csv").read_text().splitlines()[1:]]
        runs[gc] = loss, load_file(str(out / "model.safetensors"))
        loaded = CrossEncoder.load(str(out))  # a plain saved model: re-ranking does not recompute anything
        assert not any(getattr(m, "gradient_checkpointing", False) for m in loaded.modules())
    assert enabled == [True]  # only the run with the setting
    (la, wa), (lb, wb) = runs[False], runs[True]
    assert len(la) == 4 and la == pytest.approx(lb, abs=1e-5)
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
