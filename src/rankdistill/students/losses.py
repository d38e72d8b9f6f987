"""Ranking losses of the two training stages, as lightning-ir implements them (the paper's code).

All losses take ``scores`` and ``targets`` of shape ``(queries, candidates)`` (higher target =
better) and an optional boolean ``mask`` of the same shape for groups padded to a common size
(``False`` = padding). Without padding they equal lightning-ir's classes bit for bit:

* :func:`info_nce` = ``lightning_ir.loss.InfoNCE``: ``cross_entropy(scores, targets.argmax(1))``,
  no temperature, no in-batch negatives; mean over queries.
* :func:`ranknet` = ``lightning_ir.loss.RankNet``: ``log(1 + exp(-(s_i - s_j)))`` for every pair
  with ``y_i > y_j`` in a query, averaged over *all pairs of the batch* (not per query).
* :func:`adr_mse` = ``lightning_ir.loss.ApproxRankMSE(discount="log2")`` (ADR-MSE): approximate
  rank ``1 + sum_{j != i} sigmoid((s_j - s_i) / T)``, teacher rank
  ``argsort(argsort(-y)) + 1``, squared error weighted ``1 / log2(rank + 1)``, plain mean over
  all (valid) entries.

Precision: a loss is computed in the dtype of its ``scores`` (``targets`` are brought to it), and
never below float32: float64 in gives float64 out (and float64 gradients), agreeing with
lightning-ir's classes to ~1e-13 (RankNet, InfoNCE) and ~5e-9 (ADR-MSE, whose weights lightning-ir computes
in float32) (tests/test_losses.py); float16/bfloat16 scores (autocast) are
computed in float32, as lightning-ir's float32 weights and PyTorch's ``cross_entropy`` upcast would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("infonce", "ranknet", "adr-mse")


def compute_dtype(scores: torch.Tensor) -> torch.dtype:
    """The dtype a loss is computed in: that of ``scores``, at least float32."""
    if scores.dtype == torch.float64:
        return torch.float64
    return torch.float32


def _cast(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return x.to(compute_dtype(like))


def _full_mask(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.to(torch.bool)


def info_nce(scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax cross-entropy of the best-target candidate against the others of its query."""
    m = _full_mask(scores, mask)
    s = _cast(scores, scores).masked_fill(~m, float("-inf"))
    t = _cast(targets, scores).masked_fill(~m, float("-inf"))
    return F.cross_entropy(s, t.argmax(dim=1))


def ranknet(scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None,
            temperature: float = 1.0) -> torch.Tensor:
    """Mean over all pairs ``y_i > y_j`` (within a query) of ``softplus(-T (s_i - s_j))``."""
    m = _full_mask(scores, mask)
    s = _cast(scores, scores) * temperature
    t = _cast(targets, scores)
    pairs = (t[:, :, None] > t[:, None, :]) & m[:, :, None] & m[:, None, :]
    if not pairs.any():
        return s.sum() * 0.0  # no informative pair: zero loss that keeps the graph
    diff = s[:, :, None] - s[:, None, :]
    # binary_cross_entropy_with_logits(diff, 1) == softplus(-diff), computed stably
    return F.softplus(-diff[pairs]).mean()


def approx_ranks(scores: torch.Tensor, mask: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
    """``1 + sum_{j != i, j valid} sigmoid((s_j - s_i) / T)`` per candidate ``i``."""
    m = _full_mask(scores, mask)
    s = _cast(scores, scores)
    p = torch.sigmoid((s[:, None, :] - s[:, :, None]) / temperature)  # [b, i, j] = sigmoid(s_j - s_i)
    keep = m[:, None, :] & ~torch.eye(s.shape[1], dtype=torch.bool, device=s.device)[None]
    return (p * keep).sum(-1) + 1


def target_ranks(targets: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """1-based rank of each candidate by descending target among the valid ones (padding last).

    Ties keep candidate order (stable sort), so targets that are already distinct ranks give
    exactly lightning-ir's ``argsort(argsort(targets, descending=True)) + 1``.
    """
    m = _full_mask(targets, mask)
    t = (targets if targets.is_floating_point() else targets.double()).masked_fill(~m, float("-inf"))
    order = torch.argsort(t, dim=1, descending=True, stable=True)
    return torch.argsort(order, dim=1, stable=True) + 1


def adr_mse(scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None,
            temperature: float = 1.0, discount: str | None = "log2") -> torch.Tensor:
    """Approx Discounted Rank MSE: ``mean_i (approx_rank_i - rank_i)^2 * w(rank_i)``."""
    m = _full_mask(scores, mask)
    pred = approx_ranks(scores, m, temperature)
    ranks = target_ranks(targets, m).to(pred.dtype)
    err = (pred - ranks) ** 2
    if discount == "log2":
        err = err / torch.log2(ranks + 1)
    elif discount == "reciprocal":
        err = err / ranks
    elif discount is not None:
        raise ValueError(f"unknown ADR-MSE discount {discount!r} (log2, reciprocal or None)")
    return err[m].mean()


def get(name: str):
    """The loss function named in the config: ``infonce``, ``ranknet`` or ``adr-mse``."""
    try:
        return {"infonce": info_nce, "ranknet": ranknet, "adr-mse": adr_mse}[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}") from None
