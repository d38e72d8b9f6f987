"""The SLURM profile (profiles/slurm) against a real SLURM cluster, and its GPU/sbatch mapping.

The cluster tests need a running SLURM controller with an idle node: `.ci/start-slurm.sh` (root)
starts a one-node cluster on this machine (Debian slurm-wlm + munge, no accounting database, so
job status is queried with squeue). Without one (no sinfo/sacct/squeue, or no controller answering)
they skip with the reason; with RANKDISTILL_REQUIRE_SLURM=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, Workflow, tiny_config

pytestmark = pytest.mark.slurm

PROFILE = ROOT / "profiles" / "slurm"


def _plugin_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("snakemake_executor_plugin_slurm") is None


needs_plugin = pytest.mark.skipif(
    _plugin_missing(), reason="snakemake-executor-plugin-slurm is not installed: pip install -e '.[slurm]'"
)


def _unavailable(reason: str):
    """Skip, or fail where CI promised a cluster (RANKDISTILL_REQUIRE_SLURM=1, set by .ci/run)."""
    if os.environ.get("RANKDISTILL_REQUIRE_SLURM") == "1":
        pytest.fail(reason + " (RANKDISTILL_REQUIRE_SLURM=1)")
    pytest.skip(reason)


def _slurm_controller() -> str:
    """``sinfo``'s node list of a reachable controller; skips (or fails, see _unavailable) otherwise.

    The executor plugin runs SLURM's client tools before it reaches ``sbatch`` (``sacct`` to guess
    the account, ``sinfo``/``squeue`` for status), so even the stub-``sbatch`` tests need them.
    """
    if _plugin_missing():
        _unavailable("snakemake-executor-plugin-slurm is not installed: pip install -e '.[slurm]'")
    missing = [t for t in ("sinfo", "sacct", "squeue") if shutil.which(t) is None]
    if missing:
        _unavailable(f"no SLURM cluster: {', '.join(missing)} not found (the executor plugin calls them before "
                     "sbatch); start a test cluster with: sudo bash .ci/start-slurm.sh")
    try:
        p = subprocess.run(["sinfo", "-h", "-N", "-o", "%P|%T|%c|%m"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        _unavailable("no SLURM controller reachable (sinfo timed out); start it with: sudo bash .ci/start-slurm.sh")
    if p.returncode != 0:
        _unavailable(f"SLURM is not up (sinfo failed: {p.stderr.strip()[:200]}); start it with: sudo bash .ci/start-slurm.sh")
    return p.stdout


@pytest.fixture(scope="module")
def slurm_tools() -> None:
    """SLURM's client tools and a reachable controller (skips otherwise, fails under RANKDISTILL_REQUIRE_SLURM=1)."""
    _slurm_controller()


@pytest.fixture(scope="module")
def slurm_cluster() -> dict:
    """The default partition of a running cluster with an idle node (skips otherwise)."""
    out = _slurm_controller()
    nodes = [line.split("|") for line in out.split()]
    up = [n for n in nodes if n[1] in ("idle", "mixed")]
    if not up:
        _unavailable(f"no idle SLURM node (sinfo: {out.strip()}); start it with: sudo bash .ci/start-slurm.sh")
    default = [n for n in up if n[0].endswith("*")] or up
    part, _, cpus, mem = default[0]
    return {"partition": part.rstrip("*"), "cpus": int(cpus), "mem_mb": int(mem)}


def _partition_file(path: Path, cluster: dict) -> Path:
    """The test cluster's single partition in the plugin's partition-config format."""
    path.write_text(yaml.safe_dump({"partitions": {cluster["partition"]: {
        "max_threads": cluster["cpus"], "max_mem_mb": cluster["mem_mb"], "max_runtime": 600}}}))
    return path


def _slurm_args(cluster: dict, partitions: Path) -> list[str]:
    """The profile plus what a cluster without accounting and with few CPUs needs."""
    return [
        "--profile", str(PROFILE),
        "--slurm-status-command", "squeue",        # no slurmdbd: sacct cannot answer
        "--slurm-partition-config", str(partitions),
        "--slurm-init-seconds-before-status-checks", "2",
        "--seconds-between-status-checks", "2",
        "--slurm-keep-successful-logs",
        "--max-threads", str(cluster["cpus"]),     # rules ask for up to 4 threads; the node may have fewer
        "--latency-wait", "10",
        "--jobs", "4",
    ]


def _run(cwd: Path, args: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        logs = "\n".join(f"--- {f}\n{f.read_text()[-2000:]}" for f in (cwd / ".snakemake" / "slurm_logs").rglob("*.log"))
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{p.stdout[-3000:]}\n{p.stderr[-6000:]}\n{logs}")
    return p


@pytest.mark.slow
def test_tiny_workflow_on_slurm_matches_local(tmp_path, slurm_cluster):
    """The tiny config's whole DAG goes through sbatch and gives the same table as a local run."""
    local = Workflow(tmp_path / "local", tiny_config())
    local.snakemake("results/table.tex")

    cluster = Workflow(tmp_path / "cluster", tiny_config())
    parts = _partition_file(tmp_path / "partitions.yaml", slurm_cluster)
    p = _run(cluster.root, [*_slurm_args(slurm_cluster, parts), "results/table.tex"])
    out = p.stdout + p.stderr

    # every job was a SLURM job (one log per job, kept), in the partition chosen from the config
    logs = cluster.root / ".snakemake" / "slurm_logs"
    ran = {d.name.removeprefix("rule_") for d in logs.iterdir() if d.is_dir()}
    expected = {"collection", "query_set", "index_bm25", "retrieve_bm25", "evaluate", "table"}
    assert expected <= ran, f"rules without a SLURM log: {expected - ran}"
    assert f"Auto-selected partition '{slurm_cluster['partition']}'" in out
    assert "Falling back to 'sacct'" not in out

    for name in ("table.tex", "table.csv", "table.md"):
        assert (cluster.root / "results" / name).read_text() == (local.root / "results" / name).read_text(), name
    # and the cluster run is complete: nothing left to do
    assert cluster.jobs("results/table.tex") == {}


FLAKY_SNAKEFILE = """
from rankdistill.workflow import per_attempt


rule all:
    input:
        "flaky.txt",


rule flaky:
    output:
        "flaky.txt",
    log:
        "flaky.log",
    resources:
        mem_mb=per_attempt(300),
        runtime=per_attempt(2),
    shell:
        # runs inside a SLURM job; fails on the first attempt, succeeds with the doubled memory
        "echo job=$SLURM_JOB_ID mem={resources.mem_mb} > {log}; test -n $SLURM_JOB_ID; "
        "test {resources.mem_mb} -ge 600; echo {resources.mem_mb} > {output}"
"""


@pytest.mark.slow
def test_retry_resubmits_with_more_memory(tmp_path, slurm_cluster):
    """A job that fails is resubmitted (profile retries) with the per_attempt-scaled memory and walltime."""
    (tmp_path / "Snakefile").write_text(FLAKY_SNAKEFILE)
    parts = _partition_file(tmp_path / "partitions.yaml", slurm_cluster)
    env_pp = str(ROOT / "src")
    p = subprocess.run([sys.executable, "-m", "snakemake", *_slurm_args(slurm_cluster, parts)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600,
                       env=os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [env_pp, os.environ.get("PYTHONPATH")]))})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    assert (tmp_path / "flaky.txt").read_text().strip() == "600"
    # SLURM saw two submissions of the rule: 300 MB / 2 min, then 600 MB / 4 min
    calls = re.findall(r"sbatch call: (.*)", p.stdout + p.stderr)
    if calls:  # the plugin logs its sbatch calls only at debug level; use squeue's record otherwise
        assert any("--mem 300" in c for c in calls) and any("--mem 600" in c for c in calls)
    logs = sorted((tmp_path / ".snakemake" / "slurm_logs" / "rule_flaky").rglob("*.log"))
    assert len(logs) == 2, [str(f) for f in logs]
    jobids = [f.stem for f in logs]
    q = subprocess.run(["squeue", "--states=all", "--noheader", "-o", "%i|%m|%l|%T", "-j", ",".join(jobids)],
                       capture_output=True, text=True, timeout=30)
    rows = {r.split("|")[0]: r.split("|")[1:] for r in q.stdout.split()}
    assert sorted(v[0] for v in rows.values()) == ["300M", "600M"], rows
    assert sorted(v[1] for v in rows.values()) == ["2:00", "4:00"], rows


# ---------------------------------------------------------------------------------------------
# sbatch command construction for GPU rules: a stub sbatch records the call (submits nothing), but
# the plugin calls sacct/sinfo first, so these need SLURM's tools and controller (slurm_tools)

GPU_SNAKEFILE = """
from rankdistill.workflow import per_attempt


rule all:
    input:
        "cpu.txt",
        "gpu.txt",


rule prepare:
    output:
        "cpu.txt",
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    shell:
        "touch {output}"


rule train:
    output:
        "gpu.txt",
    threads: 4
    resources:
        mem_mb=per_attempt(32000),
        runtime=per_attempt(600),
        gpu=1,
    shell:
        "touch {output}"
"""


def _stub_sbatch_calls(tmp_path: Path, *extra: str) -> dict[str, str]:
    """Submit both rules through the profile to a stub sbatch; rule name -> its sbatch command line."""
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "Snakefile").write_text(GPU_SNAKEFILE)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "sbatch_calls.txt"
    stub = bindir / "sbatch"
    stub.write_text(f'#!/bin/sh\necho "sbatch $*" >> {record}\necho "stub sbatch: not submitting" >&2\nexit 1\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = os.environ | {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
                        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "snakemake", "--profile", str(PROFILE), "--retries", "0",
                    "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1", *extra],
                   cwd=wd, capture_output=True, text=True, timeout=300, env=env)
    calls = {}
    for line in record.read_text().splitlines() if record.exists() else []:
        m = re.search(r"--comment '?rule_(\w+)", line)
        if m:
            calls[m.group(1)] = line
    return calls


def test_gpu_rule_gets_gpu_partition_gpus_and_cpus_per_gpu(tmp_path, slurm_tools):
    """`resources: gpu=1` -> GPU partition (partitions.yaml), --gpus=1, --cpus-per-gpu=<threads>."""
    calls = _stub_sbatch_calls(tmp_path)
    assert set(calls) == {"prepare", "train"}, calls
    gpu, cpu = calls["train"], calls["prepare"]
    assert " -p gpu " in gpu and "--gpus=1" in gpu and "--cpus-per-gpu=4" in gpu
    assert "--mem 32000" in gpu and " -t 600" in gpu
    assert "--cpus-per-task" not in gpu and "--gres" not in gpu
    assert " -p cpu " in cpu and "--cpus-per-task=2" in cpu and "--mem 4000" in cpu
    assert "--gpus" not in cpu and "--cpus-per-gpu" not in cpu


def test_gres_only_site_override(tmp_path, slurm_tools):
    """The profile's documented override for --gres clusters: gres set, gpu 0 -> no --gpus."""
    calls = _stub_sbatch_calls(tmp_path, "--set-resources", "train:gres=gpu:a100:1", "train:gpu=0")
    gpu = calls["train"]
    assert "--gres=gpu:a100:1" in gpu and "--gpus" not in gpu and " -p gpu " in gpu


def _dry_run_jobs(stdout: str) -> list[dict]:
    """Jobs of a dry run's printout: rule, threads and resources (as Snakemake evaluated them)."""
    jobs = []
    for block in stdout.split("\n\n"):
        m = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        r = re.search(r"^\s+resources: (.*)$", block, re.M)
        if not m or not r or m.group(1) == "all":
            continue
        res = {}
        for item in r.group(1).split(", "):
            k, _, v = item.partition("=")
            res[k] = int(v) if v.isdigit() else v
        t = re.search(r"^\s+threads: (\d+)", block, re.M)
        jobs.append({"rule": m.group(1), "threads": int(t.group(1)) if t else 1, "resources": res})
    return jobs


class _Resources(dict):
    __getattr__ = dict.__getitem__


@needs_plugin
@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/paper.yaml"])
def test_real_gpu_rules_get_gpu_sbatch_options(tmp_path, configfile):
    """The workflow's own GPU rules (dry run through the profile) -> sbatch lines the plugin builds."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    wf = Workflow(tmp_path / "wf", yaml.safe_load((ROOT / configfile).read_text()))
    p = wf.snakemake("-n", "--profile", str(PROFILE), "--slurm-status-command", "squeue", "results/table.tex")
    jobs = _dry_run_jobs(p.stdout)
    assert jobs, p.stdout[-2000:]
    partitions = read_partition_file(PROFILE / "partitions.yaml")
    logger = SimpleNamespace(info=lambda *a: None, warning=lambda *a: None, debug=lambda *a: None)
    gpu_rules = set()
    for j in jobs:
        job = SimpleNamespace(name=j["rule"], threads=j["threads"], resources=_Resources(j["resources"]))
        part = get_best_partition(partitions, job, logger)
        call = get_submit_command(job, {"run_uuid": "u", "slurm_logfile": "l", "comment_str": "c", "account": "",
                                        "partition": f"-p {part}", "workdir": "w"}) + set_gres_string(job)
        mem = j["resources"]["mem_mb"]
        assert f"--mem {mem}" in call and f" -t {j['resources']['runtime']}" in call, (j, call)
        if j["resources"].get("gpu"):
            gpu_rules.add(j["rule"])
            assert part == "gpu" and "--gpus=1" in call and f"--cpus-per-gpu={max(j['threads'], 1)}" in call, (j, call)
            assert "--cpus-per-task" not in call
        else:
            assert part == "cpu" and "--gpus" not in call and f"--cpus-per-task={j['threads']}" in call, (j, call)
    assert gpu_rules, "no GPU rule in the DAG"


def test_profiles_parse_and_dry_run(workflow_factory):
    """Both profiles are valid for this Snakemake (dry run of the tiny config through each)."""
    wf = workflow_factory(tiny_config())
    shutil.copytree(ROOT / "profiles", wf.root / "profiles")
    p = wf.snakemake("-n", "--profile", "profiles/local", "results/table.tex")
    assert "table" in p.stdout
    if not _plugin_missing():
        p = wf.snakemake("-n", "--profile", "profiles/slurm", "--slurm-status-command", "squeue", "results/table.tex")
        assert "retrieve_bm25" in p.stdout


def test_per_attempt_grows_linearly():
    from rankdistill.workflow import per_attempt

    f = per_attempt(8000)
    assert [f(None, a) for a in (1, 2, 3)] == [8000, 16000, 24000]


def test_start_slurm_script_is_valid_bash():
    p = subprocess.run(["bash", "-n", str(ROOT / ".ci" / "start-slurm.sh")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    text = (ROOT / ".ci" / "start-slurm.sh").read_text()
    assert "accounting_storage/none" in text and "select/cons_tres" in text and "MinJobAge" in text
