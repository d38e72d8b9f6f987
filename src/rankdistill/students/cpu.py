"""CPU runtimes for cross-encoders: ONNX Runtime (fp32, dynamic int8) and OpenVINO (fp32, int8).

A cross-encoder (a student of this workflow, a released sentence-transformers / lightning-ir checkpoint) is
converted once by :func:`convert` into a folder (the ``convert_cpu`` rule: ``results/cpu/{model}/{engine}``):

* the **export** is PyTorch's (``torch.onnx.export``, the exporter optimum wraps): a lightning-ir mono model
  as its backbone (task ``feature-extraction``, output ``last_hidden_state``; the pooling and the linear head,
  a few hundred multiply-adds per pair, stay in torch so that every pooling / scoring strategy of
  :class:`~rankdistill.students.model.CrossEncoder` is kept), a sequence-classification model as it is
  (task ``text-classification``, ``logits``);
* the graph is fused by ONNX Runtime's transformer optimizer
  (``onnxruntime.transformers.optimizer.optimize_model``: Attention, SkipLayerNorm, BiasGelu, ...);
* ``onnx-int8``: ``onnxruntime.quantization.quantize_dynamic`` (weights int8 per channel, activations
  quantized per batch at run time: no calibration data);
* ``openvino``: ``openvino.convert_model`` of the fused fp32 ONNX file (fp32 inference precision, not the bf16
  OpenVINO picks on CPUs with AVX512-BF16); ``openvino-int8`` is not built yet (OpenVINO has no kernels for ONNX
  Runtime's fused int8 ops; its own int8 is static quantization calibrated with nncf) and says so.

``manifest.json`` records the source's content digest and the conversion settings; :func:`convert` returns at
once when they match (a rerun converts nothing). :class:`CpuSession` runs the converted model on the batches of
:func:`rankdistill.students.scoring.iter_batches` (length-sorted, each padded only to its own longest pair).

:func:`resolve_engine` turns ``engine: auto`` into the fastest engine that is installed, scores exactly enough
and suits the device: ``onnx`` on a CPU when ``onnxruntime`` and ``onnx`` are installed (its scores
equal torch fp32's to ~1e-5), the torch engines otherwise (and always on a GPU). The int8 engines change scores
slightly (their nDCG@10 stays within 0.005 of fp32 on TREC DL 2019, docs/guide/cpu-serving.md) and are chosen
explicitly. Install the runtimes with ``pip install rankdistill[cpu]`` (``install.sh`` does).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Sequence

from ..errors import UnavailableError

log = logging.getLogger(__name__)

CPU_ENGINES = ("onnx", "onnx-int8", "openvino", "openvino-int8")
TORCH_ENGINES = ("padded", "packed")
FORMAT_VERSION = 2  # bump when the conversion itself changes
OPSET = 17

# module -> what to install (``pip install rankdistill[cpu]``)
_NEEDS = {
    "onnx": ("onnxruntime", "onnx"),
    "onnx-int8": ("onnxruntime", "onnx"),
    "openvino": ("openvino", "onnxruntime", "onnx"),
    "openvino-int8": ("openvino", "onnxruntime", "onnx"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def unavailable(engine: str) -> str | None:
    """Why ``engine`` cannot run here (``None`` when it can)."""
    if engine == "openvino-int8":
        # OpenVINO has no kernels for ONNX Runtime's fused int8 ops (QAttention, QEmbedLayerNormalization); its own
        # int8 is static quantization (nncf) calibrated on local pairs: not built yet
        return "engine 'openvino-int8' is not available yet (use onnx-int8: OpenVINO cannot run ONNX Runtime's int8 graph)"
    missing = [m for m in _NEEDS.get(engine, ()) if not _installed(m)]
    if missing:
        return f"engine {engine!r} needs {', '.join(missing)} (pip install 'rankdistill[cpu]')"
    return None


def cpu_flags() -> dict:
    """What the CPU offers for int8 / bf16 (from /proc/cpuinfo where present; torch's capability otherwise)."""
    flags: set[str] = set()
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                elif line.startswith("model name") and model is None:
                    model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    keys = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
    return {"model": model, **{k: k in flags for k in keys}}


def gpu_visible() -> bool:
    """Whether a CUDA GPU looks usable here, without importing torch (the Snakefile resolves engines)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def resolve_engine(engine: str = "auto", device: str | None = None) -> str:
    """The engine that ``engine`` means for a job on ``device`` (``None``/``auto``: a GPU if one is visible).

    ``auto`` stays with the torch engines (packed / padded, chosen at run time): the ONNX and OpenVINO paths are
    opt-in (``engine: onnx`` ...) until their nDCG@10 on a trained student is checked against torch fp32 and a
    conversion job (one per model) pays for itself; for the default's BERT-tiny cells, which score in ~2 s,
    it does not. A CPU engine that is not installed is an error naming the extra.
    """
    if engine == "auto":
        return "auto"
    if engine in CPU_ENGINES:
        why = unavailable(engine)
        if why:
            raise UnavailableError(why)
    return engine


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for dist in ("onnxruntime", "optimum-onnx", "optimum", "onnx", "openvino", "transformers", "torch"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def conversion_settings(engine: str) -> dict:
    """Everything that changes the converted files (with the source's digest it keys ``manifest.json``)."""
    if engine not in CPU_ENGINES:
        raise ValueError(f"engine must be one of {CPU_ENGINES}, got {engine!r}")
    s = {"engine": engine, "format": FORMAT_VERSION, "opset": OPSET, "exporter": "torch.onnx", "optimizer": "onnxruntime.transformers",
         "optimization_level": 1}
    if engine.endswith("int8"):
        s.update(quantization="dynamic", weight_type="QInt8", per_channel=True, reduce_range=False)
    if engine.startswith("openvino"):
        s.update(openvino="convert_model")
    return s


def _source_digest(model_ref: str) -> str:
    from ..fingerprint import model_fingerprint

    fp = model_fingerprint(model_ref)
    return fp or f"ref:{model_ref}"


def read_manifest(folder: str | os.PathLike) -> dict | None:
    p = Path(folder) / "manifest.json"
    if not p.exists():
        return None
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def _export(model, out: Path) -> tuple[Path, str]:
    """PyTorch's ONNX exporter (``torch.onnx.export``) on the backbone (mono) or the whole model (seq. class.).

    optimum-onnx (the exporter sentence-transformers' helpers call) pins ``transformers<4.58``, which this
    project does not; ``torch.onnx.export`` is the exporter optimum itself wraps.
    """
    import torch

    from .model import collate

    class _Outputs(torch.nn.Module):
        """The backbone's one output the runtime needs (``last_hidden_state`` / ``logits``) as a tensor."""

        def __init__(self, backbone, key: str):
            super().__init__()
            self.backbone, self.key = backbone, key

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            return getattr(self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kw), self.key)

    key = "logits" if model.seqcls else "last_hidden_state"
    wrapped = _Outputs(model.backbone.float().eval(), key).eval()
    ids, types = model.encode(["what is onnx", "a query"], ["an open format for machine learning models", "b"])
    batch = collate(ids, types, model.pairs.pad_id, 1)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if "token_type_ids" in batch else [])
    dyn = {n: {0: "batch", 1: "sequence"} for n in names}
    dyn[key] = {0: "batch", 1: "sequence"} if key == "last_hidden_state" else {0: "batch"}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapped, tuple(batch[n] for n in names), str(path), input_names=names, output_names=[key],
                          dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True, dynamo=False)
    return path, "text-classification" if model.seqcls else "feature-extraction"


def fuse(src: str | os.PathLike, dst: str | os.PathLike, config) -> None:
    """ONNX Runtime's transformer optimizer (fusions), falling back to the unfused graph for other types."""
    from onnxruntime.transformers.optimizer import optimize_model

    mtype = {"bert": "bert", "electra": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert",
             "deberta-v2": "bert"}.get(config.model_type, "bert")
    heads = getattr(config, "num_attention_heads", 0)
    hidden = getattr(config, "hidden_size", 0)
    opt = optimize_model(str(src), model_type=mtype, num_heads=heads, hidden_size=hidden, opt_level=1,
                         use_gpu=False)
    opt.save_model_to_file(str(dst))
    log.info("fused graph: %s", {k: v for k, v in opt.get_fused_operator_statistics().items() if v})


def convert(model_ref: str, out: str | os.PathLike, engine: str, query_length: int | None = None,
            doc_length: int | None = None, force: bool = False, threads: int | None = None) -> dict:
    """Convert the cross-encoder ``model_ref`` for ``engine`` into ``out`` (atomically); returns the manifest.

    Returns the existing manifest without converting when ``out`` already holds this source (by content) and
    these settings.
    """
    from ..io import atomic_dir
    from .model import CrossEncoder

    why = unavailable(engine)
    if why:
        raise UnavailableError(why)
    out = Path(out)
    key = {"source": _source_digest(model_ref), **conversion_settings(engine)}
    old = read_manifest(out)
    if not force and old is not None and old.get("key") == key:
        log.info("%s: already converted for %s (%s)", out, engine, key["source"][:19])
        return old
    t0 = time.perf_counter()
    if threads:
        import torch

        torch.set_num_threads(threads)
    # eager attention: the graph ONNX Runtime's optimizer fuses into its Attention op (sdpa's is not matched)
    model = CrossEncoder.load(model_ref, attn_implementation="eager", query_length=query_length, doc_length=doc_length)
    with atomic_dir(out) as tmp:
        tmp = Path(tmp)
        raw = tmp / "export"
        onnx_path, task = _export(model, raw)
        fused = tmp / "model.onnx"
        fuse(onnx_path, fused, model.backbone.config)
        shutil.rmtree(raw)
        files = {"onnx": "model.onnx"}
        if engine.endswith("int8"):
            from onnxruntime.quantization import QuantType, quantize_dynamic

            import onnx

            # the fused ops (com.microsoft domain) have no ONNX shape inference: their outputs are fp32
            quantize_dynamic(str(fused), str(tmp / "model_int8.onnx"), weight_type=QuantType.QInt8,
                             per_channel=True, reduce_range=False,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            files["onnx"] = "model_int8.onnx"
        if engine.startswith("openvino"):
            import openvino as ov

            ov.save_model(ov.convert_model(str(tmp / files["onnx"])), str(tmp / "openvino_model.xml"),
                          compress_to_fp16=False)
            files["openvino"] = "openvino_model.xml"
        manifest = {"key": key, "task": task, "files": files, "model": str(model_ref),
                    "output": "logits" if model.seqcls else "last_hidden_state",
                    "versions": _versions(), "cpu": cpu_flags(), "seconds": round(time.perf_counter() - t0, 1)}
        with open(tmp / "manifest.json", "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
    log.info("converted %s for %s in %.1f s -> %s", model_ref, engine, manifest["seconds"], out)
    return manifest


class CpuSession:
    """A converted model on ONNX Runtime or OpenVINO: ``__call__(batch) -> last_hidden_state / logits``."""

    def __init__(self, folder: str | os.PathLike, threads: int | None = None):
        import torch

        folder = Path(folder)
        m = read_manifest(folder)
        if m is None:
            raise UnavailableError(f"{folder}: no manifest.json (not a converted model; run the convert_cpu rule)")
        self.manifest = m
        self.engine = m["key"]["engine"]
        why = unavailable(self.engine)
        if why:
            raise UnavailableError(why)
        threads = threads or torch.get_num_threads()
        if self.engine.startswith("openvino"):
            import openvino as ov

            core = ov.Core()
            compiled = core.compile_model(str(folder / m["files"]["openvino"]), "CPU",
                                          {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                           # not bf16, OpenVINO's default on CPUs with AVX512-BF16 / AMX
                                           "INFERENCE_PRECISION_HINT": "f32"})
            self._request = compiled.create_infer_request()
            self._names = {p.get_any_name() for p in compiled.inputs}
            self._run = self._run_openvino
        else:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            self._sess = ort.InferenceSession(str(folder / m["files"]["onnx"]), so, providers=["CPUExecutionProvider"])
            self._names = {i.name for i in self._sess.get_inputs()}
            self._out = self._sess.get_outputs()[0].name
            self._run = self._run_ort

    def _feed(self, batch: dict) -> dict:
        return {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in batch.items() if k in self._names}

    def _run_ort(self, feed: dict):
        return self._sess.run([self._out], feed)[0]

    def _run_openvino(self, feed: dict):
        res = self._request.infer(feed)
        return next(iter(res.values()))

    def __call__(self, batch: dict):
        return self._run(self._feed(batch))


def cpu_forward(model, session: CpuSession):
    """A callable on padded batches, like ``model.forward``: the session's output through the model's head."""
    import numpy as np
    import torch

    def fn(input_ids, attention_mask, token_type_ids=None):
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            batch["token_type_ids"] = token_type_ids
        out = torch.from_numpy(np.ascontiguousarray(session(batch)))
        if model.seqcls:
            return model._activate(out[:, 0])
        return model.pool_and_score(out, attention_mask)

    return fn
