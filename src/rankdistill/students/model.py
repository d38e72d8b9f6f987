"""The cross-encoder student: a transformers backbone, the query and passage as one sequence
``[CLS] q [SEP] p [SEP]`` with separate length limits, the first token's hidden state, and one
linear score without bias (the paper's monoELECTRA).

Checkpoint formats (``CrossEncoder.load`` detects them):

* **lightning-ir mono** (``webis/monoelectra-base``/``-large``, and what :meth:`save_pretrained`
  writes): ``config.json`` is the backbone's config plus ``model_type`` (``mono`` or the older
  ``cross-encoder``), ``backbone_model_type``, ``query_length``, ``doc_length``,
  ``pooling_strategy``, ``linear_bias``, ``scoring_strategy``; the weights are the backbone's own
  keys plus ``linear.weight``. So a student trained here loads in lightning-ir
  (``MonoModel.from_pretrained``) and lightning-ir checkpoints load here. Foreign lightning-ir
  checkpoints are tokenised exactly as lightning-ir does (each side truncated by tokenize →
  cut → decode, then the pair re-encoded); our own ones cut token ids directly (twice as fast;
  greedy WordPiece is prefix-stable, so the ids are the same, and a pair longer than the
  tokenizer's ``model_max_length`` is cut ``longest_first`` as lightning-ir cuts it). Both are
  checked against lightning-ir 0.0.6 itself (``tests/data/lightning_ir``). lightning-ir names its
  own tokenizer class in ``tokenizer_config.json``, which transformers 5 cannot resolve; the
  tokenizer is loaded by the backbone's type, so the passage keeps its token type ids.
* **sentence-transformers / HF sequence classification** (``cross-encoder/ms-marco-MiniLM-L6-v2``):
  ``AutoModelForSequenceClassification`` with one label; the pair is tokenised like
  ``sentence_transformers.CrossEncoder`` (``longest_first`` truncation to ``max_seq_length``)
  and, like ``CrossEncoder.predict``, the configured activation (sigmoid by default) is applied.
* **a plain backbone** (``google/electra-base-discriminator``, the packaged MiniLM): only through
  :meth:`from_backbone`, which adds a freshly initialised head (training starts here).

Model references are ``package:...``, local paths or hub ids (:mod:`rankdistill.assets`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .. import assets
from ..errors import InputError, UnavailableError

log = logging.getLogger(__name__)

LIGHTNING_IR_TYPES = ("mono", "cross-encoder")
# config.json keys lightning-ir adds to the backbone's config
_LIR_KEYS = {
    "model_type", "backbone_model_type", "architectures", "query_length", "doc_length", "pooling_strategy",
    "linear_bias", "scoring_strategy", "tokenizer_pattern", "use_adapter", "adapter_config",
    "pretrained_adapter_name_or_path", "_bert_pool", "rankdistill", "transformers_version",
}


@dataclass
class Settings:
    """How pairs are tokenised and scored (stored in config.json under ``rankdistill``)."""

    query_length: int | None = 32
    doc_length: int | None = 256
    pooling: str = "first"  # first | mean | max | sum
    scoring: str = "rank"  # rank (one logit) | mono (two logits, log-softmax of the second)
    linear_bias: bool = False
    bert_pool: bool = False
    truncation: str = "ids"  # ids | decode (lightning-ir's decode/re-encode) | pair (sentence-transformers)
    max_length: int | None = None  # total length for truncation="pair"
    activation: str = "none"  # none | sigmoid (sentence-transformers' predict default)
    format: str = "lightning-ir"  # lightning-ir | sentence-transformers


def _hf_dir(ref: str, patterns: Sequence[str]) -> Path:
    """A local folder for a model reference (downloads the needed files of a hub id)."""
    path = assets.resolve(ref)
    if os.path.isdir(path):
        return Path(path)
    if os.path.exists(path):
        raise InputError(path, "a cross-encoder checkpoint must be a folder (config.json, weights, tokenizer)")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path, allow_patterns=list(patterns)))
    except Exception as e:  # offline, unknown repo, ...
        raise UnavailableError(
            f"model {ref!r} is neither a local folder nor downloadable from the Hugging Face hub here "
            f"({type(e).__name__}: {str(e)[:200]})"
        ) from e


_CKPT_FILES = ["config.json", "*.safetensors", "pytorch_model.bin", "tokenizer*", "vocab*", "special_tokens_map.json",
               "*.model", "merges.txt", "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"]


def _read_config(folder: Path) -> dict:
    p = folder / "config.json"
    if not p.exists():
        raise InputError(folder, "no config.json: not a Hugging Face model folder")
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def _state_dict(folder: Path) -> dict[str, torch.Tensor]:
    st = sorted(folder.glob("*.safetensors"))
    if st:
        from safetensors.torch import load_file

        out: dict[str, torch.Tensor] = {}
        for f in st:
            out.update(load_file(str(f)))
        return out
    if (folder / "pytorch_model.bin").exists():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise InputError(folder, "no model weights (*.safetensors or pytorch_model.bin)")


def _new_backbone(config, attn_implementation: str | None):
    from transformers import AutoModel

    kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        return AutoModel.from_config(config, add_pooling_layer=False, **kw)
    except TypeError:
        return AutoModel.from_config(config, **kw)


def _pretrained_backbone(path: str, attn_implementation: str | None):
    from transformers import AutoModel

    kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        return AutoModel.from_pretrained(path, add_pooling_layer=False, **kw)
    except TypeError:
        return AutoModel.from_pretrained(path, **kw)


def _tokenizer(folder: str | Path, config=None, backbone_type: str | None = None):
    from transformers import AutoTokenizer

    kw = {"config": config} if config is not None else {}
    if backbone_type is not None:
        # lightning-ir writes its own mixin class ("CrossEncoderTokenizer") as tokenizer_class in
        # tokenizer_config.json; transformers 5 cannot resolve it and silently falls back to a generic
        # tokenizer whose model_input_names lack token_type_ids (the passage would get segment 0).
        try:
            return AutoTokenizer.from_pretrained(str(folder), tokenizer_type=backbone_type, **kw)
        except (KeyError, ValueError):
            pass
    return AutoTokenizer.from_pretrained(str(folder), **kw)


@contextlib.contextmanager
def _quiet():
    """transformers' load reports (unused MLM head keys, ...) are expected here: keep them out of logs."""
    from transformers.utils import logging as tlog

    level = tlog.get_verbosity()
    tlog.set_verbosity_error()
    try:
        yield
    finally:
        tlog.set_verbosity(level)


class PairTokenizer:
    """Turns (query, passage) pairs into token ids and token type ids, without padding.

    ``ids`` mode tokenises each distinct query and passage once (Rust, parallel), cuts the ids to
    the side's limit and joins them with the tokenizer's own special-token template, so a query
    repeated over its 100 candidates is tokenised once.
    """

    def __init__(self, tokenizer, settings: Settings):
        from tokenizers import Tokenizer

        self.hf = tokenizer
        self.settings = settings
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.uses_type_ids = "token_type_ids" in tokenizer.model_input_names
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._fast = None
        if backend is not None:
            self._fast = Tokenizer.from_str(backend.to_str())
            self._fast.no_padding()
            self._fast.no_truncation()
            self._template = self._derive_template()
        if settings.truncation == "ids" and (self._fast is None or self._template is None):
            settings.truncation = "decode"

    def _derive_template(self):
        """(prefix, middle, suffix) special ids and the type ids of each part, from the post-processor."""
        ea = self._fast.encode("a", add_special_tokens=False)
        eb = self._fast.encode("b", add_special_tokens=False)
        if len(ea.ids) != 1 or len(eb.ids) != 1 or ea.ids == eb.ids:
            return None
        pair = self._fast.encode("a", "b", add_special_tokens=True)
        ids, types = pair.ids, pair.type_ids
        try:
            ia, ib = ids.index(ea.ids[0]), len(ids) - 1 - ids[::-1].index(eb.ids[0])
        except ValueError:
            return None
        if not ia < ib:
            return None
        return (ids[:ia], ids[ia + 1:ib], ids[ib + 1:],
                types[:ia], types[ia], types[ia + 1:ib], types[ib], types[ib + 1:])

    def _side_ids(self, texts: list[str], limit: int | None) -> list[list[int]]:
        encs = self._fast.encode_batch(texts, add_special_tokens=False)
        return [e.ids[:limit] if limit is not None else e.ids for e in encs]

    def __call__(self, queries: Sequence[str], docs: Sequence[str]) -> tuple[list[list[int]], list[list[int]] | None]:
        if len(queries) != len(docs):
            raise ValueError(f"{len(queries)} queries for {len(docs)} passages")
        mode = self.settings.truncation
        if mode == "ids":
            return self._ids_mode(queries, docs)
        if mode == "decode":
            return self._decode_mode(queries, docs)
        if mode == "pair":
            enc = self.hf(list(queries), list(docs), truncation="longest_first", max_length=self.settings.max_length,
                          padding=False, return_attention_mask=False)
            return enc["input_ids"], enc.get("token_type_ids") if self.uses_type_ids else None
        raise ValueError(f"unknown truncation mode {mode!r}")

    @staticmethod
    def _per_unique(texts, fn) -> dict:
        """``fn`` applied once per distinct text (a query repeats for each of its candidates)."""
        uniq = list(dict.fromkeys(texts))
        return dict(zip(uniq, fn(uniq)))

    def _ids_mode(self, queries, docs):
        s = self.settings
        qids = self._per_unique(queries, lambda t: self._side_ids(t, s.query_length))
        dids = self._per_unique(docs, lambda t: self._side_ids(t, s.doc_length))
        pre, mid, suf, tpre, ta, tmid, tb, tsuf = self._template
        limit = self.hf.model_max_length if self.hf.model_max_length < 1_000_000 else None
        ids, types, over = [], [], []
        for i, (q, d) in enumerate(zip(queries, docs)):
            a, b = qids[q], dids[d]
            ids.append(pre + a + mid + b + suf)
            if self.uses_type_ids:
                types.append(tpre + [ta] * len(a) + tmid + [tb] * len(b) + tsuf)
            if limit is not None and len(ids[-1]) > limit:
                over.append(i)
        if over:  # the pair exceeds the tokenizer's limit: cut it as lightning-ir does (longest_first)
            enc = self.hf([self.hf.decode(qids[queries[i]]) for i in over], [self.hf.decode(dids[docs[i]]) for i in over],
                          truncation=True, padding=False, return_attention_mask=False)
            for j, i in enumerate(over):
                ids[i] = enc["input_ids"][j]
                if self.uses_type_ids:
                    types[i] = enc["token_type_ids"][j]
        return ids, (types if self.uses_type_ids else None)

    def _truncate_decode(self, texts: list[str], limit: int | None) -> list[str]:
        if limit is None:
            return list(texts)
        enc = self.hf(list(texts), add_special_tokens=False, truncation=True, max_length=limit,
                      return_attention_mask=False, return_token_type_ids=False)
        return self.hf.batch_decode(enc["input_ids"])

    def _decode_mode(self, queries, docs):
        """lightning-ir's CrossEncoderTokenizer: truncate each side via decode, then encode the pair."""
        s = self.settings
        qmap = self._per_unique(queries, lambda t: self._truncate_decode(t, s.query_length))
        dmap = self._per_unique(docs, lambda t: self._truncate_decode(t, s.doc_length))
        enc = self.hf([qmap[q] for q in queries], [dmap[d] for d in docs], truncation=True, padding=False,
                      return_attention_mask=False)
        return enc["input_ids"], enc.get("token_type_ids") if self.uses_type_ids else None


def collate(ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]] | None, pad_id: int,
            multiple_of: int = 8, pin: bool = False) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest sequence (rounded up to ``multiple_of``) as CPU tensors."""
    n = len(ids)
    longest = max(len(x) for x in ids)
    width = -(-longest // multiple_of) * multiple_of if multiple_of > 1 else longest
    arr = np.full((n, width), pad_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    tt = np.zeros((n, width), dtype=np.int64) if types is not None else None
    for i, x in enumerate(ids):
        k = len(x)
        arr[i, :k] = x
        mask[i, :k] = 1
        if tt is not None:
            tt[i, :k] = types[i]
    out = {"input_ids": torch.from_numpy(arr), "attention_mask": torch.from_numpy(mask)}
    if tt is not None:
        out["token_type_ids"] = torch.from_numpy(tt)
    if pin:
        out = {k: v.pin_memory() for k, v in out.items()}
    return out


class CrossEncoder(nn.Module):
    """Backbone → pooled hidden state → linear score; or a sequence-classification model."""

    def __init__(self, backbone: nn.Module, tokenizer, settings: Settings, linear: nn.Linear | None = None,
                 bert_pool: nn.Module | None = None):
        super().__init__()
        self.backbone = backbone
        self.settings = settings
        self.tokenizer = tokenizer
        self.pairs = PairTokenizer(tokenizer, settings)
        self.seqcls = settings.format == "sentence-transformers"
        if not self.seqcls:
            hidden = backbone.config.hidden_size
            out = 2 if settings.scoring == "mono" else 1
            self.linear = linear if linear is not None else nn.Linear(hidden, out, bias=settings.linear_bias)
            self.bert_pool = bert_pool if bert_pool is not None else nn.Identity()

    # ------------------------------------------------------------------ construction / loading
    @classmethod
    def from_backbone(cls, ref: str, query_length: int | None = 32, doc_length: int | None = 256,
                      seed: int = 42, attn_implementation: str | None = None) -> "CrossEncoder":
        """A new student: pretrained backbone, fresh head ``N(0, initializer_range)`` (as lightning-ir)."""
        path = str(_hf_dir(ref, _CKPT_FILES))
        cfg = _read_config(Path(path))
        if "backbone_model_type" in cfg or _is_seqcls(Path(path), cfg):
            # starting a student from a fine-tuned cross-encoder keeps its head
            return cls.load(ref, attn_implementation=attn_implementation, query_length=query_length,
                            doc_length=doc_length)
        with _quiet():
            backbone = _pretrained_backbone(path, attn_implementation)
        settings = Settings(query_length=query_length, doc_length=doc_length)
        model = cls(backbone, _tokenizer(path), settings)
        g = torch.Generator().manual_seed(seed)
        std = getattr(backbone.config, "initializer_range", 0.02)
        with torch.no_grad():
            model.linear.weight.copy_(torch.randn(model.linear.weight.shape, generator=g) * std)
        return model

    @classmethod
    def load(cls, ref: str, attn_implementation: str | None = None, query_length: int | None = None,
             doc_length: int | None = None, activation: str | None = None) -> "CrossEncoder":
        """Load a fine-tuned cross-encoder (lightning-ir mono or sentence-transformers format)."""
        folder = _hf_dir(ref, _CKPT_FILES)
        cfg = _read_config(folder)
        if "backbone_model_type" in cfg or cfg.get("model_type") in LIGHTNING_IR_TYPES:
            model = cls._load_lightning_ir(folder, cfg, attn_implementation)
            if query_length is not None:
                model.settings.query_length = query_length
            if doc_length is not None:
                model.settings.doc_length = doc_length
            return model
        if _is_seqcls(folder, cfg):
            return cls._load_sentence_transformers(folder, cfg, attn_implementation, activation)
        raise InputError(
            folder / "config.json",
            "not a fine-tuned cross-encoder (no lightning-ir 'backbone_model_type' and no sequence-classification "
            "head); to train from a plain backbone use it as a student's backbone",
        )

    @classmethod
    def _load_lightning_ir(cls, folder: Path, cfg: dict, attn_implementation):
        from transformers import AutoConfig

        btype = cfg.get("backbone_model_type")
        if btype is None:
            raise InputError(folder / "config.json", "lightning-ir config without 'backbone_model_type'")
        if cfg.get("tokenizer_pattern") or cfg.get("is_encoder_decoder"):
            raise UnavailableError(f"{folder}: encoder-decoder (T5-style) lightning-ir models are not supported")
        bcfg = AutoConfig.for_model(btype, **{k: v for k, v in cfg.items() if k not in _LIR_KEYS})
        own = cfg.get("rankdistill") or {}
        pooling = cfg.get("pooling_strategy", "first")
        settings = Settings(
            query_length=cfg.get("query_length", 32),
            doc_length=cfg.get("doc_length", 512),
            pooling="first" if pooling == "bert_pool" else pooling,
            bert_pool=pooling == "bert_pool" or bool(cfg.get("_bert_pool")),
            scoring=cfg.get("scoring_strategy", "rank"),
            linear_bias=bool(cfg.get("linear_bias", False)),
            truncation=own.get("truncation", "decode"),
            format="lightning-ir",
        )
        if settings.pooling not in ("first", "mean", "max", "sum"):
            raise InputError(folder / "config.json", f"unknown pooling_strategy {pooling!r}")
        if settings.scoring not in ("rank", "mono"):
            raise InputError(folder / "config.json", f"unknown scoring_strategy {settings.scoring!r}")
        backbone = _new_backbone(bcfg, attn_implementation)
        sd = _state_dict(folder)
        prefix = getattr(backbone, "base_model_prefix", "") or ""
        head: dict[str, torch.Tensor] = {}
        body: dict[str, torch.Tensor] = {}
        for k, v in sd.items():
            if prefix and k.startswith(prefix + "."):
                k = k[len(prefix) + 1:]
            if k.startswith("linear.") or k.startswith("bert_pool."):
                head[k] = v
            else:
                body[k] = v
        missing, unexpected = backbone.load_state_dict(body, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        unexpected = [k for k in unexpected if not k.endswith("position_ids")]
        if missing or unexpected or "linear.weight" not in head:
            raise InputError(
                folder,
                f"weights do not match a lightning-ir mono {btype} model: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}, head {sorted(head)}",
            )
        model = cls(backbone, _tokenizer(folder, bcfg, btype), settings)
        model.linear.load_state_dict({k[len("linear."):]: v for k, v in head.items() if k.startswith("linear.")})
        if settings.bert_pool:
            hidden = bcfg.hidden_size
            model.bert_pool = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
            model.bert_pool.load_state_dict({k[len("bert_pool."):]: v for k, v in head.items() if k.startswith("bert_pool.")})
        return model

    @classmethod
    def _load_sentence_transformers(cls, folder: Path, cfg: dict, attn_implementation, activation):
        from transformers import AutoModelForSequenceClassification

        kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
        with _quiet():
            seq = AutoModelForSequenceClassification.from_pretrained(str(folder), **kw)
        if seq.config.num_labels != 1:
            raise InputError(folder / "config.json", f"a re-ranker needs one output label, this model has {seq.config.num_labels}")
        tok = _tokenizer(folder)
        max_len = None
        sb = folder / "sentence_bert_config.json"
        if sb.exists():
            with open(sb, encoding="utf-8") as f:
                max_len = json.load(f).get("max_seq_length")
        if max_len is None:
            max_len = min(int(tok.model_max_length), int(getattr(seq.config, "max_position_embeddings", 512)))
        if activation is None:
            fn = (cfg.get("sentence_transformers") or {}).get("activation_fn") or cfg.get("sbert_ce_default_activation_function")
            activation = "sigmoid" if fn is None or fn.endswith("Sigmoid") else ("none" if fn.endswith("Identity") else None)
            if activation is None:
                raise UnavailableError(f"{folder}: unsupported sentence-transformers activation {fn!r}")
        settings = Settings(query_length=None, doc_length=None, truncation="pair", max_length=max_len,
                            activation=activation, format="sentence-transformers")
        return cls(seq, tok, settings)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write a Hugging Face folder (lightning-ir mono layout; sentence-transformers models keep theirs)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(folder))
        if self.seqcls:
            self.backbone.save_pretrained(str(folder))
            return
        s = self.settings
        cfg = self.backbone.config.to_dict()
        btype = cfg["model_type"]
        cfg.update(
            model_type="mono",
            backbone_model_type=btype,
            architectures=[f"Mono{type(self.backbone).__name__}"],
            query_length=s.query_length,
            doc_length=s.doc_length,
            pooling_strategy="bert_pool" if s.bert_pool else s.pooling,
            linear_bias=s.linear_bias,
            scoring_strategy=s.scoring,
            tokenizer_pattern=None,
            rankdistill={"truncation": s.truncation},
        )
        with open(folder / "config.json", "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        sd = {k: v.detach().contiguous().cpu() for k, v in self.backbone.state_dict().items()}
        sd.update({f"linear.{k}": v.detach().contiguous().cpu() for k, v in self.linear.state_dict().items()})
        if s.bert_pool:
            sd.update({f"bert_pool.{k}": v.detach().contiguous().cpu() for k, v in self.bert_pool.state_dict().items()})
        # tied weights share storage: safetensors needs distinct tensors
        sd = {k: v.clone() for k, v in sd.items()}
        save_file(sd, str(folder / "model.safetensors"), metadata={"format": "pt"})

    # ------------------------------------------------------------------ scoring
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        kw = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        if self.seqcls:
            return self._activate(self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kw).logits[:, 0])
        h = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
        return self.pool_and_score(h, attention_mask)

    def pool_and_score(self, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Scores from the backbone's last hidden states of a padded batch (pooling, then the head)."""
        p = self.settings.pooling
        if p == "first":
            pooled = h[:, 0]
        else:
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            if p == "mean":
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
            elif p == "sum":
                pooled = (h * m).sum(1)
            else:  # max
                pooled = h.masked_fill(m == 0, torch.finfo(h.dtype).min).amax(1)
        return self._head(pooled)

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        scores = logits.float()
        return torch.sigmoid(scores) if self.settings.activation == "sigmoid" else scores

    def _head(self, pooled: torch.Tensor) -> torch.Tensor:
        pooled = self.bert_pool(pooled)
        # the head runs in fp32 even under bf16 (weights or autocast): bf16 scores would tie candidates
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            w = self.linear.weight.float()
            b = self.linear.bias.float() if self.linear.bias is not None else None
            scores = nn.functional.linear(pooled.float(), w, b)
        if self.settings.scoring == "mono":
            return torch.log_softmax(scores.view(-1, 2), dim=-1)[:, 1]
        return scores.view(-1)

    # ------------------------------------------------------------------ padding-free scoring
    def packed_unsupported(self) -> str | None:
        """Why this model cannot score packed batches (``None`` when it can); see :mod:`rankdistill.students.packed`."""
        from .packed import unsupported

        why = unsupported(self.backbone)
        if why is None and self.seqcls and self.backbone.config.model_type == "bert" \
                and getattr(self.backbone.base_model, "pooler", None) is None:
            why = "a BERT sequence-classification model without its pooler"
        return why

    def enable_packed(self, attention: str = "auto", compute_dtype: torch.dtype | None = None) -> str:
        """Build the packed encoder for the model's current device and dtype; returns the attention core.

        Call again after moving, casting or training the model (the fused weights are a copy).
        """
        from .packed import PackedEncoder

        enc = PackedEncoder(self.backbone, attention, compute_dtype)
        object.__setattr__(self, "_packed", enc)  # not a registered submodule: no state_dict entries
        return enc.attention

    def forward_packed(self, input_ids: torch.Tensor, position_ids: torch.Tensor, cu_seqlens: torch.Tensor,
                       max_len: int, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of a packed batch (see :func:`rankdistill.students.packed.pack`); equals :meth:`forward` on the padded batch."""
        enc = self.__dict__.get("_packed")
        if enc is None:
            raise RuntimeError("call enable_packed() first")
        h = enc(input_ids, position_ids, cu_seqlens, max_len, token_type_ids)
        starts = cu_seqlens[:-1].long()
        first = h[starts]
        if self.seqcls:
            base = self.backbone.base_model
            if self.backbone.config.model_type == "bert":  # pooler (dense + tanh) → dropout → linear
                logits = self.backbone.classifier(base.pooler(first[:, None]))
            else:  # ELECTRA / RoBERTa heads take features[:, 0]
                logits = self.backbone.classifier(first[:, None])
            return self._activate(logits[:, 0])
        p = self.settings.pooling
        if p == "first":
            return self._head(first)
        n = starts.shape[0]
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).long()
        seg = torch.repeat_interleave(torch.arange(n, device=h.device), lengths, output_size=h.shape[0])
        index = seg[:, None].expand_as(h)
        if p == "max":
            pooled = h.new_full((n, h.shape[1]), torch.finfo(h.dtype).min).scatter_reduce(0, index, h, "amax")
        else:
            pooled = h.new_zeros((n, h.shape[1])).index_add(0, seg, h)
            if p == "mean":
                pooled = pooled / lengths.clamp(min=1)[:, None].to(h.dtype)
        return self._head(pooled)

    def encode(self, queries: Sequence[str], docs: Sequence[str]):
        return self.pairs(queries, docs)

    def batch(self, queries: Sequence[str], docs: Sequence[str], multiple_of: int = 8) -> dict[str, torch.Tensor]:
        ids, types = self.pairs(queries, docs)
        return collate(ids, types, self.pairs.pad_id, multiple_of)



def _is_seqcls(folder: Path, cfg: dict) -> bool:
    """A sentence-transformers cross-encoder or any HF sequence-classification checkpoint."""
    archs = cfg.get("architectures") or []
    return any(a.endswith("ForSequenceClassification") for a in archs) or "sentence_transformers" in cfg
