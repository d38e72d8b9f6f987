"""Fail early, before any job runs, when the config names a model that does not exist or needs
downloads this machine cannot make.

The Snakefile calls :func:`check` from ``onstart`` (so dry runs stay offline and fast) with the
jobs that are about to run (:func:`needed_from_jobs`): only the collection, query sets, first
stages, teachers, stage-1 models, students, re-rankers and distillation sets those jobs name are checked (a teacher's
``base_url`` is probed only when one of its jobs runs). Grid templates (``grid``) are never
read: their expanded entries are (``google/electra-base-discriminator``, not
``google/electra-{size}-discriminator``).

* Every model reference (``model``, ``backbone``, ``checkpoint``, ``tokenizer``) is resolved:
  ``package:`` refs must name an installed package and an existing file in it, local paths must
  exist, and a hub id must be cached or, where ``huggingface.co`` answers, exist on the hub (a
  typo is found before the first job, not when its job runs). The served model name of an
  ``openai`` teacher is the endpoint's business and is not resolved.
* ir_datasets ids, hub ids and URLs that need a network on first use are accepted if cached
  locally or if their host answers; an ``openai`` teacher without a ``tokenizer`` needs tiktoken's
  ``cl100k_base`` (see :mod:`rankdistill.teacher.tiktoken_count`), which is loaded once here.

Everything wrong is reported in one message, one line per problem, naming the config key.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable
from urllib.parse import urlparse

from .assets import PACKAGE_PREFIX, is_local, resolve
from .errors import UnavailableError

MODEL_KEYS = ("model", "backbone", "checkpoint", "tokenizer")
NAMED_SECTIONS = ("collections", "query_sets", "first_stages", "teachers", "stage1", "students", "rerankers", "distill_sets")
SKIPPED_SECTIONS = ("grid", "grids")  # templates: their expanded entries are checked instead
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")

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


def _irds_home() -> Path:
    try:
        import ir_datasets

        return Path(ir_datasets.util.home_path())
    except Exception:
        return Path(os.environ.get("IR_DATASETS_HOME", Path.home() / ".ir_datasets"))


def licensed_corpus(dataset_id: str) -> list[tuple[Path, str]]:
    """(expected path, ir_datasets' own instructions) of each file or folder of a licensed corpus that
    ir_datasets cannot download and that is not where ir_datasets looks for it (ClueWeb09/12, GOV,
    GOV2, Disks 4/5, the Washington Post). Read from ir_datasets' download catalogue (offline)."""
    import json

    try:
        import ir_datasets

        catalogue = json.loads((Path(ir_datasets.__file__).parent / "etc" / "downloads.json").read_text())
    except Exception:  # noqa: BLE001  (no ir_datasets: the load itself reports it)
        return []
    parts = dataset_id.split("/")
    out = []
    for key, entry in (catalogue.get(parts[0]) or {}).items():
        if "instructions" not in entry or not entry.get("cache_path"):
            continue
        if key != "docs" and key not in parts[1:]:  # e.g. wapo's v2 / v4 files
            continue
        path = _irds_home() / parts[0] / entry["cache_path"]
        if not path.exists():
            out.append((path, entry["instructions"].format(path=path)))
    return out


def _hf_cached(repo: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo, "config.json")
        return isinstance(hit, str)
    except Exception:
        return False


def _walk(obj, parts=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, parts + (str(k),))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, parts + (i,))
    else:
        yield parts, obj


def _key(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


@dataclass
class Needed:
    """What the jobs about to run use: their wildcard values (names of query sets, first stages,
    teachers, students, distillation sets) and their rule names."""

    names: set = field(default_factory=set)
    rules: set = field(default_factory=set)

    def wants(self, parts) -> bool:
        section = parts[0] if parts else ""
        if section in NAMED_SECTIONS:
            return len(parts) > 1 and str(parts[1]) in self.names
        if section == "collection":
            return "collection" in self.rules
        return True


def needed_from_jobs(jobs: Iterable) -> Needed:
    """:class:`Needed` from Snakemake jobs (``job.rule.name``, ``job.wildcards``)."""
    n = Needed()
    for job in jobs:
        n.rules.add(str(job.rule.name))
        wc = getattr(job, "wildcards", None)
        items = wc.items() if hasattr(wc, "items") else []
        n.names.update(str(v) for _, v in items)
    return n


def _openai_teacher(config: dict, parts) -> bool:
    """The model of an openai-backend teacher or generated query set: a served name, not a hub id."""
    if len(parts) < 3 or parts[0] not in ("teachers", "query_sets"):
        return False
    spec = (config.get(parts[0]) or {}).get(parts[1])
    return isinstance(spec, dict) and spec.get("backend") == "openai" and parts[2] == "model"


def needs(config: dict, needed: Needed | None = None) -> list[tuple[str, str, str]]:
    """(config key, kind, reference) of every model reference and everything that may need a download.

    Kinds: ``url``, ``irds``, ``package``, ``path`` (a local path), ``hf`` (a hub id).
    """
    flat = list(_walk(config))
    kinds = {parts[:-1]: v for parts, v in flat if parts and parts[-1] == "kind"}
    out = []
    for parts, value in flat:
        if not isinstance(value, str) or not parts or parts[0] in SKIPPED_SECTIONS:
            continue
        if needed is not None and not needed.wants(parts):
            continue
        key, leaf = _key(parts), parts[-1]
        if value.startswith(("http://", "https://")):
            out.append((key, "url", value))
        elif value.startswith("irds:"):
            out.append((key, "irds", value[5:]))
        elif leaf == "id" and kinds.get(parts[:-1]) == "irds":
            out.append((key, "irds", value))
        elif leaf in MODEL_KEYS and not _openai_teacher(config, parts):
            if value.startswith(PACKAGE_PREFIX):
                out.append((key, "package", value))
            elif is_local(value):
                continue
            elif _HUB_ID.fullmatch(value) and not value.endswith(".gguf"):
                out.append((key, "hf", value))
            elif "/" in value or value.startswith(("~", ".")) or value.endswith(".gguf"):
                out.append((key, "path", value))
    for name, spec in (config.get("teachers") or {}).items():  # RankGPT fitting for API models needs tiktoken
        if (isinstance(spec, dict) and spec.get("kind", "llm") == "llm" and spec.get("backend") == "openai"
                and not spec.get("tokenizer") and (needed is None or needed.wants(("teachers", name)))):
            out.append((f"teachers.{name}", "tiktoken", "cl100k_base"))
    return out


def _hub_exists(repo: str, timeout: float = 10.0) -> bool | None:
    """Whether the hub knows ``repo`` (True/False), or None when that cannot be told (network, rate limit)."""
    req = urllib.request.Request(f"https://{HF_HOST}/api/models/{repo}", method="HEAD",
                                 headers={"User-Agent": "rankdistill-preflight"})
    token = os.environ.get("HF_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout):
            return True
    except urllib.error.HTTPError as e:
        return False if e.code in (401, 404) else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


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


def check(config: dict, reachable=_reachable, needed: Needed | None = None, hub_exists=_hub_exists) -> list[str]:
    """Raise :class:`UnavailableError` listing every unresolvable model and impossible download
    among what ``needed`` uses (everything when None); return the checked references (for the log)."""
    missing = []
    checked = []
    hosts: dict[str, bool] = {}

    def up(host, port=443):
        if (host, port) not in hosts:
            hosts[(host, port)] = reachable(host) if port == 443 else reachable(host, port)
        return hosts[(host, port)]

    for key, kind, ref in needs(config, needed):
        checked.append(f"{key}: {ref}")
        if kind == "package":
            try:
                resolve(ref)
            except UnavailableError as e:
                missing.append(f"{key}: {e}")
        elif kind == "path":
            missing.append(f"{key}: model {ref!r} is neither a local path that exists nor a Hugging Face hub id "
                           "('org/name')")
        elif kind == "tiktoken":
            from .teacher.tiktoken_count import cl100k_base

            try:
                cl100k_base()
            except UnavailableError as e:
                missing.append(f"{key} (backend openai, no tokenizer): {e}")
        elif kind == "irds" and key.startswith("collection") and licensed_corpus(ref):
            for path, how in licensed_corpus(ref):
                missing.append(f"{key}: ir_datasets {ref!r} is a licensed corpus that ir_datasets cannot download "
                               f"and {path} does not exist. ir_datasets says: " + " ".join(how.split()))
        elif kind == "irds" and not _irds_cached(ref) and not up(IRDS_HOST):
            missing.append(f"{key}: ir_datasets {ref!r} is not cached and {IRDS_HOST} is unreachable")
        elif kind == "hf" and not _hf_cached(ref):
            if not up(HF_HOST):
                missing.append(f"{key}: Hugging Face model {ref!r} is not cached and {HF_HOST} is unreachable")
            elif hub_exists(ref) is False:
                missing.append(f"{key}: Hugging Face model {ref!r} does not exist on {HF_HOST} (a typo? a private "
                               "model needs HF_TOKEN)")
        elif kind == "url" and not _url_cached(config, key) and not up(*_host_port(ref)):
            missing.append(f"{key}: {ref} is unreachable")
    if missing:
        raise UnavailableError(
            "this configuration names models that cannot be found or needs downloads that cannot be made "
            "from this machine:\n  "
            + "\n  ".join(missing)
            + "\nFix the names, or run once where the network is reachable (or pre-fill IR_DATASETS_HOME / HF_HOME), "
            "or use the embedded default config/config.yaml, which runs offline."
        )
    return checked
