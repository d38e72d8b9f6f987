"""Re-rankers as systems: the ``rerankers:`` section and what a model folder is (no torch import:
config validation uses it).

A re-ranker is a table row like a first stage, a teacher or a student: it re-ranks the top
``depth`` (default ``evaluation.depth``) of each evaluated first stage (``evaluate`` narrows the
cells) into ``results/rerank/<name>/<first_stage>/<query_set>.run``. Kinds and their scorers (the
same functions the rules call):

* ``dense``: a bi-encoder, query-passage cosine or dot product (:func:`rankdistill.retrieval.dense.rerank_run_file`);
* ``colbert``: a ColBERT checkpoint, MaxSim (:func:`rankdistill.retrieval.colbert.rerank_run_file`);
* ``cross-encoder``: a released cross-encoder (lightning-ir, sentence-transformers, a Hugging Face
  sequence-classification folder) or any saved student folder (:func:`rankdistill.students.rerank.rerank_run_file`,
  the students' re-ranking code);
* ``stage1``: a stage-1 model of this config (``stage1: <name>``), the same cross-encoder code;
* ``fusion``: a weighted sum of first stages' per-query normalised scores over the candidates
  (:func:`rankdistill.retrieval.fusion.rerank_run_file`), a hybrid ranker a distillation set can learn from.

Trained and pretrained ``students`` and LLM ``teachers`` are re-rankers of their own sections.

:func:`model_format` tells what a model folder holds from its files alone; :func:`rankdistill.config.checks.check_rerankers` rejects a folder that is not what its kind needs, e.g. a
sentence-transformers bi-encoder as a ``pretrained`` student. A Hugging Face hub id cannot be
inspected offline: it is checked only when its config is in the local Hugging Face cache,
otherwise when the rule loads it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# lightning-ir's config.json model types (kept equal to rankdistill.students.model.LIGHTNING_IR_TYPES)
LIGHTNING_IR_TYPES = ("mono", "cross-encoder")

FORMATS = {
    "bi-encoder": "a sentence-transformers bi-encoder (modules.json with a Pooling module)",
    "colbert": "a ColBERT checkpoint (artifact.metadata / HF_ColBERT)",
    "lightning-ir": "a lightning-ir cross-encoder (config.json with backbone_model_type)",
    "cross-encoder": "a sequence-classification cross-encoder (sentence-transformers CrossEncoder / Hugging Face)",
    "backbone": "a plain Hugging Face encoder without a ranking head",
}

# what each consumer accepts
_ACCEPTS = {
    "dense": ("bi-encoder", "backbone"),
    "colbert": ("colbert",),
    "cross-encoder": ("lightning-ir", "cross-encoder"),
}
_ADVICE = {
    "bi-encoder": "a bi-encoder re-ranks as `rerankers: {<name>: {kind: dense, model: ...}}` (or retrieves as a "
                  "`kind: dense` first stage)",
    "colbert": "a ColBERT model re-ranks as `rerankers: {<name>: {kind: colbert, model: ...}}` (or retrieves as a "
               "`kind: colbert` first stage)",
    "lightning-ir": "a cross-encoder re-ranks as `rerankers: {<name>: {kind: cross-encoder, model: ...}}` or a "
                    "`kind: pretrained` student",
    "cross-encoder": "a cross-encoder re-ranks as `rerankers: {<name>: {kind: cross-encoder, model: ...}}` or a "
                     "`kind: pretrained` student",
    "backbone": "a plain encoder has no trained ranking head: train it (a student's or stage1's `backbone`) or use "
                "it as a `kind: dense` re-ranker / first stage (CLS or mean pooling)",
}


def _local_folder(ref: str) -> Path | None:
    """The folder a model reference names, if it can be found without a download (else None)."""
    from .. import assets
    from ..errors import UnavailableError

    try:
        path = assets.resolve(ref)
    except UnavailableError:
        return None  # a missing package: the preflight / the rule reports it
    if os.path.exists(path):
        return Path(path)
    try:  # a hub id: only a cached snapshot can be inspected offline
        from huggingface_hub import try_to_load_from_cache

        cfg = try_to_load_from_cache(path, "config.json")
    except Exception:
        return None
    return Path(cfg).parent if isinstance(cfg, str) else None


def hidden_size(ref: str | None) -> int | None:
    """The hidden size a model reference's ``config.json`` declares, where it can be read without a download
    (a local folder, a package's model, a cached hub snapshot); None otherwise."""
    folder = _local_folder(ref) if ref else None
    if folder is None:
        return None
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = cfg.get("hidden_size", cfg.get("dim", cfg.get("d_model")))
    return int(value) if isinstance(value, int) else None


def model_format(folder: str | os.PathLike) -> str:
    """One of :data:`FORMATS` for a local model folder; ValueError if it is not a model folder."""
    p = Path(folder)
    if not p.is_dir():
        raise ValueError(f"{p} is not a folder (a model folder holds config.json, weights and a tokenizer)")
    if (p / "artifact.metadata").exists():
        return "colbert"
    cfg_path = p / "config.json"
    if not cfg_path.exists():
        raise ValueError(f"{p} has no config.json: not a Hugging Face model folder")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{cfg_path}: not valid JSON ({e})") from None
    archs = cfg.get("architectures") or []
    if any("ColBERT" in a for a in archs):
        return "colbert"
    if "backbone_model_type" in cfg or cfg.get("model_type") in LIGHTNING_IR_TYPES:
        return "lightning-ir"
    if any(a.endswith("ForSequenceClassification") for a in archs) or "sentence_transformers" in cfg:
        return "cross-encoder"
    modules = p / "modules.json"
    if (p / "1_Pooling").is_dir():
        return "bi-encoder"
    if modules.exists():
        try:
            mods = json.loads(modules.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            mods = []
        if any(str(m.get("type", "")).endswith(("Pooling", "Normalize")) for m in mods if isinstance(m, dict)):
            return "bi-encoder"
    return "backbone"


def check_model(key: str, ref: str, use: str) -> str | None:
    """A problem line if the model ``ref`` (at config key ``key``) is not what ``use`` needs
    (``dense``, ``colbert`` or ``cross-encoder``); None if it is or cannot be inspected (hub id)."""
    folder = _local_folder(ref)
    if folder is None:
        return None
    try:
        fmt = model_format(folder)
    except ValueError as e:
        return f"{key}: {e}"
    if fmt in _ACCEPTS[use]:
        return None
    need = {"dense": "a bi-encoder", "colbert": "a ColBERT checkpoint", "cross-encoder": "a cross-encoder"}[use]
    return f"{key}: {ref!r} is {FORMATS[fmt]}, not {need}; {_ADVICE[fmt]}"
