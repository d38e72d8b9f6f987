"""Fail early, before any job runs, when the config needs downloads this machine cannot make.

The Snakefile calls :func:`check` from ``onstart`` (so dry runs stay offline and fast). Things
that need a network on first use: ir_datasets ids (collection, query sets, imported runs),
Hugging Face hub model ids and URLs. Each is accepted if it is already cached locally or its
host answers; otherwise the run stops with one message listing every missing thing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from .assets import is_local
from .errors import UnavailableError

HF_HOST = "huggingface.co"
IRDS_HOST = "ir-datasets.com"


def _reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _irds_cached(dataset_id: str) -> bool:
    try:
        import ir_datasets

        home = Path(ir_datasets.util.home_path())
    except Exception:
        home = Path(os.environ.get("IR_DATASETS_HOME", Path.home() / ".ir_datasets"))
    top = home / dataset_id.split("/")[0]
    # ir_datasets writes irds_version.txt into a dataset's folder as soon as it is registered or
    # opened, before any download: only other files mean something was fetched
    return top.is_dir() and any(p.name != "irds_version.txt" for p in top.iterdir())


def _hf_cached(repo: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo, "config.json")
        return isinstance(hit, str)
    except Exception:
        return False


def _walk(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, obj


def needs(config: dict) -> list[tuple[str, str, str]]:
    """(config key, kind, reference) of everything that may need a download."""
    out = []
    for key, value in _walk(config):
        if not isinstance(value, str):
            continue
        leaf = key.rsplit(".", 1)[-1]
        if value.startswith(("http://", "https://")):
            out.append((key, "url", value))
        elif value.startswith("irds:"):
            out.append((key, "irds", value[5:]))
        elif leaf == "id" and ".kind" not in key:
            parent = key.rsplit(".", 1)[0]
            kind = dict(_walk(config)).get(f"{parent}.kind")
            if kind == "irds":
                out.append((key, "irds", value))
        elif leaf in ("model", "backbone", "checkpoint", "tokenizer") and "/" in value and not is_local(value):
            out.append((key, "hf", value))
    return out


def _host_port(url: str) -> tuple[str, int]:
    u = urlparse(url)
    return u.hostname or "", u.port or (80 if u.scheme == "http" else 443)


def _url_cached(config: dict, key: str) -> bool:
    """An imported run's URL whose checksummed download is already in the cache needs no network."""
    node = config
    try:
        for part in key.split(".")[:-1]:
            node = node[part]
        from .retrieval.imported import cached_file

        return cached_file(node, os.path.join(config.get("results", "results"), "cache", "downloads")) is not None
    except Exception:
        return False


def check(config: dict, reachable=_reachable) -> None:
    missing = []
    hosts: dict[str, bool] = {}

    def up(host, port=443):
        if (host, port) not in hosts:
            hosts[(host, port)] = reachable(host) if port == 443 else reachable(host, port)
        return hosts[(host, port)]

    for key, kind, ref in needs(config):
        if kind == "irds" and not _irds_cached(ref) and not up(IRDS_HOST):
            missing.append(f"{key}: ir_datasets {ref!r} is not cached and {IRDS_HOST} is unreachable")
        elif kind == "hf" and not _hf_cached(ref) and not up(HF_HOST):
            missing.append(f"{key}: Hugging Face model {ref!r} is not cached and {HF_HOST} is unreachable")
        elif kind == "url" and not _url_cached(config, key) and not up(*_host_port(ref)):
            missing.append(f"{key}: {ref} is unreachable")
    if missing:
        raise UnavailableError(
            "this configuration needs downloads that cannot be made from this machine:\n  "
            + "\n  ".join(missing)
            + "\nRun once where the network is reachable (or pre-fill IR_DATASETS_HOME / HF_HOME), "
            "or use the embedded default config/config.yaml, which runs offline."
        )
