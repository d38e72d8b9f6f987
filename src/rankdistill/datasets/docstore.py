"""A document store: docno → (title, text), built by streaming, O(1)-ish lookups, scales to 8.8M passages.

Title and body are stored separately (``title`` is empty where the source has none). Consumers that
want one string (BM25, bi-encoders, ColBERT, the students) get ``title_format`` applied, the
lightning-ir / ir_datasets ``default_text`` convention ``"{title} {text}"`` unless the collection
sets another; the LLM teacher reads both fields (:meth:`DocStore.get_docs`) and formats them as
rank_llm does. A document without a title is its text alone, whatever the format.

It is one SQLite file (a B-tree keyed by docno, text stored once), written to a temporary file
and renamed into place. Lookups fetch a batch of docnos in one query; iteration streams rows in
insertion order with constant memory. SQLite needs no server, works on shared cluster file
systems for readers, and is in Python's standard library.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from ..errors import InputError
from ..io import atomic_path

_BATCH = 10_000
TITLE_FORMAT = "{title} {text}"
log = logging.getLogger(__name__)


def join_title(title: str, text: str, title_format: str = TITLE_FORMAT) -> str:
    """One string for a document: ``title_format`` filled in when it has a title, else ``text``."""
    return title_format.format(title=title, text=text).strip() if title else text


def check_title_format(title_format: str) -> str:
    try:
        title_format.format(title="t", text="x")
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"title_format {title_format!r}: only {{title}} and {{text}} can be filled in ({e})") from None
    if "{text}" not in title_format:
        raise ValueError(f"title_format {title_format!r} must contain {{text}}")
    return title_format


EMPTY_TEXT = ("keep", "drop", "error")


def build_docstore(docs: Iterable[Mapping[str, str]], path: str | os.PathLike, source: str = "",
                   title_format: str = TITLE_FORMAT, empty_text: str = "keep") -> int:
    """Stream ``{"docno", "text"}`` records (optionally ``"title"``) into a new store at ``path``; returns the count.

    ``title_format`` is how :meth:`DocStore.get_many` joins a title and its text (kept in the store).

    A document whose text and title are both empty (after whitespace is folded) is handled by
    ``empty_text``: ``"keep"`` stores it (an empty string) and logs one warning with the count and
    the first one's place, ``"drop"`` leaves it out (counted in the same warning), ``"error"``
    raises an :class:`InputError` naming its file and line. The count is kept in the store's
    ``meta`` table (``empty``, and ``empty_dropped``).

    Records may say where they come from (``"file"``, ``"line"``, as the local readers do). An
    empty docno is an error. A docno seen twice is an error naming both places, except when the two
    records come from *different* files and have the same text: then they are one document (kept
    where it first appeared), so overlapping passage files (TREC DL 2019 and 2020 share passages)
    can be combined.
    """
    path = Path(path)
    check_title_format(title_format)
    if empty_text not in EMPTY_TEXT:
        raise ValueError(f"empty_text must be one of {EMPTY_TEXT}, got {empty_text!r}")
    empty, first_empty = 0, None
    with atomic_path(path) as tmp:
        tmp.unlink()
        con = sqlite3.connect(tmp)
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE docs (i INTEGER PRIMARY KEY, docno TEXT NOT NULL, text TEXT NOT NULL, "
                    "title TEXT NOT NULL DEFAULT '')")
        con.execute("CREATE TABLE origin (i INTEGER PRIMARY KEY, file INTEGER, line INTEGER)")
        files: dict[str, int] = {}
        n = 0
        batch, where = [], []
        for d in docs:
            docno = str(d["docno"]).strip()
            if not docno:
                raise InputError(d.get("file") or source or path, f"document {n + 1} has an empty docno", d.get("line"))
            text, title = " ".join(str(d.get("text", "")).split()), " ".join(str(d.get("title") or "").split())
            if not text and not title:
                empty += 1
                if first_empty is None:
                    first_empty = (d.get("file") or source or str(path), d.get("line"), docno)
                if empty_text == "error":
                    con.close()
                    raise InputError(first_empty[0], f"document {docno!r} has empty text (empty_text: error; keep "
                                                     "or drop it instead)", first_empty[1])
                if empty_text == "drop":
                    continue
            batch.append((n, docno, text, title))
            f = d.get("file")
            where.append((n, files.setdefault(f, len(files)) if f else None, d.get("line")))
            n += 1
            if len(batch) >= _BATCH:
                con.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)", batch)
                con.executemany("INSERT INTO origin VALUES (?, ?, ?)", where)
                batch.clear()
                where.clear()
        if batch:
            con.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)", batch)
            con.executemany("INSERT INTO origin VALUES (?, ?, ?)", where)
        if n == 0:
            con.close()
            raise InputError(source or path, "collection has no documents")
        try:
            con.execute("CREATE UNIQUE INDEX docno_idx ON docs (docno)")
        except sqlite3.IntegrityError:
            n -= _merge_duplicates(con, {v: k for k, v in files.items()}, source or str(path))
            con.execute("CREATE UNIQUE INDEX docno_idx ON docs (docno)")
        con.execute("DROP TABLE origin")
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        con.execute("INSERT INTO meta VALUES ('count', ?)", (str(n),))
        con.execute("INSERT INTO meta VALUES ('source', ?)", (source,))
        con.execute("INSERT INTO meta VALUES ('title_format', ?)", (title_format,))
        con.execute("INSERT INTO meta VALUES ('empty', ?)", (str(empty),))
        con.execute("INSERT INTO meta VALUES ('empty_dropped', ?)", (str(empty if empty_text == "drop" else 0),))
        con.commit()
        con.close()
    if empty:
        f, line, docno = first_empty
        what = "dropped" if empty_text == "drop" else "kept as empty strings"
        log.warning("%s: %d document(s) have empty text (first %r at %s%s); %s (empty_text: %s)", source or path,
                    empty, docno, f, f":{line}" if line is not None else "", what, empty_text)
    return n


def _merge_duplicates(con: sqlite3.Connection, names: dict[int, str], source: str) -> int:
    """Drop identical copies of a document from other files; raise on any other duplicate docno."""
    rows = con.execute(
        "SELECT d.docno, d.i, d.title || char(0) || d.text, o.file, o.line FROM docs d JOIN origin o ON o.i = d.i "
        "WHERE d.docno IN (SELECT docno FROM docs GROUP BY docno HAVING COUNT(*) > 1) ORDER BY d.docno, d.i"
    ).fetchall()
    first: dict[str, tuple] = {}
    drop = []
    for docno, i, text, f, line in rows:
        if docno not in first:
            first[docno] = (text, f, line)
            continue
        text0, f0, line0 = first[docno]
        here = names.get(f, source) if f is not None else source
        there = f"{names[f0]}:{line0}" if f0 is not None else f"{source} (document {docno!r} first seen earlier)"
        if f is None or f == f0:
            raise InputError(here, f"duplicate docno {docno!r} (first on line {line0})" if f is not None
                             else f"duplicate docno {docno!r} in the collection", line)
        if text != text0:
            raise InputError(here, f"docno {docno!r} is also in {there} with a different text", line)
        drop.append((i,))
    con.executemany("DELETE FROM docs WHERE i = ?", drop)
    # renumber so that row i is the i-th document again (indexes built from the store rely on the order)
    con.execute("CREATE TABLE docs2 (i INTEGER PRIMARY KEY, docno TEXT NOT NULL, text TEXT NOT NULL, "
                "title TEXT NOT NULL DEFAULT '')")
    con.execute("INSERT INTO docs2 SELECT ROW_NUMBER() OVER (ORDER BY i) - 1, docno, text, title FROM docs ORDER BY i")
    con.execute("DROP TABLE docs")
    con.execute("ALTER TABLE docs2 RENAME TO docs")
    log.info("%s: %d documents appear in more than one file with the same text; kept once", source, len(drop))
    return len(drop)


class DocStore:
    """Read access to a store built by :func:`build_docstore`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(self.path, "document store does not exist")
        self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        cols = {r[1] for r in self._con.execute("PRAGMA table_info(docs)")}
        self._titles = "title" in cols  # stores written before titles were kept have none
        row = self._con.execute("SELECT value FROM meta WHERE key='title_format'").fetchone() if self._titles else None
        self.title_format = row[0] if row else TITLE_FORMAT

    def __len__(self) -> int:
        return int(self._con.execute("SELECT value FROM meta WHERE key='count'").fetchone()[0])

    def __contains__(self, docno: str) -> bool:
        return self._con.execute("SELECT 1 FROM docs WHERE docno=?", (docno,)).fetchone() is not None

    def get_many(self, docnos: Iterable[str], missing: str = "error") -> dict[str, str]:
        """Texts of ``docnos`` (a title joined by the store's ``title_format``). ``missing``: ``"error"``
        (KeyError naming the ids) or ``"skip"``."""
        fmt = self.title_format
        return {d: join_title(t, x, fmt) for d, (t, x) in self.get_docs(docnos, missing).items()}

    def get_docs(self, docnos: Iterable[str], missing: str = "error") -> dict[str, tuple[str, str]]:
        """``docno -> (title, text)`` of ``docnos`` (title ``""`` where the source has none)."""
        docnos = list(dict.fromkeys(str(d) for d in docnos))
        out: dict[str, tuple[str, str]] = {}
        cols = "title, text" if self._titles else "'', text"
        for i in range(0, len(docnos), 900):
            chunk = docnos[i : i + 900]
            q = f"SELECT docno, {cols} FROM docs WHERE docno IN ({','.join('?' * len(chunk))})"
            out.update((d, (t, x)) for d, t, x in self._con.execute(q, chunk))
        if missing == "error" and len(out) < len(docnos):
            lost = [d for d in docnos if d not in out]
            raise KeyError(f"{len(lost)} docnos not in the collection {self.path}, e.g. {lost[:5]}")
        return out

    def missing(self, docnos: Iterable[str]) -> list[str]:
        """The ``docnos`` that are not in the store (in the given order), looked up in batches."""
        docnos = list(dict.fromkeys(str(d) for d in docnos))
        found: set[str] = set()
        for i in range(0, len(docnos), 900):
            chunk = docnos[i : i + 900]
            q = f"SELECT docno FROM docs WHERE docno IN ({','.join('?' * len(chunk))})"
            found.update(r[0] for r in self._con.execute(q, chunk))
        return [d for d in docnos if d not in found]

    def text(self, docno: str) -> str:
        return self.get_many([docno])[docno]

    def __iter__(self) -> Iterator[dict[str, str]]:
        """Stream all documents in insertion order (constant memory): ``text`` is title and body joined
        by the store's ``title_format``; ``title`` and ``body`` are the two fields."""
        last = -1
        fmt = self.title_format
        cols = "title, text" if self._titles else "'', text"
        while True:
            rows = self._con.execute(
                f"SELECT i, docno, {cols} FROM docs WHERE i > ? ORDER BY i LIMIT ?", (last, _BATCH)
            ).fetchall()
            if not rows:
                return
            for i, docno, title, text in rows:
                yield {"docno": docno, "text": join_title(title, text, fmt), "title": title, "body": text}
            last = rows[-1][0]

    def close(self) -> None:
        self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
