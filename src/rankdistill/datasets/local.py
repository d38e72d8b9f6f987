"""Bring-your-own-collection readers: JSONL, TSV and TREC ``<DOC>`` corpora, streamed."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterator

from ..errors import InputError
from ..io import open_text

FORMATS = ("jsonl", "tsv", "trec")


def guess_format(path: str | os.PathLike) -> str:
    name = str(path).lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    if name.endswith((".tsv", ".txt")) and not name.endswith(".trec.txt"):
        return "tsv"
    return "trec"


def iter_jsonl(path: Path, text_fields=("text",), id_field="docno") -> Iterator[dict]:
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, f"invalid JSON: {e.msg}", lineno) from None
            if not isinstance(rec, dict):
                raise InputError(path, "each line must be a JSON object", lineno)
            docno = rec.get(id_field, rec.get("doc_id", rec.get("id")))
            if docno is None:
                raise InputError(path, f"record has no {id_field!r} (or 'doc_id'/'id') field", lineno)
            missing = [t for t in text_fields if t not in rec]
            if missing:
                raise InputError(path, f"record has no field {missing[0]!r}", lineno)
            yield {"docno": str(docno), "text": " ".join(str(rec[t]) for t in text_fields)}


def iter_tsv(path: Path) -> Iterator[dict]:
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\n\r")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise InputError(path, "expected 'docno<TAB>text'", lineno)
            yield {"docno": parts[0].strip(), "text": " ".join(parts[1:])}


_TAG = re.compile(r"<(/?)(DOC|DOCNO)>", re.I)


def iter_trec(path: Path) -> Iterator[dict]:
    """TREC SGML-ish ``<DOC><DOCNO>id</DOCNO> text </DOC>``; all text outside DOCNO is kept."""
    buf: list[str] = []
    in_doc, start = False, 0
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            stripped = line.strip()
            if stripped.upper().startswith("<DOC>"):
                if in_doc:
                    raise InputError(path, "<DOC> opened before the previous </DOC>", lineno)
                in_doc, start, buf = True, lineno, [line[line.upper().index("<DOC>") + 5 :]]
                if "</DOC>" not in line.upper():
                    continue
                line = ""
            elif in_doc:
                buf.append(line)
            elif stripped:
                raise InputError(path, "text outside <DOC> … </DOC>", lineno)
            if in_doc and "</DOC>" in "".join(buf[-1:]).upper():
                body = "".join(buf)
                body = body[: body.upper().rindex("</DOC>")]
                m = re.search(r"<DOCNO>\s*(.*?)\s*</DOCNO>", body, re.I | re.S)
                if not m or not m.group(1):
                    raise InputError(path, "document without <DOCNO>", start)
                text = re.sub(r"<[^>]+>", " ", body[: m.start()] + " " + body[m.end() :])
                yield {"docno": m.group(1), "text": " ".join(text.split())}
                in_doc = False
    if in_doc:
        raise InputError(path, "file ends inside a <DOC> that has no </DOC>", start)


def iter_corpus(paths, fmt: str | None = None, text_fields=("text",)) -> Iterator[dict]:
    """Stream documents from one or more files (format per file from ``fmt`` or the extension)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise InputError(p, "corpus file does not exist")
        kind = fmt or guess_format(p)
        if kind == "jsonl":
            yield from iter_jsonl(p, text_fields)
        elif kind == "tsv":
            yield from iter_tsv(p)
        elif kind == "trec":
            yield from iter_trec(p)
        else:
            raise InputError(p, f"unknown corpus format {kind!r}; use one of {FORMATS}")
