"""The CPU chain at MS MARCO scale: collection -> store -> PISA index -> BM25 retrieval -> distillation
set -> stage-1 index -> evaluation, on synthetic collections with MS MARCO's passage-length distribution.

For each size it writes a ``collection.tsv`` (MS MARCO's ``docno<TAB>text`` layout) and a query set, then
runs every stage through the package API (the functions the rules call) **in its own process**, and
reports per stage: wall time, throughput, peak RSS of that process (and its children), disk use of
its output, and, between two sizes, the growth exponent ``log(x2/x1) / log(n2/n1)`` of time and of
memory (0: flat in corpus size, 1: linear).

    python benchmarks/scale.py                                  # 100k and 1M passages, 10k queries
    python benchmarks/scale.py --sizes 100000 1000000 8841823 --queries 10000 --json scale.json
    python benchmarks/scale.py --sizes 2000 --queries 50        # the quick check the test suite runs

Synthetic passages: word counts drawn from a log-normal with MS MARCO passage's mean (56 words) and
spread (sd 25; clipped to 3..250), words from a Zipf(1.1) vocabulary of 300k types (letter strings).
Queries (3-7 words, MS MARCO's 6 on average) are drawn from the words of one passage each, which is
their single relevant passage (grade 1), so BM25 finds most of them. The distillation set takes the
BM25 run as its teacher (a ``first_stage`` distillation set, as ``distill_sets: {kind: first_stage}``)
with the paper's depth 100; the stage-1 index is the one :class:`rankdistill.students.data.Stage1Data`
builds (depth 200 of the run; here the run has 100). Timings on a shared machine are contended: compare
exponents and ratios within one run, not absolute seconds across machines.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
STAGES = ("collection", "index", "retrieve", "distill", "stage1", "evaluate")
MEAN_WORDS, SD_WORDS, MIN_WORDS, MAX_WORDS = 56.0, 25.0, 3, 250
VOCAB, ZIPF = 300_000, 1.1


# --- data ------------------------------------------------------------------------------------------

def _vocabulary(n: int):
    """``n`` distinct letter strings, short ones for the frequent ranks (bijective base 26 of the rank)."""
    import numpy as np

    words = []
    for i in range(1, n + 1):
        w = ""
        while i:
            i, r = divmod(i - 1, 26)
            w = chr(97 + r) + w
        words.append("q" + w)  # a prefix: no word is an English stopword
    return np.array(words)


def passage_lengths(n: int, seed: int = 0):
    """``n`` word counts with MS MARCO passage's mean and spread (log-normal, clipped)."""
    import numpy as np

    sigma2 = math.log(1 + (SD_WORDS / MEAN_WORDS) ** 2)
    mu = math.log(MEAN_WORDS) - sigma2 / 2
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.lognormal(mu, math.sqrt(sigma2), n)), MIN_WORDS, MAX_WORDS).astype(np.int64)


def make_data(n: int, queries: int, folder: Path, seed: int = 0) -> dict:
    """Write ``collection.tsv``, ``queries.tsv`` and ``qrels.txt`` for ``n`` passages into ``folder``."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    vocab = _vocabulary(VOCAB)
    p = 1.0 / np.arange(1, VOCAB + 1) ** ZIPF
    cdf = np.cumsum(p / p.sum())
    rng = np.random.default_rng(seed)
    lengths = passage_lengths(n, seed)
    targets = np.sort(rng.choice(n, size=min(queries, n), replace=False))
    tset = {int(t): k for k, t in enumerate(targets)}
    qwords: dict[int, list[str]] = {}
    t0 = time.perf_counter()
    with open(folder / "collection.tsv", "w", encoding="utf-8") as f:
        block = 50_000
        for start in range(0, n, block):
            ls = lengths[start:start + block]
            ids = np.searchsorted(cdf, rng.random(int(ls.sum())))
            words = vocab[np.minimum(ids, VOCAB - 1)]
            offs = np.concatenate([[0], np.cumsum(ls)])
            lines = []
            for j in range(len(ls)):
                w = words[offs[j]:offs[j + 1]]
                i = start + j
                if i in tset:
                    k = int(rng.integers(3, 8))
                    qwords[i] = list(rng.choice(w, size=min(k, len(w)), replace=False))
                lines.append(f"{i}\t{' '.join(w)}\n")
            f.writelines(lines)
    with open(folder / "queries.tsv", "w", encoding="utf-8") as fq, open(folder / "qrels.txt", "w") as fr:
        for k, t in enumerate(targets):
            fq.write(f"q{k}\t{' '.join(qwords[int(t)])}\n")
            fr.write(f"q{k} 0 {int(t)} 1\n")
    return {"passages": n, "queries": len(targets), "words_mean": float(lengths.mean()),
            "words_median": float(np.median(lengths)), "generate_s": time.perf_counter() - t0,
            "collection_mb": (folder / "collection.tsv").stat().st_size / 1e6}


# --- one stage, in this process --------------------------------------------------------------------

def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_stage(stage: str, d: Path, threads: int) -> dict:
    """Run one stage on the files in ``d`` via the package API; returns what it produced and its units."""
    out: Path
    if stage == "collection":
        from rankdistill.datasets.build import build_collection

        out = d / "docs.sqlite"
        units = build_collection({"kind": "local", "path": str(d / "collection.tsv"), "format": "tsv",
                                  "text_fields": ["text"], "empty_text": "keep"}, out)
        unit = "passages"
    elif stage == "index":
        from rankdistill.retrieval.bm25 import build_index

        out = d / "index"
        build_index(d / "docs.sqlite", out, "pisa", threads=threads)
        units, unit = json.loads((out / "index.json").read_text())["documents"], "passages"
    elif stage == "retrieve":
        from rankdistill.retrieval.bm25 import retrieve

        out = d / "bm25.run"
        before = _du(d / "index")
        units, unit = retrieve(d / "index", d / "queries.tsv", out, depth=100, threads=threads)["queries"], "queries"
        # PISA compresses the index (and its WAND data) on first use, into the index folder: count it here
        return {"units": int(units), "unit": unit, "disk_mb": (_du(out) + _du(d / "index") - before) / 1e6,
                "output": str(out)}
    elif stage == "distill":
        from rankdistill.distill import build_distill_set

        out = d / "distill.parquet"
        stats = build_distill_set(d / "bm25.run", d / "bm25.run", d / "queries.tsv", out, d / "distill.run",
                                  d / "distill.json", num_queries=None, depth=100, mode="projection", seed=42)
        units, unit = stats["pairs"], "pairs"
    elif stage == "stage1":
        from rankdistill.datasets.queries import read_qrels, read_queries
        from rankdistill.students.data import Stage1Data

        out = d / "stage1"
        qs = read_queries(d / "queries.tsv")
        data = Stage1Data(d / "bm25.run", read_qrels(d / "qrels.txt"), dict(zip(qs["qid"], qs["query"])),
                          negatives=7, depth=200, min_relevance=1, seed=0, index_dir=out)
        units, unit = len(data.qids), "queries"
    elif stage == "evaluate":
        from rankdistill.evaluate import evaluate_run

        out = d / "eval.tsv"
        df = evaluate_run(d / "bm25.run", d / "qrels.txt", out, ["nDCG@10", "RR@10", "R@100"])
        units, unit = int(df["qid"].nunique()), "queries"
    else:
        raise SystemExit(f"unknown stage {stage!r}; one of {STAGES}")
    return {"units": int(units), "unit": unit, "disk_mb": _du(out) / 1e6, "output": str(out)}


_IMPORTS = {"collection": ["rankdistill.datasets.build"],
            "index": ["rankdistill.retrieval.bm25", "pyterrier_pisa"],
            "retrieve": ["rankdistill.retrieval.bm25", "pyterrier_pisa"],
            "distill": ["rankdistill.distill"], "stage1": ["rankdistill.students.data"],
            "evaluate": ["rankdistill.evaluate", "ir_measures"]}


class _Sampler:
    """Peak anonymous and file-backed resident memory of this process, sampled from /proc every 50 ms.

    ``ru_maxrss`` (VmHWM) counts the pages of memory-mapped files a stage reads (PISA's index files, SQLite's
    file) as well as what it allocates; only the anonymous part is memory the stage needs, the file-backed
    part is page cache the kernel can drop."""

    def __init__(self):
        import threading

        self.anon = self.file = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _read(self):
        try:
            with open("/proc/self/status") as f:
                kv = dict(line.split(":", 1) for line in f if line.startswith(("RssAnon", "RssFile", "RssShmem")))
        except OSError:
            return
        self.anon = max(self.anon, int(kv.get("RssAnon", "0 kB").split()[0]) / 1024)
        self.file = max(self.file, int(kv.get("RssFile", "0 kB").split()[0]) / 1024)

    def _run(self):
        while not self._stop.wait(0.05):
            self._read()

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._t.join()
        self._read()
        return self.anon, self.file


def _vm_hwm() -> float:
    """This process's peak resident memory in MB (VmHWM: per address space, so unlike ``ru_maxrss`` it does
    not start from the parent's size at fork, which a fork + exec inherits)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(stage: str, d: Path, threads: int) -> None:
    import importlib
    import logging

    logging.basicConfig(level=logging.WARNING)
    for m in _IMPORTS.get(stage, []):  # imports are not the stage's time (they are in its memory floor)
        importlib.import_module(m)
    sampler = _Sampler()
    t = time.perf_counter()
    info = run_stage(stage, d, threads)
    info["wall_s"] = time.perf_counter() - t
    info["peak_anon_mb"], info["peak_file_mb"] = sampler.stop()
    info["peak_rss_mb"] = max(_vm_hwm(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print("RESULT " + json.dumps(info), flush=True)


def _baseline_rss() -> float:
    """Peak RSS of a process that only imports what the stages import (the floor every stage pays)."""
    code = ("import rankdistill.datasets.build, rankdistill.retrieval.bm25, rankdistill.distill, "
            "rankdistill.students.data, rankdistill.evaluate, pyterrier_pisa, ir_measures, sys; "
            f"sys.path.insert(0, {str(HERE.parent)!r}); import scale; print(scale._vm_hwm())")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def measure(n: int, queries: int, work: Path, threads: int, keep: bool = False) -> dict:
    d = work / f"n{n}"
    shutil.rmtree(d, ignore_errors=True)
    p = subprocess.run([sys.executable, str(HERE), "--_generate", str(n), "--queries", str(queries), "--_dir", str(d)],
                       capture_output=True, text=True)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not line:
        raise SystemExit(f"generating {n} passages failed:\n{p.stderr[-3000:]}")
    data = json.loads(line[-1][7:])
    rows = {"data": data, "stages": {}}
    for stage in STAGES:
        p = subprocess.run([sys.executable, str(HERE), "--_stage", stage, "--_dir", str(d), "--threads", str(threads)],
                           capture_output=True, text=True)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        if p.returncode != 0 or not line:
            raise SystemExit(f"stage {stage} at {n} passages failed:\n{p.stderr[-3000:]}")
        info = json.loads(line[-1][7:])
        info["per_s"] = info["units"] / info["wall_s"] if info["wall_s"] > 0 else None
        rows["stages"][stage] = info
        print(f"  {n:>9} {stage:<10} {info['wall_s']:8.1f} s {info['per_s']:>10.0f} {info['unit']}/s "
              f"{info['peak_rss_mb']:8.0f} MB RSS ({info['peak_anon_mb']:.0f} anon, {info['peak_file_mb']:.0f} file) "
              f"{info['disk_mb']:9.1f} MB disk", flush=True)
    if not keep:
        shutil.rmtree(d, ignore_errors=True)
    return rows


def exponents(a: dict, b: dict) -> dict:
    """Growth exponents of each stage's wall time and peak RSS between sizes ``a`` and ``b``."""
    na, nb = a["data"]["passages"], b["data"]["passages"]
    out = {}
    for s in STAGES:
        x, y = a["stages"][s], b["stages"][s]
        out[s] = {k: math.log(y[k] / x[k]) / math.log(nb / na) if x[k] > 0 and y[k] > 0 else None
                  for k in ("wall_s", "peak_rss_mb", "peak_anon_mb", "disk_mb")}
        # above the floor every process pays (interpreter + imports): what the stage itself holds
        fa, fb = x["peak_rss_mb"] - a["floor_mb"], y["peak_rss_mb"] - b["floor_mb"]
        out[s]["rss_above_floor"] = math.log(fb / fa) / math.log(nb / na) if fa > 1 and fb > 1 else None
    return out


def table(results: list[dict]) -> str:
    lines = ["| passages | stage | wall s | throughput | peak RSS MB | of it anonymous MB | disk MB |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        n = r["data"]["passages"]
        for s in STAGES:
            i = r["stages"][s]
            lines.append(f"| {n:,} | {s} | {i['wall_s']:.1f} | {i['per_s']:,.0f} {i['unit']}/s | "
                         f"{i['peak_rss_mb']:,.0f} | {i['peak_anon_mb']:,.0f} | {i['disk_mb']:,.1f} |")
    return "\n".join(lines)


def main(argv=None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1, help="PISA indexing and retrieval threads")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep each size's files")
    ap.add_argument("--json", type=Path, default=None, help="write all figures here")
    ap.add_argument("--_stage", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_dir", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_generate", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._generate:
        print("RESULT " + json.dumps(make_data(a._generate, a.queries, a._dir)), flush=True)
        return None
    if a._stage:
        _child(a._stage, a._dir, a.threads)
        return None
    work_ctx = tempfile.TemporaryDirectory(prefix="rankdistill-scale-") if a.work is None else None
    work = Path(work_ctx.name) if work_ctx else a.work
    work.mkdir(parents=True, exist_ok=True)
    floor = _baseline_rss()
    print(f"floor (interpreter + the stages' imports): {floor:.0f} MB RSS; {os.cpu_count()} CPUs", flush=True)
    results = []
    for n in a.sizes:
        r = measure(n, a.queries, work, a.threads, a.keep)
        r["floor_mb"] = floor
        results.append(r)
    report = {"sizes": a.sizes, "queries": a.queries, "threads": a.threads, "cpus": os.cpu_count(),
              "floor_mb": floor, "results": results,
              "exponents": {f"{x['data']['passages']}->{y['data']['passages']}": exponents(x, y)
                            for x, y in zip(results, results[1:])}}
    print(table(results))
    for k, e in report["exponents"].items():
        print(f"growth exponents {k}: " + ", ".join(
            f"{s} time {v['wall_s']:.2f} rss {v['peak_rss_mb']:.2f} anon {v['peak_anon_mb']:.2f} (rss above floor "
            f"{'-' if v['rss_above_floor'] is None else format(v['rss_above_floor'], '.2f')})" for s, v in e.items()))
    if a.json:
        a.json.write_text(json.dumps(report, indent=2))
    if work_ctx:
        work_ctx.cleanup()
    return report


if __name__ == "__main__":
    main()
