"""Glue between Snakemake and the package: logging for rule scripts, code versions for params.

Rule scripts are one call: ``run(snakemake, function, **kwargs)``. It sends the package's log
and stderr to the rule's ``log:`` file, removes temporaries an earlier killed run of the rule left
next to its outputs, runs the function and, on *any* error, prints one line naming the rule, its
inputs and the reason instead of a deep traceback (the full traceback goes to the log file): a
:class:`~rankdistill.errors.RankDistillError` (bad input, bad config, missing resource) says what
to fix; any other exception is a bug or an environment problem and is reported with its type.
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


def _paths(files) -> list[str]:
    try:
        return [str(f) for f in files]
    except TypeError:
        return []


def _inputs_named(smk, limit: int = 3) -> str:
    ins = _paths(getattr(smk, "input", []))
    if not ins:
        return "no inputs"
    more = f" and {len(ins) - limit} more" if len(ins) > limit else ""
    return "input " + ", ".join(ins[:limit]) + more


def failure_line(smk, e: BaseException, log_path=None) -> str:
    """The one line a failed rule prints: rule, inputs, reason (and where the traceback is)."""
    where = f"rule {smk.rule} ({_inputs_named(smk)})"
    reason = " ".join(str(e).split()) or "(no message)"
    if isinstance(e, RankDistillError):
        return f"rankdistill error in {where}: {reason}"
    tail = f"; traceback in {log_path}" if log_path else ""
    return f"rankdistill error in {where}: unexpected {type(e).__name__}: {reason}{tail}"


def run(smk, func, *args, **kwargs):
    """Run ``func(*args, **kwargs)`` for the Snakemake job ``smk`` with logging to its log file.

    Any exception (``KeyboardInterrupt``/``SystemExit`` aside) becomes one stderr line naming the
    rule and its inputs plus ``SystemExit(1)``; the traceback goes to the log file.
    """
    log_path = smk.log[0] if len(smk.log) else None
    setup_logging(log_path)
    log = logging.getLogger("rankdistill")
    log.info("rule %s: %s(%s)", smk.rule, func.__name__, ", ".join(f"{k}={v!r}" for k, v in kwargs.items()))
    from .io import remove_stale_temps

    for out in _paths(getattr(smk, "output", [])):
        with contextlib.suppress(OSError):
            remove_stale_temps(out)
    try:
        inputs = _input_digests(smk, log)
        with _stderr_to(log_path):
            result = func(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - every failure of a rule script ends in one clear line
        tb = traceback.format_exc()
        log.debug("%s", tb)
        if log_path:
            with contextlib.suppress(Exception), open(log_path, "a", encoding="utf-8") as f:
                f.write(tb)
        print(failure_line(smk, e, log_path), file=sys.stderr)
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
