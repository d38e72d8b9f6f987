"""Distillation sets: which training queries, which candidates, which targets.

From a ranking run (an LLM teacher's, or any first stage's for a teacher-independent set) and
the first-stage run it re-ranked:

1. choose ``queries`` training queries with a seeded sample (nested: the 1k sample of a seed is
   inside its 2k sample, as in the paper's data-size ablation);
2. keep depth ``d``:

   * ``projection`` (rank-distillm ``utils/subsample.py``, the paper's depth ablation): keep the
     teacher-ranked passages whose *first-stage* rank is ``<= d`` and renumber them in teacher
     order. As there, exactly: the first-stage rank is the file's ``rank`` column (not its score
     order), a teacher passage missing from the first-stage run is dropped (inner merge), and the
     teacher order is its ``score`` descending with ``rank(method="first")``, i.e. ties in teacher
     score broken by docno ascending *as pandas parses the docno column* (all-integer docnos
     numerically, ``"9" < "10"``; otherwise as strings, ``"10" < "9"``), the row order of the
     ``sort_index()``-ed run (:func:`rank_distillm_docno_order`);
   * ``rerun``: the teacher itself ranked the first stage's top ``d`` (its ``depth`` is ``d``):
     take its top ``d`` as is;

3. targets ``d + 1 - rank`` (lightning-ir's ``targets: rank``), higher is better.

A query with fewer than ``d`` candidates is kept (its targets are still ``d + 1 - rank``, the
losses use the order only) and *reported*: the log and the stats JSON list every such query
with its count, and ``min_candidates`` drops queries below a threshold explicitly (lightning-ir
drops them silently). Outputs: a Parquet table ``qid, docno, rank, first_stage_rank, target``,
the same as a TREC run (score = target, readable by lightning-ir's ``RunDataset`` with
``targets: rank``) and a stats JSON.
"""

from __future__ import annotations

import logging
import os
import random
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import InputError
from .io import atomic_path, write_json
from .runs import natural_key, read_run, run_queries, sort_run, write_run

log = logging.getLogger(__name__)

MODES = ("projection", "rerun")


def sample_queries(qids: Sequence[str], n: int | None, seed: int = 42) -> list[str]:
    """A seeded, nested sample of ``n`` query ids (all of them when ``n`` is None or too large), natural order."""
    qids = sorted(set(qids), key=natural_key)
    if n is not None and n < len(qids):
        order = sorted(qids)
        random.Random(seed).shuffle(order)
        keep = set(order[:n])
        qids = [q for q in qids if q in keep]
    return qids


def sample_candidates_frame(run: pd.DataFrame, top: int, extra: int, pool: int, seed: int = 0) -> pd.DataFrame:
    """Each query's candidates from a first-stage ``run``: its top ``top`` plus ``extra`` drawn uniformly
    without replacement from its ranks ``top + 1 .. pool`` (all of them when fewer), renumbered ``1..n`` in
    the run's order (scores kept), so a distillation set of depth ``top + extra`` over the result
    (:func:`build`, ``projection``) holds a query's strongest candidates *and* some of the weaker ones a
    re-ranker of the top ``pool`` meets. The draw is seeded per query (``seed`` and the qid), so a query's
    candidates do not depend on which other queries the run holds."""
    if top < 0 or extra < 0 or top + extra < 1:
        raise ValueError(f"candidate sample: need top >= 0, extra >= 0 and top + extra >= 1, got {top} and {extra}")
    if pool < top + extra:
        raise ValueError(f"candidate sample: the pool ({pool}) is smaller than top + extra ({top + extra})")
    ranked = sort_run(run)
    keep = ranked["rank"] <= top
    deep = ranked[(ranked["rank"] > top) & (ranked["rank"] <= pool)]
    drawn = []
    for qid, group in deep.groupby("qid", sort=False):
        rows = list(group.index)
        drawn += random.Random(f"{seed}:{qid}").sample(rows, min(extra, len(rows)))
    keep.loc[drawn] = True
    out = ranked[keep].copy()
    out["rank"] = out.groupby("qid", sort=False).cumcount().astype(np.int64) + 1
    return out.reset_index(drop=True)


def rank_distillm_docno_order(docnos: Sequence[str]) -> dict[str, int]:
    """Each docno's position in rank-distillm's row order: ``pd.read_csv(sep=r"\\s+")`` parses the docno
    column (to int64 when every value is an integer, float when numeric, else strings; ``"NA"``-like
    values to NaN), then ``sort_index()`` sorts by it (NaN last). The docnos themselves are kept as
    strings here: only the order is taken from the parsed values."""
    import io as _io

    uniq = list(dict.fromkeys(str(d) for d in docnos))
    if not uniq:
        return {}
    parsed = pd.read_csv(_io.StringIO("\n".join(uniq) + "\n"), sep=r"\s+", header=None, names=["d"],
                         skip_blank_lines=False)["d"]
    if len(parsed) != len(uniq):  # cannot happen for validated docnos (no whitespace); keep string order
        parsed = pd.Series(uniq)
    order = parsed.sort_values(kind="stable", na_position="last").index
    return {uniq[i]: pos for pos, i in enumerate(order)}


def build(teacher_run: pd.DataFrame, first_stage_run: pd.DataFrame, queries: Sequence[str] | None, depth: int,
          mode: str = "projection") -> tuple[pd.DataFrame, dict]:
    """The distillation table for the given query ids and per-query counts.

    ``teacher_run``/``first_stage_run``: run frames (``qid, docno, score`` and, as :func:`read_run`
    gives them, the file's ``rank``); teacher order is its score order (ties: see the module doc).
    Returns (table, {qid: candidates}).
    """
    if mode not in MODES:
        raise ValueError(f"distillation mode must be one of {MODES}, got {mode!r}")
    if mode == "projection":
        t = teacher_run[["qid", "docno", "score"]].astype({"qid": str, "docno": str, "score": np.float64})
        pos = rank_distillm_docno_order(t["docno"])
        t = t.assign(_d=t["docno"].map(pos)).sort_values(["qid", "score", "_d"], ascending=[True, False, True],
                                                         kind="stable")
        t["rank"] = t.groupby("qid", sort=False).cumcount().astype(np.int64) + 1
        t = t.drop(columns="_d")
    else:
        t = sort_run(teacher_run)
    if mode == "projection" and "rank" in first_stage_run.columns:  # the file's rank column, as rank-distillm
        f = first_stage_run[["qid", "docno", "rank"]].astype({"qid": str, "docno": str, "rank": np.int64})
    else:
        f = sort_run(first_stage_run)
    if queries is not None:
        keep = set(queries)
        t = t[t["qid"].isin(keep)]
        f = f[f["qid"].isin(keep)]
    f = f.rename(columns={"rank": "first_stage_rank"})[["qid", "docno", "first_stage_rank"]]
    df = t[["qid", "docno", "rank"]].rename(columns={"rank": "teacher_rank"}).merge(f, on=["qid", "docno"], how="left")
    if mode == "projection":
        df = df[df["first_stage_rank"].notna() & (df["first_stage_rank"] <= depth)].copy()
    else:
        df = df[df["teacher_rank"] <= depth].copy()
    # renumber in teacher order (teacher_rank is already a strict order: rank(method="first"))
    df = df.sort_values(["qid", "teacher_rank"], key=lambda c: c.map(natural_key) if c.name == "qid" else c, kind="stable")
    df["rank"] = df.groupby("qid", sort=False).cumcount().astype(np.int64) + 1
    df["target"] = (depth + 1 - df["rank"]).astype(np.int64)
    df["first_stage_rank"] = df["first_stage_rank"].fillna(-1).astype(np.int64)
    counts = df.groupby("qid", sort=False).size().to_dict()
    return df[["qid", "docno", "rank", "first_stage_rank", "target"]].reset_index(drop=True), counts


def deal_queries(qids: Sequence[str], n: int) -> list[list[str]]:
    """``qids`` (a sample, natural order) dealt to ``n`` candidate sources in turn: query i goes to source
    i mod n, so every source gets every n-th query of the nested sample and a bigger sample keeps the split."""
    return [list(qids[i::n]) for i in range(n)]


def build_distill_set(teacher_run, first_stage_run, queries: str | os.PathLike,
                      out_parquet: str | os.PathLike, out_run: str | os.PathLike, out_stats: str | os.PathLike, *,
                      num_queries: int | None, depth: int, mode: str = "projection", seed: int = 42,
                      min_candidates: int = 1, unanswered: str = "error", name: str = "distill") -> dict:
    """Build a distillation set from run files (the Snakemake rule's function); returns the stats.

    ``teacher_run`` / ``first_stage_run``: a run file each, or equally long lists of them, one pair per
    candidate source (e.g. the teacher's ranking of BM25's and of a dense retriever's candidates): the
    sampled queries are then dealt to the sources in turn (:func:`deal_queries`), each query's candidates
    and targets coming from its source, so a student sees the candidate lists of every first stage it will
    re-rank. The sample is drawn from the queries every teacher run has.

    ``unanswered``: a query of a teacher run that a first-stage run lacks is an :class:`InputError`
    (``"error"``: the runs do not belong together) or, ``"drop"``, left out before the sample and counted
    (a generated query BM25 answers nothing for, all its words being stopwords to it)."""
    from .datasets.queries import read_queries

    teacher_runs = [teacher_run] if isinstance(teacher_run, (str, os.PathLike)) else list(teacher_run)
    first_stage_runs = [first_stage_run] if isinstance(first_stage_run, (str, os.PathLike)) else list(first_stage_run)
    if not teacher_runs or len(teacher_runs) != len(first_stage_runs):
        raise ValueError(f"{name}: need one first-stage run per teacher run, got {len(teacher_runs)} and "
                         f"{len(first_stage_runs)}")
    qtext = set(read_queries(queries)["qid"].astype(str))
    queries_of: dict[str, list[str]] = {}  # one scan per file: a teacher run may serve several sources
    for tr_path in dict.fromkeys(map(str, teacher_runs)):
        qids = run_queries(tr_path)
        no_text = [q for q in qids if q not in qtext]
        if no_text:
            raise InputError(queries, f"{len(no_text)} queries of the teacher run {tr_path} have no text, e.g. {no_text[:5]}")
        queries_of[tr_path] = qids
    per_source = [queries_of[str(p)] for p in teacher_runs]
    others = [set(o) for o in per_source[1:]]
    teacher_qids = [q for q in per_source[0] if all(q in o for o in others)]
    if len(teacher_qids) < max(len(o) for o in per_source):
        log.warning("%s: the teacher runs rank different queries; sampling from the %d they share", name,
                    len(teacher_qids))
    unanswered_counts = {}
    if unanswered == "drop":
        for fs_path in dict.fromkeys(map(str, first_stage_runs)):
            answered = set(run_queries(fs_path))
            unanswered_counts[fs_path] = sum(q not in answered for q in teacher_qids)
            teacher_qids = [q for q in teacher_qids if q in answered]
            per_source = [[q for q in ranked if q in answered] for ranked in per_source]
        if any(unanswered_counts.values()):
            log.warning("%s: left out %d queries a first stage answers nothing for: %s", name,
                        sum(unanswered_counts.values()), unanswered_counts)
    elif unanswered != "error":
        raise ValueError(f"{name}: unanswered must be 'error' or 'drop', got {unanswered!r}")
    chosen = sample_queries(teacher_qids, num_queries, seed)
    if num_queries is not None and num_queries > len(teacher_qids):
        log.warning("%s: asked for %d queries, the teacher run has only %d: using all of them", name, num_queries,
                    len(teacher_qids))
    shares = deal_queries(chosen, len(teacher_runs))
    tables, counts = [], {}
    for tr_path, fs_path, share, ranked in zip(teacher_runs, first_stage_runs, shares, per_source):
        t, c = _source_table(tr_path, fs_path, share, ranked, depth, mode)
        tables.append(t)
        counts.update(c)
    table = pd.concat(tables, ignore_index=True)
    table = table.sort_values("qid", key=lambda c: c.map(natural_key), kind="stable").reset_index(drop=True)
    short = {q: int(counts.get(q, 0)) for q in chosen if counts.get(q, 0) < depth}
    dropped = sorted((q for q, c in short.items() if c < max(min_candidates, 1)), key=natural_key)
    if dropped:
        table = table[~table["qid"].isin(set(dropped))].reset_index(drop=True)
    if short:
        log.warning("%s: %d of %d queries have fewer than %d candidates (kept unless below min_candidates=%d): %s",
                    name, len(short), len(chosen), depth, min_candidates,
                    ", ".join(f"{q}:{c}" for q, c in list(short.items())[:10]) + (" ..." if len(short) > 10 else ""))
    if dropped:
        log.warning("%s: dropped %d queries with fewer than %d candidates: %s", name, len(dropped), min_candidates, dropped[:10])
    if table.empty:
        raise InputError(teacher_runs[0], f"the distillation set {name} is empty (depth {depth}, mode {mode})")
    sizes = table.groupby("qid").size()
    single = len(teacher_runs) == 1
    stats = {
        "name": name,
        "mode": mode,
        "depth": depth,
        "seed": seed,
        "queries_requested": num_queries,
        "queries_in_teacher_run": len(teacher_qids),
        "queries": int(table["qid"].nunique()),
        "pairs": int(len(table)),
        "candidates_per_query": {"min": int(sizes.min()), "mean": round(float(sizes.mean()), 3), "max": int(sizes.max())},
        "short_queries": short,
        "dropped_queries": dropped,
        "min_candidates": min_candidates,
        "unanswered": unanswered,
        "dropped_unanswered": unanswered_counts,
        "teacher_run": str(teacher_runs[0]) if single else [str(p) for p in teacher_runs],
        "first_stage_run": str(first_stage_runs[0]) if single else [str(p) for p in first_stage_runs],
    }
    if not single:
        kept = set(table["qid"])
        stats["queries_per_source"] = {str(fs): sum(q in kept for q in share) for fs, share in zip(first_stage_runs, shares)}
    with atomic_path(out_parquet) as tmp:
        table.to_parquet(tmp, index=False)
    write_run(table.assign(score=table["target"].astype(float)), out_run, tag=name)
    write_json(out_stats, stats)
    log.info("%s: %d queries, %d pairs (%s candidates per query)", name, stats["queries"], stats["pairs"],
             stats["candidates_per_query"])
    return stats


def _source_table(teacher_run, first_stage_run, chosen: list[str], ranked: list[str], depth: int,
                  mode: str) -> tuple[pd.DataFrame, dict]:
    """The distillation table of one (teacher run, first-stage run) pair for its share ``chosen`` of the
    sample (``ranked``: every query of the teacher run, each of which the first-stage run must have).

    Both runs are streamed and only the sampled queries' lines are kept: the first-stage run (and, for a
    first-stage ranker, the ranking run) covers every training query, 100M lines at MS MARCO scale."""
    tr = read_run(teacher_run, only=set(chosen))
    in_fs: set[str] = set()
    fs = read_run(first_stage_run, only=set(chosen), allow_empty=True, seen_queries=in_fs)
    no_fs = [q for q in ranked if q not in in_fs]
    if no_fs:
        raise InputError(first_stage_run, f"{len(no_fs)} queries of the teacher run {teacher_run} are missing, e.g. {no_fs[:5]}")
    if mode == "rerun":
        # a faithful re-run ranked exactly the first stage's top-d: check instead of assuming (sampled queries)
        deep = tr.merge(sort_run(fs)[["qid", "docno", "rank"]], on=["qid", "docno"], how="left", suffixes=("", "_fs"))
        outside = deep[deep["rank_fs"].isna() | (deep["rank_fs"] > depth)]
        if len(outside):
            raise InputError(teacher_run, f"mode 'rerun' at depth {depth}, but the teacher ranked {len(outside)} passages "
                                          f"outside the first stage's top {depth} (e.g. query {outside.iloc[0]['qid']}); "
                                          "give the teacher depth d or use mode 'projection'")
    return build(tr, fs, chosen, depth, mode)


def read_distill_set(path: str | os.PathLike) -> pd.DataFrame:
    """Read a distillation table (Parquet written by :func:`build_distill_set`, or a TREC run: targets = scores)."""
    path = str(path)
    if path.endswith(".parquet"):
        df = pd.read_parquet(path)
        need = {"qid", "docno", "target"}
        if not need <= set(df.columns):
            raise InputError(path, f"distillation table needs columns {sorted(need)}, has {list(df.columns)}")
        df["qid"] = df["qid"].astype(str)
        df["docno"] = df["docno"].astype(str)
        return df
    run = sort_run(read_run(path))
    return run.assign(target=run["score"])


def pool_distill_sets(tables: Sequence[str | os.PathLike], stats: Sequence[str | os.PathLike],
                      out_parquet: str | os.PathLike, out_run: str | os.PathLike, out_stats: str | os.PathLike, *,
                      sources: Sequence[str], name: str = "pool") -> dict:
    """Pool distillation sets (a ``pool`` set: e.g. generated queries ranked by one teacher and real training
    queries ranked by another): their tables one after the other, each query keeping its own source's
    candidates and targets; ``sources`` names each table (its set's name). The stats give the queries and
    pairs of each source and each source's own stats. A query id in two sources is an :class:`InputError`
    (two different queries, or the same query twice: either would silently mix two candidate lists)."""
    import json

    if not tables or len(tables) != len(stats) or len(tables) != len(sources):
        raise ValueError(f"{name}: need one stats file and one name per table, got {len(tables)} tables, "
                         f"{len(stats)} stats and {len(sources)} names")
    frames, per_source, owner = [], {}, {}
    for source, table, st in zip(sources, tables, stats):
        df = read_distill_set(table)
        clash = sorted({q for q in df["qid"].unique() if q in owner}, key=natural_key)
        if clash:
            raise InputError(table, f"{name}: {len(clash)} query ids of {source} are also in {owner[clash[0]]}, e.g. "
                                    f"{clash[:5]}; give the query sets distinct ids (a generated set's prefix)")
        owner.update(dict.fromkeys(df["qid"].unique(), source))
        with open(st, encoding="utf-8") as f:
            own = json.load(f)
        per_source[source] = {"queries": int(df["qid"].nunique()), "pairs": int(len(df)), "stats": own}
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    sizes = table.groupby("qid", sort=False).size()
    out = {
        "name": name,
        "kind": "pool",
        "sources": list(sources),
        "queries": int(table["qid"].nunique()),
        "pairs": int(len(table)),
        "candidates_per_query": {"min": int(sizes.min()), "mean": round(float(sizes.mean()), 3), "max": int(sizes.max())},
        "queries_per_source": {s: v["queries"] for s, v in per_source.items()},
        "pairs_per_source": {s: v["pairs"] for s, v in per_source.items()},
        "per_source": per_source,
    }
    with atomic_path(out_parquet) as tmp:
        table.to_parquet(tmp, index=False)
    write_run(table.assign(score=table["target"].astype(float)), out_run, tag=name)
    write_json(out_stats, out)
    log.info("%s: %d queries, %d pairs from %s", name, out["queries"], out["pairs"],
             ", ".join(f"{s} ({v})" for s, v in out["queries_per_source"].items()))
    return out
