"""The embedded default, cold, as a new user runs it, and the three conditions its students must meet.

  python benchmarks/default_cold.py                      # clone HEAD to a temporary folder, run README command 1 there
  python benchmarks/default_cold.py --precision fp32     # the same with every `precision: auto` forced to fp32,
                                                         # as on a CPU without native bf16 (RANKDISTILL_PRECISION)
  python benchmarks/default_cold.py --results results    # only check an existing run's tables

A cold run clones this repository's HEAD, runs ``./install.sh && . .venv/bin/activate && snakemake --cores 8
results/table.tex`` (the README's first command) under a wall clock, then builds ``results/ablation_bm25.csv``
(BM25 as the significance baseline). The check reads ``results/table.csv`` and that ablation table:

1. every two-stage student (one with ``stage1``) beats the first stage it re-ranks in every column, and every
   student beats BM25 in every BM25 column;
2. the best student beats BM25 by >= 0.05 nDCG@10 in every BM25 column, significantly (ablation ``bm25``);
3. every student is within 0.02 of the ranker its distillation set learns from, in every cell where that
   ranker has a row (or beats it).

Prints one JSON object (the machine: CPU model, cores, its bf16 flags and PyTorch's verdict; the precision
every training job resolved and why; the wall times, the slowest rules, ``within_10_minutes`` and
``within_15_minutes``; each condition and its offending cells) and exits 1 when a condition or the 15-minute
bound fails.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEASURE = "nDCG@10"


class MissingTable(Exception):
    """A table the check reads has not been built."""


def _values(csv: Path):
    import pandas as pd

    if not csv.exists():
        raise MissingTable(f"{csv} is missing: build it with `snakemake --cores 8 {csv.parent.name}/{csv.name}` "
                           f"(or `snakemake --cores 8`, rule all) first")
    t = pd.read_csv(csv)
    t = t[t["measure"] == MEASURE]
    return t.set_index(["system", "first_stage", "query_set"])


def check_tables(results: Path, config: dict, margin: float = 0.05, tolerance: float = 0.02,
                 bm25: str = "bm25") -> dict:
    """The three conditions on ``results/table.csv`` and ``results/ablation_bm25.csv`` (see the module doc)."""
    main = _values(results / "table.csv")
    abl = _values(results / "ablation_bm25.csv")
    students = config.get("students") or {}
    value = main["value"].to_dict()
    cells = sorted({(fs, qs) for _, fs, qs in value})
    out = {"above_first_stage": [], "above_bm25": [], "best_margin": {}, "teacher_gap": []}
    for s, st in students.items():
        ds = (config.get("distill_sets") or {}).get(st.get("distill_set")) or {}
        teacher = ds.get("ranker") if ds.get("kind") == "first_stage" else ds.get("teacher")
        for fs, qs in cells:
            v = value.get((s, fs, qs))
            if v is None:
                continue
            first = value.get((fs, fs, qs))
            if st.get("stage1") and first is not None and not v > first:
                out["above_first_stage"].append(f"{s} {fs} {qs}: {v:.4f} <= {fs} {first:.4f}")
            if fs == bm25 and not v > value[(bm25, bm25, qs)]:
                out["above_bm25"].append(f"{s} {qs}: {v:.4f} <= BM25 {value[(bm25, bm25, qs)]:.4f}")
            t = value.get((teacher, fs, qs))
            if t is not None and v < t - tolerance:
                out["teacher_gap"].append(f"{s} {fs} {qs}: {v:.4f} < {teacher} {t:.4f} - {tolerance}")
    bm25_cells = [(fs, qs) for fs, qs in cells if fs == bm25]
    for s in students:
        ok = []
        for fs, qs in bm25_cells:
            key = (s, fs, qs)
            if key not in abl.index:
                break
            row = abl.loc[key]
            ok.append((float(row["value"]) - value[(bm25, bm25, qs)], bool(row["significant"])))
        if ok and len(ok) == len(bm25_cells):
            out["best_margin"][s] = [round(m, 4) for m, _ in ok] if all(sig for _, sig in ok) else None
    winners = [s for s, m in out["best_margin"].items() if m is not None and min(m) >= margin]
    out["conditions"] = {
        "two_stage_above_first_stage_and_all_above_bm25": not out["above_first_stage"] and not out["above_bm25"],
        f"best_student_{margin}_over_bm25_significant": bool(winners),
        f"within_{tolerance}_of_teacher": not out["teacher_gap"],
    }
    out["best_students"] = winners
    return out


def machine() -> dict:
    """This machine as the manifests describe it (CPU model, cores, bf16 flags, PyTorch's bf16 verdict)."""
    import torch  # noqa: F401  (describe() reports PyTorch's probes only where torch is loaded)

    from rankdistill import hardware

    return hardware.describe()


def resolved_precisions(results: Path) -> dict:
    """What ``precision`` each trained model resolved to, and why (its ``train.json``)."""
    out = {}
    for f in sorted(results.glob("models/**/train.json")):
        info = json.loads(f.read_text())
        out[str(f.parent.relative_to(results))] = f"{info.get('precision')}: {info.get('precision_reason', '?')}"
    return out


def rule_seconds(results: Path, top: int = 8) -> dict:
    """Wall seconds per rule summed over its jobs (Snakemake's ``benchmark:`` files), the slowest first."""
    per: dict[str, list[float]] = {}
    for f in results.glob("benchmarks/**/*.tsv"):
        rows = list(csv.DictReader(f.open(), delimiter="\t"))
        if rows:
            rule = f.relative_to(results / "benchmarks").parts[0].removesuffix(".tsv")
            per.setdefault(rule, []).append(float(rows[0]["s"]))
    ranked = sorted(per.items(), key=lambda kv: -sum(kv[1]))[:top]
    return {rule: {"jobs": len(v), "seconds": round(sum(v), 1)} for rule, v in ranked}


def cold_run(work: Path, precision: str = "auto") -> dict:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
    env = dict(os.environ)
    env.pop("RANKDISTILL_PRECISION", None)
    if precision != "auto":
        env["RANKDISTILL_PRECISION"] = precision
    t0 = time.perf_counter()
    cmd = "./install.sh && . .venv/bin/activate && snakemake --cores 8 results/table.tex"
    r = subprocess.run(["bash", "-c", cmd], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=env)
    wall = time.perf_counter() - t0
    (work / "cold.log").write_text(r.stdout)
    if r.returncode:
        raise SystemExit(f"README command 1 failed (rc {r.returncode}); log: {work / 'cold.log'}")
    subprocess.run(["bash", "-c", ". .venv/bin/activate && snakemake --cores 8 results/ablation_bm25.csv"], cwd=work,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return {"clone": str(work), "forced_precision": None if precision == "auto" else precision,
            "cold_seconds": round(wall, 1), "within_10_minutes": wall <= 600, "within_15_minutes": wall <= 900}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=None, help="check this results/ folder instead of a cold run")
    p.add_argument("--keep", type=Path, default=None, help="clone into this (new) folder and keep it")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="force every `precision: auto` to this (RANKDISTILL_PRECISION): fp32 measures a CPU "
                        "without native bf16 on any machine")
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    from rankdistill.config.loading import load

    config = load(ROOT / "config" / "config.yaml")
    fig: dict = {"machine": machine()}
    if a.results is None:
        if a.keep:
            work = a.keep
        else:
            work = Path(tempfile.mkdtemp(prefix="rankdistill-cold-")) / "clone"
        fig.update(cold_run(work, a.precision))
        results = work / "results"
    else:
        results = a.results
    fig["precision"] = resolved_precisions(results)
    fig["slowest_rules"] = rule_seconds(results)
    try:
        fig.update(check_tables(results, config))
    except MissingTable as e:
        print(f"default_cold: {e}", file=sys.stderr)
        return 2
    print(json.dumps(fig, indent=1))
    ok = all(fig["conditions"].values()) and fig.get("within_15_minutes", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
