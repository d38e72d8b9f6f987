"""Padding-free ("packed") inference for BERT-family cross-encoders.

A batch of ``n`` pairs is one row of ``T`` real tokens (no padding) with ``cu_seqlens`` marking
where each pair starts, as in FlashAttention's variable-length API. Every linear layer, layer norm
and activation then runs on real tokens only, and the first token of each pair sits at
``cu_seqlens[:-1]``. Only the attention core needs to know the pair boundaries:

* ``varlen``: ``torch.nn.attention.varlen.varlen_attn`` (FlashAttention in PyTorch >= 2.9; CUDA,
  bf16/fp16);
* ``flash-attn``: ``flash_attn.flash_attn_varlen_func`` when that package is installed (CUDA);
* ``aten-flash``: the FlashAttention kernel behind PyTorch's SDPA, called with ``cu_seqlens``
  (older PyTorch without ``varlen``);
* ``sdpa``: everywhere else (CPUs, fp32, older PyTorch): the heads are scattered into a padded
  ``(n, heads, longest, dim)`` tensor just for ``scaled_dot_product_attention`` with a key mask.

The layers are the backbone's own modules (its embeddings, ``nn.Linear``, ``LayerNorm`` and
activation), so the result equals the backbone's padded forward up to floating-point reordering;
only query, key and value are fused into one matrix product. Supported backbones: BERT (MiniLM,
BERT-tiny), ELECTRA, RoBERTa/XLM-R (absolute positions, post-LN encoder layers); others fall back
to the padded path (:func:`unsupported` says why).
"""

from __future__ import annotations

import logging
from itertools import chain

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

log = logging.getLogger(__name__)

MODEL_TYPES = ("bert", "electra", "roberta", "xlm-roberta")
ATTENTION = ("auto", "varlen", "flash-attn", "aten-flash", "sdpa")


def unsupported(backbone: nn.Module) -> str | None:
    """Why ``backbone`` cannot run packed (``None`` when it can)."""
    cfg = getattr(backbone, "config", None)
    mtype = getattr(cfg, "model_type", None)
    if mtype not in MODEL_TYPES:
        return f"model type {mtype!r} is not one of {MODEL_TYPES}"
    if getattr(cfg, "is_decoder", False) or getattr(cfg, "add_cross_attention", False):
        return "decoder / cross-attention models are not supported"
    if getattr(cfg, "position_embedding_type", "absolute") not in (None, "absolute"):
        return f"position embeddings {cfg.position_embedding_type!r} are not absolute"
    base = getattr(backbone, "base_model", backbone)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not hasattr(base, "embeddings"):
        return "no embeddings / encoder.layer modules"
    for layer in layers:
        att = getattr(layer, "attention", None)
        if not (hasattr(att, "self") and hasattr(att, "output") and hasattr(layer, "intermediate")):
            return "encoder layers do not have the BERT layout"
        if not all(hasattr(att.self, n) for n in ("query", "key", "value")):
            return "self-attention has no query/key/value projections"
    return None


def attention_candidates(device: torch.device, dtype: torch.dtype) -> list[str]:
    """Attention cores to try, fastest first, for activations of ``dtype`` on ``device``."""
    if device.type != "cuda" or dtype not in (torch.bfloat16, torch.float16):
        return ["sdpa"]
    out = []
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401  (PyTorch >= 2.9)

        out.append("varlen")
    except ImportError:
        pass
    try:
        import flash_attn  # noqa: F401

        out.append("flash-attn")
    except ImportError:
        pass
    if hasattr(torch.ops.aten, "_flash_attention_forward"):  # the kernel behind SDPA's flash path
        out.append("aten-flash")
    return out + ["sdpa"]


def _attention_backend(requested: str, device: torch.device, dtype: torch.dtype) -> str:
    if requested not in ATTENTION:
        raise ValueError(f"attention must be one of {ATTENTION}, got {requested!r}")
    return attention_candidates(device, dtype)[0] if requested == "auto" else requested


class PackedEncoder(nn.Module):
    """The backbone's encoder over packed tokens; ``forward`` returns ``(T, hidden)`` states.

    Built once the backbone is on its device and in its inference dtype (the fused query/key/value
    weights are a copy; under autocast pass ``compute_dtype``). Inference only.
    """

    def __init__(self, backbone: nn.Module, attention: str = "auto", compute_dtype: torch.dtype | None = None):
        super().__init__()
        why = unsupported(backbone)
        if why:
            raise ValueError(f"cannot run this backbone packed: {why}")
        self.base = getattr(backbone, "base_model", backbone)
        cfg = self.base.config
        self.heads = cfg.num_attention_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads
        self.scale = self.head_dim ** -0.5
        # RoBERTa counts positions from padding_idx + 1
        self.position_offset = (cfg.pad_token_id + 1) if cfg.model_type in ("roberta", "xlm-roberta") else 0
        w = next(self.base.parameters())
        # under autocast the weights stay fp32 but attention sees ``compute_dtype`` activations
        self.attention = _attention_backend(attention, w.device, compute_dtype or w.dtype)
        self.qkv_weight, self.qkv_bias = [], []
        for layer in self.base.encoder.layer:
            s = layer.attention.self
            self.qkv_weight.append(torch.cat([s.query.weight, s.key.weight, s.value.weight]).detach())
            self.qkv_bias.append(torch.cat([s.query.bias, s.key.bias, s.value.bias]).detach())

    # -------------------------------------------------------------------- attention cores
    def _attend(self, q, k, v, cu: torch.Tensor, max_len: int, dest: torch.Tensor | None, n: int) -> torch.Tensor:
        if self.attention == "varlen":
            from torch.nn.attention.varlen import varlen_attn

            return varlen_attn(q, k, v, cu, cu, max_len, max_len, scale=self.scale)
        if self.attention == "flash-attn":
            from flash_attn import flash_attn_varlen_func

            return flash_attn_varlen_func(q, k, v, cu, cu, max_len, max_len, softmax_scale=self.scale)
        if self.attention == "aten-flash":
            return torch.ops.aten._flash_attention_forward(q, k, v, cu, cu, max_len, max_len, 0.0, False, False,
                                                           scale=self.scale)[0]
        # sdpa: scatter into (n, longest) slots, attend with a key mask, gather the real tokens back
        T, H, D = q.shape
        slots = []
        for x in (q, k, v):
            p = x.new_zeros(n * max_len, H, D)
            p[dest] = x
            slots.append(p.view(n, max_len, H, D).transpose(1, 2))
        keep = torch.zeros(n * max_len, dtype=torch.bool, device=q.device)
        keep[dest] = True
        mask = keep.view(n, 1, 1, max_len)
        out = F.scaled_dot_product_attention(*slots, attn_mask=mask, scale=self.scale)
        return out.transpose(1, 2).reshape(n * max_len, H, D)[dest]

    # -------------------------------------------------------------------- forward
    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, cu_seqlens: torch.Tensor, max_len: int,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``(T, hidden)`` of packed ``input_ids`` (``T``), pairs delimited by ``cu_seqlens``."""
        T = input_ids.shape[0]
        n = cu_seqlens.shape[0] - 1
        kw = {"token_type_ids": token_type_ids[None]} if token_type_ids is not None else {}
        h = self.base.embeddings(input_ids=input_ids[None], position_ids=position_ids[None] + self.position_offset,
                                 **kw)[0]
        if hasattr(self.base, "embeddings_project"):  # ELECTRA with embedding_size != hidden_size
            h = self.base.embeddings_project(h)
        dest = None
        if self.attention == "sdpa":
            starts = torch.repeat_interleave(torch.arange(n, device=input_ids.device) * max_len,
                                             (cu_seqlens[1:] - cu_seqlens[:-1]).long(), output_size=T)
            dest = starts + position_ids
        for i, layer in enumerate(self.base.encoder.layer):
            qkv = F.linear(h, self.qkv_weight[i], self.qkv_bias[i]).view(T, 3, self.heads, self.head_dim)
            ctx = self._attend(qkv[:, 0], qkv[:, 1], qkv[:, 2], cu_seqlens, max_len, dest, n)
            out = layer.attention.output
            h = out.LayerNorm(out.dense(ctx.reshape(T, -1)) + h)
            inter = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(h))
            h = layer.output.LayerNorm(layer.output.dense(inter) + h)
        return h


def pack(ids, types, pin: bool = False) -> dict:
    """Concatenate token id lists into one packed CPU batch (``input_ids``, ``position_ids``,
    ``cu_seqlens`` (int32), ``max_len``, optionally ``token_type_ids``)."""
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    cu = np.zeros(len(ids) + 1, dtype=np.int32)
    np.cumsum(lengths, out=cu[1:])
    flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(cu[-1]))
    pos = np.arange(int(cu[-1]), dtype=np.int64) - np.repeat(cu[:-1].astype(np.int64), lengths)
    out = {"input_ids": torch.from_numpy(flat), "position_ids": torch.from_numpy(pos),
           "cu_seqlens": torch.from_numpy(cu)}
    if types is not None:
        out["token_type_ids"] = torch.from_numpy(np.fromiter(chain.from_iterable(types), dtype=np.int64,
                                                             count=int(cu[-1])))
    if pin:
        out = {k: v.pin_memory() for k, v in out.items()}
    out["max_len"] = int(lengths.max()) if len(lengths) else 0
    return out
