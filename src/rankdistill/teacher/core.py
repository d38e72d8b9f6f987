"""The teacher loop: sliding windows for many queries in lockstep, batched across queries, cached.

Within a query the windows are sequential (window k's prompt shows the order window k-1 left),
so one query alone keeps an LLM busy with one prompt at a time. Here up to ``batch_size``
queries advance *together*: every step sends the current window of each active query as one
batch, applies each permutation, and moves each query to its next window; a finished query's
slot is taken by the next query. With greedy decoding the result is the same ranking as one
window at a time (tested), only faster.

Every step first looks its prompts up in the :class:`~rankdistill.teacher.cache.WindowCache`
and sends only the misses to the backend, then appends the new responses (fsync'ed) before
applying them: a killed job resumes where it stopped and a rerun makes no LLM call.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from . import prompts as P
from .cache import WindowCache
from ..errors import RankDistillError
from .parse import OK, RepairStats, _shown, parse_permutation
from .windows import apply_permutation, schedule

log = logging.getLogger("rankdistill.teacher")


@dataclass
class _Query:
    qid: str
    query: str
    docnos: list[str]
    texts: dict[str, str]
    windows: list[tuple[int, int]]
    step: int = 0

    @property
    def done(self) -> bool:
        return self.step >= len(self.windows)


@dataclass
class Settings:
    prompt: str = "rankzephyr"
    window: int = 20
    step: int = 10
    depth: int = 100
    batch_size: int = 32
    max_passage_words: int = 300
    context_size: int = 4096
    max_new_tokens: int | None = None


@dataclass
class Outcome:
    rankings: dict[str, list[str]] = field(default_factory=dict)  # qid -> docnos, teacher order (top depth)
    stats: RepairStats = field(default_factory=RepairStats)
    backend_calls: int = 0  # generate() calls (batches sent to the LLM)
    seconds: float = 0.0


def rank_queries(
    queries: Iterable[tuple[str, str, Sequence[str]]],
    texts: Callable[[Sequence[str]], Mapping[str, str]],
    backend,
    settings: Settings,
    cache: WindowCache | None = None,
    on_step: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Re-rank ``(qid, query text, candidate docnos in first-stage order)`` with the sliding window.

    ``texts(docnos)`` returns passage texts (called when a query enters the batch, so memory is
    bounded by ``batch_size``). ``on_step(outcome)`` runs after every step (progress; tests use it
    to simulate a kill). Returns each query's top-``depth`` docnos in teacher order.
    """
    s = settings
    cache = cache if cache is not None else WindowCache(None)
    out = Outcome()
    t0 = time.perf_counter()
    pending = iter(queries)
    active: list[_Query] = []
    exhausted = False
    while True:
        while not exhausted and len(active) < s.batch_size:
            try:
                qid, qtext, docnos = next(pending)
            except StopIteration:
                exhausted = True
                break
            docnos = list(docnos)[: s.depth]
            wins = schedule(len(docnos), s.window, s.step, s.depth)
            st = _Query(str(qid), qtext, docnos, dict(texts(docnos)) if wins else {}, wins)
            if st.done:
                out.rankings[st.qid] = st.docnos
            else:
                active.append(st)
        if not active:
            break
        # one prompt per active query: its current window, in the order the previous window left
        batch = []
        for st in active:
            a, b = st.windows[st.step]
            prompt = P.build(s.prompt, st.query, [st.texts[d] for d in st.docnos[a:b]], backend.tokenizer,
                             s.max_passage_words, s.context_size, getattr(backend, "token_counter", None))
            m = backend.max_new_tokens(b - a, s.max_new_tokens)
            batch.append((st, a, b, prompt, m, prompt.key(backend.model_key, backend.gen_key(m))))
        misses: dict[int, list[int]] = {}
        for i, (_, _, _, _, m, key) in enumerate(batch):
            if key not in cache:
                misses.setdefault(m, []).append(i)
        new = []
        parsed_new: dict[str, object] = {}
        for m, idx in misses.items():  # same output budget per call, so batching never changes a window's output
            uniq = list(dict.fromkeys(batch[i][5] for i in idx))
            first = {batch[i][5]: i for i in reversed(idx)}
            gens = backend.generate([batch[first[k]][3] for k in uniq], m)
            out.backend_calls += 1
            if len(gens) != len(uniq):
                raise RankDistillError(f"teacher backend {getattr(backend, 'name', backend)!r} returned "
                                       f"{len(gens)} generations for {len(uniq)} prompts")
            for k, g in zip(uniq, gens):
                text = g.text if isinstance(g.text, str) else ""
                # parse before caching: a response is cached only once it is known to parse (it always
                # does: parse_permutation never raises), so no cached entry can make a rerun fail
                parsed_new[k] = parse_permutation(text, batch[first[k]][2] - batch[first[k]][1])
                new.append({"key": k, "response": text, "tokens": int(g.tokens)})
                out.stats.generated += 1
                out.stats.generated_tokens += int(g.tokens)
        cache.append(new)
        for st, a, b, prompt, m, key in batch:
            if key in parsed_new:
                response, parsed = cache.get(key)["response"], parsed_new[key]
            else:
                out.stats.cached += 1
                response = cache.response(key)
                parsed = parse_permutation(response, b - a)
            where = f"{st.qid}[{a}:{b}]"
            out.stats.add(parsed, response, where)
            if parsed.status != OK:
                log.info("window %s %s: %d ids, %d duplicate, %d out of range, %d missing; response %r",
                         where, parsed.status, parsed.ids, parsed.duplicates, parsed.out_of_range,
                         parsed.missing, _shown(response, 200))
            apply_permutation(st.docnos, a, b, parsed.permutation)
            st.step += 1
        for st in [st for st in active if st.done]:
            out.rankings[st.qid] = st.docnos
        active = [st for st in active if not st.done]
        out.seconds = time.perf_counter() - t0
        if on_step is not None:
            on_step(out)
    out.seconds = time.perf_counter() - t0
    return out


def select_queries(qids: Sequence[str], limit: int | None = None, seed: int = 42,
                   shard: int = 0, shards: int = 1) -> list[str]:
    """The queries a (sharded) teacher job ranks, in input order.

    ``limit``: a seeded random sample of that many queries; samples are nested (the 1k sample
    is contained in the 2k sample of the same seed). ``shard``/``shards``: every ``shards``-th
    query of the selection, so the shards of a job partition exactly the unsharded selection.
    """
    if shards < 1 or not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards} is not valid")
    qids = list(qids)
    if limit is not None and limit < len(qids):
        order = sorted(qids)
        random.Random(seed).shuffle(order)
        keep = set(order[:limit])
        qids = [q for q in qids if q in keep]
    return qids[shard::shards]


def candidate_lists(run, depth: int) -> dict[str, list[str]]:
    """qid -> its top ``depth`` docnos in first-stage order (:func:`rankdistill.runs.sort_run`), queries in
    run order."""
    from ..runs import sort_run

    run = sort_run(run)
    run = run[run["rank"] <= depth]
    return {q: list(g["docno"]) for q, g in run.groupby("qid", sort=False)}


def rank_candidates(selected: Sequence[str], qtext: Mapping[str, str], cands: Mapping[str, Sequence[str]],
                    texts: Callable[[Sequence[str]], Mapping[str, str]], backend, settings: Settings,
                    cache: WindowCache | None = None, on_step: Callable[[Outcome], None] | None = None):
    """The teacher's run of the queries ``selected``: ``(frame, outcome)``, the frame ``qid, docno, score``
    holding each query's top ``depth`` in teacher order with scores ``n, n-1, ...`` (rank r gets
    ``n - r + 1``, lightning-ir's rank targets). The rule (:func:`rerank_run_file`) and the PyTerrier transformer
    (:class:`rankdistill.api.Teacher`) both rank through this function."""
    import pandas as pd

    items = ((q, qtext[q], cands[q]) for q in selected)
    outcome = rank_queries(items, texts, backend, settings, cache, on_step)
    rows = []
    for q in selected:
        docs = outcome.rankings[q]
        n = len(docs)
        rows += [(q, d, float(n - i)) for i, d in enumerate(docs)]
    return pd.DataFrame(rows, columns=["qid", "docno", "score"]), outcome


def _read_inputs(run_path, queries_path, depth: int, limit_queries: int | None, seed: int, shard: int, shards: int):
    """(query texts, each selected query's top-``depth`` candidates, number of queries in the run).

    The run is streamed twice (its query ids, then only the selected queries' lines), so a 10k
    sample of a 500k-query training run holds 10k queries in memory.
    """
    from ..datasets.queries import read_queries
    from ..errors import InputError
    from ..runs import read_run, run_queries

    in_run = run_queries(run_path)
    selected = select_queries(in_run, limit_queries, seed, shard, shards)
    cands = candidate_lists(read_run(run_path, only=set(selected), allow_empty=True), depth)
    queries = read_queries(queries_path)
    qtext = dict(zip(queries["qid"], queries["query"]))
    missing = [q for q in selected if q not in qtext]
    if missing:
        raise InputError(queries_path, f"{len(missing)} run queries have no text here, e.g. {missing[:3]}")
    return qtext, {q: cands[q] for q in selected}, len(in_run)


def rerank_run_file(
    run: str,
    queries: str,
    docstore: str,
    out_run: str,
    summary: str | None = None,
    *,
    model: str,
    backend: str = "hf",
    prompt: str = "rankzephyr",
    window: int = 20,
    step: int = 10,
    depth: int = 100,
    batch_size: int = 32,
    max_passage_words: int = 300,
    context_size: int = 4096,
    max_new_tokens: int | None = None,
    stop_at_eos: bool = False,
    dtype: str = "auto",
    device: str | None = None,
    openai: dict | None = None,
    tokenizer: str | None = None,
    limit_queries: int | None = None,
    seed: int = 42,
    shard: int = 0,
    shards: int = 1,
    cache_dir: str | None = None,
    convert_dir: str | None = None,
    threads: int | None = None,
    tag: str = "teacher",
    backend_obj=None,
    on_step: Callable[[Outcome], None] | None = None,
) -> dict:
    """Re-rank a first-stage run's top ``depth`` with an LLM teacher; write the run and a JSON summary.

    The output run holds each selected query's top ``depth`` in teacher order with scores
    ``depth, depth-1, ...`` (rank r gets ``n - r + 1``, lightning-ir's rank targets). ``cache_dir``
    is the window cache folder (keep it outside Snakemake outputs); ``backend_obj`` replaces the
    backend built from the settings (tests, notebooks). Returns the summary dict.
    """
    from ..datasets import DocStore
    from ..errors import InputError
    from ..io import write_json
    from ..runs import write_run

    settings = Settings(prompt, window, step, depth, batch_size, max_passage_words, context_size, max_new_tokens)
    P.messages(prompt, "q", ["p"], 1)  # fail fast on an unknown prompt kind
    qtext, cands, in_run = _read_inputs(run, queries, depth, limit_queries, seed, shard, shards)
    selected = list(cands)
    if limit_queries is not None and limit_queries > in_run:
        log.warning("limit_queries=%d but the run has only %d queries: ranking all of them", limit_queries, in_run)
    log.info("teacher: %d of %d queries (shard %d/%d), depth %d, window %d, step %d, prompt %s, backend %s",
             len(selected), in_run, shard + 1, shards, depth, window, step, prompt, backend)
    if backend_obj is None:
        from .backends import make_backend

        backend_obj = make_backend(backend, model, dtype=dtype, device=device, context_size=context_size,
                                   max_new_tokens=max_new_tokens, stop_at_eos=stop_at_eos, convert_dir=convert_dir,
                                   threads=threads, openai=openai, tokenizer=tokenizer, window=window)
    store = DocStore(docstore)
    empty: set[str] = set()

    def texts(docnos):  # title and text as rank_llm puts them in the prompt
        try:
            docs = store.get_docs(docnos)
            empty.update(d for d, (t, x) in docs.items() if not t and not x)
            return {d: P.doc_content(t, x) for d, (t, x) in docs.items()}
        except KeyError as e:
            raise InputError(run, f"documents missing from the collection {docstore}: {e}") from None

    last = [0.0]

    def progress(o: Outcome):
        if o.seconds - last[0] >= 30 or len(o.rankings) == len(selected):
            last[0] = o.seconds
            log.info("%d/%d queries done, %d windows (%d cached), %.1f windows/s", len(o.rankings), len(selected),
                     o.stats.windows, o.stats.cached, o.stats.windows / max(o.seconds, 1e-9))
        if on_step is not None:
            on_step(o)

    with WindowCache(cache_dir, name=f"shard-{shard}-of-{shards}" if shards > 1 else "all") as cache:
        log.info("window cache %s: %d entries", cache_dir, len(cache))
        ranking, outcome = rank_candidates(selected, qtext, cands, texts, backend_obj, settings, cache, progress)
    store.close()
    if empty:  # a collection built with empty_text: keep
        log.warning("%d candidate passages are empty; the teacher saw each as an empty passage in its window, not as "
                    "real text", len(empty))
    write_run(ranking, out_run, tag=tag)
    st = outcome.stats
    result = {
        "queries": len(selected),
        "queries_in_run": in_run,
        "shard": shard,
        "shards": shards,
        "settings": {"model": model, "backend": backend, "prompt": prompt, "window": window, "step": step,
                     "depth": depth, "batch_size": batch_size, "max_passage_words": max_passage_words,
                     "context_size": context_size, "max_new_tokens": max_new_tokens, "stop_at_eos": stop_at_eos,
                     "limit_queries": limit_queries, "seed": seed},
        "repair": st.as_dict(),
        "backend_calls": outcome.backend_calls,
        "seconds": round(outcome.seconds, 3),
        "windows_per_s": round(st.windows / outcome.seconds, 3) if outcome.seconds else None,
    }
    log.info("repair: %d windows: %d ok, %d repaired, %d unusable (kept input order); %d duplicate, "
             "%d out-of-range ids dropped, %d missing ids appended; %d from cache, %d generated (%d tokens)",
             st.windows, st.ok, st.repaired, st.unusable, st.duplicates, st.out_of_range, st.missing,
             st.cached, st.generated, st.generated_tokens)
    if summary:
        write_json(summary, result)
    return result


def merge_shards(runs: Sequence[str], summaries: Sequence[str], out_run: str, out_summary: str | None = None,
                 tag: str = "teacher") -> dict:
    """Gather a sharded teacher job: one run (identical to an unsharded run) and summed statistics."""
    import json

    from ..io import write_json
    from ..runs import merge, read_run, write_run

    write_run(merge(read_run(r, allow_empty=True) for r in runs), out_run, tag=tag)
    stats = RepairStats()
    total = {"queries": 0, "backend_calls": 0, "seconds": 0.0}
    settings = None
    for s in summaries:
        with open(s, encoding="utf-8") as f:
            d = json.load(f)
        stats = stats.merge(RepairStats.from_dict(d["repair"]))
        for k in total:
            total[k] += d[k]
        settings = d["settings"]
    result = {**total, "shards": len(runs), "settings": settings, "repair": stats.as_dict()}
    log.info("gathered %d shards: %d queries, %d windows (%d repaired, %d unusable)", len(runs), total["queries"],
             stats.windows, stats.repaired, stats.unusable)
    if out_summary:
        write_json(out_summary, result)
    return result
