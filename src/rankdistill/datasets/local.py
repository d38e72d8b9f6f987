"""Bring-your-own-collection readers: JSONL, TSV and TREC ``<DOC>`` corpora, streamed.

Bytes are read by :mod:`rankdistill.textfiles` (UTF-8, BOM removed, gzip by magic bytes). Each
record is ``{"docno", "text", "title", "file", "line"}`` (``title``: a JSONL record's ``title`` field, a
TREC document's first ``<TITLE>`` or ``<HEAD>`` element, else ``""``) (where it came from, for the document store's
duplicate check); a docno is a single word; a JSON text that is not a string (``null``, a number)
is an error; empty texts are counted and reported in one warning per file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterator

from ..errors import InputError
from ..textfiles import EmptyTexts, check_id, iter_lines

FORMATS = ("jsonl", "tsv", "trec")


def guess_format(path: str | os.PathLike) -> str:
    name = str(path).lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    if name.endswith((".tsv", ".txt")) and not name.endswith(".trec.txt"):
        return "tsv"
    return "trec"


def _docno(value, path, lineno) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(path, f"docno must be a string (or integer), got {type(value).__name__} {str(value)[:40]!r}",
                         lineno)
    return check_id(str(value).strip(), path, lineno, "docno")


def iter_jsonl(path: Path, text_fields=("text",), id_field="docno", title_field: str | None = "title") -> Iterator[dict]:
    """JSON objects, one a line: the docno in ``docno`` (or ``doc_id``/``id``), texts in ``text_fields``,
    the title (optional; a string or null) in ``title_field`` unless that is one of the text fields."""
    with EmptyTexts(path) as empty:
        for lineno, line in iter_lines(path, "corpus file"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, f"invalid JSON: {e.msg} (column {e.colno})", lineno) from None
            except (ValueError, RecursionError) as e:  # a 4300+ digit number, nesting too deep
                raise InputError(path, f"invalid JSON: {str(e)[:120]}", lineno) from None
            if not isinstance(rec, dict):
                raise InputError(path, "each line must be a JSON object", lineno)
            docno = rec.get(id_field, rec.get("doc_id", rec.get("id")))
            if docno is None:
                raise InputError(path, f"record has no {id_field!r} (or 'doc_id'/'id') field", lineno)
            docno = _docno(docno, path, lineno)
            parts = []
            for t in text_fields:
                if t not in rec:
                    raise InputError(path, f"record has no field {t!r}", lineno)
                if not isinstance(rec[t], str):
                    got = "null" if rec[t] is None else type(rec[t]).__name__
                    raise InputError(path, f"field {t!r} of docno {docno!r} must be a string, got {got}", lineno)
                parts.append(rec[t])
            text = " ".join(" ".join(parts).split())
            title = ""
            if title_field and title_field not in text_fields and rec.get(title_field) is not None:
                if not isinstance(rec[title_field], str):
                    raise InputError(path, f"field {title_field!r} of docno {docno!r} must be a string, got "
                                           f"{type(rec[title_field]).__name__}", lineno)
                title = " ".join(rec[title_field].split())
            if not text:
                empty.add(lineno)
            yield {"docno": docno, "text": text, "title": title, "file": str(path), "line": lineno}


def iter_tsv(path: Path) -> Iterator[dict]:
    """``docno<TAB>text`` lines (further tabs are part of the text)."""
    with EmptyTexts(path) as empty:
        for lineno, line in iter_lines(path, "corpus file"):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise InputError(path, "expected 'docno<TAB>text'", lineno)
            docno = check_id(parts[0].strip(), path, lineno, "docno")
            text = " ".join(" ".join(parts[1:]).split())
            if not text:
                empty.add(lineno)
            yield {"docno": docno, "text": text, "file": str(path), "line": lineno}


_OPEN = re.compile(r"<DOC>", re.I | re.A)
_TITLE = re.compile(r"<(TITLE|HEAD)>(.*?)</\1>", re.I | re.S | re.A)
_CLOSE = re.compile(r"</DOC>", re.I | re.A)


def iter_trec(path: Path) -> Iterator[dict]:
    """TREC SGML-ish ``<DOC><DOCNO>id</DOCNO> text </DOC>``: the first ``<TITLE>`` (or ``<HEAD>``) element
    is the title, all other text outside DOCNO is the body."""
    buf: list[str] = []
    in_doc, start = False, 0
    with EmptyTexts(path) as empty:
        for lineno, line in iter_lines(path, "corpus file"):
            line += "\n"
            stripped = line.strip()
            opening = _OPEN.match(stripped)
            if opening:
                if in_doc:
                    raise InputError(path, "<DOC> opened before the previous </DOC>", lineno)
                in_doc, start, buf = True, lineno, [line[_OPEN.search(line).end():]]
                if not _CLOSE.search(buf[0]):
                    continue
            elif in_doc:
                buf.append(line)
            elif stripped:
                raise InputError(path, "text outside <DOC> … </DOC>", lineno)
            if in_doc and _CLOSE.search(buf[-1]):
                body = "".join(buf)
                body = body[: list(_CLOSE.finditer(body))[-1].start()]
                m = re.search(r"<DOCNO>\s*(.*?)\s*</DOCNO>", body, re.I | re.S | re.A)
                if not m or not m.group(1):
                    raise InputError(path, "document without <DOCNO>", start)
                docno = check_id(m.group(1), path, start, "docno")
                rest = body[: m.start()] + " " + body[m.end() :]
                t = _TITLE.search(rest)
                title = ""
                if t:
                    title = " ".join(re.sub(r"<[^>]+>", " ", t.group(2)).split())
                    rest = rest[: t.start()] + " " + rest[t.end() :]
                text = re.sub(r"<[^>]+>", " ", rest)
                text = " ".join(text.split())
                if not text and not title:
                    empty.add(start)
                yield {"docno": docno, "text": text, "title": title, "file": str(path), "line": start}
                in_doc = False
    if in_doc:
        raise InputError(path, "file ends inside a <DOC> that has no </DOC>", start)


def iter_corpus(paths, fmt: str | None = None, text_fields=("text",), title_field: str | None = "title") -> Iterator[dict]:
    """Stream documents from one or more files (format per file from ``fmt`` or the extension)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise InputError(p, "corpus file does not exist")
        kind = fmt or guess_format(p)
        if kind == "jsonl":
            docs = iter_jsonl(p, text_fields, title_field=title_field)
        elif kind == "tsv":
            docs = iter_tsv(p)
        elif kind == "trec":
            docs = iter_trec(p)
        else:
            raise InputError(p, f"unknown corpus format {kind!r}; use one of {FORMATS}")
        n = 0
        for d in docs:
            n += 1
            yield d
        if n == 0:
            raise InputError(p, "corpus file has no documents")
