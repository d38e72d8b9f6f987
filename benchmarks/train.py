"""Training throughput: our stage-2 loop (rankdistill.students.loop.fit) against a plain PyTorch loop on
sentence-transformers' CrossEncoder model (HF tokenizer per batch, the usual recipe).

Both: same backbone weights, RankNet over whole query groups, AdamW, the same queries per step,
candidates per query and texts (TREC DL 2019 BM25 top-100 when ../shared/data is present),
bf16 autocast on a GPU, fp32 on a CPU. Prints training pairs/s (median over steps after warm-up)
and the ratio ours / plain loop.

  python benchmarks/train.py                                      # MiniLM, CPU
  python benchmarks/train.py --model-config electra-base --device cuda --group 100 --queries 8

``--stage1-memory``: peak RSS of building the stage-1 sampler (rankdistill.students.data.Stage1Data, an on-disk
candidate index) against the in-memory version it replaced (tests/_stage1_reference.py), each in a fresh
process, for synthetic runs of 2k and 20k queries x 200 candidates (grouped by query, and interleaved:
every query's rank-1 line, then every rank-2 line, ...). Prints the growth from 2k to 20k queries.

``--activation-memory``: what a training micro-batch of ELECTRA-base/-large (built from their configs, random
weights) keeps for the backward pass per (query, passage) sequence of 32 + 256 tokens under bf16 autocast, with
and without gradient checkpointing (counted with autograd's saved-tensor hooks on the CPU, without the
sequence x sequence attention matrices the CPU's math attention keeps and a GPU's fused SDPA kernel does not),
and the pairs per micro-batch that fit a GPU (``--gpu-gib``, default 80) next to the fp32 weights, gradients
and AdamW states. config/paper.yaml's ``accumulation`` values come from this.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from rankdistill.students import losses  # noqa: E402
from rankdistill.students.data import Group  # noqa: E402
from rankdistill.students.loop import TrainSettings, fit  # noqa: E402
from rankdistill.students.model import CrossEncoder  # noqa: E402
from rankdistill.students.scoring import resolve_device  # noqa: E402


class _Data:
    def __init__(self, groups):
        self.groups = groups

    def step_groups(self, step, batch):
        return [self.groups[(step * batch + i) % len(self.groups)] for i in range(batch)]


def _write_stage1_inputs(folder: Path, queries: int, candidates: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "qrels.txt", "w") as qr, open(folder / "queries.tsv", "w") as qt:
        for q in range(queries):
            qr.write(f"{q} 0 {q * 1000 + 3} 1\n")  # the rank-4 passage is the relevant one
            qt.write(f"{q}\tquery number {q}\n")
    for layout in ("grouped", "interleaved"):
        with open(folder / f"{layout}.run", "w") as f:
            outer, inner = (range(queries), range(candidates)) if layout == "grouped" else (range(candidates), range(queries))
            for a in outer:
                for b in inner:
                    q, r = (a, b) if layout == "grouped" else (b, a)
                    f.write(f"{q} Q0 {q * 1000 + r} {r + 1} {100.0 - r * 0.25!r} bench\n")


def _stage1_child(impl: str, folder: str, layout: str) -> None:
    """One measurement in a fresh process: JSON with the peak RSS before and after building the sampler."""
    from rankdistill.datasets.queries import read_qrels
    from rankdistill.runs import read_run
    from rankdistill.students.data import Stage1Data

    sys.path.insert(0, str(C.ROOT / "tests"))
    from _stage1_reference import OldStage1Data

    folder = Path(folder)
    qrels = read_qrels(folder / "qrels.txt")
    qtext = dict(line.rstrip("\n").split("\t", 1) for line in open(folder / "queries.tsv"))
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    run = folder / f"{layout}.run"
    if impl == "new":
        data = Stage1Data(run, qrels, qtext, 7, 200, 1, 42, index_dir=Path(tempfile.mkdtemp(dir=folder)) / "index")
    else:
        data = OldStage1Data(read_run(run), qrels, qtext, 7, 200, 1, 42)
    build = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    for step in range(100):
        data.step_groups(step, 32)
    step_ms = (time.perf_counter() - t) * 10
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    anon, file = (int(status[k].split()[0]) / 1024 for k in ("RssAnon", "RssFile"))
    print(json.dumps({"before_mb": kb / 1024, "peak_mb": peak / 1024, "build_s": build, "step_ms": step_ms,
                      "anon_mb": anon, "file_mb": file}))


def stage1_memory(sizes=(2000, 20000), candidates: int = 200) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="rd-bench-stage1-"))
    for n in sizes:
        _write_stage1_inputs(tmp / str(n), n, candidates)
    print(f"stage-1 sampler, {candidates} candidates per query, 7 negatives from the top 200. Peak RSS of a fresh "
          "process (MiB): after reading qrels and query texts -> after building; build time; time per step of 32 "
          "queries; after 100 steps: anonymous RSS / file-backed RSS (mapped index pages, reclaimable page cache)")
    growth = {}
    for impl, layout in (("new", "grouped"), ("new", "interleaved"), ("old", "grouped")):
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--stage1-memory-child", impl, str(tmp / str(n)), layout],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            growth.setdefault((impl, layout), []).append(r["peak_mb"] - r["before_mb"])
            name = "on-disk index (ours)" if impl == "new" else "in-memory (previous)"
            print(f"{name:<22} {layout:<12} {n:>6} queries: {r['before_mb']:7.1f} -> {r['peak_mb']:7.1f} MiB "
                  f"(+{r['peak_mb'] - r['before_mb']:6.1f}), build {r['build_s']:6.1f} s, {r['step_ms']:.2f} ms/step, "
                  f"then {r['anon_mb']:.0f} / {r['file_mb']:.0f} MiB")
    for (impl, layout), g in growth.items():
        print(f"{impl} {layout}: extra peak RSS from {sizes[0]} to {sizes[-1]} queries: {g[-1] - g[0]:+.1f} MiB")
    new, old = growth[("new", "grouped")], growth[("old", "grouped")]
    print(f"\nratio of the build's peak RSS at {sizes[-1]} queries, previous / ours: {old[-1] / max(new[-1], 1.0):.1f}x")
    shutil.rmtree(tmp, ignore_errors=True)


_ELECTRA = {"base": (768, 12, 12, 3072), "large": (1024, 24, 16, 4096)}


def _saved_per_sequence(size: str, checkpointing: bool, length: int = 296, n: int = 2) -> tuple[int, dict]:
    from transformers import ElectraConfig, ElectraModel

    from rankdistill.students.loop import enable_gradient_checkpointing

    h, layers, heads, inter = _ELECTRA[size]
    cfg = ElectraConfig(vocab_size=30522, embedding_size=h, hidden_size=h, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=inter, max_position_embeddings=512)
    torch.manual_seed(0)
    model = SimpleNamespace(backbone=ElectraModel(cfg).train())  # the score head's few bytes do not matter
    if checkpointing:
        enable_gradient_checkpointing(model)
    head = torch.nn.Linear(h, 1, bias=False)
    ids = torch.randint(1000, 30000, (n, length))
    mask = torch.ones(n, length, dtype=torch.long)
    mask[0, length * 2 // 3:] = 0  # padding, as in a real batch
    seen, kinds = set(), {"activations": 0, "attention LxL": 0, "weights": 0}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in seen:
            seen.add(st.data_ptr())
            shape = tuple(t.shape)
            kind = ("attention LxL" if shape[-2:] == (length, length) else
                    "activations" if length in shape or n * length in shape else "weights")
            kinds[kind] += st.nbytes()
        return t

    with torch.autocast("cpu", dtype=torch.bfloat16), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        head(model.backbone(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state[:, 0])
    params = sum(p.numel() for p in model.backbone.parameters())
    return params, {k: v / n for k, v in kinds.items()}


def activation_memory(gpu_gib: float) -> None:
    gib = 2**30
    print(f"bf16 autocast, sequences of 32 + 256 (+3) tokens padded to 296; GPU budget {gpu_gib:g} GiB")
    for size in ("base", "large"):
        per = {}
        for ckpt in (False, True):
            params, kinds = _saved_per_sequence(size, ckpt)
            per[ckpt] = kinds["activations"]
            print(f"ELECTRA-{size:<5} {'checkpointing' if ckpt else 'plain':<13} {params / 1e6:4.0f}M params: "
                  f"{kinds['activations'] / 2**20:7.1f} MiB per sequence saved for the backward "
                  f"(+ {kinds['attention LxL'] / 2**20:.1f} MiB of LxL attention on a CPU only)")
        layers = _ELECTRA[size][1]
        static = params * (4 + 4 + 8 + 2) / gib  # fp32 weights, gradients, AdamW moments, bf16 weight copies
        room = gpu_gib * 0.85 - static  # 15% for the CUDA context, the allocator and backward temporaries
        plain, ckpt = per[False], per[True] + per[False] / layers  # checkpointing recomputes one layer at a time
        print(f"  ratio saved per sequence, checkpointing / plain: {ckpt / plain:.3f}; weights+optimizer {static:.1f} GiB;"
              f" fits about {int(room * gib / plain)} sequences per micro-batch plain, {int(room * gib / ckpt)} with "
              "checkpointing")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--stage1-memory-child":
        return _stage1_child(*sys.argv[2:5])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-config", default="minilm", choices=C.MODEL_CONFIGS)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--queries", type=int, default=None, help="queries per step (default 8 GPU / 2 CPU)")
    ap.add_argument("--group", type=int, default=None, help="candidates per query (default 100 GPU / 16 CPU)")
    ap.add_argument("--steps", type=int, default=None, help="default 20 GPU / 6 CPU")
    ap.add_argument("--query-length", type=int, default=32)
    ap.add_argument("--doc-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--stage1-memory", action="store_true", help="peak RSS of the stage-1 sampler (see above)")
    ap.add_argument("--activation-memory", action="store_true", help="saved activations per pair (see above)")
    ap.add_argument("--gpu-gib", type=float, default=80.0)
    a = ap.parse_args()
    if a.stage1_memory:
        return stage1_memory()
    if a.activation_memory:
        return activation_memory(a.gpu_gib)
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
    print(f"{'ours (rankdistill.students.loop.fit)':<40} {ours:10.1f} pairs/s")
    print(f"{'plain loop on sentence-transformers':<40} {plain:10.1f} pairs/s")
    print(f"\nratio ours / plain sentence-transformers loop: {ours / plain:.2f}x")


if __name__ == "__main__":
    main()
