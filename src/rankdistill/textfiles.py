"""The one reader layer for text inputs: runs, qrels, queries, topics and corpora (plain or gzip).

Every reader of a user-supplied text file goes through :func:`iter_lines`, so the same rules hold
for all of them:

* **UTF-8 only.** A byte sequence that is not UTF-8 is an :class:`InputError` naming the file, the
  line and the byte offset (from the start of the decompressed file). A NUL byte is an error too
  (a binary file passed as text).
* **A UTF-8 byte-order mark** (``EF BB BF``) at the start of the file is removed (Windows editors
  write one; left in place it would become part of the first query id or docno).
* **Compression is detected by content.** gzip data is recognised by its magic bytes
  (``1f 8b``). A file named ``.gz`` that is not gzip, or gzip data in a file not named ``.gz``, is
  an error that says so (usually a failed or mislabelled download); a truncated or corrupt gzip
  stream is an error naming the line where it broke.
* **Lines end at ``\\n``** only (a trailing ``\\r`` is dropped), never at the other characters
  Python's ``str.splitlines`` treats as line breaks, so line numbers are the ones ``sed -n Np``
  shows.

:func:`check_id` is the shared rule for identifiers (query ids, docnos): non-empty, no whitespace,
no control characters.
"""

from __future__ import annotations

import gzip
import io
import logging
import math
import os
import zlib
from pathlib import Path
from typing import Iterator

from .errors import InputError

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
BOM = "\ufeff"


def is_gzip(path: str | os.PathLike) -> bool:
    """True if the file starts with the gzip magic bytes."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def _open_binary(path: Path, what: str):
    if not path.exists():
        raise InputError(path, f"{what} does not exist")
    if path.is_dir():
        raise InputError(path, f"{what} is a folder, not a file")
    gz = is_gzip(path)
    named_gz = path.name.lower().endswith(".gz")
    if named_gz and not gz:
        raise InputError(path, f"{what} is named .gz but is not gzip data (a failed download? rename it without "
                               ".gz if it is plain text)")
    if gz and not named_gz:
        raise InputError(path, f"{what} is gzip-compressed but its name does not end in .gz (rename it to "
                               f"{path.name}.gz or decompress it)")
    return gzip.open(path, "rb") if gz else open(path, "rb")


def iter_lines(path: str | os.PathLike, what: str = "file") -> Iterator[tuple[int, str]]:
    """``(line number, text without the line break)`` for each line of a UTF-8 text file (see above).

    ``what`` names the kind of file in errors ("run file", "queries file", ...). Decoding runs in
    C over large blocks (the fast path); only when it fails is the file scanned again, line by
    line, to name the exact line and byte offset.
    """
    path = Path(path)
    f = io.TextIOWrapper(_open_binary(path, what), encoding="utf-8", errors="strict", newline="\n")
    lineno = 0
    with f:
        try:
            for line in f:
                lineno += 1
                if lineno == 1 and line.startswith(BOM):
                    line = line[1:]
                if "\x00" in line:
                    _locate(path, what)
                if line.endswith("\n"):
                    line = line[:-1]
                if line.endswith("\r"):
                    line = line[:-1]
                yield lineno, line
        except UnicodeDecodeError:
            _locate(path, what)
            raise InputError(path, "not UTF-8", lineno + 1) from None  # (not reached: _locate raises)
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise InputError(path, f"corrupt or truncated gzip data (read up to line {lineno}): {e}",
                             lineno + 1) from None
        except OSError as e:  # a read error of the file system
            raise InputError(path, f"cannot read the {what} after line {lineno}: {e}", lineno + 1) from None


def _locate(path: Path, what: str) -> None:
    """Raise the error naming the line and byte offset of the first non-UTF-8 or NUL byte."""
    offset = 0
    with _open_binary(path, what) as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(path, f"not UTF-8: byte 0x{raw[e.start]:02x} at byte offset {offset + e.start} "
                                       f"(column {e.start + 1} of the line's bytes); re-encode the file as UTF-8",
                                 lineno) from None
            nul = raw.find(b"\x00")
            if nul >= 0:
                raise InputError(path, f"NUL byte at byte offset {offset + nul}: a binary file, not text", lineno)
            offset += len(raw)


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """The whole file as one string, by the rules of :func:`iter_lines` (for small files: topics)."""
    return "".join(line + "\n" for _, line in iter_lines(path, what))


def check_id(value: str, path, lineno: int | None, what: str = "id") -> str:
    """``value`` if it is a valid identifier (non-empty, no whitespace or control characters)."""
    if not value:
        raise InputError(path, f"empty {what}", lineno)
    if value.isprintable() and " " not in value:  # fast path: no separator (Z*) or other (C*) character
        return value
    bad = next((c for c in value if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        kind = "whitespace" if bad.isspace() else "a control character"
        raise InputError(path, f"{what} {value[:80]!r} contains {kind} ({bad!r}); ids must be single words", lineno)
    return value


def parse_int(value: str, path, lineno: int | None, what: str) -> int:
    """An ASCII decimal integer (``int()`` also takes other scripts' digits and 4300+ digit strings)."""
    s = value[1:] if value[:1] in "+-" else value
    if not s.isascii() or not s.isdigit() or len(s) > 18:
        raise InputError(path, f"{what} {value[:40]!r} is not an integer", lineno)
    return int(value)


def parse_float(value: str, path, lineno: int | None, what: str = "score", finite: bool = True) -> float:
    """An ASCII decimal number (``float()`` also takes ``1_0`` and other scripts' digits); finite unless told."""
    try:
        if not value.isascii() or "_" in value:
            raise ValueError
        x = float(value)
    except ValueError:
        raise InputError(path, f"{what} {value[:40]!r} is not a number", lineno) from None
    if finite and not math.isfinite(x):
        raise InputError(path, f"{what} {value[:40]!r} is not finite", lineno)
    return x


class EmptyTexts:
    """Counts records with empty text and logs one warning at the end (``with EmptyTexts(path, "query")``)."""

    def __init__(self, path, what: str = "document"):
        self.path, self.what = str(path), what
        self.count = 0
        self.first: int | None = None

    def add(self, lineno: int | None) -> None:
        self.count += 1
        if self.first is None:
            self.first = lineno

    def __enter__(self) -> "EmptyTexts":
        return self

    def __exit__(self, *exc) -> bool:
        if self.count and exc[0] is None:
            log.warning("%s: %d %s(s) have empty text (first on line %s)", self.path, self.count, self.what,
                        self.first)
        return False
