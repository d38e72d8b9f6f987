"""Queries (``qid<TAB>text``, or TREC topics) and qrels (``qid 0 docno grade``), validated.

Bytes are read by :mod:`rankdistill.textfiles` (UTF-8, BOM removed, gzip by magic bytes); ids are
single words (:func:`rankdistill.textfiles.check_id`); a duplicate id is an error naming both lines.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..io import atomic_open
from ..textfiles import check_id, iter_lines, parse_int, read_text
from ..runs import natural_key


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def read_queries(path: str | os.PathLike) -> pd.DataFrame:
    """Read queries as a DataFrame ``qid, query``: TSV ``qid<TAB>text``, or TREC ``<top>`` topics."""
    path = Path(path)
    if _is_topics(path):
        return _read_trec_topics(path)
    qids, texts, seen = [], [], {}
    for lineno, line in iter_lines(path, "queries file"):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise InputError(path, "expected 'qid<TAB>query text'", lineno)
        qid, text = parts[0].strip(), _clean(" ".join(parts[1:]))
        check_id(qid, path, lineno, "query id")
        if qid in seen:
            raise InputError(path, f"duplicate query id {qid!r} (first on line {seen[qid]})", lineno)
        if not text:
            raise InputError(path, f"query {qid!r} has no text", lineno)
        seen[qid] = lineno
        qids.append(qid)
        texts.append(text)
    if not qids:
        raise InputError(path, "queries file is empty")
    return pd.DataFrame({"qid": qids, "query": texts})


def _is_topics(path: Path) -> bool:
    """TREC topics start (after blank lines) with ``<top>`` (or ``<num>``) and have no tab there; a TSV
    query that mentions ``<num>`` or ``<top>`` in its text is still a TSV query."""
    for _, line in iter_lines(path, "queries file"):
        s = line.strip().lower()
        if s:
            return "\t" not in line and s.startswith(("<top>", "<num>"))
    return False


_TOP = re.compile(r"<top>(.*?)</top>", re.S | re.I)
_NUM = re.compile(r"<num>\s*(?:Number:)?\s*([^\s<]+)", re.I)
_TITLE = re.compile(r"<title>\s*(?:Topic:)?(.*?)(?=</title>|<desc>|<narr>|</top>|<num>|\Z)", re.S | re.I)


def _read_trec_topics(path: Path) -> pd.DataFrame:
    text = read_text(path, "topics file")
    qids, texts, seen = [], [], {}
    for m in _TOP.finditer(text):
        block = m.group(1)
        line = text.count("\n", 0, m.start()) + 1
        num, title = _NUM.search(block), _TITLE.search(block)
        if not num or not title or not _clean(title.group(1)):
            raise InputError(path, "TREC topic without <num> or <title>", line)
        qid = check_id(num.group(1).strip(), path, line, "topic number")
        if qid in seen:
            raise InputError(path, f"duplicate topic number {qid!r} (first on line {seen[qid]})", line)
        seen[qid] = line
        qids.append(qid)
        texts.append(_clean(title.group(1)))
    if not qids:
        raise InputError(path, "no <top> topics found")
    return pd.DataFrame({"qid": qids, "query": texts})


def write_queries(queries: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_open(path) as f:
        for qid, text in zip(queries["qid"], queries["query"]):
            f.write(f"{qid}\t{_clean(text)}\n")


def read_qrels(path: str | os.PathLike) -> pd.DataFrame:
    """Read TREC qrels (``qid iter docno grade``) as ``qid, docno, label`` (int grades)."""
    path = Path(path)
    rows, seen = [], {}
    for lineno, line in iter_lines(path, "qrels file"):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InputError(path, f"expected 4 columns 'qid 0 docno grade', found {len(parts)}", lineno)
        qid, _, docno, grade = parts
        check_id(qid, path, lineno, "query id")
        check_id(docno, path, lineno, "docno")
        g = parse_int(grade, path, lineno, "relevance grade")
        key = (qid, docno)
        if key in seen:
            raise InputError(path, f"duplicate judgment for ({qid}, {docno}) (first on line {seen[key]})", lineno)
        seen[key] = lineno
        rows.append((qid, docno, g))
    if not rows:
        raise InputError(path, "qrels file is empty")
    return pd.DataFrame(rows, columns=["qid", "docno", "label"])


def write_qrels(qrels: pd.DataFrame, path: str | os.PathLike) -> None:
    df = qrels.copy()
    df["_k"] = df["qid"].map(natural_key)
    df = df.sort_values(["_k", "docno"], kind="stable")
    with atomic_open(path) as f:
        for qid, docno, label in zip(df["qid"], df["docno"], df["label"]):
            f.write(f"{qid} 0 {docno} {int(label)}\n")
