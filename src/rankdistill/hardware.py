"""What this machine computes natively, and the run-time choices made from it.

A shipped config never names a setting tuned to one machine: ``precision: auto`` (the schema's default
everywhere) is resolved here, when a job starts, from what the device offers:

* a CUDA device: bf16 when it computes bf16 (``torch.cuda.is_bf16_supported()``: Ampere and newer),
  fp32 otherwise;
* a CPU: bf16 only where PyTorch reports native bf16 arithmetic (AVX512-BF16 or AMX), found through
  PyTorch's own capability probes (:func:`cpu_bf16_support`; their names are private and have moved
  between versions, so each is tried in turn and guarded), fp32 otherwise. Without native support
  PyTorch emulates bf16, and autocast runs 2x to 50x *slower* than fp32 (14x measured on a Zen 3 training
  BERT-tiny; ``docs/guide/hardware.md``).

``RANKDISTILL_PRECISION=fp32`` (or ``bf16``) makes every ``auto`` resolve to that value, as if the
machine offered only it: a way to check on a machine with native bf16 what a machine without it
does (``benchmarks/default_cold.py --precision fp32``, the CI's fp32 job). An explicit ``bf16`` in a
config is honoured on any device, with a warning where the device has no native bf16.

Every resolution is logged (``rankdistill.hardware`` logger, the job's log file) and remembered in
:data:`RUNTIME_CHOICES`, which :mod:`rankdistill.provenance` writes into each output's manifest
(``runtime``) next to :func:`describe` (the CPU model and its bf16 capability); training also keeps it
in the model folder's ``train.json``. Like the hardware itself, ``auto``'s resolution is not a
Snakemake param: moving a results folder to a machine that resolves differently does not rerun it
(delete the outputs to recompute them there); a config is reproducible wherever ``auto`` resolves the
same way, and the manifests say how it resolved.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import sys
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

PRECISION_ENV = "RANKDISTILL_PRECISION"
FORCEABLE = ("fp32", "bf16")
SLOWDOWN = "2x to 50x slower than fp32 (14x measured training BERT-tiny on an AVX2-only Zen 3)"

# run-time choices of this process (what ``auto`` and other run-time settings became), for the manifests
RUNTIME_CHOICES: dict[str, dict] = {}


@dataclass(frozen=True)
class Resolved:
    """A run-time choice: what the config asked for, what it became here, and why."""

    requested: str
    value: str
    reason: str

    def asdict(self) -> dict:
        return asdict(self)


def remember(what: str, choice: Resolved | dict) -> None:
    """Record a run-time choice of this process (the manifests' ``runtime`` section)."""
    RUNTIME_CHOICES[what] = choice.asdict() if isinstance(choice, Resolved) else dict(choice)


def cpu_bf16_support() -> tuple[bool, str]:
    """Whether PyTorch computes bf16 natively on this CPU, and which probe said so.

    Tried in turn (the first that answers decides): ``torch.cpu.get_capabilities()`` (keys
    ``avx512_bf16``, ``amx_bf16``), ``torch.cpu._is_avx512_bf16_supported()`` / ``_is_amx_tile_supported()``,
    then oneDNN's ``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` (the check PyTorch's own inductor tests use).
    """
    import torch

    cpu = getattr(torch, "cpu", None)
    caps = _probe_value(getattr(cpu, "get_capabilities", None))
    if hasattr(caps, "get") and ("avx512_bf16" in caps or "amx_bf16" in caps):
        native = [k for k in ("avx512_bf16", "amx_bf16") if caps.get(k)]
        return bool(native), "torch.cpu.get_capabilities(): " + (", ".join(native) or "no avx512_bf16, no amx_bf16")
    answers = {n: _probe_value(getattr(cpu, n, None)) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")}
    answers = {n: bool(v) for n, v in answers.items() if v is not None}
    if answers:
        native = [n for n, v in answers.items() if v]
        return bool(native), "torch.cpu." + (f"{native[0]}() True" if native else "() False, ".join(answers) + "() False")
    mkldnn = getattr(getattr(torch, "backends", None), "mkldnn", None)
    if mkldnn is not None and _probe_value(getattr(mkldnn, "is_available", None)):
        ans = _probe_value(lambda: torch.ops.mkldnn._is_mkldnn_bf16_supported())
        if ans is not None:
            return bool(ans), f"torch.ops.mkldnn._is_mkldnn_bf16_supported() {bool(ans)}"
    return False, "no PyTorch probe reports native bf16 on this CPU"


def cuda_bf16_support() -> tuple[bool, str]:
    import torch

    ok = bool(_probe_value(torch.cuda.is_bf16_supported))
    return ok, f"CUDA device {_probe_name()}: torch.cuda.is_bf16_supported() {ok}"


def _probe_name() -> str:
    import torch

    try:
        return torch.cuda.get_device_name()
    except Exception:  # noqa: BLE001
        return "?"


def native_bf16(device_type: str) -> tuple[bool, str]:
    """Whether a device of this type (``"cuda"``, ``"cpu"``) computes bf16 natively, and why we think so."""
    return cuda_bf16_support() if device_type == "cuda" else cpu_bf16_support()


def forced_precision() -> str | None:
    """``RANKDISTILL_PRECISION`` (fp32 | bf16) when set: what every ``auto`` resolves to."""
    value = os.environ.get(PRECISION_ENV, "").strip().lower()
    if not value or value == "auto":
        return None
    if value not in FORCEABLE:
        from .errors import ConfigError

        raise ConfigError(f"{PRECISION_ENV}={value!r}: choose one of {', '.join(FORCEABLE)} (or unset it)")
    return value


def resolve_precision(requested: str, device_type: str, *, what: str = "precision", bf16: str = "bf16") -> Resolved:
    """``requested`` (``auto``, ``fp32``, ``bf16`` or a bf16 variant such as ``bf16-autocast``) on a device
    of type ``device_type``: the value to use and why, logged and remembered as ``what``.

    ``bf16`` is the value ``auto`` becomes where bf16 is native (the scorer passes its own spelling).
    """
    native, why = native_bf16(device_type)
    if requested == "auto":
        forced = forced_precision()
        if forced is not None:
            value = bf16 if forced == "bf16" else "fp32"
            reason = f"auto -> {value}: forced by {PRECISION_ENV}={forced} (native bf16 here: {native}; {why})"
        elif native:
            value, reason = bf16, f"auto -> {bf16}: {device_type} computes bf16 natively ({why})"
        else:
            value, reason = "fp32", f"auto -> fp32: no native bf16 on this {device_type} ({why})"
        log.info("%s: %s", what, reason)
    else:
        value = requested
        if requested.startswith("bf16") and not native:
            reason = f"{requested} as configured, but this {device_type} has no native bf16 ({why})"
            log.warning("%s: %s: expect it to run %s; precision: auto would choose fp32 here", what, reason, SLOWDOWN)
        else:
            reason = f"{requested} as configured"
            log.info("%s: %s", what, reason)
    choice = Resolved(requested, value, reason)
    remember(what, choice)
    return choice


# Training a model this narrow (hidden size) gains little from a second thread: its matrix products are too
# small to split well, and a thread preempted by any other process stalls the other at every barrier (measured
# on 2 busy cores: BERT-tiny, hidden 128, took 5x the CPU time with 2 threads as with 1). Such jobs take one
# thread each and Snakemake runs several side by side instead.
NARROW_HIDDEN = 256


def training_threads(hidden: int | None, default: int) -> int:
    """Threads a training job asks Snakemake for: 1 for a narrow model (hidden size <= NARROW_HIDDEN), else
    ``default`` (Snakemake caps it at --cores; ``--set-threads train_student=N`` overrides it)."""
    return 1 if hidden is not None and hidden <= NARROW_HIDDEN else default


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def describe() -> dict:
    """The machine as the manifests record it: CPU model, cores, its bf16 flags, and PyTorch's view of
    bf16 and the GPU where the job has imported torch (a light job is not made to import it)."""
    flags = cpu_flags()
    info: dict = {"cpu": cpu_model(), "cpus": os.cpu_count(),
                  "cpu_bf16_flags": sorted(flags & {"avx512_bf16", "amx_bf16"})}
    torch = sys.modules.get("torch")
    if torch is None:
        return info
    info["cpu_bf16"], info["cpu_bf16_probe"] = cpu_bf16_support()
    info["cpu_capability"] = _probe_value(getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None))
    if _probe_value(torch.cuda.is_available):
        info["gpu"] = _probe_name()
        info["gpu_bf16"] = cuda_bf16_support()[0]
    return info


def host_memory_available() -> int:
    """Bytes of host memory available to a new allocation (``MemAvailable`` of ``/proc/meminfo``; elsewhere
    the physical memory that ``os.sysconf`` reports, or 8 GiB when nothing says)."""
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def available_memory(device) -> int:
    """Bytes free for tensors on ``device`` (a torch.device): the GPU's free memory, or the host's."""
    if getattr(device, "type", str(device)) == "cuda":
        import torch

        free = _probe_value(lambda: torch.cuda.mem_get_info(device)[0])
        if free is not None:
            return int(free)
    return host_memory_available()


def _probe_value(fn):
    """``fn()``, or ``None`` where ``fn`` is missing or fails (private probes move between versions)."""
    if fn is None:
        return None
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        log.debug("probe %s failed: %s", getattr(fn, "__name__", fn), e)
        return None
