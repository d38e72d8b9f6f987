"""A synthetic test collection, generated deterministically from a seed.

Design (a fair small benchmark, not a toy):

* **Topics** are named entities (invented, English-like proper nouns such as "Brelnor"); each
  topic has ``concepts_per_topic`` concepts drawn from ~230 real English synonym groups
  ("car / automobile / vehicle"). A passage belongs to one topic, names its entity, and discusses
  1-4 of its concepts (the first is its main concept), each with one *surface form* chosen
  per passage from a skewed distribution (the first form is the most common).
* **Queries** name a topic's entity and two of its concepts, again with independently chosen
  surface forms. Relevance is graded by concept coverage, not by words:
  3 = both concepts and one of them is the passage's main concept, 2 = both, 1 = one, 0 = none.
* **Vocabulary mismatch**: a relevant passage often says "automobile" where the query says
  "car", so BM25 misses it; a pretrained encoder knows the synonyms, and a cross-encoder can
  learn them, which leaves room for neural re-rankers to beat BM25.
* **Distractors**: passages of other topics share concepts, and some passages mention a second
  topic's entity in passing, so lexical overlap alone is misleading.
* **Splits**: the (topic, concept pair) combinations are permuted once and split into disjoint
  regions for ``train`` (sparse, MS MARCO-like: one judged positive per query), ``val`` (a
  validation split for choosing settings and for the training curves, judged like the test splits)
  and ``test-a`` / ``test-b`` (graded 0-3 judgments of every passage of the topic, like a TREC
  pool). No (topic, concept pair) is in two splits, so no held-out query is a training query in
  other words; ``val`` was carved from the end of the old train region, so the test splits and the
  first train queries are unchanged.

Options for further collections (out-of-domain tables; all off by default, so the default collection's
passages and queries do not change): ``vocabulary: [lo, hi]`` draws concepts only from synonym groups
lo..hi-1 (collections with disjoint vocabularies), ``sentences: [lo, hi]`` sets passage length, and
``titles: true`` gives each passage a title (its entity and a form of its main concept, drawn from a
separate random stream, so texts are the same with or without titles).

Passages are generated in chunks from per-chunk seeds, so a million passages stream with
constant memory and the output never depends on the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator

import numpy as np
import pandas as pd

from ._words import CODAS, FILLER, FUNCTION_WORDS, ONSETS, SYNONYM_GROUPS, VERBS, VOWELS

SPLITS = ("train", "test-a", "test-b", "val")  # index = the split's rng stream: append only
_SPLIT_REGIONS = {"train": (0.0, 0.5), "val": (0.5, 0.6), "test-a": (0.6, 0.8), "test-b": (0.8, 1.0)}
_QID_BASE = {"train": 1_000_000, "test-a": 2_000_000, "test-b": 3_000_000, "val": 4_000_000}
_CHUNK = 2048
MAX_ASPECTS = 4


@dataclass(frozen=True)
class SyntheticSpec:
    seed: int = 42
    passages: int = 5000
    topics: int | None = None  # default: passages // 50 (at least 8)
    concepts_per_topic: int = 8
    form_skew: float = 1.0  # surface form j is chosen with weight 1 / (j + 1) ** form_skew
    cross_mention: float = 0.3  # share of passages that mention another topic's entity
    entity_drop: float = 0.15  # share of passages that do not name their own entity
    sentences: tuple[int, int] = (3, 7)
    groups: tuple[tuple[str, ...], ...] = field(
        default=tuple(tuple(line.split()) for line in SYNONYM_GROUPS.splitlines()), repr=False
    )
    titles: bool = False  # generate a title per passage (separate rng stream: texts unchanged)

    @property
    def n_topics(self) -> int:
        return self.topics if self.topics else max(8, self.passages // 50)

    @classmethod
    def from_config(cls, cfg: dict) -> "SyntheticSpec":
        keys = {"seed", "passages", "topics", "concepts_per_topic", "form_skew", "cross_mention", "entity_drop"}
        kw = {k: v for k, v in cfg.items() if k in keys}
        if cfg.get("titles"):
            kw["titles"] = True
        if cfg.get("sentences"):
            lo, hi = cfg["sentences"]
            if not 1 <= lo <= hi:
                raise ValueError(f"sentences {cfg['sentences']!r}: need 1 <= lo <= hi")
            kw["sentences"] = (int(lo), int(hi))
        if cfg.get("vocabulary"):
            lo, hi = cfg["vocabulary"]
            all_groups = cls.__dataclass_fields__["groups"].default
            if not 0 <= lo < hi <= len(all_groups):
                raise ValueError(f"vocabulary {cfg['vocabulary']!r}: a range of synonym groups within 0..{len(all_groups)}")
            kw["groups"] = all_groups[lo:hi]
        return cls(**kw)


def _pseudo_words(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        k = n - len(out)
        syll = rng.integers(2, 4, size=k)
        o = rng.integers(len(ONSETS), size=(k, 3))
        v = rng.integers(len(VOWELS), size=(k, 3))
        c = rng.integers(len(CODAS), size=(k, 3))
        for i in range(k):
            w = "".join(ONSETS[o[i, j]] + VOWELS[v[i, j]] + CODAS[c[i, j]] for j in range(syll[i]))
            if 4 <= len(w) <= 12 and w not in seen:
                seen.add(w)
                out.append(w)
    return out


class SyntheticCollection:
    """The generated world: entities, topic concepts, passage metadata, text and queries."""

    def __init__(self, spec: SyntheticSpec):
        if spec.passages < 10:
            raise ValueError("synthetic collection needs at least 10 passages")
        if not 2 <= spec.concepts_per_topic <= len(spec.groups):
            raise ValueError(f"concepts_per_topic must be between 2 and {len(spec.groups)}")
        self.spec = spec
        rng = np.random.default_rng([spec.seed, 0])
        T, C = spec.n_topics, spec.concepts_per_topic
        vocab = {w for g in spec.groups for w in g} | set(FUNCTION_WORDS) | set(FILLER)
        self.entities = [w.capitalize() for w in _pseudo_words(rng, T, vocab)]
        self.topic_concepts = np.stack([rng.choice(len(spec.groups), size=C, replace=False) for _ in range(T)])
        N = spec.passages
        self.topic = rng.integers(T, size=N).astype(np.int32)
        # number of aspects 1..4 and which of the topic's concepts (first = main)
        self.n_aspects = rng.choice(np.arange(1, MAX_ASPECTS + 1), size=N, p=[0.15, 0.35, 0.3, 0.2]).astype(np.int8)
        keys = rng.random((N, C))
        self.aspects = np.argsort(keys, axis=1)[:, :MAX_ASPECTS].astype(np.int16)  # indices into topic concepts
        self.form_u = rng.random((N, MAX_ASPECTS)).astype(np.float32)  # surface form draws

    # -- surface forms ---------------------------------------------------------------------
    def _form(self, group: int, u: float) -> str:
        forms = self.spec.groups[group]
        w = 1.0 / (np.arange(len(forms)) + 1.0) ** self.spec.form_skew
        return forms[int(np.searchsorted(np.cumsum(w / w.sum()), u, side="right").clip(0, len(forms) - 1))]

    def passage_groups(self, i: int) -> list[int]:
        t = self.topic[i]
        return [int(self.topic_concepts[t, a]) for a in self.aspects[i, : self.n_aspects[i]]]

    # -- passages --------------------------------------------------------------------------
    def _passage_text(self, i: int, rng: np.random.Generator) -> str:
        spec = self.spec
        t = int(self.topic[i])
        groups = self.passage_groups(i)
        forms = [self._form(g, float(self.form_u[i, j])) for j, g in enumerate(groups)]
        entity = self.entities[t] if rng.random() >= spec.entity_drop else None
        # mention plan: main concept 2-3 times, the others once or twice, the entity 1-2 times
        mentions = [forms[0]] * int(rng.integers(2, 4))
        for f in forms[1:]:
            mentions += [f] * int(rng.integers(1, 3))
        if entity:
            mentions += [entity] * int(rng.integers(1, 3))
        if rng.random() < spec.cross_mention:
            mentions.append(self.entities[int(rng.integers(len(self.entities)))])
        rng.shuffle(mentions)
        n_sent = int(rng.integers(spec.sentences[0], spec.sentences[1] + 1))
        n_sent = max(1, min(n_sent, len(mentions)))
        cuts = np.sort(rng.choice(np.arange(1, len(mentions)), size=n_sent - 1, replace=False)) if n_sent > 1 else []
        sentences = []
        for part in np.split(np.array(mentions, dtype=object), cuts):
            words = []
            for m in part:
                words += [FUNCTION_WORDS[int(rng.integers(len(FUNCTION_WORDS)))], m]
                if rng.random() < 0.6:
                    words.append(VERBS[int(rng.integers(len(VERBS)))])
                words += [FUNCTION_WORDS[int(rng.integers(len(FUNCTION_WORDS)))],
                          FILLER[int(rng.integers(len(FILLER)))]]
            s = " ".join(words)
            sentences.append(s[0].upper() + s[1:] + ".")
        return " ".join(sentences)

    def _title(self, i: int, rng: np.random.Generator) -> str:
        """A short title: the passage's entity and a form of its main concept (sometimes of a second)."""
        groups = self.passage_groups(i)
        words = [self.entities[int(self.topic[i])], self._form(groups[0], float(rng.random()))]
        if len(groups) > 1 and rng.random() < 0.5:
            words += ["and", self._form(groups[1], float(rng.random()))]
        return " ".join(words)

    def iter_passages(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, str]]:
        """Stream ``{"docno", "text"}`` (and ``"title"`` with ``titles``) for passages ``start..stop``
        (deterministic per chunk)."""
        stop = self.spec.passages if stop is None else min(stop, self.spec.passages)
        chunk = start // _CHUNK
        while chunk * _CHUNK < stop:
            rng = np.random.default_rng([self.spec.seed, 1, chunk])
            trng = np.random.default_rng([self.spec.seed, 5, chunk]) if self.spec.titles else None
            lo = chunk * _CHUNK
            for i in range(lo, min(lo + _CHUNK, self.spec.passages)):
                text = self._passage_text(i, rng)  # always advance the rng, even before ``start``
                title = self._title(i, trng) if trng is not None else None
                if start <= i < stop:
                    yield {"docno": str(i), "text": text} if title is None else {"docno": str(i), "text": text,
                                                                                 "title": title}
            chunk += 1

    # -- queries and qrels -----------------------------------------------------------------
    @cached_property
    def _by_topic(self) -> list[np.ndarray]:
        order = np.argsort(self.topic, kind="stable")
        bounds = np.searchsorted(self.topic[order], np.arange(self.spec.n_topics + 1))
        return [order[bounds[t] : bounds[t + 1]] for t in range(self.spec.n_topics)]

    def grades(self, t: int, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Docs of topic ``t`` and their grades for a query on concept indices ``a``, ``b``."""
        docs = self._by_topic[t]
        asp = self.aspects[docs]
        present = np.arange(MAX_ASPECTS)[None, :] < self.n_aspects[docs][:, None]
        has_a = ((asp == a) & present).any(1)
        has_b = ((asp == b) & present).any(1)
        main_ab = (asp[:, 0] == a) | (asp[:, 0] == b)
        g = np.where(has_a & has_b, np.where(main_ab, 3, 2), np.where(has_a | has_b, 1, 0))
        return docs, g

    @cached_property
    def _eligible_pairs(self) -> list[tuple[int, int, int]]:
        C = self.spec.concepts_per_topic
        pairs = []
        for t in range(self.spec.n_topics):
            for a in range(C):
                for b in range(a + 1, C):
                    _, g = self.grades(t, a, b)
                    if (g == 3).any():
                        pairs.append((t, a, b))
        rng = np.random.default_rng([self.spec.seed, 2])
        perm = rng.permutation(len(pairs))
        return [pairs[i] for i in perm]

    def max_queries(self, split: str) -> int:
        lo, hi = _SPLIT_REGIONS[split]
        n = len(self._eligible_pairs)
        return int(hi * n) - int(lo * n)

    def queries(self, split: str, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``n`` queries of ``split`` and their qrels (train: one positive per query)."""
        if split not in SPLITS:
            raise ValueError(f"unknown synthetic split {split!r}; choose one of {SPLITS}")
        pairs = self._eligible_pairs
        lo, hi = _SPLIT_REGIONS[split]
        region = pairs[int(lo * len(pairs)) : int(hi * len(pairs))]
        if n > len(region):
            raise ValueError(
                f"synthetic split {split!r} has only {len(region)} distinct queries for this collection "
                f"size; ask for fewer queries or more passages"
            )
        rng = np.random.default_rng([self.spec.seed, 3, SPLITS.index(split)])
        templates = ["{e} {a} {b}", "{a} and {b} of {e}", "how does {e} {a} affect {b}", "what is the {a} {b} in {e}",
                     "{e} {b} {a}", "{a} {b} {e}"]
        qrows, rrows = [], []
        for i, (t, a, b) in enumerate(region[:n]):
            qid = str(_QID_BASE[split] + i)
            ga, gb = int(self.topic_concepts[t, a]), int(self.topic_concepts[t, b])
            fa, fb = self._form(ga, float(rng.random())), self._form(gb, float(rng.random()))
            if rng.random() < 0.5:
                fa, fb = fb, fa
            tmpl = templates[int(rng.integers(len(templates)))]
            qrows.append((qid, tmpl.format(e=self.entities[t], a=fa, b=fb)))
            docs, g = self.grades(t, a, b)
            if split == "train":
                best = docs[g == g.max()]
                rrows.append((qid, str(int(best[int(rng.integers(len(best)))])), 1))
            else:
                rrows += [(qid, str(int(d)), int(x)) for d, x in zip(docs, g)]
        return (pd.DataFrame(qrows, columns=["qid", "query"]),
                pd.DataFrame(rrows, columns=["qid", "docno", "label"]))
