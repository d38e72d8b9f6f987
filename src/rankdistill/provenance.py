"""Provenance manifests: what produced a result file, from what, with which code and settings.

Every rule script runs through :func:`rankdistill.workflow.run`, which calls
:func:`write_job_manifests` after the job succeeded. Each output ``X`` (file or folder) gets a side
file ``X.manifest.json`` (for a folder: next to it, ``results/index/bm25.manifest.json``) with

* ``rule``, ``wildcards``, ``params`` (the rule's config slice: every setting that changes the
  result, including the ``code`` hash of the package modules it runs), ``threads``, ``attempt``;
* ``inputs`` and ``outputs``: path, size and a checksum (see :func:`path_digest`);
* ``models``: every model reference found in the params (keys such as ``model``/``backbone`` or a
  ``package:`` reference) with the resolved path and its checksum, or the hub id and the
  revision found in the local Hugging Face cache;
* ``packages``: versions of rankdistill and the libraries that decide results (torch,
  transformers, pyterrier, ...), read from package metadata without importing them;
* ``git``: the workflow checkout's commit and whether tracked files had local edits;
* ``hardware``: the CPU model, cores and bf16 capability (and the GPU) of the machine that ran it;
  ``runtime``: what the job chose at run time from that machine (``precision: auto`` resolved, with
  the reason; :mod:`rankdistill.hardware`);
* ``python``, ``platform``, ``host``, ``created`` (UTC).

Manifests are side files: Snakemake does not know them, so they never trigger reruns and
`snakemake --delete-all-output` leaves them (delete ``results/`` to clean up). A rerun overwrites
the manifest with the new job's.

Checksums (``method`` says which one was used):

* ``sha256``: the whole file, for files up to ``FULL_HASH_MAX`` (64 MiB);
* ``sha256-size-head-tail``: SHA-256 of the size plus the first and last MiB, for larger files
  (an 8.8M-passage SQLite store or a multi-GB checkpoint is not read in full after every job);
  it detects truncation, appends and rewritten headers, not an edit in the middle;
* ``sha256-listing``: for a folder, SHA-256 over the sorted list of (relative path, size,
  checksum of the file as above), so it changes when any file is added, removed or rewritten.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import hardware
from .io import atomic_open

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".manifest.json"
FORMAT_VERSION = 1
FULL_HASH_MAX = 64 << 20
SAMPLE = 1 << 20
SKIP_IN_DIRS = {".snakemake_timestamp"}
LISTING_MAX = 200  # folders with at most this many files keep the per-file list in the manifest

# Distributions whose versions decide results (missing ones are left out of the manifest).
PACKAGES = (
    "rankdistill", "torch", "transformers", "accelerate", "tokenizers", "safetensors",
    "sentence-transformers", "gguf", "vllm", "numpy", "pandas", "scipy", "statsmodels",
    "python-terrier", "pyterrier", "pyterrier-pisa", "ir-datasets", "ir-measures", "snakemake",
)
# Param keys whose string values name a model (in addition to any "package:..." reference).
MODEL_KEYS = {"model", "backbone", "start", "tokenizer", "teacher_model", "student_model", "encoder", "checkpoint"}


def manifest_path(output: str | os.PathLike) -> Path:
    """``results/x.run`` -> ``results/x.run.manifest.json``; a folder ``results/index/bm25/`` -> ``results/index/bm25.manifest.json``."""
    p = Path(output)
    return p.with_name(p.name + MANIFEST_SUFFIX)


def file_digest(path: str | os.PathLike, full_max: int = FULL_HASH_MAX) -> dict:
    """Checksum of one file: full SHA-256 up to ``full_max`` bytes, else size + first/last MiB."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= full_max:
            while block := f.read(1 << 20):
                h.update(block)
            return {"size": size, "method": "sha256", "sha256": h.hexdigest()}
        h.update(str(size).encode())
        h.update(f.read(SAMPLE))
        f.seek(max(size - SAMPLE, 0))
        h.update(f.read(SAMPLE))
    return {"size": size, "method": "sha256-size-head-tail", "sha256": h.hexdigest()}


def dir_digest(path: str | os.PathLike, full_max: int = FULL_HASH_MAX) -> dict:
    """Checksum of a folder: SHA-256 over its sorted (relative path, size, file checksum) listing."""
    root = Path(path)
    h = hashlib.sha256()
    listing = []
    total = 0
    for p in sorted(root.rglob("*")):
        if p.name in SKIP_IN_DIRS or not p.is_file():
            continue
        d = file_digest(p, full_max)
        rel = p.relative_to(root).as_posix()
        h.update(f"{rel}\0{d['size']}\0{d['sha256']}\n".encode())
        listing.append([rel, d["size"], d["sha256"]])
        total += d["size"]
    out = {"size": total, "files": len(listing), "method": "sha256-listing", "sha256": h.hexdigest()}
    if len(listing) <= LISTING_MAX:  # per-file detail for `check` (which files changed)
        out["listing"] = listing
    return out


def path_digest(path: str | os.PathLike, full_max: int = FULL_HASH_MAX) -> dict:
    """``{"path", "size", "method", "sha256"}`` for a file or folder; ``{"path", "missing": True}`` if absent."""
    p = Path(path)
    if p.is_dir():
        return {"path": str(path), **dir_digest(p, full_max)}
    if p.is_file():
        return {"path": str(path), **file_digest(p, full_max)}
    return {"path": str(path), "missing": True}


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed versions from package metadata (nothing is imported)."""
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=8)
def git_state(path: str | os.PathLike | None = None) -> dict | None:
    """``{"commit", "dirty"}`` of the git checkout containing ``path`` (None outside git or without git)."""
    cwd = str(path or Path.cwd())
    if not os.path.isdir(cwd):
        cwd = os.path.dirname(cwd) or "."
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def git_commit_label(path: str | os.PathLike | None = None) -> str | None:
    """``"1a2b3c4d5e6f"`` or ``"1a2b3c4d5e6f+dirty"`` for captions; None outside git."""
    st = git_state(str(path) if path else None)
    if not st:
        return None
    return st["commit"][:12] + ("+dirty" if st["dirty"] else "")


def _hub_revision(repo_id: str) -> str | None:
    """The commit of a hub model in the local Hugging Face cache (refs/main), if it is there."""
    home = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface")), "hub")
    ref = Path(home) / ("models--" + repo_id.replace("/", "--")) / "refs" / "main"
    try:
        return ref.read_text().strip() or None
    except OSError:
        return None


def _model_refs(obj: Any, key: str | None = None) -> Iterable[tuple[str, str, Mapping | None]]:
    """(param path, reference, enclosing mapping) for model references anywhere in the params."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            for path, ref, parent in _model_refs(v, str(k)):
                yield (f"{k}.{path}" if path else str(k)), ref, (parent if parent is not None else obj)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            for path, ref, parent in _model_refs(v, key):
                yield (f"{i}.{path}" if path else str(i)), ref, parent
    elif isinstance(obj, str) and (obj.startswith("package:") or (key in MODEL_KEYS and obj)):
        yield "", obj, None


def model_entries(params: Mapping, full_max: int = FULL_HASH_MAX) -> list[dict]:
    """Model references in the params with their resolved path and checksum (or hub revision)."""
    from . import assets

    out, seen = [], set()
    for where, ref, parent in _model_refs(params):
        if ref in seen:
            continue
        seen.add(ref)
        entry: dict[str, Any] = {"param": where, "ref": ref}
        if isinstance(parent, Mapping):
            for extra in ("revision", "sha256", "checksum"):
                if parent.get(extra):
                    entry[extra] = parent[extra]
        try:
            resolved = assets.resolve(ref)
        except Exception as e:  # noqa: BLE001 - a manifest must never fail the job
            entry["error"] = str(e)
            out.append(entry)
            continue
        if os.path.exists(resolved):
            entry["path"] = resolved
            entry.update({k: v for k, v in path_digest(resolved, full_max).items() if k != "path"})
        else:
            entry["hub_id"] = ref
            rev = _hub_revision(ref)
            if rev:
                entry["cached_revision"] = rev
        out.append(entry)
    return out


def digests(named: Mapping[str, Any] | None, full_max: int = FULL_HASH_MAX) -> dict:
    """{name: path_digest} for {name: path or list of paths}."""
    res = {}
    for name, val in (named or {}).items():
        if isinstance(val, (list, tuple)):
            res[name] = [path_digest(v, full_max) for v in val]
        else:
            res[name] = path_digest(val, full_max)
    return res


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str, sort_keys=True))


def build_manifest(*, rule: str, outputs: Mapping[str, Any], inputs: Mapping[str, Any] | None = None,
                   params: Mapping | None = None, wildcards: Mapping | None = None, threads: int | None = None,
                   attempt: int | None = None, workflow_dir: str | os.PathLike | None = None,
                   full_max: int = FULL_HASH_MAX, input_digests: bool = False) -> dict:
    """The manifest of one job (outputs and inputs: name -> path or list of paths).

    With ``input_digests=True``, ``inputs`` is already the result of :func:`digests` (taken before
    the job ran: what it read, even if the job or a concurrent one changes an input folder later).
    """

    params = dict(params or {})
    return {
        "rankdistill_manifest": FORMAT_VERSION,
        "rule": rule,
        "wildcards": dict(wildcards or {}),
        "params": _jsonable(params),
        "threads": threads,
        "attempt": attempt,
        "inputs": inputs if input_digests else digests(inputs, full_max),
        "outputs": digests(outputs, full_max),
        "models": model_entries(params, full_max),
        "packages": package_versions(),
        "git": git_state(str(workflow_dir)) if workflow_dir else git_state(None),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hardware": hardware.describe(),
        "runtime": dict(hardware.RUNTIME_CHOICES),
        "host": socket.gethostname(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_manifests(manifest: dict) -> list[Path]:
    """Write ``<output>.manifest.json`` for every output of the job (atomically); returns the paths."""
    written = []
    for name, val in manifest["outputs"].items():
        for entry in val if isinstance(val, list) else [val]:
            target = manifest_path(str(entry["path"]).rstrip("/"))
            with atomic_open(target) as f:
                json.dump({**manifest, "output": entry["path"], "output_name": name}, f, indent=2, sort_keys=False)
                f.write("\n")
            written.append(target)
    return written


def _named(nl) -> dict[str, Any]:
    """A Snakemake Namedlist (input/output/params) as {name: value}; unnamed file entries by position."""
    named: dict[str, Any] = {}
    used: set[str] = set()
    for name, val in (nl.items() if hasattr(nl, "items") else []):
        if type(val).__name__ in ("Namedlist", "InputFiles", "OutputFiles") or (
                isinstance(val, list) and all(isinstance(v, str) for v in val) and type(val) is not list):
            val = [str(v) for v in val]
        named[name] = val
        for v in (val if isinstance(val, list) else [val]):
            if isinstance(v, str):
                used.add(v)
    for i, val in enumerate(nl):
        if isinstance(val, str) and val not in used:
            named[str(i)] = val
    return named


def job_input_digests(smk, full_max: int = FULL_HASH_MAX) -> dict:
    """Checksums of a Snakemake job's inputs; call before the job runs."""
    return digests({k: _paths(v) for k, v in _named(smk.input).items()}, full_max)


def write_job_manifests(smk, input_digests: dict | None = None, full_max: int = FULL_HASH_MAX) -> list[Path]:
    """For a Snakemake ``script:`` job object: write a manifest next to each of its outputs.

    ``input_digests``: from :func:`job_input_digests` before the job ran (computed now if None).
    """
    if input_digests is None:
        input_digests = job_input_digests(smk, full_max)
    manifest = build_manifest(
        rule=smk.rule,
        outputs={k: _paths(v) for k, v in _named(smk.output).items()},
        inputs=input_digests,
        input_digests=True,
        params=_named(smk.params),
        wildcards={k: str(v) for k, v in smk.wildcards.items()} if hasattr(smk.wildcards, "items") else {},
        threads=getattr(smk, "threads", None),
        workflow_dir=getattr(smk, "scriptdir", None),
        full_max=full_max,
    )
    return write_manifests(manifest)


def _paths(val):
    return [str(v) for v in val] if isinstance(val, list) else str(val)


def check(root: str | os.PathLike = "results", full_max: int = FULL_HASH_MAX) -> list[tuple[str, str]]:
    """Compare every ``*.manifest.json`` under ``root`` with its output now.

    Returns ``(output, problem)`` pairs: ``"missing"`` or ``"changed since it was produced"``. A
    folder to which files were only added (a PISA index gains scorer files on its first
    retrieval) is fine when its manifest has the per-file listing (folders up to LISTING_MAX files).
    """
    problems = []
    for mf in sorted(Path(root).rglob("*" + MANIFEST_SUFFIX)):
        try:
            data = json.loads(mf.read_text())
            out = data["output"]
            recorded = data["outputs"][data["output_name"]]
            if isinstance(recorded, list):
                recorded = next(r for r in recorded if r["path"] == out)
        except (OSError, ValueError, KeyError, StopIteration) as e:
            problems.append((str(mf), f"unreadable manifest ({e})"))
            continue
        now = path_digest(out, full_max)  # paths in manifests are relative to the workflow directory
        if now.get("missing"):
            problems.append((out, "missing"))
        elif now.get("sha256") != recorded.get("sha256"):
            if "listing" in recorded and "listing" in now:
                before = {r[0]: r[1:] for r in recorded["listing"]}
                after = {r[0]: r[1:] for r in now["listing"]}
                changed = sorted(k for k in before if after.get(k) != before[k])
                if not changed:  # only files added (e.g. PISA's lazily built scorer data): not a problem
                    continue
                problems.append((out, "changed since it was produced: " + ", ".join(changed[:5])))
            else:
                problems.append((out, "changed since it was produced"))
    return problems


def lineage(targets: Iterable[str | os.PathLike]) -> list[dict]:
    """The manifests of ``targets`` and, recursively, of every input they record (each output once,
    inputs before the results made from them); outputs without a manifest are skipped."""
    seen: set[str] = set()
    order: list[dict] = []

    def visit(path: str) -> None:
        path = str(path).rstrip("/")
        if path in seen:
            return
        seen.add(path)
        mf = manifest_path(path)
        try:
            data = json.loads(mf.read_text())
        except (OSError, ValueError):
            return
        for val in (data.get("inputs") or {}).values():
            for entry in val if isinstance(val, list) else [val]:
                if isinstance(entry, dict) and entry.get("path"):
                    visit(entry["path"])
        order.append(data)

    for t in targets:
        visit(str(t))
    return order


def _short(digest: Mapping | None) -> str:
    if not digest or digest.get("missing"):
        return "missing"
    return f"{digest.get('method', '')} {str(digest.get('sha256', ''))[:12]}"


def summary_markdown(targets: Iterable[str | os.PathLike], full_max: int = FULL_HASH_MAX,
                     sources: Iterable[str | os.PathLike] | None = None, made_by: str | None = None) -> str:
    """A Markdown page (the report's "Provenance") of how ``targets`` were made: code, packages, models,
    and every job of their lineage with its settings' code hash and output checksum, plus any result
    that changed since it was produced.

    ``sources``: follow the lineage from these files instead (the inputs of the job that is writing
    ``targets`` now, whose own manifests do not exist yet); ``made_by`` then says which job that is.
    """
    targets = [str(t) for t in targets]
    jobs = lineage([str(s) for s in sources] if sources is not None else targets)
    lines = ["# Provenance", "", "Results: " + ", ".join(f"`{t}`" for t in targets), ""]
    if made_by:
        lines += [made_by, ""]
    if not jobs:
        return "\n".join(lines + ["No provenance manifests found.", ""])
    last = jobs[-1]
    gits = {(j.get("git") or {}).get("commit") for j in jobs} - {None}
    g = last.get("git") or {}
    lines += [f"* code: git {g.get('commit', 'unknown')}" + (" (local edits)" if g.get("dirty") else "")
              + (f"; {len(gits)} different commits made these results" if len(gits) > 1 else ""),
              f"* Python {last.get('python')} on {last.get('platform')} ({last.get('host')})",
              "* packages: " + ", ".join(f"{k} {v}" for k, v in (last.get("packages") or {}).items()), ""]
    models: dict[str, dict] = {}
    for j in jobs:
        for m in j.get("models") or []:
            models.setdefault(m.get("ref", ""), m)
    if models:
        lines += ["## Models", "", "| reference | resolved | checksum or hub revision |", "| --- | --- | --- |"]
        for ref, m in models.items():
            if m.get("path"):
                what = _short(m)
            elif m.get("error"):
                what = "unresolved: " + str(m["error"])[:80]
            else:
                what = f"hub revision {m.get('cached_revision') or m.get('revision') or 'not cached'}"
            lines.append(f"| `{ref}` | `{m.get('path', m.get('hub_id', ''))}` | {what} |")
        lines.append("")
    lines += ["## Jobs", "", "| output | rule | wildcards | code | output checksum | created |",
              "| --- | --- | --- | --- | --- | --- |"]
    for j in jobs:
        rec = (j.get("outputs") or {}).get(j.get("output_name"))
        if isinstance(rec, list):
            rec = next((r for r in rec if r.get("path") == j.get("output")), None)
        wc = ", ".join(f"{k}={v}" for k, v in (j.get("wildcards") or {}).items())
        lines.append(f"| `{j.get('output')}` | {j.get('rule')} | {wc} | {(j.get('params') or {}).get('code', '')} "
                     f"| {_short(rec)} | {j.get('created', '')} |")
    changed = []
    for j in jobs:
        now = path_digest(j["output"], full_max) if j.get("output") else {"missing": True}
        rec = (j.get("outputs") or {}).get(j.get("output_name"))
        if isinstance(rec, list):
            rec = next((r for r in rec if r.get("path") == j.get("output")), {})
        if now.get("missing"):
            changed.append(f"* `{j.get('output')}`: missing")
        elif rec and now.get("sha256") != rec.get("sha256") and "listing" not in rec:
            changed.append(f"* `{j.get('output')}`: changed since it was produced")
    lines += ["", "## Changed since produced", ""] + (changed or ["None: every result is as its job wrote it."])
    return "\n".join(lines) + "\n"


def write_summary(targets: Iterable[str | os.PathLike], out: str | os.PathLike,
                  sources: Iterable[str | os.PathLike] | None = None, made_by: str | None = None) -> None:
    """:func:`summary_markdown` of ``targets`` written (atomically) to ``out``."""
    text = summary_markdown(targets, sources=sources, made_by=made_by)
    with atomic_open(out) as f:
        f.write(text)


def write_job_summary(smk) -> str | None:
    """For a job with an output named ``provenance`` (the tables and figures): write that page, the
    lineage of the job's inputs for its other outputs, before the job's manifests are written.

    So every result the report shows comes with its provenance page from the same job: the report
    works for whatever has been built (``results/table.tex`` alone, or everything).
    """
    named = _named(smk.output)
    if "provenance" not in named:
        return None
    out = str(named["provenance"])
    targets = [p for k, v in named.items() if k != "provenance" for p in (v if isinstance(v, list) else [v])]
    code = (_named(smk.params) or {}).get("code", "")
    made_by = f"Made by rule `{smk.rule}` (code {code}) from {len(list(smk.input))} input files, whose jobs follow."
    write_summary(targets, out, sources=[str(f) for f in smk.input], made_by=made_by)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m rankdistill.provenance",
                                 description="Check result files against their provenance manifests (run in the workflow directory).")
    ap.add_argument("root", nargs="?", default="results", help="folder to scan for *.manifest.json (default: results)")
    args = ap.parse_args(argv)
    problems = check(args.root)
    n = sum(1 for _ in Path(args.root).rglob("*" + MANIFEST_SUFFIX))
    for out, what in problems:
        print(f"{out}: {what}")
    print(f"{n} manifests checked, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
