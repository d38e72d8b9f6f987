"""Score fusion: re-rank a first stage's candidates by a weighted sum of several rankers' scores.

A hybrid (lexical + neural) ranker is the strongest cheap ranker there usually is, so it is a
re-ranker of its own (``rerankers: {<name>: {kind: fusion, components: {bm25: 0.3, dense: 0.7}}}``)
and can be the ranker a distillation set learns from (``distill_sets.<name>.ranker``).

For each query, the candidates are the top ``depth`` of the run being re-ranked. Each component
run (another ranker's run over the same query set) gives each candidate a score, normalised over
that query's candidates:

* ``minmax``: ``(s - min) / (max - min)`` over the candidates the component scored (all equal: 0);
* ``zscore``: ``(s - mean) / std`` (std 0: 0);
* ``rrf``: reciprocal rank fusion, ``1 / (rrf_k + r)`` with ``r`` the candidate's rank among the
  candidates by that component's score (Cormack et al. 2009; ``rrf_k`` 60 there);
* ``none``: the raw scores.

A candidate a component did not retrieve (not in its run) gets that component's lowest
normalised value for the query (``rrf``: 0, as if ranked at infinity): it is below every passage the
component did retrieve. The fused score is ``sum_i w_i * norm_i``. Ties are broken as every run
here is (:func:`rankdistill.runs.sort_run`). A candidate query missing from a component run entirely
is an :class:`~rankdistill.errors.InputError` naming that run (the components must cover the same
queries), as is a component weight that is not a finite number.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..runs import cut, read_run, write_run

log = logging.getLogger(__name__)

NORMALIZATIONS = ("minmax", "zscore", "rrf", "none")


def _normalise(scores: pd.Series, groups: pd.Series, how: str, rrf_k: float) -> pd.Series:
    g = scores.groupby(groups, sort=False)
    if how == "minmax":
        lo, hi = g.transform("min"), g.transform("max")
        span = hi - lo
        return ((scores - lo) / span.where(span > 0, 1.0)).where(span > 0, 0.0)
    if how == "zscore":
        mu, sd = g.transform("mean"), g.transform("std", ddof=0)
        return ((scores - mu) / sd.where(sd > 0, 1.0)).where(sd > 0, 0.0)
    if how == "rrf":
        return 1.0 / (rrf_k + g.rank(method="first", ascending=False))
    return scores


def fuse(candidates: pd.DataFrame, components: Mapping[str, pd.DataFrame], weights: Mapping[str, float],
         normalization: str = "minmax", rrf_k: float = 60.0, depth: int | None = 100,
         sources: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The fused run of ``candidates``' top ``depth`` (see the module doc). ``components``: name -> run
    frame; ``weights``: name -> weight (every component needs one); ``sources``: name -> file, for messages."""
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"fusion normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if not components:
        raise ConfigError("fusion needs at least one component run")
    sources = dict(sources or {})
    cand = cut(candidates, depth)[["qid", "docno"]]
    qids = set(cand["qid"])
    total = np.zeros(len(cand), dtype=np.float64)
    for name, run in components.items():
        w = weights.get(name)
        if w is None or not isinstance(w, (int, float)) or not math.isfinite(float(w)):
            raise ConfigError(f"fusion component {name!r} needs a finite weight, got {w!r}")
        src = sources.get(name, name)
        comp = run[["qid", "docno", "score"]].astype({"qid": str, "docno": str, "score": np.float64})
        missing = sorted(qids - set(comp["qid"]))
        if missing:
            raise InputError(src, f"{len(missing)} queries of the re-ranked run are missing from this fusion "
                                  f"component run, e.g. {missing[:5]}")
        m = cand.merge(comp[comp["qid"].isin(qids)], on=["qid", "docno"], how="left")
        if len(m) != len(cand):
            raise InputError(src, "the fusion component run has duplicate (query, passage) lines")
        have = m["score"].notna()
        norm = pd.Series(np.nan, index=m.index)
        norm[have] = _normalise(m.loc[have, "score"], m.loc[have, "qid"], normalization, rrf_k)
        floor = 0.0 if normalization == "rrf" else norm.groupby(m["qid"], sort=False).transform("min")
        norm = norm.fillna(floor).fillna(0.0)  # a query none of whose candidates the component scored: 0
        total += float(w) * norm.to_numpy()
        if (~have).any():
            log.info("fusion component %s: %d of %d candidates not in its run (given its lowest value)", name,
                     int((~have).sum()), len(cand))
    return pd.DataFrame({"qid": cand["qid"].to_numpy(), "docno": cand["docno"].to_numpy(), "score": total})


def rerank_run_file(run: str | os.PathLike, components: Mapping[str, str | os.PathLike], out: str | os.PathLike, *,
           weights: Mapping[str, float], normalization: str = "minmax", rrf_k: float = 60.0,
           depth: int | None = 100, tag: str = "fusion") -> pd.DataFrame:
    """File version of :func:`fuse` (the ``kind: fusion`` re-ranker's rule): ``components`` maps each
    component's name to its run file."""
    cand = read_run(run)
    qids = set(cand["qid"])
    comps = {name: read_run(path, only=qids) for name, path in components.items()}
    res = fuse(cand, comps, weights, normalization, rrf_k, depth, sources={n: str(p) for n, p in components.items()})
    write_run(res, out, tag=tag)
    log.info("fused %d candidates of %d queries (%s, %s)", len(res), res["qid"].nunique(), normalization,
             ", ".join(f"{w:g}*{n}" for n, w in weights.items()))
    return res
