"""A document store: docno → text, built by streaming, O(1)-ish lookups, scales to 8.8M passages.

It is one SQLite file (a B-tree keyed by docno, text stored once), written to a temporary file
and renamed into place. Lookups fetch a batch of docnos in one query; iteration streams rows in
insertion order with constant memory. SQLite needs no server, works on shared cluster file
systems for readers, and is in Python's standard library.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from ..errors import InputError
from ..io import atomic_path

_BATCH = 10_000


def build_docstore(docs: Iterable[Mapping[str, str]], path: str | os.PathLike, source: str = "") -> int:
    """Stream ``{"docno", "text"}`` records into a new store at ``path``; returns the count.

    A duplicate docno or an empty docno is an error naming ``source``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.unlink()
        con = sqlite3.connect(tmp)
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE docs (i INTEGER PRIMARY KEY, docno TEXT NOT NULL, text TEXT NOT NULL)")
        n = 0
        batch = []
        for d in docs:
            docno = str(d["docno"]).strip()
            if not docno:
                raise InputError(source or path, f"document {n + 1} has an empty docno")
            batch.append((n, docno, " ".join(str(d.get("text", "")).split())))
            n += 1
            if len(batch) >= _BATCH:
                con.executemany("INSERT INTO docs VALUES (?, ?, ?)", batch)
                batch.clear()
        if batch:
            con.executemany("INSERT INTO docs VALUES (?, ?, ?)", batch)
        if n == 0:
            con.close()
            raise InputError(source or path, "collection has no documents")
        try:
            con.execute("CREATE UNIQUE INDEX docno_idx ON docs (docno)")
        except sqlite3.IntegrityError:
            dup = con.execute("SELECT docno FROM docs GROUP BY docno HAVING COUNT(*) > 1 LIMIT 1").fetchone()[0]
            con.close()
            raise InputError(source or path, f"duplicate docno {dup!r} in the collection") from None
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        con.execute("INSERT INTO meta VALUES ('count', ?)", (str(n),))
        con.execute("INSERT INTO meta VALUES ('source', ?)", (source,))
        con.commit()
        con.close()
    return n


class DocStore:
    """Read access to a store built by :func:`build_docstore`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(self.path, "document store does not exist")
        self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def __len__(self) -> int:
        return int(self._con.execute("SELECT value FROM meta WHERE key='count'").fetchone()[0])

    def __contains__(self, docno: str) -> bool:
        return self._con.execute("SELECT 1 FROM docs WHERE docno=?", (docno,)).fetchone() is not None

    def get_many(self, docnos: Iterable[str], missing: str = "error") -> dict[str, str]:
        """Texts of ``docnos``. ``missing``: ``"error"`` (KeyError naming the ids) or ``"skip"``."""
        docnos = list(dict.fromkeys(str(d) for d in docnos))
        out: dict[str, str] = {}
        for i in range(0, len(docnos), 900):
            chunk = docnos[i : i + 900]
            q = f"SELECT docno, text FROM docs WHERE docno IN ({','.join('?' * len(chunk))})"
            out.update(self._con.execute(q, chunk).fetchall())
        if missing == "error" and len(out) < len(docnos):
            lost = [d for d in docnos if d not in out]
            raise KeyError(f"{len(lost)} docnos not in the collection {self.path}, e.g. {lost[:5]}")
        return out

    def text(self, docno: str) -> str:
        return self.get_many([docno])[docno]

    def __iter__(self) -> Iterator[dict[str, str]]:
        """Stream all documents in insertion order (constant memory)."""
        last = -1
        while True:
            rows = self._con.execute(
                "SELECT i, docno, text FROM docs WHERE i > ? ORDER BY i LIMIT ?", (last, _BATCH)
            ).fetchall()
            if not rows:
                return
            for i, docno, text in rows:
                yield {"docno": docno, "text": text}
            last = rows[-1][0]

    def close(self) -> None:
        self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
