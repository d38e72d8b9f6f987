"""Pseudo-queries cut from a passage collection: training queries where real ones are few.

A pseudo-query is a run of ``min_words``..``max_words`` consecutive content words of one passage
(lower-cased ASCII words, function words dropped), the passage it was cut from is its source. With a
teacher that can rank any query (a bi-encoder over the collection), thousands of them give a student
enough distinct queries to learn from when a collection has only a few dozen real ones
(``benchmarks/distill_real.py``: DL20's 54 queries, plus pseudo-queries over DL20's passages).

Passages are chosen uniformly with replacement from the store's order; the store is read once, in
order, keeping only the chosen passages' queries, so memory is bounded by ``n``, not by the corpus.
A passage with fewer than ``max_words`` content words gives no query (so an ``n`` is an upper bound).
"""

from __future__ import annotations

import os
import random
import re
from typing import Iterable, Mapping

import pandas as pd

from ..errors import InputError

STOPWORDS = frozenset(
    "the a an of to in and or for is are was were be been on at by with from as that this it its which what "
    "how why when who".split())
_WORD = re.compile(r"[A-Za-z0-9]+")


def content_words(text: str) -> list[str]:
    """The lower-cased ASCII words of ``text`` that are not function words."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def query_openings(queries: Iterable[str]) -> list[str]:
    """Each query's opening: its words before the first content word (``"what is the"`` of "what is the daily
    life of thai people", ``""`` of "cost of interior concrete flooring"), one per query, repeats kept."""
    openings = []
    for q in queries:
        words = _WORD.findall(q.lower())
        k = next((i for i, w in enumerate(words) if w not in STOPWORDS), len(words))
        openings.append(" ".join(words[:k]))
    return openings


def pseudo_queries_frame(passages: Iterable[Mapping[str, str]], total: int, n: int, min_words: int = 3,
                         max_words: int = 8, seed: int = 0, prefix: str = "p",
                         openings: list[str] | None = None) -> pd.DataFrame:
    """Up to ``n`` pseudo-queries from ``passages`` (``total`` of them, each with ``docno`` and ``text``):
    ``qid`` (``prefix`` + draw number), ``query``, ``docno`` (the source passage), in draw order.

    With ``openings`` (e.g. :func:`query_openings` of real training queries), a query reads like a real one:
    an opening drawn from that list (``""`` among them for queries that start with a content word), then the
    passage's words from the first to the last drawn content word, function words kept. The passages and spans
    drawn are the same as without them (a separate random stream draws the openings)."""
    if n < 1:
        raise ValueError(f"pseudo-queries: n must be at least 1, got {n}")
    if not 1 <= min_words <= max_words:
        raise ValueError(f"pseudo-queries: need 1 <= min_words <= max_words, got {min_words} and {max_words}")
    if total < 1:
        raise ValueError("pseudo-queries: the collection has no passages")
    if openings is not None and not openings:
        raise ValueError("pseudo-queries: openings is empty (pass None for queries without openings)")
    rng = random.Random(seed)
    draws = [rng.randrange(total) for _ in range(n)]
    spans = [(rng.random(), rng.randint(min_words, max_words)) for _ in range(n)]
    opening_rng = random.Random(f"openings-{seed}")
    opened = [opening_rng.choice(openings) for _ in range(n)] if openings else None
    wanted: dict[int, list[int]] = {}
    for i, p in enumerate(draws):
        wanted.setdefault(p, []).append(i)
    rows: list[tuple[int, str, str]] = []
    seen = 0
    for pos, doc in enumerate(passages):
        seen = pos + 1
        if pos not in wanted:
            continue
        words = _WORD.findall(doc["text"].lower())
        content = [k for k, w in enumerate(words) if w not in STOPWORDS]  # positions of the content words
        if len(content) < max_words:
            continue
        for i in wanted[pos]:
            fraction, length = spans[i]
            first = int(fraction * (len(content) - max_words + 1))
            chosen = content[first:first + length]
            if opened is None:
                query = " ".join(words[k] for k in chosen)
            else:  # the same content words, with the function words between them, after an opening
                query = " ".join(filter(None, (opened[i], " ".join(words[chosen[0]:chosen[-1] + 1]))))
            rows.append((i, query, str(doc["docno"])))
    if seen != total:
        raise ValueError(f"pseudo-queries: the collection has {seen} passages, not {total}")
    rows.sort()
    return pd.DataFrame({"qid": [f"{prefix}{i}" for i, _, _ in rows], "query": [q for _, q, _ in rows],
                         "docno": [d for _, _, d in rows]})


def pseudo_queries_from_docstore(docstore: str | os.PathLike, n: int, min_words: int = 3, max_words: int = 8,
                                 seed: int = 0, prefix: str = "p", openings: list[str] | None = None) -> pd.DataFrame:
    """:func:`pseudo_queries_frame` over a docstore; a store that yields no query is an :class:`InputError`."""
    from .docstore import DocStore

    store = DocStore(docstore)
    frame = pseudo_queries_frame(iter(store), len(store), n, min_words, max_words, seed, prefix, openings)
    if frame.empty:
        raise InputError(docstore, f"no passage has {max_words} content words: no pseudo-query could be cut")
    return frame

