"""Training data of the students: query groups of (docnos, targets) per optimizer step.

* **Stage 1** (:class:`Stage1Data`): 1 relevant passage (from the qrels, added even if the first
  stage missed it) and ``negatives`` passages drawn uniformly from the first stage's top-``depth``
  passages that are not judged relevant. The run is grouped by query (streamed when it is already
  grouped, else an external bucket sort) into an on-disk stage-1 index (:class:`Stage1Index`), so a
  500k-query training run is never held in memory.
* **Stage 2** (:class:`Stage2Data`): each query's whole candidate list of a distillation set with
  its teacher targets.

The queries of step ``s`` depend only on (seed, s) (:func:`_step_queries`), so a resumed run sees
exactly the batches of an uninterrupted one. ``_qtext`` / ``_texts`` read query and passage texts.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import write_json
from ..runs import duplicate_pair, natural_key

log = logging.getLogger(__name__)


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
    from ..runs import iter_run

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

    from ..runs import iter_run

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


# ----------------------------------------------------------------------------------------- texts
def _texts(docstore: str, source: str):
    from ..datasets.docstore import DocStore

    store = DocStore(docstore)

    def get(docnos):
        try:
            return store.get_many(docnos)
        except KeyError as e:
            raise InputError(source, f"passages missing from the document store: {e}") from None

    return get


def _qtext(path) -> dict[str, str]:
    """qid -> text of a queries file, or of several (a pooled distillation set's query sets: ids must not clash)."""
    from ..datasets.queries import read_queries

    if not isinstance(path, (str, os.PathLike)):
        out: dict[str, str] = {}
        for p in path:
            these = _qtext(p)
            clash = [q for q in these if q in out and out[q] != these[q]]
            if clash:
                raise InputError(p, f"{len(clash)} query ids are also in another query set with another text, "
                                    f"e.g. {clash[:5]}")
            out.update(these)
        return out
    q = read_queries(path)
    return dict(zip(q["qid"].astype(str), q["query"]))
