"""Training queries generated from a collection: the ``generated`` query-set kind.

A collection with few or no training queries still has passages; a query cut from (or written for) a
passage has that passage as its positive, recorded in the query set's qrels (grade 1), so it can be a
distillation set's query set (a teacher ranks its candidates) or a stage-1 set (InfoNCE on the source).

Methods (``method:``):

* ``spans`` (:mod:`rankdistill.datasets.pseudo_queries`): ``queries`` draws of ``min_words``..``max_words``
  consecutive content words of a passage, seeded, optionally after the opening of a real query (``openings:``
  a query set whose queries' openings, "what is the", "how", "", are drawn from).

``exclude:`` keeps a hold-out clean: the passages of each listed query set's judgments or of a first stage's
candidates for it (its top ``depth``) are never a source; generation draws from the other passages only
(so the draws are those of a collection without them). The rule's ``.json`` says how many passages were
excluded per entry and how many draws gave no query, and why.
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

from ..errors import InputError
from ..io import write_json
from .queries import read_qrels, read_queries, write_qrels, write_queries

log = logging.getLogger(__name__)

METHODS = ("spans",)


def excluded_docnos(sources: Sequence[tuple[str, str, int | None]]) -> tuple[set[str], list[dict]]:
    """The docnos of ``sources``, each ``(label, path, depth)``: a run file (its top ``depth`` per query; None:
    all) or, for a path ending in ``qrels.txt``, a qrels file (every judged passage); plus per-source counts."""
    from ..runs import cut, read_run

    docnos: set[str] = set()
    report = []
    for label, path, depth in sources:
        if str(path).endswith("qrels.txt"):
            these = set(read_qrels(path)["docno"].astype(str))
        else:
            run = read_run(path)
            these = set((cut(run, depth) if depth else run)["docno"].astype(str))
        report.append({"source": label, "file": str(path), "passages": len(these)})
        docnos |= these
    return docnos, report


def generate_spans(docstore: str | os.PathLike, spec: dict, excluded: set[str], openings: list[str] | None,
                   prefix: str):
    """The ``spans`` method over the store's passages that are not ``excluded``: (frame, stats)."""
    from .docstore import DocStore
    from .pseudo_queries import pseudo_queries_frame

    store = DocStore(docstore)
    in_store = sum(1 for d in excluded if d in store) if excluded else 0
    total = len(store) - in_store
    if total < 1:
        raise InputError(docstore, "every passage of the collection is excluded: no query can be generated")
    passages = (d for d in store if str(d["docno"]) not in excluded) if excluded else iter(store)
    frame = pseudo_queries_frame(passages, total, spec["queries"], spec["min_words"], spec["max_words"],
                                 seed=spec["seed"], prefix=prefix, openings=openings)
    stats = {"passages": len(store), "passages_excluded": in_store, "passages_drawn_from": total,
             "draws": spec["queries"],
             "dropped": {"source_too_short": spec["queries"] - len(frame)},
             "dropped_why": {"source_too_short": f"the drawn passage has fewer than max_words={spec['max_words']} "
                                                 "content words"}}
    return frame, stats


def build_generated_query_set(spec: dict, name: str, docstore: str | os.PathLike, queries_out: str | os.PathLike,
                              qrels_out: str | os.PathLike, stats_out: str | os.PathLike, *,
                              exclude: Sequence[tuple[str, str, int | None]] = (),
                              openings_queries: str | os.PathLike | None = None) -> dict:
    """Write a generated query set (``queries.tsv``; ``qrels.txt``: each query's source passage, grade 1) and its
    statistics (``stats_out``); returns the statistics.

    ``spec``: the ``query_sets`` entry (kind generated, schema defaults filled); ``exclude``: ``(label, file, depth)``
    of each ``exclude:`` entry (:func:`excluded_docnos`); ``openings_queries``: the queries file of ``openings:``."""
    from .pseudo_queries import query_openings

    method = spec.get("method", "spans")
    if method not in METHODS:
        raise ValueError(f"query set {name}: unknown generation method {method!r} (have {', '.join(METHODS)})")
    excluded, per_source = excluded_docnos(exclude)
    openings = None
    if openings_queries is not None:
        openings = query_openings(read_queries(openings_queries)["query"])
        if not openings:
            raise InputError(openings_queries, "no queries to take openings from")
    prefix = spec.get("prefix") or f"{name}-"
    frame, stats = generate_spans(docstore, spec, excluded, openings, prefix)
    if frame.empty:
        raise InputError(docstore, f"query set {name}: no query could be generated "
                                   f"(no passage has {spec['max_words']} content words)")
    leaked = frame["docno"].isin(excluded)
    assert not leaked.any(), "an excluded passage was a source"  # generate_spans never reads them
    write_queries(frame[["qid", "query"]], queries_out)
    write_qrels(frame.assign(label=1)[["qid", "docno", "label"]], qrels_out)
    stats = {"name": name, "method": method, "queries": int(len(frame)),
             "distinct_queries": int(frame["query"].nunique()), "distinct_sources": int(frame["docno"].nunique()),
             "settings": {k: spec[k] for k in ("queries", "min_words", "max_words", "seed") if k in spec}
             | {"openings": spec.get("openings"), "prefix": prefix},
             **stats, "exclude": per_source, "examples": list(frame["query"].head(5))}
    write_json(stats_out, stats)
    log.info("%s: %d queries generated (%s) from %d of %d passages (%d excluded)", name, len(frame), method,
             stats["passages_drawn_from"], stats["passages"], stats["passages_excluded"])
    return stats
