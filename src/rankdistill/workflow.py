"""Glue between Snakemake and the package: logging for rule scripts, code versions for params.

Rule scripts are one call: ``run(snakemake, function, **kwargs)``. It sends the package's log
and stderr to the rule's ``log:`` file, runs the function and, on a known error (bad input,
bad config, missing resource), prints one clear line instead of a deep traceback (the full
traceback still goes to the log file).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import sys
import traceback
from pathlib import Path

from .errors import RankDistillError


def code_version(*modules: str) -> str:
    """A short hash of the source of the named package modules (``"rankdistill.runs"``, ...).

    Rules pass it as a param, so editing the code a rule runs re-runs that rule (Snakemake's
    params trigger) while edits elsewhere in the package do not.
    """
    h = hashlib.sha256()
    for name in sorted(set(modules)):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"no module {name!r}")
        paths = [Path(spec.origin)]
        if spec.submodule_search_locations:  # a package: hash all of its .py files
            paths = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.py"))
        for p in paths:
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def per_attempt(base: int | float):
    """A Snakemake resource that grows on retries: attempt k asks for k x ``base``.

    Rules write ``mem_mb=per_attempt(8000), runtime=per_attempt(120)``; with ``--retries`` (the
    SLURM profile sets it) a job killed for memory or walltime is resubmitted with 2x, then 3x.
    """

    def grow(wildcards, attempt):
        return base * attempt

    grow.__name__ = f"per_attempt_{base}"
    return grow


def setup_logging(log_path: str | os.PathLike | None, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    for hnd in list(root.handlers):
        root.removeHandler(hnd)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_path, mode="w", encoding="utf-8")
        fh.setFormatter(fmt)
        root.addHandler(fh)
    sh = logging.StreamHandler(sys.stderr)
    sh.setFormatter(fmt)
    sh.setLevel(logging.WARNING)
    root.addHandler(sh)
    root.setLevel(level)
    logging.captureWarnings(True)


def run(smk, func, *args, **kwargs):
    """Run ``func(*args, **kwargs)`` for the Snakemake job ``smk`` with logging to its log file."""
    log_path = smk.log[0] if len(smk.log) else None
    setup_logging(log_path)
    log = logging.getLogger("rankdistill")
    log.info("rule %s: %s(%s)", smk.rule, func.__name__, ", ".join(f"{k}={v!r}" for k, v in kwargs.items()))
    inputs = _input_digests(smk, log)
    try:
        with _stderr_to(log_path):
            result = func(*args, **kwargs)
    except RankDistillError as e:
        log.debug("%s", traceback.format_exc())
        with contextlib.suppress(Exception), open(log_path, "a") as f:  # type: ignore[arg-type]
            f.write(traceback.format_exc())
        print(f"rankdistill error in rule {smk.rule}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    _write_manifests(smk, inputs, log)
    return result


# Provenance side files <output>.manifest.json (rankdistill.provenance). They never fail a job:
# a finished result is worth more than its manifest (a warning goes to the log instead).
def _input_digests(smk, log: logging.Logger):
    from .provenance import job_input_digests

    try:
        return job_input_digests(smk)
    except Exception:  # noqa: BLE001
        log.warning("could not checksum the inputs of rule %s:\n%s", smk.rule, traceback.format_exc())
        return None


def _write_manifests(smk, inputs, log: logging.Logger) -> None:
    from .provenance import write_job_manifests

    try:
        for path in write_job_manifests(smk, inputs):
            log.info("manifest: %s", path)
    except Exception:  # noqa: BLE001
        log.warning("could not write provenance manifests for rule %s:\n%s", smk.rule, traceback.format_exc())


@contextlib.contextmanager
def _stderr_to(log_path):
    """Progress bars and library chatter go to the log file as well (appended)."""
    if not log_path:
        yield
        return
    with open(log_path, "a", buffering=1, encoding="utf-8") as f:
        old = sys.stderr
        sys.stderr = f
        try:
            yield
        finally:
            sys.stderr = old
