"""Evaluation with ir_measures and significance as PyTerrier's ``pt.Experiment`` computes it:
two-sided paired t-test (``scipy.stats.ttest_rel``) of each system against a baseline on the
queries they share, then a multiple-testing correction (Holm by default) across the compared
systems via ``statsmodels.stats.multitest.multipletests``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .datasets.queries import read_qrels
from .errors import InputError
from .io import atomic_open
from .config.measures import check_measure_depths, measure_cutoff, measure_depths  # noqa: F401  (this module's API)
from .runs import cut, read_run, to_dict

log = logging.getLogger(__name__)


def per_query(run: pd.DataFrame, qrels: pd.DataFrame, measures: list[str],
              depth: int | None | dict[str, int | None] = None) -> pd.DataFrame:
    """Per-query values, a frame ``qid, measure, value`` (queries with judgments only).

    ``depth``: each query's top-k of the run is evaluated (None: the whole run); a dict gives
    each measure its own depth (see :func:`measure_depths`).
    """
    import ir_measures

    depths = depth if isinstance(depth, dict) else {m: depth for m in measures}
    qrels_d: dict[str, dict[str, int]] = {}
    for q, d, l in zip(qrels["qid"], qrels["docno"], qrels["label"]):
        qrels_d.setdefault(str(q), {})[str(d)] = int(l)
    frames = []
    for k in dict.fromkeys(depths.get(m) for m in measures):  # one pass per distinct depth
        names = [m for m in measures if depths.get(m) == k]
        parsed = [ir_measures.parse_measure(m) for m in names]
        rows = [(m.query_id, str(m.measure), float(m.value))
                for m in ir_measures.iter_calc(parsed, qrels_d, to_dict(cut(run, k)))]
        # ir_measures names measures canonically (e.g. nDCG@10); map back to the configured spelling
        canon = {str(p): name for p, name in zip(parsed, names)}
        df = pd.DataFrame(rows, columns=["qid", "measure", "value"])
        df["measure"] = df["measure"].map(lambda m: canon.get(m, m))
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def evaluate_run(run: str | os.PathLike, qrels: str | os.PathLike, out: str | os.PathLike,
                 measures: list[str], depth: int | None | dict[str, int | None] = None) -> pd.DataFrame:
    """Evaluate a run file against qrels; write per-query values (TSV) to ``out``.

    ``depth``: an int (every measure on each query's top-k), None (the whole run) or a dict
    measure -> depth (:func:`measure_depths`).
    """
    r, q = read_run(run), read_qrels(qrels)
    judged = set(q["qid"])
    if not judged & set(r["qid"]):
        raise InputError(run, f"no query of this run has judgments in {qrels}")
    df = per_query(r, q, measures, depth)
    missing = judged - set(r["qid"])
    if missing:
        log.warning("%d judged queries have no results in %s and are not evaluated: %s", len(missing), run,
                    sorted(missing)[:5])
    with atomic_open(out) as f:
        df.to_csv(f, sep="\t", index=False)
    for m, v in df.groupby("measure", sort=False)["value"].mean().items():
        log.info("%s = %.4f over %d queries", m, v, df[df.measure == m].shape[0])
    return df


def read_per_query(path: str | os.PathLike) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", dtype={"qid": str, "measure": str, "value": float})
    if list(df.columns) != ["qid", "measure", "value"]:
        raise InputError(path, "expected a per-query evaluation file with columns qid, measure, value")
    return df


@dataclass
class Comparison:
    system: str
    mean: float
    n: int
    p_value: float = float("nan")
    p_corrected: float = float("nan")
    significant: bool = False


def compare(values: dict[str, pd.Series], baseline: str | None, alpha: float = 0.05,
            correction: str = "holm") -> dict[str, Comparison]:
    """Compare systems' per-query values (``Series`` indexed by qid) against ``baseline``.

    Each system is tested against the baseline on the queries both have (paired, two-sided
    t-test); p-values are corrected across all non-baseline systems. A system identical to the
    baseline on every query has p = 1.
    """
    from scipy import stats

    out = {s: Comparison(s, float(v.mean()), int(v.shape[0])) for s, v in values.items()}
    if baseline is None or baseline not in values:
        return out
    base = values[baseline]
    others = [s for s in values if s != baseline]
    pvals = []
    for s in others:
        shared = base.index.intersection(values[s].index)
        if len(shared) < 2:
            p = float("nan")
        else:
            a, b = values[s].loc[shared].to_numpy(), base.loc[shared].to_numpy()
            p = 1.0 if np.allclose(a, b) else float(stats.ttest_rel(a, b).pvalue)
        out[s].p_value = p
        pvals.append(p)
    if others:
        pv = np.asarray(pvals, dtype=float)
        ok = ~np.isnan(pv)
        corrected = pv.copy()
        reject = ok & (pv < alpha)
        if correction != "none" and ok.any():
            from statsmodels.stats.multitest import multipletests

            rej, corr, _, _ = multipletests(pv[ok], alpha=alpha, method=correction)
            corrected[ok], reject[ok] = corr, rej  # the reject decision as pt.Experiment reports it
        for s, p, r in zip(others, corrected, reject):
            out[s].p_corrected = float(p)
            out[s].significant = bool(r)
    return out


@dataclass
class PairTest:
    a: str
    b: str
    p_value: float
    p_corrected: float
    reject: bool
    better: str | None  # the system with the higher mean when the difference is significant


def compare_pairwise(values: dict[str, pd.Series], alpha: float = 0.05, correction: str = "holm") -> list[PairTest]:
    """Every pair of systems: the same two-sided paired t-test as :func:`compare` on the queries
    both have, corrected (Holm by default) across all pairs of the cell, as ``multipletests``
    over the family of the cell's k(k-1)/2 tests."""
    from scipy import stats

    names = list(values)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    pvals = []
    for a, b in pairs:
        shared = values[a].index.intersection(values[b].index)
        if len(shared) < 2:
            pvals.append(float("nan"))
            continue
        x, y = values[a].loc[shared].to_numpy(), values[b].loc[shared].to_numpy()
        pvals.append(1.0 if np.allclose(x, y) else float(stats.ttest_rel(x, y).pvalue))
    corrected, reject = _correct(np.asarray(pvals, dtype=float), alpha, correction)
    out = []
    for (a, b), p, pc, r in zip(pairs, pvals, corrected, reject):
        better = None
        if r:
            better = a if values[a].mean() > values[b].mean() else b
        out.append(PairTest(a, b, float(p), float(pc), bool(r), better))
    return out


def _correct(pv: np.ndarray, alpha: float, correction: str) -> tuple[np.ndarray, np.ndarray]:
    """Corrected p-values and reject decisions (NaN p-values: not tested, never rejected)."""
    ok = ~np.isnan(pv)
    corrected = pv.copy()
    reject = ok & (pv < alpha)
    if correction != "none" and ok.any():
        from statsmodels.stats.multitest import multipletests

        rej, corr, _, _ = multipletests(pv[ok], alpha=alpha, method=correction)
        corrected[ok], reject[ok] = corr, rej
    return corrected, reject
