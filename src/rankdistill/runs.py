"""TREC run files: validating reader, deterministic atomic writer, depth cuts and shard merges.

A run is a pandas DataFrame with columns ``qid, docno, score, rank`` (strings, strings, float,
1-based int), the column names PyTerrier uses, so runs move between this package and PyTerrier
pipelines without conversion.

Ordering convention (also trec_eval's): within a query, higher score first; equal scores are
ordered by docno *descending*, which is how trec_eval and ir_measures break ties. So the ranks we
write are exactly the ranks an evaluation tool sees.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Collection, Iterable, Iterator

import numpy as np
import pandas as pd

from .errors import InputError
from .io import atomic_open
from .textfiles import check_id, iter_lines, parse_float, parse_int

RUN_COLUMNS = ["qid", "docno", "score", "rank"]
log = logging.getLogger(__name__)


def natural_key(qid: str):
    """Sort key: numeric ids numerically, others as strings (numbers first).

    Numeric means ASCII digits only (``"²"`` and ``"٣"`` are ``isdigit`` but ``int`` fails on the first), of
    any length (no ``int`` conversion: a 5000-digit id would exceed Python's int-string limit); ``"01"`` and
    ``"1"`` compare equal, as their values do."""
    if qid.isdigit() and qid.isascii():
        s = qid.lstrip("0")
        return (0, len(s), s, "")
    return (1, 0, "", qid)


def iter_run(path: str | os.PathLike) -> Iterator[tuple[int, str, str, int, float]]:
    """Stream a TREC run's lines as ``(lineno, qid, docno, rank, score)``, validating each line.

    Constant memory (for 100M-line training runs); raises :class:`InputError` naming the file
    and line for a wrong column count, a non-integer rank, a non-numeric or non-finite score, or
    an id with control characters. The bytes are read by :mod:`rankdistill.textfiles` (UTF-8,
    BOM removed, gzip by magic bytes).
    """
    path = Path(path)
    for lineno, line in iter_lines(path, "run file"):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise InputError(
                path,
                f"expected 6 columns 'qid Q0 docno rank score tag', found {len(parts)}: {line.strip()[:120]!r}",
                lineno,
            )
        qid, _, docno, rank, score, _tag = parts
        # fast paths inline (100M-line runs); the helpers raise the errors
        if not (qid.isprintable() and docno.isprintable()):
            check_id(qid, path, lineno, "query id")
            check_id(docno, path, lineno, "docno")
        r = int(rank) if rank.isdigit() and rank.isascii() and len(rank) < 19 else parse_int(rank, path, lineno, "rank")
        s = parse_float(score, path, lineno, "score")
        yield lineno, qid, docno, r, s


def duplicate_pair(path, qid: str, docno: str, first, lineno) -> InputError:
    """The error for a (qid, docno) pair a run lists twice (every run reader raises this one)."""
    return InputError(path, f"duplicate (qid, docno) = ({qid}, {docno}); first seen on line {first}", int(lineno))


def read_run(path: str | os.PathLike, allow_empty: bool = False, only: Collection[str] | None = None,
             seen_queries: set[str] | None = None) -> pd.DataFrame:
    """Read and validate a TREC run file (``qid Q0 docno rank score tag``).

    Raises :class:`InputError` naming the file and line for a wrong column count, a non-numeric
    rank or score, a non-finite score, a duplicate (qid, docno) pair, or an empty file.
    ``only``: keep just these queries' lines (every line is still validated), so a job that needs
    10k queries of a 500k-query training run holds only those in memory. ``seen_queries``: a set
    that receives every query id of the file, kept or not.
    """
    path = Path(path)
    qids, docnos, scores, ranks = [], [], [], []
    seen: dict[tuple[str, str], int] = {}
    lines = 0
    for lineno, qid, docno, r, s in iter_run(path):
        lines += 1
        if seen_queries is not None:
            seen_queries.add(qid)
        if only is not None and qid not in only:
            continue
        key = (qid, docno)
        if key in seen:
            raise duplicate_pair(path, qid, docno, seen[key], lineno)
        seen[key] = lineno
        qids.append(qid)
        docnos.append(docno)
        scores.append(s)
        ranks.append(r)
    if only is not None:
        log.info("%s: kept %d of %d lines (%d queries)", path, len(qids), lines, len(set(qids)))
        if not qids and len(only) and not allow_empty:
            raise InputError(path, f"none of the {len(only)} requested queries (e.g. {sorted(only)[:3]}) is in the run")
    if not qids and not allow_empty:
        raise InputError(path, "run file is empty")
    return pd.DataFrame(
        {
            "qid": pd.Series(qids, dtype=object),
            "docno": pd.Series(docnos, dtype=object),
            "score": np.asarray(scores, dtype=np.float64),
            "rank": np.asarray(ranks, dtype=np.int64),
        }
    )


def run_queries(path: str | os.PathLike) -> list[str]:
    """The run's query ids in natural order, streamed (one pass, memory for the ids only)."""
    seen: dict[str, None] = {}
    for _, qid, _, _, _ in iter_run(path):
        seen[qid] = None
    if not seen:
        raise InputError(path, "run file is empty")
    return sorted(seen, key=natural_key)


def sort_run(run: pd.DataFrame) -> pd.DataFrame:
    """Order by qid (natural), score descending, docno descending; assign 1-based ranks."""
    if run.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(RUN_COLUMNS, [object, object, float, int])})
    df = run[["qid", "docno", "score"]].copy()
    df["qid"] = df["qid"].astype(str)
    df["docno"] = df["docno"].astype(str)
    df["score"] = df["score"].astype(np.float64)
    if df.duplicated(["qid", "docno"]).any():
        dup = df[df.duplicated(["qid", "docno"])].iloc[0]
        raise ValueError(f"run has duplicate (qid, docno) = ({dup.qid}, {dup.docno})")
    qorder = {q: i for i, q in enumerate(sorted(df["qid"].unique(), key=natural_key))}
    df["_q"] = df["qid"].map(qorder)
    # docno descending via a stable two-pass sort: first docno desc, then (q asc, score desc) stable
    df = df.sort_values("docno", ascending=False, kind="stable")
    df = df.sort_values(["_q", "score"], ascending=[True, False], kind="stable")
    df["rank"] = df.groupby("_q", sort=False).cumcount().astype(np.int64) + 1
    return df.drop(columns="_q").reset_index(drop=True)[RUN_COLUMNS]


def _check_tag(tag: str) -> None:
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"run tag must be a non-empty word without spaces, got {tag!r}")


class RunWriter:
    """Write a run query batch by query batch, so memory is bounded by a batch, not the run.

    ``add`` takes frames of *complete* queries; each is ordered as :func:`sort_run` orders it, and
    the batches must come in natural qid order (process the queries sorted with
    :func:`natural_key`), so the file is byte-identical to :func:`write_run` of the whole run. The
    file appears (atomically) only when the ``with`` block ends without an error.
    """

    def __init__(self, path: str | os.PathLike, tag: str = "rankdistill"):
        _check_tag(tag)
        self.path, self.tag = path, tag
        self.queries = self.rows = 0
        self._last = None
        self._ctx = self._f = None

    def __enter__(self) -> "RunWriter":
        self._ctx = atomic_open(self.path)
        self._f = self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        return bool(self._ctx.__exit__(*exc))

    def add(self, run: pd.DataFrame) -> None:
        if self._f is None:
            raise RuntimeError("use RunWriter in a with block")
        df = sort_run(run)
        if df.empty:
            return
        for col in ("qid", "docno"):
            bad = df[col][df[col].str.contains(r"\s", regex=True)]
            if len(bad):
                raise ValueError(f"{col} {bad.iloc[0]!r} contains whitespace and cannot be written to a TREC run")
        first = natural_key(df["qid"].iloc[0])
        if self._last is not None and not first > self._last:
            raise ValueError(f"{self.path}: query {df['qid'].iloc[0]!r} comes after a batch that ended with a later "
                             "(or the same) query; batches must hold complete queries in natural qid order")
        self._last = natural_key(df["qid"].iloc[-1])
        tag = self.tag
        self._f.writelines(f"{qid} Q0 {docno} {rank} {float(score)!r} {tag}\n"
                           for qid, docno, score, rank in zip(df["qid"], df["docno"], df["score"], df["rank"]))
        self.queries += df["qid"].nunique()
        self.rows += len(df)


def query_batches(topics: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """``topics`` (with a ``qid`` column) in natural qid order, ``size`` queries at a time (for :class:`RunWriter`)."""
    if size < 1:
        raise ValueError(f"query batch size must be >= 1, got {size}")
    keys = [natural_key(str(q)) for q in topics["qid"]]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    for start in range(0, len(order), size):
        yield topics.iloc[order[start:start + size]]


def write_run(run: pd.DataFrame, path: str | os.PathLike, tag: str = "rankdistill") -> None:
    """Write a run atomically with deterministic order and 1-based ranks (see :func:`sort_run`).

    Scores are written with ``repr`` (shortest round-trip), so reading a written run back gives
    exactly the same scores and order.
    """
    with RunWriter(path, tag) as w:
        w.add(run)


def cut(run: pd.DataFrame, depth: int | None) -> pd.DataFrame:
    """Keep each query's top ``depth`` documents (by score, trec_eval order)."""
    df = sort_run(run)
    if depth is None:
        return df
    return df[df["rank"] <= depth].reset_index(drop=True)


def merge(runs: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Merge runs over disjoint query sets (shards) into one run; overlapping qids are an error."""
    runs = [r for r in runs]
    seen: set[str] = set()
    for r in runs:
        q = set(r["qid"].astype(str).unique())
        if seen & q:
            raise ValueError(f"shards overlap on queries {sorted(seen & q)[:5]}")
        seen |= q
    if not runs:
        return sort_run(pd.DataFrame(columns=RUN_COLUMNS))
    return sort_run(pd.concat(runs, ignore_index=True))


def to_dict(run: pd.DataFrame) -> dict[str, dict[str, float]]:
    """qid → {docno: score}, the form ir_measures and pytrec_eval take."""
    out: dict[str, dict[str, float]] = {}
    for qid, docno, score in zip(run["qid"], run["docno"], run["score"]):
        out.setdefault(str(qid), {})[str(docno)] = float(score)
    return out
