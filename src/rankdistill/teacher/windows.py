"""The listwise sliding-window schedule (RankGPT / RankZephyr, as castorini/rank_llm runs it).

A query's candidate list (first-stage order) is re-ranked by an LLM that sees ``window``
passages at a time. Windows move from the *bottom* of the top-``depth`` list to the top, ``step``
positions at a time, and each window's output permutation is applied to the list before the
next window's prompt is built, so relevant passages "bubble up" across overlapping windows.

Positions follow rank_llm's batched loop (``ListwiseRankLLM._sliding_windows_batched_async``,
which every rank_llm entry point uses): with ``n`` candidates,

* ``end = min(depth, n)``, ``start = max(end - window, 0)``;
* after a window ``[start, end)``: ``end -= step``, ``start = max(start - step, 0)``;
* stop when the window just processed started at 0, or the next one would be empty.

For ``depth=100, window=20, step=10`` this gives the 9 windows [80,100), [70,90), ..., [0,20)
(``(depth - window) / step + 1``). The window is capped at ``depth`` as rank_llm caps it at
``top_k_retrieve``. The schedule depends only on positions, never on the LLM's output, so it is
computed up front; only the *contents* of a window depend on the previous windows.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

T = TypeVar("T")


def schedule(n: int, window: int = 20, step: int = 10, depth: int = 100) -> list[tuple[int, int]]:
    """Window positions ``[(start, end), ...]`` (0-based, end exclusive) in processing order."""
    if window < 1 or step < 1 or depth < 1:
        raise ValueError(f"window ({window}), step ({step}) and depth ({depth}) must be >= 1")
    if n < 0:
        raise ValueError("n must be >= 0")
    window = min(window, depth)
    end = min(depth, n)
    start = max(end - window, 0)
    out: list[tuple[int, int]] = []
    while end > start:
        out.append((start, end))
        if start == 0:
            break
        end -= step
        start = max(start - step, 0)
    return out


def apply_permutation(items: list[T], start: int, end: int, permutation: Sequence[int]) -> None:
    """Reorder ``items[start:end]`` in place: new position j holds old window position ``permutation[j]``.

    ``permutation`` must be a permutation of ``range(end - start)`` (see :mod:`.parse`, which
    repairs LLM output into one).
    """
    n = end - start
    if sorted(permutation) != list(range(n)):
        raise ValueError(f"not a permutation of range({n}): {list(permutation)}")
    window = items[start:end]
    items[start:end] = [window[p] for p in permutation]


def rerank_list(items: Sequence[T], rank_window, window: int = 20, step: int = 10, depth: int = 100) -> list[T]:
    """Run the whole sliding window over ``items`` with ``rank_window(window_items) -> permutation``.

    The sequential reference (one query, one window at a time); :func:`rankdistill.teacher.rerank_run_file`
    runs the same schedule for many queries in lockstep batches.
    """
    items = list(items)
    for start, end in schedule(len(items), window, step, depth):
        apply_permutation(items, start, end, rank_window(items[start:end]))
    return items[: min(depth, len(items))]
