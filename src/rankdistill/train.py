"""Two-stage fine-tuning of the cross-encoder student (accelerate: one GPU, DDP, or CPU).

* **Stage 1** (pre-fine-tuning, :func:`train_stage1`): InfoNCE over 1 relevant passage (from the
  qrels, added even if the first stage missed it) and ``negatives`` passages drawn uniformly from
  the first stage's top-``depth`` passages that are not judged relevant (paper: 7 from the
  ColBERTv2 top 200, 20k steps x 32 queries).
* **Stage 2** (distillation, :func:`train_stage2`): RankNet or ADR-MSE over each query's whole
  candidate list from a distillation set, for ``epochs`` passes (paper: 3 x 10k queries x 100
  passages, 32 queries a step), starting from a stage-1 model ("dual") or a backbone ("single").

Both stages: AdamW (lr 1e-5), bf16 autocast on GPUs (fp32 on CPUs), optimizer steps over
``batch_queries`` whole query groups split into ``accumulation`` micro-batches (and across DDP
processes), seeded: the queries and negatives of step ``s`` depend only on (seed, s), so a
resumed run sees exactly the batches an uninterrupted one would. Checkpoints (accelerate
``save_state``: weights, optimizer, RNG states) go every ``save_every`` steps to a *scratch*
folder keyed by the settings (Snakemake deletes declared outputs before a job runs); the job
resumes from the latest one. The output folder holds the model (lightning-ir mono layout),
``metrics.csv`` (step, loss, lr, pairs/s, the chance loss of the step's batch, validation nDCG@10
every ``validation.every`` steps), ``loss.png`` (the training curve: raw and smoothed loss, chance
level, learning rate, validation metric) and ``train.json``.

Learning rate: constant (``schedule: none``, the paper's lightning-ir config) or ``linear``: linear
warm-up from 0 over the first ``warmup`` share of the steps, then linear decay to 0 at the last step
(transformers' ``get_linear_schedule_with_warmup``). The factor is a function of the step alone, so a
resumed run follows the same curve.

Multi-GPU: ``accelerate launch --multi_gpu train ...`` or ``torchrun`` around
:func:`train_stage1`/:func:`train_stage2` (the ``rankdistill-train`` entry point below).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import heapq
import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from . import losses
from .errors import InputError
from .io import atomic_dir, write_json
from .runs import duplicate_pair, natural_key

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    loss: str = "ranknet"
    lr: float = 1e-5
    weight_decay: float = 0.01
    batch_queries: int = 32
    accumulation: int = 1
    steps: int | None = None  # stage 1
    epochs: int | None = None  # stage 2
    seed: int = 42
    save_every: int = 500
    max_grad_norm: float | None = None
    schedule: str = "none"  # none (constant lr, as the paper's lightning-ir config) | linear (warm-up, then decay to 0)
    warmup: float = 0.1  # linear: share of the steps spent warming up from 0
    dropout: float | None = None  # None = the backbone's own
    precision: str = "auto"  # auto (bf16 autocast on GPU, fp32 on CPU) | fp32 | bf16
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


# ----------------------------------------------------------------------------------------- data
@dataclass
class Group:
    qid: str
    docnos: list[str]
    targets: list[float]


_INDEX_VERSION = 1


class _Positives:
    """Judged-relevant passages (grade >= ``min_relevance``), compact: two numpy string arrays sorted by
    (qid, docno), so a query's positives are one ``searchsorted`` slice (no per-query Python objects)."""

    def __init__(self, qrels: pd.DataFrame, min_relevance: int):
        rel = qrels[qrels["label"] >= min_relevance]
        q = rel["qid"].astype(str).to_numpy(dtype=str)
        d = rel["docno"].astype(str).to_numpy(dtype=str)
        order = np.lexsort((d, q))  # by qid, then docno (code point order, as Python sorts strings)
        self.qid, self.docno = q[order], d[order]

    def span(self, qids) -> tuple[np.ndarray, np.ndarray]:
        return np.searchsorted(self.qid, qids, "left"), np.searchsorted(self.qid, qids, "right")

    def digest(self) -> str:
        h = hashlib.sha256()
        for a in (self.qid, self.docno):
            h.update(str(a.dtype).encode() + a.tobytes())
        return h.hexdigest()


class _Ungrouped(Exception):
    """The run's lines of a query are not contiguous (the fast single pass cannot be used)."""


def _grouped_queries(path) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """``(qid, [(docno, score), ...])`` per query of a run whose queries are contiguous (one pass).

    Memory: one query's lines plus the set of finished qids. Raises :class:`_Ungrouped` when a
    finished query comes back, :class:`InputError` for a bad line, a duplicate pair or an empty file.
    """
    from .runs import iter_run

    done: set[str] = set()
    cur, rows, seen = None, [], {}
    for lineno, qid, docno, _rank, score in iter_run(path):
        if qid != cur:
            if cur is not None:
                yield cur, rows
                done.add(cur)
            if qid in done:
                raise _Ungrouped(qid)
            cur, rows, seen = qid, [], {}
        if docno in seen:
            raise duplicate_pair(path, qid, docno, seen[docno], lineno)
        seen[docno] = lineno
        rows.append((docno, score))
    if cur is None:
        raise InputError(path, "run file is empty")
    yield cur, rows


def _bucketed_queries(path, tmp: Path, bucket_bytes: int) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """The same for a run in any line order: one pass hashes each line to a bucket file by qid, then each
    bucket (about ``bucket_bytes`` of text; the file size decides the count, so a gzipped run's buckets are
    a few times larger) is grouped in memory. Memory: one bucket, kept as its unparsed lines."""
    import resource
    import zlib

    from .runs import iter_run

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    cap = 1024 if soft == resource.RLIM_INFINITY else max(2, min(1024, soft - 64))
    n = max(2, min(cap, math.ceil(Path(path).stat().st_size / bucket_bytes)))
    files = [open(tmp / f"bucket-{i:04d}.tsv", "w", encoding="utf-8") for i in range(n)]
    empty = True
    try:
        for lineno, qid, docno, _rank, score in iter_run(path):
            files[zlib.crc32(qid.encode()) % n].write(f"{qid}\t{docno}\t{score!r}\t{lineno}\n")
            empty = False
    finally:
        for f in files:
            f.close()
    if empty:
        raise InputError(path, "run file is empty")
    for i in range(n):
        bucket = tmp / f"bucket-{i:04d}.tsv"
        groups: dict[str, list[str]] = {}  # qid -> its lines, unparsed (compact)
        with open(bucket, encoding="utf-8") as f:
            for line in f:
                groups.setdefault(line[:line.index("\t")], []).append(line)
        bucket.unlink()
        for qid in list(groups):
            rows, seen = [], {}
            for line in groups.pop(qid):
                _, docno, score, lineno = line.rstrip("\n").split("\t")
                if docno in seen:
                    raise duplicate_pair(path, qid, docno, seen[docno], lineno)
                seen[docno] = lineno
                rows.append((docno, float(score)))
            yield qid, rows


def _build_stage1_index(run, positives: _Positives, depth: int, folder: Path, bucket_bytes: int) -> dict:
    """Stream ``run`` once (twice if its queries are not contiguous) into ``folder``: per query with positives,
    its top ``depth`` (score descending, docno descending: :func:`rankdistill.runs.sort_run`'s ranks, not the
    file's rank column) minus its judged-relevant passages, in rank order.

    Files: ``docnos.bin`` (the candidates' docnos, UTF-8, concatenated), ``ends.bin`` (int64 end offset of
    each candidate in it), ``queries.tsv`` (qid, first candidate, count; natural qid order).
    """
    from array import array

    def index(queries) -> tuple[list[str], array, array]:
        qids, starts, counts = [], array("q"), array("q")
        n = off = 0
        with open(folder / "docnos.bin", "wb") as heap, open(folder / "ends.bin", "wb") as ends:
            for qid, rows in queries:
                lo, hi = positives.span(qid)
                if lo == hi:
                    continue  # no positives: never a training query
                rel = set(positives.docno[lo:hi].tolist())
                top = heapq.nlargest(depth, rows, key=lambda r: (r[1], r[0]))  # (score, docno) descending
                cands = [d.encode() for d, _ in top if d not in rel]
                qids.append(qid)
                starts.append(n)
                counts.append(len(cands))
                if cands:
                    heap.write(b"".join(cands))
                    ends.write((np.cumsum([len(c) for c in cands], dtype=np.int64) + off).tobytes())
                    off += sum(len(c) for c in cands)
                    n += len(cands)
        return qids, starts, counts

    t0 = time.perf_counter()
    layout = "grouped"
    try:
        qids, starts, counts = index(_grouped_queries(run))
    except _Ungrouped as e:
        layout = "bucketed"
        log.info("stage 1: %s is not grouped by query (query %s comes back): bucketing it by query", run, e)
        buckets = folder / "buckets"
        buckets.mkdir()
        qids, starts, counts = index(_bucketed_queries(run, buckets, bucket_bytes))
        shutil.rmtree(buckets, ignore_errors=True)
    order = sorted(range(len(qids)), key=lambda i: (natural_key(qids[i]), qids[i]))
    with open(folder / "queries.tsv", "w", encoding="utf-8") as f:
        f.writelines(f"{qids[i]}\t{starts[i]}\t{counts[i]}\n" for i in order)
    info = {"queries": len(qids), "candidates": int(sum(counts)), "layout": layout,
            "seconds": round(time.perf_counter() - t0, 3)}
    log.info("stage 1: candidate index of %s: %d queries with positives, %d candidates (%s run, %.1f s)", run,
             info["queries"], info["candidates"], layout, info["seconds"])
    return info


class Stage1Index:
    """Read side of the stage-1 candidate index (memory-mapped; RAM holds per-query arrays only)."""

    def __init__(self, folder: str | os.PathLike):
        folder = Path(folder)
        q = pd.read_csv(folder / "queries.tsv", sep="\t", header=None, names=["qid", "start", "count"],
                        dtype={"qid": str, "start": np.int64, "count": np.int64}, keep_default_na=False)
        self.qids = q["qid"].to_numpy(dtype=str)
        self.starts, self.counts = q["start"].to_numpy(), q["count"].to_numpy()
        self._ends = _map(folder / "ends.bin", np.int64)
        self._heap = _map(folder / "docnos.bin", np.uint8)

    def docnos(self, idx: Sequence[int]) -> list[str]:
        """Docnos of candidates ``idx`` (global positions)."""
        out = []
        for j in idx:
            a = int(self._ends[j - 1]) if j > 0 else 0
            out.append(bytes(self._heap[a:int(self._ends[j])]).decode())
        return out


def _map(path: Path, dtype) -> np.ndarray:
    return np.memmap(path, dtype=dtype, mode="r") if path.stat().st_size else np.zeros(0, dtype=dtype)


def _stamp_file(path) -> list:
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def open_stage1_index(run, positives: _Positives, depth: int, folder: str | os.PathLike,
                      bucket_bytes: int = 8 << 20) -> Stage1Index:
    """The candidate index of ``run`` in ``folder``: reused when built from the same run file (path, size,
    mtime), positives and depth, else (re)built atomically. A file lock makes concurrent (DDP) processes
    build it once."""
    import fcntl

    folder = Path(folder)
    if not Path(run).exists():
        raise InputError(run, "run file does not exist")
    folder.parent.mkdir(parents=True, exist_ok=True)
    stamp = {"version": _INDEX_VERSION, "run": _stamp_file(run), "positives": positives.digest(), "depth": depth}
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        meta = folder / "index.json"
        if not (meta.exists() and json.loads(meta.read_text()).get("stamp") == stamp):
            tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            try:
                info = _build_stage1_index(run, positives, depth, tmp, bucket_bytes)
                write_json(tmp / "index.json", {"stamp": stamp, **info})
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(tmp, folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            log.info("stage 1: reusing the candidate index %s", folder)
    return Stage1Index(folder)


class Stage1Data:
    """Per step: ``batch_queries`` queries (a seeded permutation per epoch), 1 relevant + k negatives each.

    Memory is bounded by the batch, not by the run: the first-stage run is streamed once into an on-disk
    candidate index (:func:`open_stage1_index`, in ``index_dir`` or a temporary folder); RAM holds the qrels
    as two sorted string arrays and a few numbers per training query. A step's sample depends on
    (seed, step) only and is the one the in-memory version drew (tests/test_train.py keeps it as reference).
    """

    def __init__(self, run: str | os.PathLike, qrels: pd.DataFrame, qtext: Mapping[str, str], negatives: int,
                 depth: int, min_relevance: int, seed: int, index_dir: str | os.PathLike | None = None,
                 source: str | None = None, bucket_bytes: int = 8 << 20):
        import tempfile

        source = str(run) if source is None else source
        positives = _Positives(qrels, min_relevance)
        if index_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rankdistill-stage1-")
            index_dir = Path(self._tmp.name) / "index"
        self.index = index = open_stage1_index(run, positives, depth, index_dir, bucket_bytes)
        has_text = np.array([q in qtext for q in index.qids], dtype=bool)
        if not has_text.all():
            log.warning("stage 1: %d queries with relevant passages and a first-stage ranking have no text and are "
                        "skipped: %s", int((~has_text).sum()), index.qids[~has_text][:10].tolist())
        enough = index.counts >= negatives
        self.too_few = index.qids[has_text & ~enough].tolist()
        pos_qids = np.unique(positives.qid)
        self.no_run = sorted(pos_qids[~np.isin(pos_qids, index.qids)].tolist(), key=natural_key)
        keep = np.flatnonzero(has_text & enough)
        self.qids = index.qids[keep]  # natural qid order (the index's order)
        self._starts, self._counts = index.starts[keep], index.counts[keep]
        self._pos_lo, self._pos_hi = positives.span(self.qids)
        self._positives = positives.docno
        if self.too_few:
            log.warning("stage 1: %d queries have fewer than %d non-relevant passages in the top %d and are skipped: %s",
                        len(self.too_few), negatives, depth, self.too_few[:10])
        if self.no_run:
            log.warning("stage 1: %d queries with relevant passages are not in the first-stage run: %s",
                        len(self.no_run), self.no_run[:10])
        if not len(self.qids):
            raise InputError(source, "no training query has a relevant passage (qrels) and enough first-stage negatives")
        self.k, self.seed = negatives, seed

    def step_groups(self, step: int, batch_queries: int) -> list[Group]:
        out = []
        for i, qi in enumerate(_step_queries(range(len(self.qids)), step, batch_queries, self.seed)):
            rng = np.random.default_rng([self.seed, step, i])
            lo, hi = self._pos_lo[qi], self._pos_hi[qi]
            pos = str(self._positives[lo + rng.integers(hi - lo)])
            neg = self.index.docnos(self._starts[qi] + rng.choice(self._counts[qi], self.k, replace=False))
            out.append(Group(str(self.qids[qi]), [pos] + neg, [1.0] + [0.0] * self.k))
        return out


class Stage2Data:
    """Per step: ``batch_queries`` whole query groups of the distillation set (seeded permutation per epoch)."""

    def __init__(self, table: pd.DataFrame, qtext: dict[str, str], seed: int, source: str = "distill set"):
        missing = sorted(set(table["qid"]) - set(qtext), key=natural_key)
        if missing:
            raise InputError(source, f"{len(missing)} queries have no text in the query set, e.g. {missing[:5]}")
        self.groups = {}
        for q, g in table.groupby("qid", sort=False):
            g = g.sort_values("target", ascending=False, kind="stable")
            self.groups[str(q)] = Group(str(q), list(g["docno"].astype(str)), list(g["target"].astype(float)))
        self.qids = sorted(self.groups, key=natural_key)
        self.seed = seed

    def step_groups(self, step: int, batch_queries: int) -> list[Group]:
        return [self.groups[q] for q in _step_queries(self.qids, step, batch_queries, self.seed, wrap=False)]


def _perm(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, 7919, epoch]).permutation(n)


def _step_queries(qids: Sequence[str], step: int, batch: int, seed: int, wrap: bool = True) -> list[str]:
    """Queries of optimizer step ``step``; every epoch is a seeded permutation of ``qids``.

    ``wrap`` (stage 1, counted in steps): batches run on across epoch ends. Otherwise (stage 2,
    counted in epochs) each epoch is ``ceil(n / batch)`` steps and its last batch may be short.
    """
    n = len(qids)
    if not wrap:
        per = math.ceil(n / batch)
        epoch, b = divmod(step, per)
        return [qids[i] for i in _perm(n, seed, epoch)[b * batch:(b + 1) * batch]]
    out: list[str] = []
    pos = step * batch
    while len(out) < batch:
        epoch, off = divmod(pos, n)
        take = min(batch - len(out), n - off)
        out += [qids[i] for i in _perm(n, seed, epoch)[off:off + take]]
        pos += take
    return out


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
    steps. Scores with :func:`rankdistill.rerank.score_pairs` and evaluates with ir_measures
    (:func:`rankdistill.evaluate.per_query`), the code paths of the table."""

    def __init__(self, run, qrels, queries, docstore, *, queries_n: int = 10, depth: int = 20, every: int = 50,
                 measure: str = "nDCG@10"):
        from .datasets.docstore import DocStore
        from .datasets.queries import read_qrels
        from .runs import cut, read_run

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
        from .evaluate import per_query
        from .rerank import score_pairs

        was_training = model.training
        precision = "bf16-autocast" if torch.device(device).type == "cuda" else "fp32"
        try:
            scores = score_pairs(model, self.queries, self.docs, device=device, precision=precision, engine="padded")
        finally:
            model.train(was_training)
        run = self.run.assign(score=scores.astype(np.float64))
        pq = per_query(run, self.qrels, [self.measure])
        return float(pq["value"].mean())


def fit(model, data, settings: TrainSettings, total_steps: int, texts: Callable[[Sequence[str]], dict[str, str]],
        qtext: dict[str, str], out: str | os.PathLike, scratch: str | os.PathLike, loss_name: str,
        describe: dict, crash_after: int | None = None, validation: Validation | None = None) -> dict:
    """The training loop shared by both stages; writes the final model folder ``out``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm

    cuda = torch.cuda.is_available()
    precision = settings.precision
    if precision == "auto":
        precision = "bf16" if cuda else "fp32"
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
    from .model import collate

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
    for step in range(start, total_steps):
        t0 = time.perf_counter()
        lr = settings.lr * lr_factor(settings.schedule, step, total_steps, settings.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        groups = data.step_groups(step, settings.batch_queries)
        mine = groups[rank::world]
        micro = [m for m in np.array_split(np.arange(len(mine)), max(1, min(settings.accumulation, len(mine)))) if len(m)]
        step_loss = torch.zeros((), device=dev)
        step_chance = 0.0
        pairs = 0
        for mi, idx in enumerate(micro):
            gs = [mine[i] for i in idx]
            docnos = [d for g in gs for d in g.docnos]
            tx = texts(docnos)
            qs = [qtext[g.qid] for g in gs for _ in g.docnos]
            ids, types = model.encode(qs, [tx[d] for d in docnos])
            batch = {k: v.to(dev) for k, v in collate(ids, types, pad, 8).items()}
            width = max(len(g.docnos) for g in gs)
            tgt = torch.full((len(gs), width), float("-inf"))
            mask = torch.zeros((len(gs), width), dtype=torch.bool)
            for r, g in enumerate(gs):
                tgt[r, :len(g.docnos)] = torch.tensor(g.targets)
                mask[r, :len(g.docnos)] = True
            sync = contextlib.nullcontext() if mi == len(micro) - 1 else accelerator.no_sync(pmodel)
            with sync, accelerator.autocast():
                flat = pmodel(**batch)
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
               "processes": world, "device": str(dev), "precision": precision,
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
    from .errors import ConfigError

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


# ----------------------------------------------------------------------------------------- stages
def _texts(docstore: str, source: str):
    from .datasets.docstore import DocStore

    store = DocStore(docstore)

    def get(docnos):
        try:
            return store.get_many(docnos)
        except KeyError as e:
            raise InputError(source, f"passages missing from the document store: {e}") from None

    return get


def _qtext(path) -> dict[str, str]:
    from .datasets.queries import read_queries

    q = read_queries(path)
    return dict(zip(q["qid"].astype(str), q["query"]))


def _model(start: str, query_length, doc_length, seed, from_checkpoint: bool):
    from .model import CrossEncoder

    if from_checkpoint:
        m = CrossEncoder.load(start)
        m.settings.query_length, m.settings.doc_length = query_length, doc_length
        return m
    return CrossEncoder.from_backbone(start, query_length=query_length, doc_length=doc_length, seed=seed)


def train_stage1(backbone: str, run: str, qrels: str, queries: str, docstore: str, out: str, scratch: str, *,
                 query_length: int | None = 32, doc_length: int | None = 256, threads: int | None = None,
                 crash_after: int | None = None, name: str = "stage1", validation: dict | None = None,
                 **settings) -> dict:
    """Stage 1: InfoNCE over 1 relevant + ``negatives`` first-stage negatives, for ``steps`` steps.

    ``validation``: keyword arguments of :class:`Validation` (``run``, ``qrels``, ``queries``, ``queries_n``,
    ``depth``, ``every``) for the validation metric in the metrics and the plot; ``None``: no validation."""
    from .datasets.queries import read_qrels

    if threads:
        torch.set_num_threads(threads)
    s = TrainSettings(loss="infonce", **settings)
    if not s.steps:
        raise ValueError("stage 1 needs steps")
    qtext = _qtext(queries)
    key = s.key(backbone, query_length, doc_length, str(run), str(qrels), _val_key(validation))
    data = Stage1Data(run, read_qrels(qrels), qtext, s.negatives, s.depth, s.min_relevance, s.seed,
                      index_dir=Path(scratch) / key / "stage1-index", source=run)
    model = _model(backbone, query_length, doc_length, s.seed, from_checkpoint=False)
    describe = {"name": name, "stage": 1, "start": backbone, "queries": len(data.qids),
                "skipped_queries": len(data.too_few), "query_length": query_length, "doc_length": doc_length}
    return fit(model, data, s, s.steps, _texts(docstore, run), qtext, out, Path(scratch) / key, "infonce", describe,
               crash_after, _validation(validation, docstore))


def train_stage2(start: str, distill: str, queries: str, docstore: str, out: str, scratch: str, *,
                 start_is_checkpoint: bool, query_length: int | None = 32, doc_length: int | None = 256,
                 threads: int | None = None, crash_after: int | None = None, name: str = "stage2",
                 validation: dict | None = None, save_every: int = 100, **settings) -> dict:
    """Stage 2: RankNet / ADR-MSE over whole query groups of a distillation set, for ``epochs`` epochs
    (``validation`` as in :func:`train_stage1`; ``save_every``: the students' schema default, the rules pass it)."""
    from .distill import read_distill_set

    if threads:
        torch.set_num_threads(threads)
    s = TrainSettings(save_every=save_every, **settings)
    if s.loss not in ("ranknet", "adr-mse", "infonce"):
        raise ValueError(f"unknown stage-2 loss {s.loss!r}")
    if not s.epochs:
        raise ValueError("stage 2 needs epochs")
    qtext = _qtext(queries)
    data = Stage2Data(read_distill_set(distill), qtext, s.seed, source=distill)
    steps = s.epochs * math.ceil(len(data.qids) / s.batch_queries)
    model = _model(start, query_length, doc_length, s.seed, from_checkpoint=start_is_checkpoint)
    key = s.key(start, query_length, doc_length, str(distill), _val_key(validation))
    describe = {"name": name, "stage": 2, "start": start, "dual": start_is_checkpoint, "queries": len(data.qids),
                "query_length": query_length, "doc_length": doc_length}
    return fit(model, data, s, steps, _texts(docstore, distill), qtext, out, Path(scratch) / key, s.loss, describe,
               crash_after, _validation(validation, docstore))


def _validation(validation: dict | None, docstore: str) -> Validation | None:
    return None if validation is None else Validation(docstore=docstore, **validation)


def _val_key(validation: dict | None):
    return None if validation is None else sorted((k, _stamp(str(v)) if k in ("run", "qrels", "queries") else v)
                                                  for k, v in validation.items())


def validation_kwargs(spec: dict | None, inputs) -> dict | None:
    """:class:`Validation` keyword arguments from a config entry's ``validation`` block and the rule's
    ``val_run`` / ``val_qrels`` / ``val_queries`` inputs (``None`` when the block names no query set)."""
    if not spec or not spec.get("query_set"):
        return None
    return {"run": str(inputs["val_run"]), "qrels": str(inputs["val_qrels"]), "queries": str(inputs["val_queries"]),
            "queries_n": spec["queries"], "depth": spec["depth"], "every": spec["every"]}


def student_settings(spec: dict) -> dict:
    """train_stage2 keyword arguments from a ``students`` config entry (kind: trained), without ``validation``
    (see :func:`validation_kwargs`)."""
    drop = {"kind", "stage1", "backbone", "distill_set", "inference", "label", "validation"}
    return {k: v for k, v in spec.items() if k not in drop}


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m rankdistill.train stage1|stage2 --json '{...kwargs...}'`` (for torchrun / accelerate launch)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m rankdistill.train")
    p.add_argument("stage", choices=["stage1", "stage2"])
    p.add_argument("--json", required=True, help="keyword arguments of train_stage1 / train_stage2 as JSON")
    a = p.parse_args(argv)
    kwargs = json.loads(a.json)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (train_stage1 if a.stage == "stage1" else train_stage2)(**kwargs)


if __name__ == "__main__":
    main()
