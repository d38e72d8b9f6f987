"""A trained cross-encoder as a self-contained folder for serving (the ``export`` rule: ``results/export/{student}/``).

:func:`export_student` writes

* a Hugging Face folder that ``sentence_transformers.CrossEncoder(folder, trust_remote_code=True)`` and
  ``transformers.AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)`` load: the
  backbone's ``config.json`` (its own ``model_type``) with ``auto_map`` naming ``modeling_rankdistill.py``, a
  sequence-classification class of a few lines that computes what the student computes (pooling, the linear
  head; lightning-ir mono scoring as log p(relevant)); one label and the identity activation, so ``predict``
  returns the pipeline's scores. A sentence-transformers / HF sequence-classification model is written as it
  is (no remote code).
* ``onnx/model.onnx`` (PyTorch's exporter, fused by ONNX Runtime's transformer optimizer) and
  ``onnx/model_qint8.onnx`` (dynamic int8) taking ``input_ids``, ``attention_mask`` (``token_type_ids``) and
  returning ``logits`` (the scores), loadable with ``CrossEncoder(folder, backend="onnx",
  model_kwargs={"file_name": "onnx/model_qint8.onnx"}, trust_remote_code=True)`` or plain ONNX Runtime;
* ``README.md``, a model card with the training data, teacher and settings and the model's rows of the table.

Tokenisation: the student cuts the query and the passage to their own lengths; sentence-transformers cuts the
pair to ``max_length`` = query_length + doc_length + 3 (``longest_first``). Scores agree wherever neither side
is cut (a query longer than its limit or a pair past the total is cut differently); ``rankdistill.students``
loads the export with the student's own rule.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

_MODELING = '''"""A rankdistill cross-encoder as a transformers sequence-classification model (written by rankdistill.export)."""

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel, {config_class}
from transformers.modeling_outputs import SequenceClassifierOutput


class RankDistillForSequenceClassification(PreTrainedModel):
    """backbone -> pooled hidden state ({pooling}) -> linear score (no activation: logits are the scores)."""

    config_class = {config_class}
    base_model_prefix = "backbone"

    def __init__(self, config):
        super().__init__(config)
        head = config.rankdistill_head
        self.pooling, self.scoring = head["pooling"], head["scoring"]
        try:
            self.backbone = AutoModel.from_config(config, add_pooling_layer=False)
        except TypeError:
            self.backbone = AutoModel.from_config(config)
        self.bert_pool = nn.Sequential(nn.Linear(config.hidden_size, config.hidden_size), nn.Tanh()) \\
            if head["bert_pool"] else nn.Identity()
        self.linear = nn.Linear(config.hidden_size, 2 if self.scoring == "mono" else 1, bias=head["linear_bias"])
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, **kwargs):
        kw = {{"token_type_ids": token_type_ids}} if token_type_ids is not None else {{}}
        h = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones(h.shape[:2], dtype=torch.long, device=h.device)
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        if self.pooling == "first":
            pooled = h[:, 0]
        elif self.pooling == "mean":
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
        elif self.pooling == "sum":
            pooled = (h * m).sum(1)
        else:
            pooled = h.masked_fill(m == 0, torch.finfo(h.dtype).min).amax(1)
        scores = self.linear(self.bert_pool(pooled).float())
        if self.scoring == "mono":
            scores = torch.log_softmax(scores, dim=-1)[:, 1:]
        return SequenceClassifierOutput(logits=scores)
'''


def _write_hf(model, out: Path) -> int | None:
    """The sentence-transformers / transformers folder; returns the max_length sentence-transformers uses."""
    from safetensors.torch import save_file

    s = model.settings
    if model.seqcls:
        model.backbone.save_pretrained(str(out))
        model.tokenizer.save_pretrained(str(out))
        return s.max_length
    max_len = (s.query_length or 0) + (s.doc_length or 0) + 3 if s.query_length and s.doc_length else None
    bcfg = model.backbone.config
    cfg = bcfg.to_dict()
    cls = "RankDistillForSequenceClassification"
    cfg.update(architectures=[cls], auto_map={"AutoModelForSequenceClassification": f"modeling_rankdistill.{cls}"},
               id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0},
               rankdistill_head={"pooling": s.pooling, "scoring": s.scoring, "bert_pool": bool(s.bert_pool),
                                 "linear_bias": bool(s.linear_bias), "query_length": s.query_length,
                                 "doc_length": s.doc_length},
               sentence_transformers={"activation_fn": "torch.nn.modules.linear.Identity"})
    cfg.pop("_name_or_path", None)
    cfg.pop("transformers_version", None)
    with open(out / "config.json", "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    (out / "modeling_rankdistill.py").write_text(
        _MODELING.format(config_class=type(bcfg).__name__, pooling=s.pooling), encoding="utf-8")
    sd = {f"backbone.{k}": v for k, v in model.backbone.state_dict().items()}
    sd.update({f"linear.{k}": v for k, v in model.linear.state_dict().items()})
    if s.bert_pool:
        sd.update({f"bert_pool.{k}": v for k, v in model.bert_pool.state_dict().items()})
    save_file({k: v.detach().float().contiguous().cpu().clone() for k, v in sd.items() if "position_ids" not in k},
              str(out / "model.safetensors"), metadata={"format": "pt"})
    model.tokenizer.save_pretrained(str(out))
    if max_len:
        with open(out / "sentence_bert_config.json", "w", encoding="utf-8") as f:
            json.dump({"max_seq_length": max_len}, f)
        tc = out / "tokenizer_config.json"
        t = json.loads(tc.read_text(encoding="utf-8"))
        t["model_max_length"] = max_len
        tc.write_text(json.dumps(t, indent=2), encoding="utf-8")
    return max_len


def _write_onnx(folder: Path) -> dict:
    """onnx/model.onnx (fused) and onnx/model_qint8.onnx of the exported folder (logits = scores)."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .students.cpu import OPSET, fuse

    with torch.no_grad():
        hf = AutoModelForSequenceClassification.from_pretrained(str(folder), trust_remote_code=True,
                                                                attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(str(folder))
    batch = tok(["what is onnx", "a query"], ["an open format for machine learning models", "b"], padding=True,
                return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in batch]

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args):
            return self.m(**dict(zip(names, args))).logits

    d = folder / "onnx"
    d.mkdir(exist_ok=True)
    raw = d / "raw.onnx"
    dyn = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    torch.onnx.export(Logits(hf), tuple(batch[n] for n in names), str(raw), input_names=names,
                      output_names=["logits"], dynamic_axes=dyn, opset_version=OPSET, dynamo=False)
    fuse(raw, d / "model.onnx", hf.config)
    raw.unlink()
    quantize_dynamic(str(d / "model.onnx"), str(d / "model_qint8.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=False, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return {"onnx": "onnx/model.onnx", "onnx-int8": "onnx/model_qint8.onnx"}


def _card(name: str, source: str, max_len, files: dict, info: dict, table_rows: list[dict]) -> str:
    lines = [f"# {name}", "", "A cross-encoder re-ranker trained with rankdistill (Rank-DistiLLM as a Snakemake "
             "pipeline), exported for serving.", "", "## Use", "", "```python",
             "from sentence_transformers import CrossEncoder",
             f'model = CrossEncoder("{name}", trust_remote_code=True)  # max_length {max_len}',
             'scores = model.predict([("query", "passage")])  # the pipeline\'s scores (no activation)']
    if "onnx-int8" in files:
        lines += ['fast = CrossEncoder("%s", backend="onnx", trust_remote_code=True,' % name,
                  '                    model_kwargs={"file_name": "%s"})  # dynamic int8' % files["onnx-int8"]]
    lines += ["```", "", f"Source: `{source}`.", ""]
    if info:
        lines += ["## Training", ""]
        for k in ("student", "distill_set", "teacher", "query_set", "first_stage", "backbone", "stage1"):
            if info.get(k) is not None:
                lines.append(f"- {k.replace('_', ' ')}: `{info[k]}`")
        settings = info.get("settings") or {}
        if settings:
            lines += ["", "Settings:", "", "```json", json.dumps(settings, indent=2, sort_keys=True, default=str), "```"]
        lines.append("")
    if table_rows:
        lines += ["## Effectiveness (this pipeline's table)", "", "| first stage | query set | measure | value |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {r['first_stage']} | {r['query_set']} | {r['measure']} | {float(r['value']):.4f} |"
                  for r in table_rows]
        lines.append("")
    lines += ["## Files", "", "- `model.safetensors`, `config.json`, `modeling_rankdistill.py` (remote code), tokenizer"]
    lines += [f"- `{f}` ({k})" for k, f in files.items()]
    return "\n".join(lines) + "\n"


def export_student(model: str | os.PathLike, out: str | os.PathLike, onnx: bool = True, name: str | None = None,
                   info: dict | None = None, table: str | os.PathLike | None = None) -> dict:
    """Write the cross-encoder ``model`` (a trained folder, a released checkpoint) as a serving folder ``out``.

    ``info``: training facts for the model card (student, distill_set, teacher, ..., settings); ``table``: the
    pipeline's ``table.csv`` (long format), whose rows for ``name`` go into the card. Returns the file map.
    """
    from .io import atomic_dir
    from .students.model import CrossEncoder

    out = Path(out)
    name = name or out.name
    ce = CrossEncoder.load(str(model))
    rows = []
    if table is not None and Path(table).exists():
        import pandas as pd

        t = pd.read_csv(table)
        rows = t[(t["system"] == name) & t["value"].notna()].to_dict("records") if "system" in t else []
    with atomic_dir(out) as tmp:
        tmp = Path(tmp)
        max_len = _write_hf(ce, tmp)
        files = _write_onnx(tmp) if onnx else {}
        (tmp / "README.md").write_text(_card(name, str(model), max_len, files, info or {}, rows), encoding="utf-8")
    log.info("exported %s -> %s (%s)", model, out, ", ".join(files) or "no ONNX")
    return files
