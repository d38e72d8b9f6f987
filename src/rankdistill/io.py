"""Atomic outputs and small file helpers.

Every output of the workflow is written to a temporary sibling and renamed into place, so a
killed job never leaves a half-written file (or folder) that looks complete.

Outputs get the permissions a plain ``open``/``mkdir`` would give them: ``0666``/``0777`` minus the
process umask (0644/0755 under the usual 022), not the 0600/0700 of ``mkstemp``/``mkdtemp``, so
results on a shared filesystem are as readable as the user's umask says. A job killed mid-write
leaves its temporary sibling (``.<name>.<8 random chars>.tmp``, or ``.old`` while a folder is
being replaced) behind; the next atomic write of the same path, and the next run of the rule
that owns it (:func:`rankdistill.workflow.run`), removes such stale siblings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
from pathlib import Path
from typing import Iterator


log = logging.getLogger(__name__)
_UMASK_LOCK = threading.Lock()


def umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike, folder: bool | None = None) -> None:
    """Give ``path`` the mode ``open``/``mkdir`` would have: 0666 (files) or 0777 (folders) minus the umask."""
    folder = os.path.isdir(path) if folder is None else folder
    os.chmod(path, (0o777 if folder else 0o666) & ~umask())


def honour_umask_tree(folder: str | os.PathLike) -> None:
    """:func:`honour_umask` for a folder and everything in it (libraries that write through their own
    temp files, e.g. safetensors, leave 0600 files; symlinks are left alone). An executable file
    keeps being executable."""
    mask = umask()
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            want = (0o777 if st.st_mode & stat.S_IXUSR else 0o666) & ~mask
            if stat.S_IMODE(st.st_mode) != want:
                os.chmod(p, want)


def _stale_pattern(name: str) -> re.Pattern:
    # mkstemp/mkdtemp names: prefix + 8 characters of [a-z0-9_] + suffix
    return re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.(tmp.*|old)")


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings an earlier, killed atomic write of ``path`` left behind."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pat = _stale_pattern(path.name)
    removed = []
    with os.scandir(path.parent) as it:
        entries = [e for e in it if pat.fullmatch(e.name)]
    for e in entries:
        p = Path(e.path)
        try:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(p)
            else:
                p.unlink()
        except FileNotFoundError:
            continue
        except OSError as err:
            log.warning("could not remove the stale temporary %s: %s", p, err)
            continue
        log.info("removed %s, left behind by an interrupted write of %s", p, path)
        removed.append(p)
    return removed


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    honour_umask(name, folder=False)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs):
    """Open a temporary sibling of ``path`` for writing; it replaces ``path`` only on success."""
    if "w" not in mode:
        raise ValueError("atomic_open is for writing")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it replaces ``path`` (a folder) on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    honour_umask(tmp, folder=True)
    try:
        yield tmp
        honour_umask_tree(tmp)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
