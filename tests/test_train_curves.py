"""Training curves: lr schedule, chance level of each loss, validation metric in metrics.csv / loss.png."""

import copy
import csv
import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _train_data  # noqa: E402

from rankdistill.students import losses  # noqa: E402
from rankdistill.students.loop import Validation, chance_loss, lr_factor, smooth  # noqa: E402
from rankdistill.students.train import train_stage1, train_stage2  # noqa: E402


def test_linear_schedule_matches_transformers():
    from transformers import get_linear_schedule_with_warmup

    total, warmup = 20, 0.25
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=5, num_training_steps=total)
    ref = []
    for _ in range(total):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    ours = [lr_factor("linear", s, total, warmup) for s in range(total)]
    assert ours == pytest.approx(ref)
    assert ours[0] == 0.0 and ours[5] == 1.0 and ours[-1] == pytest.approx(1 / 15)
    assert all(lr_factor("none", s, total, warmup) == 1.0 for s in range(total))
    with pytest.raises(ValueError, match="schedule"):
        lr_factor("cosine", 0, total, warmup)


def test_chance_level_is_the_loss_of_a_constant_scorer():
    targets = torch.tensor([[3.0, 2.0, 1.0, 0.0], [2.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, True], [True, True, True, False]])
    # InfoNCE: cross-entropy of uniform scores = log(group size), mean over queries
    assert chance_loss(losses.get("infonce"), targets, mask) == pytest.approx((math.log(4) + math.log(3)) / 2)
    # RankNet: softplus(0) for every pair
    assert chance_loss(losses.get("ranknet"), targets, mask) == pytest.approx(math.log(2))
    # ADR-MSE: every approximate rank is 1 + (n - 1) / 2; by hand for n = 4 and n = 3
    err4 = [(2.5 - r) ** 2 / math.log2(r + 1) for r in (1, 2, 3, 4)]
    err3 = [(2.0 - r) ** 2 / math.log2(r + 1) for r in (1, 2, 3)]
    assert chance_loss(losses.get("adr-mse"), targets, mask) == pytest.approx(sum(err4 + err3) / 7)
    # a model that ranks perfectly is below chance
    good = losses.get("ranknet")(targets * 5, targets, mask)
    assert float(good) < math.log(2)


def test_smooth_is_a_bias_corrected_moving_average():
    assert smooth([2.0, 2.0, 2.0]).tolist() == pytest.approx([2.0, 2.0, 2.0])
    s = smooth([0.0] * 10 + [1.0] * 10, alpha=0.5)
    assert s[0] == 0.0 and 0.9 < s[-1] < 1.0 and all(a <= b for a, b in zip(s, s[1:]))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("curves")
    d = _train_data.make(folder / "data")
    from rankdistill.distill import build_distill_set

    d["distill"] = str(folder / "ds.parquet")
    build_distill_set(d["teacher"], d["run"], d["queries"], d["distill"], str(folder / "ds.run"), str(folder / "ds.json"),
                      num_queries=6, depth=6, name="ds")
    return d


def _rows(folder):
    with open(Path(folder) / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_validation_metric_rises_as_stage1_learns_the_qrels(bert_tiny, data, tmp_path):
    # stage 1 learns passage 0 of each topic is relevant (the qrels); validating on those queries' first-stage
    # candidates, nDCG@10 must climb from its start: the curve measures the model being trained
    torch.set_num_threads(1)
    val = dict(run=data["run"], qrels=data["qrels"], queries=data["queries"], queries_n=6, depth=10, every=4)
    s = train_stage1(bert_tiny, data["run"], data["qrels"], data["queries"], data["docstore"], str(tmp_path / "s1"),
                     str(tmp_path / "scratch"), steps=12, batch_queries=6, negatives=3, depth=9, query_length=8,
                     doc_length=16, lr=2e-3, dropout=0.0, threads=1, validation=val, schedule="linear", warmup=0.25)
    rows = _rows(tmp_path / "s1")
    assert list(rows[0]) == ["step", "loss", "lr", "pairs", "pairs_per_s", "seconds", "chance", "val"]
    assert [r["step"] for r in rows if r["val"]] == ["4", "8", "12"]  # every 4 steps and the last
    assert [float(r["lr"]) for r in rows] == pytest.approx([2e-3 * lr_factor("linear", i, 12, 0.25) for i in range(12)],
                                                           rel=1e-4)
    assert all(float(r["chance"]) == pytest.approx(math.log(4)) for r in rows)  # 1 positive + 3 negatives
    v = s["validation"]
    assert v["queries"] == 6 and v["depth"] == 10 and v["measure"] == "nDCG@10"
    assert v["final"] == float(rows[-1]["val"]) and v["final"] > v["start"] + 0.1, v
    assert float(rows[-1]["loss"]) < math.log(4)  # below chance
    saved = json.loads((tmp_path / "s1" / "train.json").read_text())
    assert saved["validation"] == v
    from PIL import Image

    with Image.open(tmp_path / "s1" / "loss.png") as im:
        assert im.size[0] > 500 and im.size[1] > 400  # the two-panel figure


def test_stage2_without_validation_keeps_empty_val_column(bert_tiny, data, tmp_path):
    torch.set_num_threads(1)
    s = train_stage2(bert_tiny, data["distill"], data["queries"], data["docstore"], str(tmp_path / "s2"),
                     str(tmp_path / "scratch"), start_is_checkpoint=False, epochs=2, batch_queries=3, loss="adr-mse",
                     query_length=8, doc_length=16, lr=1e-3, threads=1)
    rows = _rows(tmp_path / "s2")
    assert len(rows) == 4 and not any(r["val"] for r in rows) and s["validation"] is None
    assert all(float(r["lr"]) == 1e-3 for r in rows)  # schedule none: constant, the paper's setting
    # ADR-MSE chance level for 6 candidates: (3.5 - r)^2 / log2(r + 1), mean over r = 1..6
    want = sum((3.5 - r) ** 2 / math.log2(r + 1) for r in range(1, 7)) / 6
    assert all(float(r["chance"]) == pytest.approx(want, rel=1e-5) for r in rows)


def test_validation_errors_name_the_file(data, tmp_path):
    from rankdistill.errors import RankDistillError

    other = tmp_path / "other.qrels"
    other.write_text("999 0 nope 1\n")
    with pytest.raises(RankDistillError, match="no query of this run has judgments"):
        Validation(data["run"], str(other), data["queries"], data["docstore"])


def test_config_checks_the_validation_block():
    from rankdistill.config import load, validate
    from rankdistill.errors import ConfigError

    cfg = load(Path(__file__).parents[1] / "config" / "config.yaml")
    bad = copy.deepcopy(cfg)
    name = next(iter(bad["students"]))
    bad["students"][name]["validation"] = {"query_set": "nope"}
    with pytest.raises(ConfigError, match=rf"students.{name}.validation.query_set: 'nope' is not a query set"):
        validate(bad)
    bad = copy.deepcopy(cfg)
    bad["students"][name]["schedule"] = "cosine"
    with pytest.raises(ConfigError, match="schedule"):
        validate(bad)
