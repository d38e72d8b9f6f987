"""Training queries generated from a collection: the ``generated`` query-set kind.

A collection with few or no training queries still has passages; a query cut from (or written for) a
passage has that passage as its positive, recorded in the query set's qrels (grade 1), so it can be a
distillation set's query set (a teacher ranks its candidates) or a stage-1 set (InfoNCE on the source).

Methods (``method:``):

* ``spans`` (:mod:`rankdistill.datasets.pseudo_queries`): ``queries`` draws of ``min_words``..``max_words``
  consecutive content words of a passage, seeded, optionally after the opening of a real query (``openings:``
  a query set whose queries' openings, "what is the", "how", "", are drawn from).
* ``llm`` (:mod:`rankdistill.datasets.llm_queries`): doc2query as InPars and Promptagator do it, through the
  teacher's LLM backends (``backend: hf`` on a CPU or GPU, the packaged SmolLM2 GGUF by default; ``vllm`` on a
  GPU; ``openai``): a few-shot chat prompt (three packaged MS-MARCO-like examples, or ``examples:`` a query set's
  queries and judged passages) asks for one query per passage, greedily; ``queries`` passages are drawn without
  replacement. Replies are cleaned (chat artefacts, ``Query:`` labels, quotes, all but the first line) and
  dropped when empty, garbage, shorter than ``min_words`` words or a repeat; ``filter:`` (a bm25 first stage and a
  ``depth``) is InPars' filter: a query whose source passage that first stage's BM25 does not rank in its top
  ``depth`` is dropped (searched in the job, on the first stage's index of the collection, so the DAG has no
  cycle). ``generated.json`` holds the prompt (wording and examples), model and backend.

``exclude:`` keeps a hold-out clean: the passages of each listed query set's judgments or of a first stage's
candidates for it (its top ``depth``) are never a source; generation draws from the other passages only
(so the draws are those of a collection without them). The rule's ``.json`` says how many passages were
excluded per entry and how many draws gave no query, and why (``dropped``, ``dropped_why``).
"""

from __future__ import annotations

import logging
import os
import random
import time
from typing import Sequence

from ..errors import InputError
from ..io import write_json
from .queries import read_qrels, read_queries, write_qrels, write_queries

log = logging.getLogger(__name__)

METHODS = ("spans", "llm")
SETTINGS = {  # the keys of each method that generated.json's settings record
    "spans": ("queries", "min_words", "max_words", "seed", "openings"),
    "llm": ("queries", "min_words", "seed", "model", "backend", "dtype", "device", "max_new_tokens", "batch_size",
            "max_passage_words", "context_size", "examples", "num_examples", "filter"),
}


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
    from .pseudo_queries import pseudo_queries_frame

    store, in_store, total, passages = _drawable(docstore, excluded)
    frame = pseudo_queries_frame(passages, total, spec["queries"], spec["min_words"], spec["max_words"],
                                 seed=spec["seed"], prefix=prefix, openings=openings)
    stats = {"passages": len(store), "passages_excluded": in_store, "passages_drawn_from": total,
             "draws": spec["queries"],
             "dropped": {"source_too_short": spec["queries"] - len(frame)},
             "dropped_why": {"source_too_short": f"the drawn passage has fewer than max_words={spec['max_words']} "
                                                 "content words"}}
    return frame, stats


def _drawable(docstore, excluded: set[str]):
    from .docstore import DocStore

    store = DocStore(docstore)
    in_store = sum(1 for d in excluded if d in store) if excluded else 0
    total = len(store) - in_store
    if total < 1:
        raise InputError(docstore, "every passage of the collection is excluded: no query can be generated")
    passages = (d for d in store if str(d["docno"]) not in excluded) if excluded else iter(store)
    return store, in_store, total, passages


def query_set_examples(queries: str | os.PathLike, qrels: str | os.PathLike, docstore: str | os.PathLike, n: int,
                       seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (passage, query) examples from a query set: a seeded sample of its queries with a judged relevant
    passage (its highest grade, then the first), the passage's text from ``docstore``."""
    from .docstore import DocStore

    q = read_queries(queries)
    qtext = dict(zip(q["qid"].astype(str), q["query"]))
    rel = read_qrels(qrels)
    rel = rel[rel["label"] > 0].assign(qid=lambda f: f["qid"].astype(str), docno=lambda f: f["docno"].astype(str))
    best = rel.sort_values(["qid", "label"], ascending=[True, False], kind="stable").drop_duplicates("qid")
    pairs = [(q, d) for q, d in zip(best["qid"], best["docno"]) if q in qtext]
    if not pairs:
        raise InputError(qrels, "examples: no query of the query set has a relevant passage")
    pairs = random.Random(seed).sample(pairs, min(n, len(pairs)))
    docs = DocStore(docstore).get_docs([d for _, d in pairs], missing="skip")
    from ..teacher.prompts import doc_content

    return [(doc_content(*docs[d]), qtext[q]) for q, d in pairs if d in docs]


def generate_llm(docstore: str | os.PathLike, spec: dict, excluded: set[str], prefix: str, *,
                 examples: Sequence[tuple[str, str]] | None = None, backend_obj=None, convert_dir: str | None = None,
                 threads: int | None = None, filter_index: str | os.PathLike | None = None,
                 filter_bm25: dict | None = None):
    """The ``llm`` method over the store's passages that are not ``excluded``: (frame, stats).

    ``backend_obj`` replaces the backend built from ``spec`` (tests); ``filter_index`` and ``filter_bm25`` (the
    filter first stage's index and BM25 settings) switch on the InPars filter (``spec["filter"]["depth"]``)."""
    import pandas as pd

    from ..teacher.prompts import doc_content
    from . import llm_queries as L

    store, in_store, total, passages = _drawable(docstore, excluded)
    n = min(int(spec["queries"]), total)
    draws = random.Random(spec["seed"]).sample(range(total), n)  # without replacement: greedy gives one query
    wanted = {p: i for i, p in enumerate(draws)}
    sources: list[tuple[str, str] | None] = [None] * n
    for pos, doc in enumerate(passages):
        if pos in wanted:
            sources[wanted[pos]] = (str(doc["docno"]), doc_content(doc.get("title") or "", doc.get("body", doc["text"])))
    n_store = len(store)
    store.close()
    examples = list(examples) if examples else list(L.EXAMPLES)
    if backend_obj is None:
        from ..teacher.backends import make_backend

        backend_obj = make_backend(spec["backend"], spec["model"], dtype=spec["dtype"], device=spec.get("device"),
                                   context_size=spec["context_size"], max_new_tokens=spec["max_new_tokens"],
                                   stop_at_eos=True, convert_dir=convert_dir, threads=threads,
                                   openai=spec.get("openai") or None, window=None)  # no listwise window fitting
    usable = [i for i, s in enumerate(sources) if s is not None and s[1].strip()]
    source_empty = n - len(usable)
    replies: dict[int, str] = {}
    tokens = 0
    start = time.perf_counter()
    # vLLM batches continuously: one call with every prompt; the others take batch_size passages per call
    bs = len(usable) or 1 if getattr(backend_obj, "name", "") == "vllm" else max(1, int(spec["batch_size"]))
    for k in range(0, len(usable), bs):
        batch = usable[k:k + bs]
        prompts = [L.build_prompt(sources[i][1], backend_obj.tokenizer, examples, spec["max_passage_words"])
                   for i in batch]
        for i, g in zip(batch, backend_obj.generate(prompts, int(spec["max_new_tokens"]))):
            replies[i] = g.text
            tokens += g.tokens
        log.info("%d/%d passages: %.2f queries/s", k + len(batch), len(usable),
                 (k + len(batch)) / max(time.perf_counter() - start, 1e-9))
    seconds = time.perf_counter() - start
    kept, dropped, cleaned = L.judge((replies[i] for i in usable), spec["min_words"])
    rows = [(i, q, sources[i][0]) for i, q in zip(usable, kept) if q is not None]
    frame = pd.DataFrame({"qid": [f"{prefix}{i}" for i, _, _ in rows], "query": [q for _, q, _ in rows],
                          "docno": [d for _, _, d in rows]})
    dropped = {"source_empty": source_empty, **dropped}
    flt = spec.get("filter")
    if flt and filter_index is not None and len(frame):
        found = L.source_found(frame, str(filter_index), filter_bm25 or {}, int(flt["depth"]))
        dropped["source_not_retrieved"] = int((~found).sum())
        frame = frame[found.to_numpy()].reset_index(drop=True)
    elif flt:
        dropped["source_not_retrieved"] = 0
    stats = {"passages": n_store, "passages_excluded": in_store, "passages_drawn_from": total, "draws": n,
             "dropped": dropped, "dropped_why": {k: L.DROP_WHY[k] for k in dropped},
             "replies_cleaned": cleaned, "generated_tokens": tokens, "seconds": round(seconds, 3),
             "queries_per_s": round(len(usable) / seconds, 3) if seconds > 0 else None,
             "replies": [replies[i] for i in usable[:5]],
             "prompt": L.template(examples), "prompt_key": L.template_key(L.template(examples)),
             "model": spec["model"], "backend": spec["backend"]}
    return frame, stats


def build_generated_query_set(spec: dict, name: str, docstore: str | os.PathLike, queries_out: str | os.PathLike,
                              qrels_out: str | os.PathLike, stats_out: str | os.PathLike, *,
                              exclude: Sequence[tuple[str, str, int | None]] = (),
                              openings_queries: str | os.PathLike | None = None,
                              examples: tuple | None = None, filter_index: str | os.PathLike | None = None,
                              filter_bm25: dict | None = None, convert_dir: str | None = None,
                              threads: int | None = None, backend_obj=None) -> dict:
    """Write a generated query set (``queries.tsv``; ``qrels.txt``: each query's source passage, grade 1) and its
    statistics (``stats_out``); returns the statistics.

    ``spec``: the ``query_sets`` entry (kind generated, schema defaults filled); ``exclude``: ``(label, file, depth)``
    of each ``exclude:`` entry (:func:`excluded_docnos`); ``openings_queries``: the queries file of ``openings:``.
    ``llm`` only: ``examples`` (queries, qrels, docstore) of the ``examples:`` query set; ``filter_index`` and
    ``filter_bm25``: the ``filter:`` first stage's index and BM25 settings; ``convert_dir``: where a ``.gguf`` model's
    de-quantised copy is cached; ``threads``: CPU threads; ``backend_obj``: a backend to use instead (tests)."""
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
    if method == "llm":
        pairs = None
        if examples is not None:
            pairs = query_set_examples(*examples, n=spec["num_examples"], seed=spec["seed"])
        frame, stats = generate_llm(docstore, spec, excluded, prefix, examples=pairs, backend_obj=backend_obj,
                                    convert_dir=convert_dir, threads=threads, filter_index=filter_index,
                                    filter_bm25=filter_bm25)
        why = "every reply was dropped: " + ", ".join(f"{k} {v}" for k, v in stats["dropped"].items() if v)
    else:
        frame, stats = generate_spans(docstore, spec, excluded, openings, prefix)
        why = f"no passage has {spec['max_words']} content words"
    if frame.empty:
        raise InputError(docstore, f"query set {name}: no query could be generated ({why})")
    leaked = frame["docno"].isin(excluded)
    assert not leaked.any(), "an excluded passage was a source"  # generate_spans never reads them
    write_queries(frame[["qid", "query"]], queries_out)
    write_qrels(frame.assign(label=1)[["qid", "docno", "label"]], qrels_out)
    stats = {"name": name, "method": method, "queries": int(len(frame)),
             "distinct_queries": int(frame["query"].nunique()), "distinct_sources": int(frame["docno"].nunique()),
             "settings": {k: spec[k] for k in SETTINGS[method] if k in spec} | {"prefix": prefix},
             **stats, "exclude": per_source, "examples": list(frame["query"].head(5))}
    write_json(stats_out, stats)
    log.info("%s: %d queries generated (%s) from %d of %d passages (%d excluded)", name, len(frame), method,
             stats["passages_drawn_from"], stats["passages"], stats["passages_excluded"])
    return stats
