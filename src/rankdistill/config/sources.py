"""Run sources (an imported first stage's or teacher's runs): one of a local path, an http(s) URL with
an expected checksum, or an ir_datasets id. Written once; the config checks and the importer use it."""

from __future__ import annotations

import re

from ..errors import ConfigError

CHECKSUMS = ("sha256", "md5")


def normalise_source(source) -> dict:
    """A source from the config (string or mapping) as ``{"kind": path|url|irds, ...}``; ConfigError if invalid."""
    if isinstance(source, str):
        source = {"irds": source[5:]} if source.startswith("irds:") else (
            {"url": source} if re.match(r"^https?://", source) else {"path": source})
    if not isinstance(source, dict):
        raise ConfigError(f"a run source must be a path, URL, 'irds:<id>' or a mapping, got {source!r}")
    src = dict(source)
    kinds = [k for k in ("path", "url", "irds") if src.get(k)]
    if len(kinds) != 1:
        raise ConfigError(f"a run source needs exactly one of path, url, irds; got {source!r}")
    kind = kinds[0]
    if kind == "path" and re.match(r"^https?://", str(src["path"])):
        kind, src["url"] = "url", src.pop("path")
    sums = [a for a in CHECKSUMS if src.get(a)]
    if kind == "url" and not sums:
        raise ConfigError(f"run URL {src['url']!r} needs an expected checksum (sha256 or md5) so that a changed or "
                          "corrupted download is noticed")
    for a in sums:
        want = {"sha256": 64, "md5": 32}[a]
        if not re.fullmatch(rf"[0-9a-fA-F]{{{want}}}", str(src[a])):
            raise ConfigError(f"{a} of run source {src.get(kind)!r} must be {want} hex digits, got {src[a]!r}")
        src[a] = str(src[a]).lower()
    src["kind"] = kind
    return src


def source_problem(key: str, source) -> str | None:
    """A ``key: message`` config problem if ``source`` is not a valid run source (None if it is)."""
    if isinstance(source, str) and re.match(r"^https?://", source):
        return (f"{key}: a URL needs an expected checksum: {{url: ..., sha256: ...}} or {{url: ..., md5: ...}}")
    if isinstance(source, dict):
        given = [k for k in ("path", "url", "irds") if source.get(k)]
        if len(given) != 1:
            return f"{key}: give exactly one of path, url, irds"
        if given == ["url"] and not any(source.get(a) for a in CHECKSUMS):
            return f"{key}: a URL needs an expected sha256 or md5"
    try:
        normalise_source(source)
    except ConfigError as e:
        return f"{key}: {e}"
    return None
