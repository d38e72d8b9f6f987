"""Append-only window cache: prompt hash → LLM response, one JSON line per window.

Every generated window is appended to the job's cache file (``flush`` + ``fsync`` once per
batch), so a killed job loses at most the batch in flight and its rerun answers every finished
window from the cache; a rerun with the same model, prompts and generation settings makes no LLM
call at all. The key (see :meth:`rankdistill.teacher.prompts.Prompt.key`) hashes the model,
the generation settings and the full rendered prompt, so a changed passage, prompt, window
position or model can never be answered by a stale entry.

A cache *folder* holds one file per writer (e.g. one per shard); a reader loads every
``*.jsonl`` in the folder, so changing the shard count reuses the other layout's windows. A line
torn by a kill (no trailing newline, bad JSON) is skipped on reading and never continued on
writing; so is any line that is not an object with a string ``key`` and a string ``response``
(a hand-edited or foreign file), counted in ``skipped_lines`` and logged. A cached response is
always parsed with :func:`~rankdistill.teacher.parse.parse_permutation`, which never raises, so
no entry, however garbled, can make a rerun fail.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)


class WindowCache:
    """Read all ``*.jsonl`` under ``folder``; append new entries to ``folder/<name>.jsonl``."""

    def __init__(self, folder: str | os.PathLike | None, name: str = "windows"):
        self.folder = Path(folder) if folder else None
        self.entries: dict[str, dict] = {}
        self.skipped_lines = 0
        self._f = None
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{name}.jsonl"
        for p in sorted(self.folder.glob("*.jsonl")):
            self._load(p)
        if self.skipped_lines:
            log.warning("window cache %s: skipped %d torn/corrupt line(s)", self.folder, self.skipped_lines)

    def _load(self, path: Path) -> None:
        with open(path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    self.skipped_lines += 1  # torn by a kill mid-write
                    continue
                try:
                    e = json.loads(raw)
                except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
                    self.skipped_lines += 1
                    continue
                if isinstance(e, dict) and isinstance(e.get("key"), str) and isinstance(e.get("response"), str):
                    self.entries[e["key"]] = e
                else:
                    self.skipped_lines += 1

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def response(self, key: str) -> str:
        """The cached response text of ``key`` ("" when the entry holds none)."""
        r = self.entries[key].get("response")
        return r if isinstance(r, str) else ""

    def append(self, records: Iterable[dict]) -> None:
        """Add records (each with ``key`` and ``response``) and make them durable before returning."""
        records = list(records)
        for r in records:
            self.entries[r["key"]] = r
        if self.folder is None or not records:
            return
        if self._f is None:
            self._f = open(self.path, "ab")
            if self._f.tell() > 0:  # never continue a line torn by an earlier kill
                with open(self.path, "rb") as g:
                    g.seek(-1, os.SEEK_END)
                    if g.read(1) != b"\n":
                        self._f.write(b"\n")
        data = b"".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n" for r in records)
        self._f.write(data)
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
