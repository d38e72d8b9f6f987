"""Correctness of the CPU runtimes: each engine's scores against torch fp32 on the same TREC DL 2019 pairs.

For a cross-encoder folder (a trained student; default: MiniLM with a fresh head, which ranks no better than
chance and so tests agreement only), re-ranks DL19's BM25 top-``depth`` with torch fp32 (padded) and each CPU
engine (:mod:`rankdistill.students.cpu`, converted by :func:`~rankdistill.students.cpu.convert`), and prints one
JSON object: per engine the max |score difference|, the mean per-query Spearman correlation with fp32, nDCG@10
and its difference from fp32's (the bound for int8: 0.005).

  python benchmarks/cpu_accuracy.py --model results/models/students/<name> --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="a cross-encoder folder (default: MiniLM with a fresh head)")
    ap.add_argument("--engines", nargs="*", default=["onnx", "onnx-int8", "openvino"])
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default=None, help="folder for the converted models")
    a = ap.parse_args()
    import pandas as pd
    import torch

    from rankdistill.evaluate import per_query
    from rankdistill.runs import cut, read_run
    from rankdistill.students import cpu
    from rankdistill.students.model import CrossEncoder
    from rankdistill.students.rerank import rerank_frame

    torch.set_num_threads(a.threads)
    d = C.SHARED / "trec-dl" / "dl19"
    if not (d / "bm25-top100.run").exists():
        print(json.dumps({"skipped": f"TREC DL 2019 absent at {d}"}))
        raise SystemExit(2)
    tmp = Path(tempfile.mkdtemp(prefix="rd-acc-"))
    folder = a.model
    if folder is None:
        folder = str(tmp / "minilm")
        CrossEncoder.from_backbone(C.backbone_folder("minilm", tmp), 32, 256, seed=0).save_pretrained(folder)
    model = CrossEncoder.load(folder)
    texts = {}
    with open(d / "passages.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            texts[r["docno"]] = r["text"]

    class Store:
        def get_many(self, ids):
            return {i: texts[i] for i in ids}

    queries = dict(line.rstrip("\n").split("\t", 1) for line in open(d / "queries.tsv", encoding="utf-8"))
    qrels = pd.read_csv(d / "qrels.txt", sep=r"\s+", header=None, names=["qid", "iter", "docno", "label"],
                        dtype={"qid": str, "docno": str})
    run = cut(read_run(d / "bm25-top100.run"), a.depth)
    run = run[run.qid.isin(set(qrels.qid))]

    def ndcg(frame):
        return float(per_query(frame, qrels, ["nDCG@10"], 10)["value"].mean())

    ref = rerank_frame(model, run, queries, Store(), a.depth, device="cpu", engine="padded",
                       precision="fp32")  # the reference: fp32 even where auto would pick bf16
    out = {"model": folder, "pairs": len(ref), "queries": int(ref.qid.nunique()), "depth": a.depth,
           "cpu": cpu.cpu_flags(), "torch fp32": {"nDCG@10": round(ndcg(ref), 4)}, "bm25 nDCG@10": round(ndcg(run), 4)}
    cache = Path(a.cache or tmp / "cpu")
    for e in a.engines:
        cpu.convert(folder, cache / e, e)
        got = rerank_frame(model, run, queries, Store(), a.depth, device="cpu", engine=e,
                           cpu_model=cpu.CpuSession(cache / e, threads=a.threads))
        both = ref.merge(got, on=["qid", "docno"], suffixes=("_ref", "_got"))
        rho = [np.corrcoef(g.score_ref.rank(), g.score_got.rank())[0, 1] for _, g in both.groupby("qid")]
        n = ndcg(got)
        out[e] = {"max |diff|": float((both.score_ref - both.score_got).abs().max()),
                  "mean per-query Spearman": round(float(np.mean(rho)), 5), "nDCG@10": round(n, 4),
                  "nDCG@10 - fp32": round(n - out["torch fp32"]["nDCG@10"], 4)}
        print(e, out[e], flush=True, file=sys.stderr)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
