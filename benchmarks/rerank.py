"""Re-ranking throughput: our scorer against sentence-transformers' ``CrossEncoder.predict``.

Same backbone weights, batch size and (query, passage) texts (TREC DL 2019 BM25 top-100 from
../shared/data when present, synthetic otherwise). Prints pairs/s and the ratios

  * ours (default precision: bf16 on a GPU, fp32 on a CPU; default engine: padding-free where
    the backbone allows it) / predict in fp32 (its default),
  * ours / predict with bf16 weights (GPU only),

timing each engine of ours ("padded" and "packed"; with --compile also under torch.compile),

and, on a GPU, useful TFLOP/s (only real tokens count: 2 x non-embedding params x tokens + the
attention term) and their share of the card's bf16 dense peak.

  python benchmarks/rerank.py                                    # MiniLM, CPU
  python benchmarks/rerank.py --model-config electra-base --device cuda --pairs 20000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from rankdistill.students.model import CrossEncoder  # noqa: E402
from rankdistill.students.scoring import resolve_device, score_pairs  # noqa: E402


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-config", default="minilm", choices=C.MODEL_CONFIGS)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--pairs", type=int, default=None, help="default: 20000 on a GPU, 1000 on a CPU")
    ap.add_argument("--batch-size", type=int, default=None, help="default: 256 on a GPU, 32 on a CPU (both systems)")
    ap.add_argument("--query-length", type=int, default=32)
    ap.add_argument("--doc-length", type=int, default=256)
    ap.add_argument("--compile", action="store_true", help="also time ours with torch.compile")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    gpu = dev.type == "cuda"
    n = a.pairs or (20000 if gpu else 1000)
    bs = a.batch_size or (256 if gpu else 32)
    qs, ds, source = C.pairs(n)
    tmp = Path(tempfile.mkdtemp(prefix="rd-bench-"))
    backbone = C.backbone_folder(a.model_config, tmp)
    ours = CrossEncoder.from_backbone(backbone, a.query_length, a.doc_length, seed=0)
    ids, _ = ours.encode(qs, ds)
    lengths = [len(x) for x in ids]
    cfg = ours.backbone.config
    params = C.nonembedding_params(ours)
    flops = C.useful_flops(lengths, params, cfg.hidden_size, cfg.num_hidden_layers)
    name = torch.cuda.get_device_name(dev) if gpu else "CPU"
    print(f"device {name}; {a.model_config} ({params / 1e6:.1f}M non-embedding params); {n} pairs from {source}; "
          f"mean {np.mean(lengths):.0f} tokens (query {a.query_length} + passage {a.doc_length}); batch {bs}")

    results = {}

    def timed(label, fn, warm):
        warm()
        _sync(dev)
        t = time.perf_counter()
        fn()
        _sync(dev)
        dt = time.perf_counter() - t
        results[label] = n / dt
        extra = ""
        if gpu:
            tf = flops / dt / 1e12
            pk = C.peak(name)
            extra = f"  {tf:7.1f} useful TFLOP/s" + (f" ({100 * tf / pk:.0f}% of {pk:.0f} bf16 peak)" if pk else "")
        print(f"{label:<34} {n / dt:10.1f} pairs/s{extra}")

    few = min(n, 4 * bs)
    # baselines first, then each engine of ours with its ratios at once (a cut-short run keeps what it measured)
    max_len = a.query_length + a.doc_length + 3
    st = C.sentence_transformers_model(backbone, tmp, max_len, device=str(dev))
    pairs = list(zip(qs, ds))
    timed("sentence-transformers fp32", lambda: st.predict(pairs, batch_size=bs), lambda: st.predict(pairs[:few], batch_size=bs))
    bases = ["sentence-transformers fp32"]
    if gpu:
        del st
        st16 = C.sentence_transformers_model(backbone, tmp, max_len, dtype=torch.bfloat16, device=str(dev))
        timed("sentence-transformers bf16", lambda: st16.predict(pairs, batch_size=bs),
              lambda: st16.predict(pairs[:few], batch_size=bs))
        bases.append("sentence-transformers bf16")
        del st16
    budget = dict(device=dev, batch_size=bs, max_tokens=bs * 320)
    probe = {}
    score_pairs(ours, qs[:few], ds[:few], stats=probe, **budget)
    print(f"(default engine here: {probe['engine']})")
    engines = ["padded", "packed"] if ours.packed_unsupported() is None else ["padded"]
    variants = [(e, False) for e in engines] + ([(e, True) for e in engines] if a.compile else [])
    for engine, compiled in variants:
        kw = dict(budget, engine=engine, compile=compiled)
        label = f"ours {engine}" + (" + torch.compile" if compiled else "")
        timed(label, lambda kw=kw: score_pairs(ours, qs, ds, **kw), lambda kw=kw: score_pairs(ours, qs[:few], ds[:few], **kw))
        tag = " (default)" if engine == probe["engine"] and not compiled else ""
        print("    ratio" + tag + ": " + ", ".join(f"{results[label] / results[b]:.2f}x {b}" for b in bases)
              + (f", {results[label] / results['ours padded']:.2f}x ours padded" if label != "ours padded" else ""))


if __name__ == "__main__":
    main()
