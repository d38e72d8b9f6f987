"""Training throughput: our stage-2 loop (rankdistill.train.fit) against a plain PyTorch loop on
sentence-transformers' CrossEncoder model (HF tokenizer per batch, the usual recipe).

Both: same backbone weights, RankNet over whole query groups, AdamW, the same queries per step,
candidates per query and texts (TREC DL 2019 BM25 top-100 when ../shared/data is present),
bf16 autocast on a GPU, fp32 on a CPU. Prints training pairs/s (median over steps after warm-up)
and the ratio ours / plain loop.

  python benchmarks/train.py                                      # MiniLM, CPU
  python benchmarks/train.py --model-config electra-base --device cuda --group 100 --queries 8
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from rankdistill import losses  # noqa: E402
from rankdistill.model import CrossEncoder  # noqa: E402
from rankdistill.rerank import resolve_device  # noqa: E402
from rankdistill.train import Group, TrainSettings, fit  # noqa: E402


class _Data:
    def __init__(self, groups):
        self.groups = groups

    def step_groups(self, step, batch):
        return [self.groups[(step * batch + i) % len(self.groups)] for i in range(batch)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-config", default="minilm", choices=C.MODEL_CONFIGS)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--queries", type=int, default=None, help="queries per step (default 8 GPU / 2 CPU)")
    ap.add_argument("--group", type=int, default=None, help="candidates per query (default 100 GPU / 16 CPU)")
    ap.add_argument("--steps", type=int, default=None, help="default 20 GPU / 6 CPU")
    ap.add_argument("--query-length", type=int, default=32)
    ap.add_argument("--doc-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    gpu = dev.type == "cuda"
    nq, ng, steps = a.queries or (8 if gpu else 2), a.group or (100 if gpu else 16), a.steps or (20 if gpu else 6)
    qs, ds, source = C.pairs(nq * ng * 4)
    groups, qtext, texts = [], {}, {}
    for g in range(nq * 4):
        qid = f"q{g}"
        qtext[qid] = qs[g * ng]
        docnos = [f"d{g}-{i}" for i in range(ng)]
        texts.update({d: ds[g * ng + i] for i, d in enumerate(docnos)})
        groups.append(Group(qid, docnos, [float(ng - i) for i in range(ng)]))
    tmp = Path(tempfile.mkdtemp(prefix="rd-bench-"))
    backbone = C.backbone_folder(a.model_config, tmp)
    name = torch.cuda.get_device_name(dev) if gpu else "CPU"
    print(f"device {name}; {a.model_config}; {nq} queries x {ng} candidates per step ({nq * ng} pairs), {steps} steps; "
          f"texts: {source}")

    # ours
    model = CrossEncoder.from_backbone(backbone, a.query_length, a.doc_length, seed=0)
    s = TrainSettings(loss="ranknet", batch_queries=nq, save_every=10**9, lr=1e-5)
    fit(model, _Data(groups), s, steps, lambda docnos: {d: texts[d] for d in docnos}, qtext, tmp / "ours",
        tmp / "scratch", "ranknet", {"name": "ours"})
    rows = list(csv.DictReader(open(tmp / "ours" / "metrics.csv")))
    ours = statistics.median(float(r["pairs_per_s"]) for r in rows[2:] or rows)

    # plain loop on the sentence-transformers model
    st = C.sentence_transformers_model(backbone, tmp, a.query_length + a.doc_length + 3, device=str(dev))
    hf, tok = st[0].model if hasattr(st[0], "model") else st.model, st.tokenizer
    hf.train().to(dev)
    opt = torch.optim.AdamW(hf.parameters(), lr=1e-5)
    rates = []
    for step in range(steps):
        t = time.perf_counter()
        gs = _Data(groups).step_groups(step, nq)
        enc = tok([qtext[g.qid] for g in gs for _ in g.docnos], [texts[d] for g in gs for d in g.docnos],
                  padding=True, truncation=True, max_length=a.query_length + a.doc_length + 3, return_tensors="pt")
        enc = {k: v.to(dev) for k, v in enc.items()}
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=gpu):
            scores = hf(**enc).logits.view(nq, ng).float()
        loss = losses.ranknet(scores, torch.tensor([g.targets for g in gs], device=dev))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()
        rates.append(nq * ng / (time.perf_counter() - t))
    plain = statistics.median(rates[2:] or rates)
    print(f"{'ours (rankdistill.train.fit)':<40} {ours:10.1f} pairs/s")
    print(f"{'plain loop on sentence-transformers':<40} {plain:10.1f} pairs/s")
    print(f"\nratio ours / plain sentence-transformers loop: {ours / plain:.2f}x")


if __name__ == "__main__":
    main()
