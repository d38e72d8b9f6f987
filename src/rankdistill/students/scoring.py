"""The students' scoring engine: fast cross-encoder scoring of (query, passage) pairs.

:func:`score_pairs` is the engine: pairs are tokenised in sub-chunks by a background thread
(the Rust tokenizer releases the GIL), each sub-chunk is sorted by length and cut into batches
under a token budget, padded only to the batch's longest sequence (rounded to a multiple of 8
for tensor cores), pinned, and copied with ``non_blocking``; scores stay on the device in one
preallocated tensor, so the loop has no host synchronisation until the end. On a GPU the
backbone runs in bf16 (``precision="bf16"``, the head stays fp32 so candidates do not tie) or
under bf16 autocast; ``precision="auto"`` is bf16 where the device computes it natively, fp32
elsewhere (:mod:`rankdistill.hardware`). ``torch.compile`` is optional.

The default engine is padding-free (:mod:`rankdistill.students.packed`): each batch is one row of
real tokens cut by ``cu_seqlens``, FlashAttention's variable-length kernel attends within pairs,
and no matrix product touches a pad token. A few pairs are scored both ways first; if the kernel
is missing or disagrees, the padded engine runs instead (with a warning).

:mod:`rankdistill.students.rerank` re-ranks runs with it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import Iterator, Sequence

import numpy as np
import torch

from ..errors import UnavailableError
from .model import CrossEncoder, collate

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "bf16-autocast")
# torch engines, then the CPU runtimes of :mod:`rankdistill.students.cpu` (a converted model's folder)
ENGINES = ("auto", "padded", "packed", "onnx", "onnx-int8", "openvino", "openvino-int8")


def resolve_device(device: str | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UnavailableError(f"device {device!r} requested but no CUDA GPU is available here")
    return dev


def _probe(model: CrossEncoder, dev: torch.device, autocast) -> str | None:
    """Score a few pairs both ways; why the packed engine cannot be trusted here (``None`` if it can)."""
    from .packed import pack

    qs = ["what is packed attention", "a"]
    ds = ["variable length sequences share one batch without padding " * 3, "short passage"]
    ids, types = model.encode(qs, ds)
    ctx = torch.autocast(dev.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()
    try:
        with ctx:
            padded = model(**{k: v.to(dev) for k, v in collate(ids, types, model.pairs.pad_id, 8).items()}).float()
            b = pack(ids, types)
            max_len = b.pop("max_len")
            packed = model.forward_packed(**{k: v.to(dev) for k, v in b.items()}, max_len=max_len).float()
    except Exception as e:  # an attention kernel this build/GPU does not have
        return f"{type(e).__name__}: {e}"
    tol = 1e-3 if next(model.backbone.parameters()).dtype == torch.float32 and autocast is None else 5e-2
    diff = float((padded - packed).abs().max())
    if not diff <= tol * max(1.0, float(padded.abs().max())):
        return f"packed scores differ from padded ones by {diff:.3g}"
    return None


def _enable_packed(model: CrossEncoder, dev: torch.device, autocast) -> str | None:
    """Enable the fastest attention core that scores a few pairs as the padded forward does;
    returns why none does (``None`` on success)."""
    from .packed import attention_candidates

    failures = []
    compute = autocast or next(model.backbone.parameters()).dtype
    for attention in attention_candidates(dev, compute):
        model.enable_packed(attention, compute_dtype=autocast)
        problem = _probe(model, dev, autocast)
        if problem is None:
            if failures:
                log.warning("padding-free scoring with %s attention; failed their check: %s", attention,
                            "; ".join(failures))
            return None
        failures.append(f"{attention} attention: {problem}")
    return "; ".join(failures)


def prepare(model: CrossEncoder, device: str | torch.device | None = None, precision: str = "auto",
            compile: bool = False, engine: str = "auto", cpu_model=None, threads: int | None = None):
    """Move ``model`` to the device in the inference precision and choose the engine.

    Returns ``(callable, device, autocast dtype, engine)``; the callable takes the engine's batches.
    ``engine="auto"`` is "packed" when the backbone supports it, with the fastest attention core
    that scores a few pairs as the padded forward does (on a GPU: varlen, flash-attn, aten-flash,
    sdpa); if none does it warns and scores "padded". On a CPU packed is about 1.1x faster (length-sorted batches carry little padding).
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    from ..hardware import resolve_precision

    precision = resolve_precision(precision, dev.type, what="inference.precision").value
    from .cpu import CPU_ENGINES, CpuSession, cpu_forward, read_manifest

    if engine == "auto" and cpu_model is not None and dev.type == "cpu":
        engine = read_manifest(cpu_model)["key"]["engine"] if not isinstance(cpu_model, CpuSession) else cpu_model.engine
    if engine in CPU_ENGINES:
        if dev.type != "cpu":
            raise ValueError(f"engine={engine!r} runs on a CPU, the device is {dev}")
        if cpu_model is None:
            raise ValueError(f"engine={engine!r} needs the converted model (cpu_model=: a folder of "
                             "rankdistill.students.cpu.convert, the convert_cpu rule's output)")
        session = cpu_model if isinstance(cpu_model, CpuSession) else CpuSession(cpu_model, threads=threads)
        if session.engine != engine:
            raise ValueError(f"{cpu_model} is converted for {session.engine!r}, not {engine!r}")
        model.eval().to(dev).float()
        return cpu_forward(model, session), dev, None, engine
    model.eval().to(dev)
    autocast = None
    if precision == "bf16":
        model.backbone.to(torch.bfloat16)
        if not model.seqcls:
            model.bert_pool.to(torch.bfloat16)
    elif precision == "bf16-autocast":
        autocast = torch.bfloat16
    if engine != "padded":
        why = model.packed_unsupported()
        if why is None:
            why = _enable_packed(model, dev, autocast)
            if why and engine == "auto":
                log.warning("padding-free scoring failed its check, scoring padded: %s", why)
        if why is None:
            engine = "packed"
        elif engine == "packed":
            raise ValueError(f"engine='packed' is not available for this model: {why}")
        else:
            engine = "padded"
    fn = model.forward_packed if engine == "packed" else model
    if compile:
        fn = torch.compile(fn, dynamic=True)
    return fn, dev, autocast, engine


def _plan(lengths: np.ndarray, batch_size: int, max_tokens: int, multiple_of: int) -> list[np.ndarray]:
    """Batches of positions, longest first, each under ``batch_size`` pairs and ``max_tokens`` padded tokens."""
    order = np.argsort(-lengths, kind="stable")
    batches, start, n = [], 0, len(order)
    while start < n:
        width = -(-int(lengths[order[start]]) // multiple_of) * multiple_of
        size = max(1, min(batch_size, max_tokens // max(width, 1)))
        batches.append(order[start:start + size])
        start += size
    return batches


def _producer(model: CrossEncoder, queries, docs, chunk: int, batch_size: int, max_tokens: int,
              multiple_of: int, pin: bool, packed: bool, out: queue.Queue, stop: threading.Event) -> None:
    from .packed import pack

    try:
        pad = model.pairs.pad_id
        c0, size = 0, min(chunk, 1024)
        while c0 < len(queries):
            # small first chunks so the device starts early, then ``chunk``-sized ones (sorted within)
            ids, types = model.encode(queries[c0:c0 + size], docs[c0:c0 + size])
            lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
            for pos in _plan(lengths, batch_size, max_tokens, multiple_of if not packed else 1):
                sel_ids = [ids[i] for i in pos]
                sel_types = [types[i] for i in pos] if types is not None else None
                b = pack(sel_ids, sel_types, pin=pin) if packed else collate(sel_ids, sel_types, pad, multiple_of, pin=pin)
                item = (torch.from_numpy(pos + c0), b, int(lengths[pos].sum()))
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            c0 += size
            size = min(chunk, size * 2)
        out.put(None)
    except BaseException as e:  # hand the error to the consumer
        out.put(e)


def iter_batches(model: CrossEncoder, queries: Sequence[str], docs: Sequence[str], chunk: int = 8192,
                 batch_size: int = 64, max_tokens: int = 16384, multiple_of: int = 8, pin: bool = False,
                 prefetch: int = 8, packed: bool = False) -> Iterator[tuple[torch.Tensor, dict, int]]:
    """(positions, CPU batch (padded, or packed with ``max_len``), real tokens), produced by a background thread."""
    q: queue.Queue = queue.Queue(maxsize=prefetch)
    stop = threading.Event()
    t = threading.Thread(target=_producer, daemon=True,
                         args=(model, list(queries), list(docs), chunk, batch_size, max_tokens, multiple_of, pin,
                               packed, q, stop))
    t.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


def default_budget(device: torch.device) -> tuple[int, int]:
    """(max pairs, max padded tokens) per batch: large on GPUs, cache-friendly on CPUs."""
    return (1024, 131072) if device.type == "cuda" else (64, 8192)


@torch.inference_mode()
def score_pairs(model: CrossEncoder, queries: Sequence[str], docs: Sequence[str], device=None, precision: str = "auto",
                batch_size: int | None = None, max_tokens: int | None = None, chunk: int = 8192,
                compile: bool = False, engine: str = "auto", progress: bool = False,
                stats: dict | None = None, cpu_model=None, threads: int | None = None) -> np.ndarray:
    """Scores (float32) of ``(queries[i], docs[i])`` in input order.

    ``engine``: "padded" (batches padded to their longest pair), "packed" (padding-free, see
    :mod:`rankdistill.students.packed`), "auto" (``cpu_model``'s engine when given on a CPU, else packed when
    the backbone supports it), or a CPU runtime ("onnx", "onnx-int8", "openvino", "openvino-int8") with
    ``cpu_model`` the folder :func:`rankdistill.students.cpu.convert` wrote (or a ``CpuSession``); the CPU
    runtimes score the same length-sorted batches, each padded only to its longest pair.
    """
    n = len(queries)
    if n != len(docs):
        raise ValueError(f"{n} queries for {len(docs)} passages")
    fn, dev, autocast, engine = prepare(model, device, precision, compile, engine, cpu_model, threads)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    bs, mt = default_budget(dev)
    bs, mt = batch_size or bs, max_tokens or mt
    cuda = dev.type == "cuda"
    packed = engine == "packed"
    multiple_of = 1 if engine not in ("padded", "packed") else 8  # CPU runtimes: no rounding up
    out = torch.empty(n, dtype=torch.float32, device=dev)
    tokens = 0
    padded = 0
    bar = own_bar = None
    if hasattr(progress, "update"):  # the caller's bar (one for a whole run, moved per batch here)
        bar = progress
    elif progress:
        from tqdm import tqdm

        bar = own_bar = tqdm(total=n, unit="pair", desc="re-rank", mininterval=2)
    t0 = time.perf_counter()
    ctx = torch.autocast(dev.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()
    with ctx:
        for pos, batch, real in iter_batches(model, queries, docs, chunk=chunk, batch_size=bs, max_tokens=mt, pin=cuda,
                                             packed=packed, multiple_of=multiple_of):
            extra = {"max_len": batch.pop("max_len")} if packed else {}
            batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
            scores = fn(**batch, **extra)
            padded += batch["input_ids"].numel()
            out.index_copy_(0, pos.to(dev, non_blocking=True), scores.float())
            tokens += real
            if bar is not None:
                bar.update(len(pos))
    result = out.cpu().numpy()
    elapsed = time.perf_counter() - t0
    if own_bar is not None:
        own_bar.close()
    if stats is not None:
        stats.update(pairs=n, seconds=elapsed, tokens=tokens, padded_tokens=padded, engine=engine,
                     pairs_per_s=n / elapsed if elapsed > 0 else float("inf"))
    return result
