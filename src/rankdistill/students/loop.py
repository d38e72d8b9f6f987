"""The students' training loop, shared by both stages (accelerate: one GPU, DDP, or CPU).

:func:`fit` runs AdamW (lr 1e-5), bf16 autocast where the device computes bf16 natively (``precision:
auto``, :mod:`rankdistill.hardware`; fp32 elsewhere), optimizer steps over ``batch_queries`` whole query groups split into ``accumulation`` micro-batches (and across DDP
processes), seeded: the queries and negatives of step ``s`` depend only on (seed, s), so a
resumed run sees exactly the batches an uninterrupted one would. Checkpoints (accelerate
``save_state``: weights, optimizer, RNG states) go every ``save_every`` steps to a *scratch*
folder keyed by the settings (:meth:`TrainSettings.key`; Snakemake deletes declared outputs before
a job runs); the job resumes from the latest one. The output folder holds the model (lightning-ir
mono layout), ``metrics.csv`` (step, loss, lr, pairs/s, the chance loss of the step's batch,
validation nDCG@10 every ``validation.every`` steps, :class:`Validation`), ``loss.png`` (the
training curve: raw and smoothed loss, chance level, learning rate, validation metric) and
``train.json``.

Learning rate: constant (``schedule: none``, the paper's lightning-ir config) or ``linear``: linear
warm-up from 0 over the first ``warmup`` share of the steps, then linear decay to 0 at the last step
(transformers' ``get_linear_schedule_with_warmup``). The factor is a function of the step alone, so a
resumed run follows the same curve.

The stages' data (:mod:`.data`) and entry points (:mod:`.train`) live beside this module.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from . import losses
from ..errors import InputError
from ..io import atomic_dir, write_json
from ..runs import natural_key
from .data import _qtext

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    loss: str = "ranknet"
    lr: float = 1e-5
    weight_decay: float = 0.01
    batch_queries: int = 32
    accumulation: int | str = "auto"  # micro-batches per step; auto: as few as fit this device (students.memory)
    steps: int | None = None  # stage 1
    epochs: int | None = None  # stage 2
    seed: int = 42
    save_every: int = 500
    max_grad_norm: float | None = None
    schedule: str = "none"  # none (constant lr, as the paper's lightning-ir config) | linear (warm-up, then decay to 0)
    warmup: float = 0.1  # linear: share of the steps spent warming up from 0
    dropout: float | None = None  # None = the backbone's own
    precision: str = "auto"  # auto (bf16 autocast where the device computes bf16 natively, else fp32) | fp32 | bf16
    gradient_checkpointing: bool = False  # recompute layer activations in backward: less memory, ~1/3 more compute
    # stage 1 sampling
    negatives: int = 7
    depth: int = 200
    min_relevance: int = 1
    extra: dict = field(default_factory=dict)

    def key(self, *parts) -> str:
        """Scratch folder name: the settings and inputs (files by path, size and mtime), so a checkpoint
        of other settings or of an older input (a retrained stage-1 model) is never resumed."""
        blob = json.dumps([asdict(self), *[_stamp(p) for p in parts]], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _stamp(part):
    if isinstance(part, str) and os.path.exists(part):
        files = [Path(part)] if os.path.isfile(part) else sorted(Path(part).glob("*.safetensors"))
        return [part] + [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return part


# ----------------------------------------------------------------------------------------- loop
def _latest_checkpoint(scratch: Path) -> tuple[int, Path] | None:
    best = None
    for p in scratch.glob("step-*"):
        if (p / "DONE").exists():
            s = int(p.name.split("-")[1])
            if best is None or s > best[0]:
                best = (s, p)
    return best


def _save_checkpoint(accelerator, scratch: Path, step: int, keep: int = 2) -> None:
    target = scratch / f"step-{step:08d}"
    tmp = scratch / f".tmp-step-{step:08d}"
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "DONE").write_text(str(step))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        done = sorted(p for p in scratch.glob("step-*") if (p / "DONE").exists())
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


SCHEDULES = ("none", "linear")


def lr_factor(schedule: str, step: int, total: int, warmup: float) -> float:
    """Multiplier of the base lr at optimizer step ``step`` (0-based) of ``total``
    (``linear`` = transformers' ``get_linear_schedule_with_warmup`` with ``warmup * total`` warm-up steps)."""
    if schedule == "none":
        return 1.0
    if schedule != "linear":
        raise ValueError(f"unknown lr schedule {schedule!r}; choose one of {SCHEDULES}")
    w = int(round(warmup * total))
    if step < w:
        return step / max(1, w)
    return max(0.0, (total - step) / max(1, total - w))


def chance_loss(loss_fn, targets: torch.Tensor, mask: torch.Tensor) -> float:
    """The loss of a constant scorer (all scores equal) on these targets: the level a model that learned
    nothing sits at (InfoNCE: mean log n; RankNet: log 2; ADR-MSE: depends on the group sizes)."""
    with torch.no_grad():
        return float(loss_fn(torch.zeros(targets.shape), targets, mask))


class Validation:
    """Validation ``measure`` of the model re-ranking the top ``depth`` of a first-stage run for the first
    ``queries`` judged queries (natural qid order) of a held-out query set; cheap enough to run every few
    steps. Scores with :func:`rankdistill.students.scoring.score_pairs` and evaluates with ir_measures
    (:func:`rankdistill.evaluate.per_query`), the code paths of the table."""

    def __init__(self, run, qrels, queries, docstore, *, queries_n: int = 10, depth: int = 20, every: int = 50,
                 measure: str = "nDCG@10"):
        from ..datasets.docstore import DocStore
        from ..datasets.queries import read_qrels
        from ..runs import cut, read_run

        if every < 1 or queries_n < 1 or depth < 1:
            raise ValueError("validation: every, queries and depth must be >= 1")
        self.every, self.measure = every, measure
        qr = read_qrels(qrels)
        r = cut(read_run(run), depth)
        judged = set(qr["qid"].astype(str))
        qids = sorted(set(r["qid"]) & judged, key=natural_key)[:queries_n]
        if not qids:
            raise InputError(run, f"validation: no query of this run has judgments in {qrels}")
        self.run = r[r["qid"].isin(set(qids))].reset_index(drop=True)
        self.qrels = qr[qr["qid"].astype(str).isin(set(qids))]
        qtext = _qtext(queries)
        missing = [q for q in qids if q not in qtext]
        if missing:
            raise InputError(queries, f"validation: {len(missing)} queries of {run} have no text, e.g. {missing[:5]}")
        with DocStore(docstore) as store:
            try:
                texts = store.get_many(self.run["docno"])
            except KeyError as e:
                raise InputError(run, f"validation: passages missing from the document store: {e}") from None
        self.queries = [qtext[q] for q in self.run["qid"]]
        self.docs = [texts[d] for d in self.run["docno"]]
        self.n_queries = len(qids)
        self.depth = depth

    def __call__(self, model, device) -> float:
        from ..evaluate import per_query
        from .scoring import score_pairs

        was_training = model.training
        precision = "bf16-autocast" if torch.device(device).type == "cuda" else "fp32"
        try:
            scores = score_pairs(model, self.queries, self.docs, device=device, precision=precision, engine="padded")
        finally:
            model.train(was_training)
        run = self.run.assign(score=scores.astype(np.float64))
        pq = per_query(run, self.qrels, [self.measure])
        return float(pq["value"].mean())


# Pairs per forward pass in training: a micro-batch's pairs are sorted by length and cut into buckets of this
# many, each padded only to its own longest pair (then one backward pass over all of them). Passages vary in
# length, so one padded batch of a whole micro-batch spends about a third of its compute on padding (the
# default's synthetic passages: median 39 of 48 tokens). Depends on the lengths only, never on the device.
BUCKET_PAIRS = 64


def length_buckets(ids: Sequence[Sequence[int]], size: int) -> list[np.ndarray]:
    """Positions of ``ids`` sorted by length (stable) and cut into buckets of at most ``size``."""
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + size] for i in range(0, len(order), max(1, size))]


def _scores_by_bucket(pmodel, ids, types, pad: int, chunks: list[np.ndarray], dev) -> torch.Tensor:
    """The model's scores of all pairs, in their order, computed one length bucket at a time."""
    from .model import collate

    if len(chunks) == 1 and len(chunks[0]) == len(ids):
        return pmodel(**{k: v.to(dev) for k, v in collate(ids, types, pad, 8).items()})
    parts = []
    for pos in chunks:
        sub = collate([ids[i] for i in pos], [types[i] for i in pos] if types is not None else None, pad, 8)
        parts.append(pmodel(**{k: v.to(dev) for k, v in sub.items()}))
    flat = torch.cat(parts)
    inverse = torch.from_numpy(np.argsort(np.concatenate(chunks), kind="stable")).to(dev)
    return flat[inverse]


def fit(model, data, settings: TrainSettings, total_steps: int, texts: Callable[[Sequence[str]], dict[str, str]],
        qtext: dict[str, str], out: str | os.PathLike, scratch: str | os.PathLike, loss_name: str,
        describe: dict, crash_after: int | None = None, validation: Validation | None = None) -> dict:
    """The training loop shared by both stages; writes the final model folder ``out``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm

    from ..hardware import RUNTIME_CHOICES, resolve_precision
    from .memory import Accumulation

    cuda = torch.cuda.is_available()
    resolved = resolve_precision(settings.precision, "cuda" if cuda else "cpu", what="train.precision")
    precision = resolved.value
    # accelerate keeps one mixed-precision setting per process: forget the previous training's (an fp32 stage 1,
    # then a bf16 stage 2 in one Python session), keeping the process group of a distributed launch
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(cpu=not cuda, mixed_precision="bf16" if precision == "bf16" else "no")
    set_seed(settings.seed)
    world, rank = accelerator.num_processes, accelerator.process_index
    loss_fn = losses.get(loss_name)
    if settings.schedule not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {settings.schedule!r}; choose one of {SCHEDULES}")
    if settings.dropout is not None:
        for mod in model.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = settings.dropout
    if settings.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    pmodel, opt = accelerator.prepare(model, opt)
    scratch = Path(scratch)
    if accelerator.is_main_process:
        scratch.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    metrics_path = scratch / "metrics.csv"
    start = 0
    found = _latest_checkpoint(scratch)
    if found is not None:
        start, path = found
        accelerator.load_state(str(path))
        log.info("resuming from %s (step %d of %d)", path, start, total_steps)
    rows: list[dict] = []
    if metrics_path.exists() and start > 0:
        rows = [r for r in csv.DictReader(open(metrics_path)) if int(r["step"]) <= start]
    pad = model.pairs.pad_id

    bar = tqdm(total=total_steps, initial=start, unit="step", desc=describe.get("name", "train"), mininterval=2,
               disable=not accelerator.is_main_process)
    t_start = time.perf_counter()
    dev = accelerator.device

    def validate() -> float | None:
        if validation is None:
            return None
        value = None
        if accelerator.is_main_process:
            value = validation(accelerator.unwrap_model(pmodel), dev)
        accelerator.wait_for_everyone()
        return value

    val_start = None  # the validation metric before the first step (kept in scratch for a resumed run)
    val_start_path = scratch / "val_start.json"
    if start == 0:
        val_start = validate()
        if accelerator.is_main_process and val_start is not None:
            write_json(val_start_path, val_start)
    elif val_start_path.exists():
        val_start = json.loads(val_start_path.read_text())
    accumulation = Accumulation(settings.accumulation, model, precision, dev, settings.gradient_checkpointing)
    for step in range(start, total_steps):
        t0 = time.perf_counter()
        lr = settings.lr * lr_factor(settings.schedule, step, total_steps, settings.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        groups = data.step_groups(step, settings.batch_queries)
        mine = groups[rank::world]
        micro = [m for m in np.array_split(np.arange(len(mine)), accumulation(mine)) if len(m)]
        step_loss = torch.zeros((), device=dev)
        step_chance = 0.0
        pairs = 0
        for mi, idx in enumerate(micro):
            gs = [mine[i] for i in idx]
            docnos = [d for g in gs for d in g.docnos]
            tx = texts(docnos)
            qs = [qtext[g.qid] for g in gs for _ in g.docnos]
            ids, types = model.encode(qs, [tx[d] for d in docnos])
            chunks = length_buckets(ids, BUCKET_PAIRS if world == 1 else len(ids))
            width = max(len(g.docnos) for g in gs)
            tgt = torch.full((len(gs), width), float("-inf"))
            mask = torch.zeros((len(gs), width), dtype=torch.bool)
            for r, g in enumerate(gs):
                tgt[r, :len(g.docnos)] = torch.tensor(g.targets)
                mask[r, :len(g.docnos)] = True
            sync = contextlib.nullcontext() if mi == len(micro) - 1 else accelerator.no_sync(pmodel)
            with sync, accelerator.autocast():
                flat = _scores_by_bucket(pmodel, ids, types, pad, chunks, dev)
                scores = torch.zeros((len(gs), width), device=dev, dtype=flat.dtype)
                scores[mask.to(dev)] = flat
                loss = loss_fn(scores, tgt.to(dev).masked_fill(~mask.to(dev), 0.0), mask.to(dev)) / len(micro)
                accelerator.backward(loss)
            step_loss += loss.detach()
            step_chance += chance_loss(loss_fn, tgt.masked_fill(~mask, 0.0), mask) / len(micro)
            pairs += len(docnos)
        if settings.max_grad_norm:
            accelerator.clip_grad_norm_(pmodel.parameters(), settings.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        mean_loss = accelerator.reduce(step_loss, reduction="mean").item()
        mean_chance = accelerator.reduce(torch.tensor(step_chance, device=dev), reduction="mean").item()
        total_pairs = int(accelerator.reduce(torch.tensor(pairs, device=dev), reduction="sum").item())
        dt = time.perf_counter() - t0
        last = step + 1 == total_steps
        val = validate() if validation is not None and ((step + 1) % validation.every == 0 or last) else None
        rows.append({"step": step + 1, "loss": f"{mean_loss:.6f}", "lr": f"{lr:.6g}", "pairs": total_pairs,
                     "pairs_per_s": f"{total_pairs / dt:.1f}", "seconds": f"{time.perf_counter() - t_start:.2f}",
                     "chance": f"{mean_chance:.6f}", "val": "" if val is None else f"{val:.4f}"})
        bar.set_postfix(loss=f"{mean_loss:.4f}", pairs_s=f"{total_pairs / dt:.0f}")
        bar.update(1)
        if (step + 1) % settings.save_every == 0 and not last:
            _save_checkpoint(accelerator, scratch, step + 1)
            if accelerator.is_main_process:
                _write_csv(metrics_path, rows)
        if crash_after is not None and step + 1 == crash_after:
            os._exit(137)  # tests: a hard kill between checkpoints
    bar.close()
    accelerator.wait_for_everyone()
    vals = [float(r["val"]) for r in rows if r.get("val")]
    summary = {**describe, "steps": total_steps, "resumed_from": start, "settings": asdict(settings),
               "processes": world, "device": str(dev), "precision": precision, "accumulation": accumulation.first,
               "precision_reason": resolved.reason, "runtime": dict(RUNTIME_CHOICES),
               "final_loss": float(rows[-1]["loss"]) if rows else None,
               "validation": None if validation is None else {
                   "measure": validation.measure, "queries": validation.n_queries, "depth": validation.depth,
                   "every": validation.every, "start": val_start, "final": vals[-1] if vals else None,
                   "best": max(vals) if vals else None},
               "seconds": round(time.perf_counter() - t_start, 3)}
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(pmodel)
        with atomic_dir(out) as tmp:
            unwrapped.save_pretrained(tmp)
            _write_csv(tmp / "metrics.csv", rows)
            _plot(rows, tmp / "loss.png", describe.get("name", "train"), val_start,
                  validation.measure if validation is not None else None)
            write_json(tmp / "train.json", summary)
        shutil.rmtree(scratch, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


def enable_gradient_checkpointing(model) -> None:
    """Keep only each transformer layer's input in the forward pass and recompute the layer in the backward
    pass: activation memory per layer drops from tens of hidden-size vectors per token to one, for about a
    third more compute. The backbone's own (transformers) implementation, non-reentrant (gradients as without
    it, dropout masks replayed, fine with DDP and ``no_sync``)."""
    from ..errors import ConfigError

    bb = model.backbone
    if not getattr(bb, "supports_gradient_checkpointing", False):
        raise ConfigError(f"gradient_checkpointing: the backbone {type(bb).__name__} does not support it")
    if hasattr(bb, "activation_checkpointing_enable"):  # transformers >= 5.x (the old name is deprecated)
        bb.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        bb.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


METRICS_COLUMNS = ["step", "loss", "lr", "pairs", "pairs_per_s", "seconds", "chance", "val"]


def _write_csv(path: Path, rows: list[dict]) -> None:
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=METRICS_COLUMNS, restval="")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def smooth(values: Sequence[float], alpha: float | None = None) -> np.ndarray:
    """Exponential moving average, bias-corrected (TensorBoard's smoothing); ``alpha`` defaults to a
    window of about a tenth of the points."""
    v = np.asarray(values, dtype=float)
    if not len(v):
        return v
    if alpha is None:
        alpha = 2.0 / (max(1, len(v) // 10) + 1)
    out, acc, norm = np.empty_like(v), 0.0, 0.0
    for i, x in enumerate(v):
        acc = (1 - alpha) * acc + alpha * x
        norm = (1 - alpha) * norm + alpha
        out[i] = acc / norm
    return out


def _plot(rows: list[dict], path: Path, title: str, val_start: float | None = None,
          measure: str | None = None) -> None:
    """The training curve: raw and smoothed loss, the chance level (a constant scorer's loss on the same
    batches), the learning rate (right axis of a lower panel) and the validation metric (if any)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([int(r["step"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    chance = np.array([float(r["chance"]) if r.get("chance") not in (None, "") else np.nan for r in rows])
    lr = np.array([float(r["lr"]) for r in rows])
    val = [(int(r["step"]), float(r["val"])) for r in rows if r.get("val") not in (None, "")]
    if val_start is not None:
        val = [(0, float(val_start))] + val
    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(6, 4.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    if len(rows):
        ax.plot(steps, loss, lw=0.7, alpha=0.35, color="C0", label="loss")
        ax.plot(steps, smooth(loss), lw=1.6, color="C0", label="loss (smoothed)")
        if np.isfinite(chance).any():
            ax.plot(steps, smooth(chance), lw=1, ls="--", color="0.4", label="chance (constant scorer)")
        ax_lr.plot(steps, lr, lw=1.2, color="C2")
    ax.set_ylabel("loss")
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    if val:
        axv = ax.twinx()
        axv.plot([s for s, _ in val], [v for _, v in val], "o-", ms=3, lw=1.2, color="C3",
                 label=f"validation {measure or ''}".rstrip())
        axv.set_ylabel(f"validation {measure or ''}".rstrip(), color="C3")
        axv.tick_params(axis="y", colors="C3")
        h2, l2 = axv.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="upper right", framealpha=0.8)
    ax_lr.set_ylabel("lr")
    ax_lr.set_xlabel("step")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
