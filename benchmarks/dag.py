"""How long building the DAG takes: `snakemake -n` of a config (default: the paper's), split into the
workflow's own share (Snakefile, rule files, rankdistill.config / codegraph) and Snakemake's.

    python benchmarks/dag.py [--configfile config/paper.yaml] [--repeat 3]

Baseline: `snakemake --version` (importing Snakemake and its plugins, no workflow) in the same run.
Snakemake's SLURM executor plugin queries SLURM when it is imported; on a machine with the SLURM
client tools but no reachable controller that alone takes seconds, so the figures are printed both
with the normal PATH and with the SLURM tools hidden from it (what a laptop or a login node sees).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(cmd: list[str], env: dict, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configfile", default="config/paper.yaml")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    results = tempfile.mkdtemp(prefix="rankdistill-dag-")
    dry = [sys.executable, "-m", "snakemake", "-n", "-q", "--nolock", "--configfile", a.configfile,
           "--config", f"results={results}/results"]
    version = [sys.executable, "-m", "snakemake", "--version"]
    hidden = tempfile.mkdtemp(prefix="rankdistill-path-")
    for tool in ("which", "sh", "bash", "git", "uname"):
        if shutil.which(tool):
            os.symlink(shutil.which(tool), os.path.join(hidden, tool))
    envs = {"normal PATH": dict(os.environ),
            "SLURM tools hidden": dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{hidden}")}
    for label, env in envs.items():
        base = _time(version, env, a.repeat)
        full = _time(dry, env, a.repeat)
        print(f"{label:>20}: snakemake -n {a.configfile}: {full:.2f} s (best of {a.repeat}); "
              f"snakemake --version: {base:.2f} s; the workflow's share: {full - base:.2f} s "
              f"({full / base:.2f}x the baseline)")
    shutil.rmtree(results, ignore_errors=True)
    shutil.rmtree(hidden, ignore_errors=True)


if __name__ == "__main__":
    main()
