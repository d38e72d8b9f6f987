"""Imported first stages: published runs instead of computed ones (kind ``import``).

An import first stage maps each query set to a *source*:

* a local path, or an ``http(s)://`` URL with an expected ``sha256`` or ``md5`` (required for
  URLs): the file is downloaded once into a cache folder keyed by the checksum, written to a
  temporary sibling and renamed into place only if the checksum matches; a mismatch is an
  :class:`InputError` and nothing is cached;
* ``irds:<id>``: the scoreddocs of an ir_datasets id (ids registered by lightning-ir, such as
  ``msmarco-passage/train/rank-distillm-colbert``, are found when lightning-ir is installed).

Formats: TREC runs (``qid Q0 docno rank score tag``, space or tab separated, optionally
``.gz``) and Parquet (columns ``qid, docno, score``, or lightning-ir's ``query_id, doc_id``).

The run is converted with memory bounded by a chunk size (an external merge sort), restricted
to the query set's queries, cut to ``depth`` per query and written exactly as
:func:`rankdistill.runs.write_run` would (trec_eval order, 1-based ranks), so a 100M-line
training run imports with constant memory.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

from ..config.sources import CHECKSUMS, normalise_source  # noqa: F401  (normalise_source: this module's API too)
from ..errors import ConfigError, InputError, UnavailableError
from ..io import atomic_open, file_digest
from ..runs import iter_run, natural_key
from ..textfiles import check_id

log = logging.getLogger(__name__)

_CHUNK_ROWS = 2_000_000


# --- sources ------------------------------------------------------------------------------

def _verify(path: Path, src: dict, origin: str) -> None:
    for algo in CHECKSUMS:
        if src.get(algo):
            got = file_digest(path, algo)
            if got != src[algo]:
                raise InputError(origin, f"{algo} mismatch: expected {src[algo]}, got {got} (the file changed or the "
                                         "download is corrupt; nothing was cached)")


def _cache_path(src: dict, cache_dir: Path) -> Path:
    algo = next(a for a in CHECKSUMS if src.get(a))
    name = Path(urllib.parse.urlparse(src["url"]).path).name or "download"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return cache_dir / f"{algo}-{src[algo]}" / name


DEFAULT_CACHE = "results/cache/downloads"


def cached_file(source, cache_dir: str | os.PathLike = DEFAULT_CACHE) -> Path | None:
    """The cached download of a URL source if present (not verified here), else None."""
    try:
        src = normalise_source(source)
    except ConfigError:
        return None
    if src["kind"] != "url":
        return None
    p = _cache_path(src, Path(cache_dir))
    return p if p.exists() else None


def download(src: dict, cache_dir: str | os.PathLike, timeout: float = 60.0) -> Path:
    """The cached file for a URL source: downloaded (atomically, checksum verified) if absent."""
    target = _cache_path(src, Path(cache_dir))
    if target.exists():
        try:
            _verify(target, src, str(target))
            log.info("using cached %s", target)
            return target
        except InputError:
            log.warning("cached %s does not match its checksum; downloading it again", target)
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        hashes = {a: hashlib.new(a) for a in CHECKSUMS if src.get(a)}
        req = urllib.request.Request(src["url"], headers={"User-Agent": "rankdistill"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp, os.fdopen(fd, "wb") as f:
                total = int(resp.headers.get("Content-Length") or 0) or None
                from tqdm import tqdm

                with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {target.name}", mininterval=5) as bar:
                    while block := resp.read(1 << 20):
                        f.write(block)
                        for h in hashes.values():
                            h.update(block)
                        bar.update(len(block))
                f.flush()
                os.fsync(f.fileno())
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            if isinstance(e, urllib.error.HTTPError) and e.code == 404:
                raise InputError(src["url"], "not found (HTTP 404)") from None
            raise UnavailableError(f"could not download {src['url']}: {e}. Download it where the network is "
                                   f"reachable and configure it as a local path (with the same checksum).") from e
        for algo, h in hashes.items():
            if h.hexdigest() != src[algo]:
                raise InputError(src["url"], f"{algo} mismatch: expected {src[algo]}, got {h.hexdigest()} (the file "
                                             "changed or the download is corrupt; nothing was cached)")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
        if not target.exists() and not any(target.parent.iterdir()):
            target.parent.rmdir()  # a failed download leaves no trace in the cache
    log.info("downloaded %s to %s", src["url"], target)
    return target


def resolve(source, cache_dir: str | os.PathLike) -> tuple[dict, Path | None]:
    """(normalised source, local file or None for irds), checksums verified."""
    src = normalise_source(source)
    if src["kind"] == "url":
        return src, download(src, cache_dir)
    if src["kind"] == "path":
        path = Path(src["path"])
        if not path.exists():
            raise InputError(path, "run file does not exist")
        if any(src.get(a) for a in CHECKSUMS):
            _verify(path, src, str(path))
        else:
            log.info("%s has sha256 %s (add it to the config to pin this file)", path, file_digest(path))
        return src, path
    return src, None


# --- rows ---------------------------------------------------------------------------------

def _trec_rows(path: Path) -> Iterator[tuple[str, str, float, int]]:
    for lineno, qid, docno, _rank, score in iter_run(path):
        yield qid, docno, score, lineno


_PARQUET_NAMES = {"qid": ("qid", "query_id"), "docno": ("docno", "doc_id", "docid"), "score": ("score",)}


def _parquet_rows(path: Path) -> Iterator[tuple[str, str, float]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:
        raise InputError(path, f"not a readable Parquet file: {e}") from None
    names = pf.schema_arrow.names
    cols = {}
    for want, options in _PARQUET_NAMES.items():
        found = [c for c in options if c in names]
        if not found:
            raise InputError(path, f"no {want} column (one of {list(options)}) among {names}")
        cols[want] = found[0]
    row = 0
    try:
        for batch in pf.iter_batches(columns=list(cols.values()), batch_size=100_000):
            q = batch.column(cols["qid"]).to_pylist()
            d = batch.column(cols["docno"]).to_pylist()
            s = batch.column(cols["score"]).to_pylist()
            for a, b, c in zip(q, d, s):
                row += 1
                where = f"{path} (row {row})"
                if a is None or b is None:
                    raise InputError(where, f"missing {'qid' if a is None else 'docno'}")
                check_id(str(a), where, None, "query id")
                check_id(str(b), where, None, "docno")
                try:
                    c = float(c)
                except (TypeError, ValueError):
                    raise InputError(where, f"score {c!r} is not a number") from None
                if not math.isfinite(c):
                    raise InputError(where, f"non-finite or missing score for ({a}, {b})")
                yield str(a), str(b), c, row
    except OSError as e:  # a corrupt page
        raise InputError(path, f"unreadable Parquet data after row {row}: {e}") from None


def _irds_rows(dataset_id: str) -> Iterator[tuple[str, str, float]]:
    try:
        import ir_datasets
    except ImportError as e:
        raise UnavailableError("ir_datasets is not installed") from e
    try:
        ds = ir_datasets.load(dataset_id)
    except KeyError:
        try:  # lightning-ir registers the Rank-DistiLLM runs (msmarco-passage/train/rank-distillm-*) on import
            import lightning_ir  # noqa: F401

            ds = ir_datasets.load(dataset_id)
        except (ImportError, KeyError):
            raise UnavailableError(
                f"ir_datasets has no dataset {dataset_id!r}. Ids such as msmarco-passage/train/rank-distillm-colbert "
                "are registered by lightning-ir (pip install lightning-ir); or configure the run file's URL with "
                "its md5 instead (see config/paper.yaml)."
            ) from None
    if not ds.has_scoreddocs():
        raise UnavailableError(f"ir_datasets {dataset_id!r} has no scoreddocs")
    try:
        for s in ds.scoreddocs_iter():
            yield str(s.query_id), str(s.doc_id), float(s.score), None
    except (OSError, ConnectionError) as e:
        raise UnavailableError(f"could not fetch the scoreddocs of ir_datasets {dataset_id!r}: {e}") from e


def iter_rows(src: dict, path: Path | None) -> Iterator[tuple[str, str, float]]:
    if src["kind"] == "irds":
        return _irds_rows(src["irds"])
    assert path is not None
    fmt = src.get("format") or ("parquet" if path.name.endswith((".parquet", ".pq")) else "trec")
    if fmt == "parquet":
        return _parquet_rows(path)
    if fmt == "trec":
        return _trec_rows(path)
    raise ConfigError(f"unknown run format {fmt!r} (trec or parquet)")


# --- bounded-memory conversion ------------------------------------------------------------

class _Desc:
    """Reverses string order inside sort keys (docno descending, as trec_eval breaks ties)."""

    __slots__ = ("s",)

    def __init__(self, s: str):
        self.s = s

    def __lt__(self, other: "_Desc") -> bool:
        return self.s > other.s

    def __eq__(self, other) -> bool:
        return self.s == other.s


def _key(row):
    return (natural_key(row[0]), -row[2], _Desc(row[1]))


def _spill(rows: list, folder: Path, n: int) -> Path:
    rows.sort(key=_key)
    p = folder / f"chunk-{n:05d}.tsv"
    with open(p, "w", encoding="utf-8") as f:
        for q, d, s, line in rows:
            f.write(f"{q}\t{d}\t{s!r}\t{'' if line is None else line}\n")
    return p


def _read_chunk(p: Path) -> Iterator[tuple[str, str, float, int | None]]:
    with open(p, encoding="utf-8") as f:
        for line in f:
            q, d, s, where = line.rstrip("\n").split("\t")
            yield q, d, float(s), int(where) if where else None


UNKNOWN_DOCNOS = ("error", "drop")
_MAX_UNKNOWN = 1_000_000  # distinct unknown docnos remembered (an error stops there: the run is not for this store)


class _KnownDocnos:
    """Checks batches of docnos against the collection and remembers the unknown ones.

    Every kept row is counted; at the end (:meth:`finish`) ``policy="error"`` raises one
    :class:`InputError` naming the file, the first line with an unknown docno and how many docnos
    (and rows) are unknown; ``"drop"`` keeps the set so the writer can leave those rows out.
    """

    def __init__(self, docstore, origin: str, policy: str = "error"):
        from ..datasets.docstore import DocStore

        if policy not in UNKNOWN_DOCNOS:
            raise ConfigError(f"unknown_docnos must be one of {UNKNOWN_DOCNOS}, got {policy!r}")
        self.store = docstore if isinstance(docstore, DocStore) else DocStore(docstore)
        self.origin, self.policy = origin, policy
        self.pending: dict[str, list] = {}  # docno -> [first line, rows], not yet looked up
        self.unknown: dict[str, list] = {}  # docno -> [first line, rows], not in the store
        self.checked = 0

    def add(self, docno: str, where) -> None:
        u = self.unknown.get(docno)
        if u is not None:
            u[1] += 1
            return
        p = self.pending.get(docno)
        if p is not None:
            p[1] += 1
            return
        self.pending[docno] = [where, 1]
        if len(self.pending) >= 100_000:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        self.checked += len(self.pending)
        for d in self.store.missing(self.pending):
            self.unknown[d] = self.pending[d]
        self.pending.clear()
        if self.policy == "error" and len(self.unknown) >= _MAX_UNKNOWN:
            self._raise(at_least=True)

    @property
    def rows(self) -> int:
        return sum(r for _, r in self.unknown.values())

    def _raise(self, at_least: bool = False):
        lines = [w for w, _ in self.unknown.values() if w is not None]
        first = min(lines) if lines else None
        d = next(k for k, v in self.unknown.items() if v[0] == first) if lines else next(iter(self.unknown))
        more = "at least " if at_least else ""
        n, rows = len(self.unknown), self.rows
        raise InputError(self.origin, f"docno {d!r} is not in the collection {self.store.path}: {more}{n} unknown "
                                      f"docno{'s' if n != 1 else ''} in {more}{rows} row{'s' if rows != 1 else ''} "
                                      f"of the run (e.g. {list(self.unknown)[:3]}); is the run for this collection? "
                                      "(unknown_docnos: drop leaves them out)", first)

    def finish(self) -> None:
        self.flush()
        if self.unknown and self.policy == "error":
            self._raise()


def convert(rows: Iterator[tuple], out: str | os.PathLike, qids: set[str] | None = None,
            depth: int | None = None, tag: str = "import", origin: str = "run",
            chunk_rows: int = _CHUNK_ROWS, docstore=None, unknown_docnos: str = "error") -> dict:
    """Sort ``rows`` (qid, docno, score[, line]) into trec_eval order, cut to ``depth``, write a TREC run.

    An external merge sort: at most ``chunk_rows`` rows are held in memory. Only queries in
    ``qids`` (if given) are kept. A duplicate (qid, docno) is an :class:`InputError` naming both
    lines. With ``docstore`` (a path or :class:`DocStore`) every kept docno is looked up:
    ``unknown_docnos="error"`` makes any docno not in the collection an :class:`InputError` naming
    the file, the first such line and how many docnos and rows are unknown; ``"drop"`` leaves those
    rows out before ranks and ``depth`` are applied (counted in the returned ``unknown_docnos`` and
    ``unknown_rows``).
    """
    stats = {"rows": 0, "dropped_queries": set(), "queries": 0, "written": 0, "unknown_docnos": 0,
             "unknown_rows": 0}
    known = _KnownDocnos(docstore, origin, unknown_docnos) if docstore is not None else None
    with tempfile.TemporaryDirectory(prefix=".import-", dir=Path(out).parent if Path(out).parent.exists() else None) as td:
        folder = Path(td)
        chunks, buf = [], []
        for row in rows:
            q, d, s = row[0], row[1], row[2]
            where = row[3] if len(row) > 3 else None
            stats["rows"] += 1
            if qids is not None and q not in qids:
                if len(stats["dropped_queries"]) < 100_000:
                    stats["dropped_queries"].add(q)
                continue
            if known is not None:
                known.add(d, where)
            buf.append((q, d, s, where))
            if len(buf) >= chunk_rows:
                chunks.append(_spill(buf, folder, len(chunks)))
                buf = []
        if known is not None:
            known.finish()
            stats["unknown_docnos"], stats["unknown_rows"] = len(known.unknown), known.rows
        drop = known.unknown if known is not None else {}
        merged = heapq.merge(*(_read_chunk(p) for p in chunks), sorted(buf, key=_key), key=_key)
        with atomic_open(out) as f:
            cur, rank, seen = None, 0, {}
            for q, d, s, where in merged:
                if d in drop:
                    continue
                if q != cur:
                    cur, rank, seen = q, 0, {}
                    stats["queries"] += 1
                if d in seen:
                    first, second = sorted([seen[d], where], key=lambda x: -1 if x is None else x)
                    raise InputError(origin, f"duplicate (qid, docno) = ({q}, {d})"
                                     + (f"; first seen on line {first}" if first is not None else ""), second)
                seen[d] = where
                rank += 1
                if depth is not None and rank > depth:
                    continue
                f.write(f"{q} Q0 {d} {rank} {s!r} {tag}\n")
                stats["written"] += 1
    if stats["written"] == 0:
        raise InputError(origin, "no rows left for the query set's queries (wrong source for this query set?)")
    stats["dropped_queries"] = len(stats["dropped_queries"])
    return stats


def import_run(source, out: str | os.PathLike, queries: str | os.PathLike | None = None, depth: int | None = None,
               cache_dir: str | os.PathLike = DEFAULT_CACHE, tag: str = "import",
               chunk_rows: int = _CHUNK_ROWS, docstore: str | os.PathLike | None = None,
               unknown_docnos: str = "error", summary: str | os.PathLike | None = None) -> dict:
    """Fetch (cached, checksummed) and convert one source into the run file ``out``.

    ``docstore``: the collection's document store; every kept docno must be in it (the workflow
    always passes it, so a run for another collection, or with made-up ids, is an error) unless
    ``unknown_docnos="drop"``, which leaves such rows out and counts them (log and ``summary``).
    ``summary``: a JSON file for the statistics (rows read, written, queries, unknown docnos/rows).
    """
    from ..datasets.queries import read_queries

    src, path = resolve(source, cache_dir)
    origin = str(path) if path is not None else f"irds:{src['irds']}"
    qids = set(read_queries(queries)["qid"]) if queries else None
    stats = convert(iter_rows(src, path), out, qids, depth, tag, origin, chunk_rows, docstore, unknown_docnos)
    if stats["unknown_docnos"]:
        log.warning("%s: dropped %d rows whose %d docnos are not in the collection %s (unknown_docnos: drop)",
                    origin, stats["unknown_rows"], stats["unknown_docnos"], docstore)
    if qids is not None:
        missing = len(qids) - stats["queries"]
        if missing:
            log.warning("%d of %d queries of the query set have no results in %s", missing, len(qids), origin)
        if stats["dropped_queries"]:
            log.info("dropped %d queries of %s that are not in the query set", stats["dropped_queries"], origin)
    log.info("imported %d rows (%d queries) from %s into %s", stats["written"], stats["queries"], origin, out)
    if summary is not None:
        from ..io import write_json

        write_json(summary, {"source": origin, "unknown_docnos_policy": unknown_docnos, **stats})
    return stats

