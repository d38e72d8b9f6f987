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
import logging
import os
import sys
import traceback
from pathlib import Path

from .errors import RankDistillError


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
    kwargs = _job_threads(smk, kwargs, log)
    _stop_on_signals()
    log.info("rule %s: %s(%s)", smk.rule, func.__name__, ", ".join(f"{k}={v!r}" for k, v in kwargs.items()))
    from .io import remove_stale_temps

    for out in _paths(getattr(smk, "output", [])):
        with contextlib.suppress(OSError):
            remove_stale_temps(out)
    try:
        inputs = _input_digests(smk, log)
        with _stderr_to(log_path):
            result = func(*args, **kwargs)
        _write_provenance_page(smk, log)
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


def _write_provenance_page(smk, log: logging.Logger) -> None:
    """A job with an output ``provenance`` (tables, figures) writes its page here; a declared output, so
    a failure to write it fails the job (Snakemake would report it missing anyway)."""
    from .provenance import write_job_summary

    page = write_job_summary(smk)
    if page:
        log.info("provenance page: %s", page)


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


# --- CPUs: never more threads than the job really has ----------------------------------------

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "RAYON_NUM_THREADS", "RAYON_RS_NUM_CPUS", "POLARS_MAX_THREADS")


def _cgroup_cpu_limit(root: str | os.PathLike = "/sys/fs/cgroup", proc_cgroup: str | os.PathLike = "/proc/self/cgroup") -> int | None:
    """CPUs the cgroup quota allows (ceil(quota / period)), the tightest along the cgroup's path; None: no quota."""
    import math

    limits = []
    root = Path(root)
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hier == "0" and controllers == "":  # cgroup v2: cpu.max = "<quota|max> <period>"
            parts = Path(path.lstrip("/")).parts
            for i in range(len(parts), -1, -1):
                f = root.joinpath(*parts[:i], "cpu.max")
                try:
                    quota, period = f.read_text().split()
                except (OSError, ValueError):
                    continue
                if quota != "max" and int(period) > 0:
                    limits.append(math.ceil(int(quota) / int(period)))
        elif "cpu" in controllers.split(","):  # cgroup v1
            for base in (root / controllers, root / "cpu,cpuacct", root / "cpu"):
                try:
                    quota = int((base / path.lstrip("/") / "cpu.cfs_quota_us").read_text())
                    period = int((base / path.lstrip("/") / "cpu.cfs_period_us").read_text())
                except (OSError, ValueError):
                    continue
                if quota > 0 and period > 0:
                    limits.append(math.ceil(quota / period))
                break
    return max(1, min(limits)) if limits else None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask (taskset, SLURM's cpuset), capped by the cgroup quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    return max(1, min(n, quota) if quota else n)


def cap_local_cores(workflow, cpus: int | None = None) -> int | None:
    """Called by the Snakefile: a local run schedules at most the CPUs this machine gives it.

    ``snakemake --cores 8`` on a 2-core machine would otherwise run two 4-thread jobs at once;
    capping Snakemake's ``_cores`` also caps every rule's ``threads`` (Snakemake constrains them
    by it). Cluster runs (jobs go to other nodes) are left alone. Returns the new value, if any.
    """
    try:
        if not workflow.local_exec or workflow.global_resources["_nodes"].value is not None:
            return None
        cores = workflow.global_resources["_cores"].value
    except (AttributeError, KeyError, ValueError):  # another Snakemake layout: leave it
        return None
    cpus = cpus or available_cpus()
    if cores is None or cores <= cpus:
        return None
    workflow.global_resources["_cores"] = cpus
    print(f"rankdistill: --cores {cores}, but this machine gives the run {cpus} CPU(s) (affinity/cgroup quota); "
          f"using {cpus} (jobs' threads are capped at it)", file=sys.stderr)
    return cpus


def limit_threads(n: int) -> int:
    """Cap the thread pools of the libraries a job uses (torch, OpenMP/MKL/BLAS, tokenizers) at ``n``."""
    n = max(1, min(int(n), available_cpus()))
    for var in THREAD_ENV:
        os.environ[var] = str(n)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true" if n > 1 else "false")
    torch = sys.modules.get("torch")  # not imported here: jobs that do not use torch stay light
    if torch is not None:
        torch.set_num_threads(n)
        with contextlib.suppress(RuntimeError):  # only settable before the first parallel work
            torch.set_num_interop_threads(n)
    return n


def _job_threads(smk, kwargs: dict, log: logging.Logger) -> dict:
    """The job's threads (Snakemake's, capped at the CPUs it really has) for its libraries and its function."""
    n = limit_threads(getattr(smk, "threads", 1) or 1)
    if "threads" in kwargs and kwargs["threads"] is not None and int(kwargs["threads"]) > n:
        log.info("threads %s capped at the %d CPU(s) this job has", kwargs["threads"], n)
        kwargs = dict(kwargs, threads=n)
    return kwargs


# --- signals: SIGTERM/SIGINT stop the job at once ----------------------------------------------

class Interrupted(BaseException):
    """Raised in the main thread on SIGTERM/SIGHUP (SIGINT raises KeyboardInterrupt): unwinds like
    Ctrl-C, so open atomic writes are discarded and no complete-looking output is left."""


def _stop_on_signals() -> None:
    import signal

    def stop(signum, frame):
        raise Interrupted(f"stopped by {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, stop)


def _children_map() -> dict[int, list[int]]:
    """ppid -> pids of every process (Linux /proc)."""
    out: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        out.setdefault(int(fields[1]), []).append(int(d))
    return out


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def descendants(pid: int) -> list[tuple[int, str | None]]:
    """(pid, start time) of every descendant of ``pid``, parents before children; [] where /proc is absent."""
    if not os.path.isdir("/proc"):
        return []
    children, out, todo = _children_map(), [], [pid]
    while todo:
        for c in children.get(todo.pop(0), []):
            out.append((c, _start_time(c)))
            todo.append(c)
    return out


def _signal_all(procs, sig) -> None:
    for pid, started in procs:
        if _start_time(pid) == started:  # still the same process (not a reused pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def stop_jobs_on_signals(grace: float = 3.0) -> None:
    """Called from the Snakefile's ``onstart`` (the main Snakemake process, after Snakemake set its
    own handlers): on SIGINT or SIGTERM, every running job (all processes below Snakemake) gets
    SIGTERM at once and SIGKILL after ``grace`` seconds, then Snakemake's own handling runs.

    Without it Snakemake waits for running local jobs to finish (SIGTERM: "graceful" exit; SIGINT
    not sent to the jobs themselves, e.g. ``kill -INT``): an encoding job ran on for minutes. The
    jobs' own handler (:func:`_stop_on_signals`) unwinds them, so atomic writes leave no output;
    Snakemake then marks the jobs failed and removes what they had declared.
    """
    import signal
    import threading

    me = os.getpid()

    def reaper(procs):
        import time

        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not any(_start_time(p) == s for p, s in procs):
                return
            time.sleep(0.1)
        _signal_all(procs, signal.SIGKILL)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            procs = descendants(me)
            if procs:
                print(f"rankdistill: {signal.Signals(signum).name}: stopping {len(procs)} job process(es)",
                      file=sys.stderr)
                _signal_all(procs, signal.SIGTERM)
                threading.Thread(target=reaper, args=(procs,), daemon=True).start()
            if callable(previous):
                return previous(signum, frame)
            if previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(me, signum)
            return None

        with contextlib.suppress(ValueError, OSError):  # not the main thread
            signal.signal(sig, handler)
