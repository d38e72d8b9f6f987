"""The out-of-domain table (the paper's TIREx table): systems re-rank one first stage's top-k on many
collections; the queries of all collections of a corpus group are pooled; columns = groups, the
arithmetic and the geometric mean of the group values.

As the authors' notebook (``notebooks/effectiveness.ipynb``, cells 12-13) computes it:

* each system run is restricted to the (query, document) pairs of the first stage's top ``depth``
  (the paper: BM25 top-100; TIREx runs re-ranked the top-1000), re-sorted by score, evaluated;
* per group, the per-query values of the group's query sets are pooled (query ids made unique by
  prefixing ``<query set>/``) and each system is compared with the baseline by a two-sided paired
  t-test on the queries both have, Holm-corrected across the other systems of the group
  (``pt.Experiment(..., baseline=..., correction="holm")`` once per group): :func:`rankdistill.evaluate.compare`;
* the means are over the group values (a system lacking a group has none) and carry no test;
* best per column bold, second best underlined (:mod:`rankdistill.table` renders it).

The config section is ``ood:`` (workflow/schemas/config.schema.yaml); the workflow's rules are in
workflow/rules/ood.smk. Nothing here imports torch.
"""

from __future__ import annotations

import logging
import math
import os

from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:  # the config checks import this module: no pandas until a job needs it
    import pandas as pd

log = logging.getLogger(__name__)

AMEAN, GMEAN = "amean", "gmean"
MEAN_LABELS = {AMEAN: "Arith. mean", GMEAN: "Geom. mean"}


# --- configuration (no heavy imports: the Snakefile calls these) ------------------------------

def collection_of(config: dict, query_set: str) -> str | None:
    """The named collection a query set belongs to (None: the default ``collection``)."""
    return (config.get("query_sets", {}).get(query_set) or {}).get("collection")


def collection_spec(config: dict, name: str | None) -> dict:
    return config["collection"] if name is None else config["collections"][name]


def ood_query_sets(config: dict) -> list[str]:
    ood = config.get("ood") or {}
    return list(dict.fromkeys(q for qs in (ood.get("groups") or {}).values() for q in qs))


def ood_first_stage(config: dict, query_set: str) -> str:
    """The first stage whose top-k every system re-ranks on ``query_set`` (``ood.first_stages`` overrides)."""
    ood = config["ood"]
    return (ood.get("first_stages") or {}).get(query_set) or ood["first_stage"]


def ood_baseline(config: dict) -> str | None:
    ood = config["ood"]
    return ood["baseline"] if "baseline" in ood else config["evaluation"].get("baseline")


def ood_cells(config: dict) -> list[tuple[str, str, str]]:
    """(system, first stage, query set) of every OOD table cell (a first stage system: its own run)."""
    if not config.get("ood"):
        return []
    return [(s, ood_first_stage(config, q), q) for s in config["ood"]["systems"] for q in ood_query_sets(config)]


def system_depth(config: dict, name: str) -> int | None:
    """How many candidates per query a re-ranking row re-ranks (None: a first stage, or unknown)."""
    ev_depth = config.get("evaluation", {}).get("depth")
    if name in config.get("students", {}):
        return (config["students"][name].get("inference") or {}).get("depth") or ev_depth
    if name in config.get("rerankers", {}):
        return config["rerankers"][name].get("depth") or ev_depth
    if name in config.get("teachers", {}):
        t = config["teachers"][name]
        return t.get("depth") if t.get("kind") == "llm" else None
    return None


def check_ood(config: dict) -> list[str]:
    """Cross-references of ``collections``, query sets' ``collection`` and ``ood`` (a config hook)."""
    problems = []
    cols = config.get("collections") or {}
    fss = config.get("first_stages", {})
    for name in cols:
        if name in fss:
            problems.append(f"collections.{name}: the name is also a first stage; collection names must differ")
    for q, spec in config.get("query_sets", {}).items():
        c = (spec or {}).get("collection")
        if c is not None and c not in cols:
            problems.append(f"query_sets.{q}.collection: {c!r} is not one of collections ({sorted(cols)})")
        if spec.get("kind") == "synthetic" and collection_spec(config, c if c in cols else None)["kind"] != "synthetic":
            problems.append(f"query_sets.{q}: a synthetic query set needs a synthetic collection")
    ood = config.get("ood")
    if not ood:
        return problems
    names = {n for key in ("first_stages", "teachers", "rerankers", "students") for n in config.get(key, {})}
    for s in ood["systems"]:
        if s not in names:
            problems.append(f"ood.systems: {s!r} is not a first stage, teacher, re-ranker or student")
    base = ood_baseline(config)
    if base is not None and base not in ood["systems"]:
        problems.append(f"ood.baseline: {base!r} is not one of ood.systems")
    for fs in [ood["first_stage"], *(ood.get("first_stages") or {}).values()]:
        if fs not in fss:
            problems.append(f"ood.first_stage(s): {fs!r} is not a first stage (have {sorted(fss)})")
    qsets = config.get("query_sets", {})
    for g, qs in ood["groups"].items():
        for q in qs:
            if q not in qsets:
                problems.append(f"ood.groups.{g}: {q!r} is not a query set")
    for q in ood.get("first_stages") or {}:
        if q not in ood_query_sets(config):
            problems.append(f"ood.first_stages: {q!r} is in no ood group")
    for g in ood["groups"]:
        if g in (AMEAN, GMEAN):
            problems.append(f"ood.groups.{g}: {g!r} is reserved for the means column")
    m = ood.get("measure")
    if m and m not in config["evaluation"]["measures"]:
        problems.append(f"ood.measure: {m!r} must be one of evaluation.measures {config['evaluation']['measures']}")
    for s in ood["systems"]:  # a row must re-rank at least the candidates the table compares on
        d = system_depth(config, s)
        if d is not None and ood.get("depth") is not None and d < ood["depth"]:
            problems.append(f"ood.systems: {s!r} re-ranks each query's top {d} but ood.depth is {ood['depth']}: "
                            f"set ood.depth: {d} or let {s!r} re-rank the top {ood['depth']}")
    for s in ood["systems"]:  # an import first stage as a row needs its runs
        f = fss.get(s) or {}
        if f.get("kind") == "import":
            for q in ood_query_sets(config):
                if q not in (f.get("runs") or {}):
                    problems.append(f"first_stages.{s}.runs: no run for the ood query set {q!r}")
    return problems


# --- one cell: the system's run restricted to the first stage's top-k, evaluated -------------

def restrict(run: pd.DataFrame, first_stage: pd.DataFrame, depth: int | None) -> pd.DataFrame:
    """``run``'s pairs that are in each query's top ``depth`` of ``first_stage`` (None: all of it), re-ranked
    by score (the notebook's alignment: re-ranker runs restricted to the BM25 top-100 pairs)."""
    from .runs import cut, sort_run

    cand = cut(first_stage, depth)[["qid", "docno"]]
    out = run.merge(cand, on=["qid", "docno"], how="inner")[["qid", "docno", "score"]]
    return sort_run(out)


def evaluate_cell(run: str | os.PathLike, first_stage_run: str | os.PathLike, qrels: str | os.PathLike,
                  out: str | os.PathLike, measures: list[str], candidates: int | None,
                  depth: int | None | dict = None) -> pd.DataFrame:
    """Per-query values (``qid, measure, value``) of ``run`` restricted to ``first_stage_run``'s top ``candidates``."""
    from .datasets.queries import read_qrels
    from .evaluate import per_query
    from .io import atomic_open
    from .runs import read_run

    r, fs, q = read_run(run, allow_empty=True), read_run(first_stage_run), read_qrels(qrels)
    aligned = restrict(r, fs, candidates)
    lost = len(r) - len(aligned)
    if lost:
        log.info("%d of %d pairs of %s are not in the first stage's top %s and are dropped", lost, len(r), run,
                 candidates)
    judged = set(q["qid"])
    if not judged & set(aligned["qid"]):
        raise InputError(run, f"no query of this run (restricted to the top {candidates} of {first_stage_run}) has "
                              f"judgments in {qrels}")
    df = per_query(aligned, q, measures, depth)
    with atomic_open(out) as f:
        df.to_csv(f, sep="\t", index=False)
    for m, v in df.groupby("measure", sort=False)["value"].mean().items():
        log.info("%s = %.4f over %d queries", m, v, int((df.measure == m).sum()))
    return df


# --- the table ---------------------------------------------------------------------------------

def pooled(files: dict[str, str | os.PathLike], measure: str) -> pd.Series:
    """One system's per-query values of several query sets, qids prefixed ``<query set>/`` (unique)."""
    import pandas as pd

    from .evaluate import read_per_query

    parts = []
    for qs, path in files.items():
        df = read_per_query(path)
        df = df[df["measure"] == measure]
        if df.empty:
            raise InputError(path, f"has no values for {measure}; rerun its evaluation with this measure")
        if df["qid"].duplicated().any():
            raise InputError(path, f"query {df.loc[df['qid'].duplicated(), 'qid'].iloc[0]} has two values for {measure}")
        parts.append(pd.Series(df["value"].to_numpy(), index=[f"{qs}/{q}" for q in df["qid"]]))
    return pd.concat(parts) if parts else pd.Series(dtype=float)


def geometric_mean(values: list[float]) -> float:
    """The geometric mean (0 if any value is 0, NaN for none)."""
    if not values:
        return float("nan")
    if any(v <= 0 for v in values):
        return 0.0
    return math.exp(sum(math.log(v) for v in values) / len(values))


def ood_long(spec: dict, files: dict[tuple[str, str], str]) -> pd.DataFrame:
    """The long frame (table.COLUMNS): one row per (system, group) plus the two means per system.

    ``files[(system, query_set)]`` = that cell's per-query file; ``spec``: systems, groups
    (group -> query sets), measure, baseline, alpha, correction, first_stage (the column label).
    """
    import pandas as pd

    from .evaluate import compare
    from .table import COLUMNS

    systems, groups, m = spec["systems"], spec["groups"], spec["measure"]
    rows, group_means = [], {s: {} for s in systems}
    for g, qsets in groups.items():
        values = {}
        for s in systems:
            mine = {q: files[(s, q)] for q in qsets if (s, q) in files}
            if mine:
                values[s] = pooled(mine, m)
        comp = compare(values, spec.get("baseline"), spec.get("alpha", 0.05), spec.get("correction", "holm"))
        for s, c in comp.items():
            complete = len([q for q in qsets if (s, q) in files]) == len(qsets)
            if complete:
                group_means[s][g] = c.mean
            rows.append(dict(system=s, first_stage=spec.get("first_stage", ""), query_set=g, measure=m,
                             depth=spec.get("depth"), value=c.mean, n_queries=c.n, p_value=c.p_value,
                             p_corrected=c.p_corrected, significant=c.significant,
                             baseline=s == spec.get("baseline"), better_than="", pairwise_p_corrected=""))
    for s in systems:
        vals = group_means[s]
        if len(vals) != len(groups):  # a mean over fewer groups would not compare: none
            continue
        for name, v in ((AMEAN, sum(vals.values()) / len(vals)), (GMEAN, geometric_mean(list(vals.values())))):
            rows.append(dict(system=s, first_stage=spec.get("first_stage", ""), query_set=name, measure=m,
                             depth=spec.get("depth"), value=v, n_queries=len(vals), p_value=float("nan"),
                             p_corrected=float("nan"), significant=False, baseline=s == spec.get("baseline"),
                             better_than="", pairwise_p_corrected=""))
    return pd.DataFrame(rows, columns=COLUMNS)


def table_spec(spec: dict):
    """The :class:`rankdistill.table.TableSpec` that renders the OOD table (columns: groups + means)."""
    from .table import TableSpec

    groups = list(spec["groups"])
    n_coll = sum(len(v) for v in spec["groups"].values())
    cap = spec.get("caption") or (
        f"{spec['measure']} of each system (rows) re-ranking the {spec.get('first_stage_label') or spec.get('first_stage')} "
        f"top {spec.get('depth')} on {n_coll} collections, the queries of each corpus group's collections pooled "
        "(columns), with the arithmetic and geometric mean of the group values (no test on the means).")
    labels = dict(MEAN_LABELS) | dict(spec.get("labels") or {})
    return TableSpec(systems=list(spec["systems"]), first_stages=[spec.get("first_stage", "")],
                     query_sets=groups + [AMEAN, GMEAN], measures=[spec["measure"]], baseline=spec.get("baseline"),
                     alpha=spec.get("alpha", 0.05), correction=spec.get("correction", "holm"),
                     decimals=spec.get("decimals", 3), labels=labels, caption=cap, provenance=spec.get("provenance"),
                     tex_label="tab:ood", depths={spec["measure"]: spec.get("eval_depth")})


def write_ood_table(spec: dict, cells: list, files: list[str], tex, csv, md) -> pd.DataFrame:
    """The OOD table rule's entry point: ``cells[i]`` = (system, first stage, query set) of ``files[i]``."""
    from .table import with_code_commit, write_long

    spec = with_code_commit(spec, cells, files)
    long = ood_long(spec, {(s, q): f for (s, _fs, q), f in zip(cells, files)})
    return write_long(table_spec(spec), long, tex, csv, md)
