"""Re-ranking throughput: our scorer against sentence-transformers' ``CrossEncoder.predict``.

Same backbone weights, batch size and (query, passage) texts (TREC DL 2019 BM25 top-100 from
../shared/data when present, synthetic otherwise). Prints pairs/s and the ratios

  * ours (precision auto: bf16 where the device computes it natively, a GPU or a CPU with AVX512-BF16 / AMX,
    else fp32; default engine: padding-free where the backbone allows it) / predict in fp32 (its default),
  * ours / predict with bf16 weights (GPU only),

timing each engine of ours ("padded" and "packed"; with --compile also under torch.compile),

on a CPU: each of our engines (torch packed, ONNX Runtime fp32 / int8, OpenVINO fp32 / int8 where installed,
rankdistill.students.cpu) against sentence-transformers' CrossEncoder backends (torch, onnx, onnx-qint8 from
export_dynamic_quantized_onnx_model, openvino; each where installed), interleaved over --rounds, with the ratio of
our fastest to theirs; ``--model`` times a saved student of ours,

and, on a GPU, useful TFLOP/s (only real tokens count: 2 x non-embedding params x tokens + the
attention term) and their share of the card's bf16 dense peak.

  python benchmarks/rerank.py                                    # MiniLM, CPU
  python benchmarks/rerank.py --model-config bert-tiny --threads 2 --pairs 2000
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


ST_BACKENDS = ("torch", "onnx", "onnx-qint8", "openvino", "openvino-qint8")


def _st_systems(folder: str, max_len: int, backends, tmp: Path) -> dict:
    """sentence-transformers CrossEncoder with each backend that loads here: {label: model or why not}."""
    import shutil

    from sentence_transformers import CrossEncoder as STCrossEncoder

    from rankdistill.students.cpu import cpu_flags

    out = {}
    flags = cpu_flags()
    qconf = "avx512_vnni" if flags["avx512_vnni"] else ("avx512" if flags["avx512f"] else "avx2")
    for b in backends:
        label = f"sentence-transformers {b}"
        try:
            if b == "torch":
                out[label] = STCrossEncoder(folder, max_length=max_len, device="cpu")
            elif b in ("onnx", "openvino"):
                out[label] = STCrossEncoder(folder, max_length=max_len, device="cpu", backend=b)
            elif b == "onnx-qint8":
                from sentence_transformers import export_dynamic_quantized_onnx_model

                work = tmp / "st-onnx"
                if not work.exists():
                    shutil.copytree(folder, work)
                base = STCrossEncoder(str(work), max_length=max_len, device="cpu", backend="onnx")
                export_dynamic_quantized_onnx_model(base, qconf, str(work))
                out[label + f" ({qconf})"] = STCrossEncoder(
                    str(work), max_length=max_len, device="cpu", backend="onnx",
                    model_kwargs={"file_name": f"onnx/model_qint8_{qconf}.onnx"})
            else:  # openvino-qint8: static quantization, calibrated on a hub dataset by sentence-transformers
                out[label] = "export_static_quantized_openvino_model calibrates on a hub dataset (offline here)"
        except Exception as e:  # noqa: BLE001 - a backend that is not installed is reported, not fatal
            out[label] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return out


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
    ap.add_argument("--model", default=None, help="CPU: a saved cross-encoder folder of ours on --model-config's "
                    "backbone (default: a fresh head on it); sentence-transformers gets that backbone with its own head")
    ap.add_argument("--engines", nargs="*", default=None,
                    help="our engines to time (default on a CPU: packed and each CPU runtime that is installed)")
    ap.add_argument("--st-backends", nargs="*", default=None, choices=ST_BACKENDS,
                    help="sentence-transformers backends (default on a CPU: each one that is installed)")
    ap.add_argument("--rounds", type=int, default=2, help="CPU: time every system this many times, interleaved; "
                    "the best round counts (the machine is shared)")
    ap.add_argument("--cache", default=None, help="folder for the converted models (default: a temporary one)")
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
    ours = CrossEncoder.load(a.model) if a.model else CrossEncoder.from_backbone(backbone, a.query_length,
                                                                                 a.doc_length, seed=0)
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
    if not gpu:
        return cpu_main(a, ours, backbone, tmp, qs, ds, n, bs, few, results, timed)
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


def cpu_main(a, ours, backbone, tmp, qs, ds, n, bs, few, results, timed) -> None:
    """CPU: our engines (torch packed / padded, ONNX Runtime, OpenVINO) against sentence-transformers' backends,
    interleaved over ``--rounds`` (best round each), then the ratios of our fastest to theirs."""
    from rankdistill.students import cpu

    print("CPU:", cpu.cpu_flags(), f"threads {torch.get_num_threads()}")
    folder = a.model or str(tmp / "ours")
    if a.model is None:
        ours.save_pretrained(folder)
    cache = Path(a.cache or tmp / "cpu")
    engines = a.engines if a.engines is not None else (
        ["packed" if ours.packed_unsupported() is None else "padded"]
        + [e for e in cpu.CPU_ENGINES if cpu.unavailable(e) is None])
    systems = {}
    for e in engines:
        if e in cpu.CPU_ENGINES:
            cpu.convert(folder, cache / e, e)
            sess = cpu.CpuSession(cache / e)
            systems[f"ours {e}"] = lambda q, d, sess=sess, e=e: score_pairs(ours, q, d, device="cpu", engine=e,
                                                                            cpu_model=sess, batch_size=bs)
        else:
            systems[f"ours {e}"] = lambda q, d, e=e: score_pairs(ours, q, d, device="cpu", engine=e, batch_size=bs)
    max_len = ours.settings.query_length + ours.settings.doc_length + 3 if ours.settings.query_length else 512
    C.sentence_transformers_model(backbone, tmp, max_len)  # the same backbone (architecture), ST's own head
    st_folder = str(tmp / "st")
    backends = a.st_backends if a.st_backends is not None else list(ST_BACKENDS)
    for label, m in _st_systems(st_folder, max_len, backends, tmp).items():
        if isinstance(m, str):
            print(f"{label:<44} not timed: {m}")
            continue
        systems[label] = lambda q, d, m=m: m.predict(list(zip(q, d)), batch_size=bs)
    best: dict[str, float] = {}
    for r in range(a.rounds):
        print(f"-- round {r + 1}/{a.rounds}")
        for label, fn in systems.items():
            timed(label, lambda fn=fn: fn(qs, ds), lambda fn=fn: fn(qs[:few], ds[:few]))
            best[label] = max(best.get(label, 0.0), results[label])
    print("-- best round of each (pairs/s)")
    for label, v in best.items():
        print(f"{label:<44} {v:10.1f}")
    mine = {k: v for k, v in best.items() if k.startswith("ours")}
    theirs = {k: v for k, v in best.items() if not k.startswith("ours")}
    if mine and theirs:
        top, st_top = max(mine, key=mine.get), max(theirs, key=theirs.get)
        line = f"our fastest ({top}) {mine[top] / theirs[st_top]:.2f}x sentence-transformers' fastest ({st_top})"
        st_torch = next((k for k in theirs if k.endswith(" torch")), None)
        if st_torch:
            line += f", {mine[top] / theirs[st_torch]:.2f}x its torch fp32"
        print(line)


if __name__ == "__main__":
    main()
