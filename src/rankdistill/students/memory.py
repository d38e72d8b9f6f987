"""How many (query, passage) pairs a training micro-batch may hold on this device: ``accumulation: auto``.

A training step covers ``batch_queries`` whole query groups; ``accumulation`` splits them into micro-batches
whose gradients add up to the step's. The number that fits is a property of the machine (GPU memory, host
RAM), not of the recipe, so a shipped config leaves it at ``auto`` and it is chosen when the job starts:

* activations kept for the backward pass per pair, from the backbone's shape (Korthikanti et al. 2022,
  "Reducing Activation Recomputation in Large Transformer Models", eq. 2 without sequence parallelism):
  ``layers * s * h * (34 + 5 * a * s / h)`` bytes for 16-bit activations, twice that in fp32, and only each
  layer's input (``2 * s * h`` bytes per layer, 16-bit) plus one layer's worth under gradient checkpointing;
  for ELECTRA-base at 32 + 256 tokens this gives ~150 MiB under bf16, against 132 MiB measured by
  ``benchmarks/train.py --activation-memory``;
* the memory left for them: on a CUDA device 80% of what ``torch.cuda.mem_get_info`` reports free, less the
  gradients and AdamW moments still to be allocated (12 bytes per parameter); on a CPU half of the host's
  ``MemAvailable``.

The micro-batch holds as many whole queries as fit (at least one); the choice is logged, remembered in
:data:`rankdistill.hardware.RUNTIME_CHOICES` (so ``train.json`` and the manifest record it) and overridden by
an explicit integer ``accumulation``. Micro-batches' losses are averaged with equal weight, as for an
explicit ``accumulation``.
"""

from __future__ import annotations

import logging
import math

import torch

from ..hardware import available_memory, remember

log = logging.getLogger(__name__)

CPU_SHARE = 0.5  # of MemAvailable
GPU_SHARE = 0.8  # of the free device memory
OPTIMIZER_BYTES_PER_PARAM = 12  # fp32 gradients (4) + AdamW's two moments (8), allocated at the first step


def activation_bytes_per_pair(config, seq_len: int, precision: str, checkpointing: bool = False) -> int:
    """Bytes of activations the backward pass keeps for one (query, passage) sequence of ``seq_len`` tokens."""
    h = int(config.hidden_size)
    layers = int(config.num_hidden_layers)
    heads = int(getattr(config, "num_attention_heads", max(1, h // 64)))
    width = 1 if precision == "bf16" else 2  # the formula counts 16-bit activations
    per_layer = seq_len * h * (34 + 5 * heads * seq_len / h)
    if checkpointing:
        return int(width * (layers * 2 * seq_len * h + per_layer))
    return int(width * layers * per_layer)


def micro_batch_pairs(model, seq_len: int, precision: str, device: torch.device, checkpointing: bool = False) -> int:
    """The most pairs one micro-batch may hold here (at least 1)."""
    per_pair = activation_bytes_per_pair(model.backbone.config, seq_len, precision, checkpointing)
    free = available_memory(device)
    if device.type == "cuda":
        params = sum(p.numel() for p in model.parameters())
        budget = GPU_SHARE * free - OPTIMIZER_BYTES_PER_PARAM * params
    else:
        budget = CPU_SHARE * free
    return max(1, int(budget // max(per_pair, 1)))


def sequence_length(model) -> int:
    """The longest (query, passage) sequence the model's pair tokenizer builds (query + passage + 3 special)."""
    st = model.settings
    if st.query_length is not None and st.doc_length is not None:
        return int(st.query_length) + int(st.doc_length) + 3
    return int(st.max_length or getattr(model.backbone.config, "max_position_embeddings", 512))


class Accumulation:
    """How many micro-batches each step's groups are split into: ``requested`` when it is an integer, else
    (``auto``) the fewest micro-batches of whole queries that fit this device's memory, logged and remembered
    the first time it is asked."""

    def __init__(self, requested, model, precision: str, device: torch.device, checkpointing: bool = False):
        self.requested = requested
        self.fixed = None if requested == "auto" else int(requested)
        self.model, self.precision, self.device, self.checkpointing = model, precision, device, checkpointing
        self.pairs = None  # the micro-batch's pair budget (auto)
        self.first = None  # what the first step resolved to (train.json)

    def __call__(self, groups) -> int:
        if self.fixed is not None:
            value = self.fixed
        else:
            group_pairs = max((len(g.docnos) for g in groups), default=1)
            if self.pairs is None:
                seq = sequence_length(self.model)
                self.pairs = micro_batch_pairs(self.model, seq, self.precision, self.device, self.checkpointing)
                self._report(len(groups), group_pairs, seq)
            value = math.ceil(len(groups) / max(1, self.pairs // max(group_pairs, 1)))
        value = max(1, min(value, len(groups)))
        if self.first is None:
            self.first = value
        return value

    def _report(self, queries: int, group_pairs: int, seq: int) -> None:
        per_micro = max(1, self.pairs // max(group_pairs, 1))
        value = max(1, min(queries, math.ceil(queries / per_micro)))
        gib = available_memory(self.device) / 2**30
        reason = (f"auto -> {value}: {queries} queries x up to {group_pairs} pairs of {seq} tokens per step; "
                  f"{self.pairs} pairs fit one micro-batch in {self.precision} ({gib:.1f} GiB available on "
                  f"{self.device.type})")
        if group_pairs > self.pairs:
            reason += "; even one query exceeds the estimate: consider gradient_checkpointing: true"
        log.info("train.accumulation: %s", reason)
        remember("train.accumulation", {"requested": "auto", "value": value, "reason": reason})
