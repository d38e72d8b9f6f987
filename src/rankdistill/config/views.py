"""Views of a validated config that the workflow needs before any job runs (light: no torch, no
pandas): the table's rows and cells, which cells a teacher or re-ranker fills, how many queries a
teacher ranks, each measure's evaluation depth, and the extra (ablation) tables' and figures' rows,
columns and points."""

from __future__ import annotations

from ..errors import ConfigError
from .grid import _axes, _base, experiments
from .measures import check_measure_depths, measure_cutoff, measure_depths, table_measures  # noqa: F401

OWN_RUN = "own"  # tables.<name>.first_stages: own -- each first stage row on its own run

# (kind, config section) of every table row: each name is unique across these sections
SYSTEM_SECTIONS = (("first_stage", "first_stages"), ("teacher", "teachers"), ("reranker", "rerankers"),
                   ("student", "students"))


def systems(config: dict) -> list[str]:
    """Table rows: ``evaluation.systems`` or first stages, teachers, re-rankers, students in config order
    (teachers and re-rankers with at least one evaluation cell)."""
    ev = config["evaluation"]
    if ev.get("systems"):
        return list(ev["systems"])
    fs = [f for f in config["first_stages"] if f in ev["first_stages"]]
    teachers = [t for t in config.get("teachers", {}) if in_table(config, t)]
    rerankers = [r for r in config.get("rerankers", {})
                 if any(evaluates(config, r, f, q) for f in ev["first_stages"] for q in ev["query_sets"])]
    return fs + teachers + rerankers + list(config.get("students", {}))


def system_kind(config: dict, name: str) -> str:
    for kind, key in SYSTEM_SECTIONS:
        if name in config.get(key, {}):
            return kind
    raise ConfigError(f"unknown system {name!r}")


def evaluates(config: dict, name: str, first_stage: str, query_set: str) -> bool:
    """Whether re-ranker ``name`` has a run for (first stage, query set): every cell unless its
    ``evaluate`` names first stages / query sets (the table shows "--" in the others)."""
    ev = ((config.get("rerankers") or {}).get(name) or {}).get("evaluate") or {}
    fss, qss = ev.get("first_stages"), ev.get("query_sets")
    return (fss is None or first_stage in fss) and (qss is None or query_set in qss)


# --- teachers ----------------------------------------------------------------------------------------

def eval_cells(config: dict) -> list[tuple[str, str]]:
    ev = config.get("evaluation", {})
    return [(fs, qs) for fs in ev.get("first_stages", []) for qs in ev.get("query_sets", [])]


def teacher_cells(config: dict, name: str) -> list[tuple[str, str]]:
    """The evaluation cells (first stage, query set) a teacher is evaluated on (its table row).

    An LLM teacher: every evaluation cell, or those its ``evaluate`` setting names (an LLM on a
    small machine may afford only some); an import teacher: the cells it has a run for.
    The table shows the others as "--".
    """
    t = config.get("teachers", {}).get(name) or {}
    cells = eval_cells(config)
    if t.get("kind") == "import":
        runs = t.get("runs", {})
        return [(fs, qs) for fs, qs in cells if qs in runs.get(fs, {})]
    ev = t.get("evaluate") or {}
    fss, qss = ev.get("first_stages"), ev.get("query_sets")
    return [(fs, qs) for fs, qs in cells if (fss is None or fs in fss) and (qss is None or qs in qss)]


def in_table(config: dict, name: str) -> bool:
    """A teacher is a table row if it is evaluated on at least one cell."""
    return bool(teacher_cells(config, name))


def distill_first_stages(ds: dict, config: dict | None = None) -> list[str]:
    """The first stages whose candidates a distillation set draws on (its ``first_stage``: one or a list; a
    ``pool``: those of its sets, in order, which needs the ``config``)."""
    if ds.get("kind") == "pool":
        sets = (config or {}).get("distill_sets") or {}
        return list(dict.fromkeys(f for m in ds.get("sets", []) for f in distill_first_stages(sets.get(m) or {})))
    fs = ds.get("first_stage")
    return list(fs) if isinstance(fs, (list, tuple)) else [fs]


def distill_sources(config: dict, name: str) -> list[str]:
    """The distillation sets a set is made of: its ``sets`` for a ``pool``, else itself."""
    ds = config["distill_sets"][name]
    return list(ds["sets"]) if ds.get("kind") == "pool" else [name]


def distill_query_sets(config: dict, name: str) -> list[str]:
    """The query sets whose queries a distillation set holds (several for a ``pool``), in order."""
    return list(dict.fromkeys(config["distill_sets"][m]["query_set"] for m in distill_sources(config, name)))


def limit_queries(config: dict, teacher: str, first_stage: str, query_set: str) -> int | None:
    """How many queries of ``query_set`` the teacher ranks (None: all).

    ``teachers.<t>.queries.<query_set>`` if given; all queries of an evaluated query set (the table
    needs every query); otherwise the largest ``queries`` of the distillation sets that read this run
    (None as soon as one of them wants all), so the teacher ranks only what distillation uses (the
    paper: 10k of 500k training queries). Samples are nested, so raising it reuses cached windows.
    """
    t = config["teachers"][teacher]
    if query_set in (t.get("queries") or {}):
        return t["queries"][query_set]
    if query_set in config.get("evaluation", {}).get("query_sets", []):
        return None
    from ..ood import ood_query_sets

    if query_set in ood_query_sets(config):  # the out-of-domain table needs every query too
        return None
    wanted = [ds.get("queries") for ds in (config.get("distill_sets") or {}).values()
              if ds.get("kind") == "teacher" and ds.get("teacher") == teacher
              and first_stage in distill_first_stages(ds) and ds.get("query_set") == query_set]
    if not wanted or any(n is None for n in wanted):
        return None
    return max(wanted)


# --- extra tables and figures ----------------------------------------------------------------------------

def _experiment_rows(config: dict, key: str, spec: dict) -> list[tuple[str, dict[str, str]]] | None:
    grids = config.get("grid") or {}
    g = spec.get("grid")
    if g is None:
        if len(grids) != 1:
            raise ConfigError(f"{key}.grid: name the grid of experiment {spec['experiment']!r} (have {sorted(grids)})")
        g = next(iter(grids))
    if g not in grids:
        raise ConfigError(f"{key}.grid: {g!r} is not a grid (have {sorted(grids)})")
    if spec["experiment"] not in grids[g]["experiments"]:
        raise ConfigError(f"{key}.experiment: {spec['experiment']!r} is not an experiment of grid {g} "
                          f"(have {sorted(grids[g]['experiments'])})")
    return experiments(config)[(g, spec["experiment"])]


def _varied(grid: dict, exp) -> list[str]:
    return list(exp) if isinstance(exp, list) else list(exp.get("vary", []))


def table_view(config: dict, name: str) -> dict:
    """Rows, columns, baseline, measure and labels of ``tables.<name>`` (a TableSpec's fields)."""
    spec = config["tables"][name]
    key = f"tables.{name}"
    ev = config["evaluation"]
    labels: dict[str, str] = {}
    if spec.get("experiment"):
        rows = _experiment_rows(config, key, spec)
        grid_name = spec.get("grid") or next(iter(config["grid"]))
        grid = config["grid"][grid_name]
        axes = _axes(grid_name, grid)
        varied = _varied(grid, grid["experiments"][spec["experiment"]])
        systems = [s for s, _ in rows]
        for s, combo in rows:  # row label: the varied axes' value labels (RankNet / ADR-MSE, 1k / 2k, ...)
            parts = [next(x for x in axes[a] if x["name"] == combo[a])["label"] for a in varied]
            if parts:
                labels[s] = ", ".join(parts)
    else:
        systems = list(spec["systems"])
    if "baseline" in spec:
        baseline = spec["baseline"]
    elif spec.get("experiment"):  # the experiment's base combination (every varied axis at its base value)
        base = _base(grid_name, grid, axes)
        baseline = next((s for s, c in rows if all(c[a] == base[a] for a in varied)), systems[0])
    else:
        baseline = systems[0]
    tab = config.get("table", {})
    measures = table_measures(config, spec)
    measure = measures[0]
    first_stages = spec.get("first_stages") or ev["first_stages"]
    caption = spec.get("caption")
    if first_stages == OWN_RUN:  # first stages side by side, each on its own run: columns = query sets
        first_stages = [OWN_RUN]
        labels.setdefault(OWN_RUN, "Own run")
        caption = caption or (f"Table {name}: {' and '.join(measures)} of each first stage's own run (rows) on each "
                              "query set (columns).")
    return dict(
        systems=systems, first_stages=list(first_stages), query_sets=list(spec.get("query_sets") or ev["query_sets"]),
        measure=measure, measures=measures, baseline=baseline, decimals=spec.get("decimals") or tab["decimals"],
        significance=spec.get("significance") or tab["significance"],
        layout=spec.get("layout") or tab["layout"],
        labels=labels | dict(spec.get("labels") or {}), caption=caption or (
            f"Ablation {name}: {' and '.join(measures)} of each variant (rows) re-ranking the top results of each "
            "first stage on each query set (columns)."),
        tex_label=f"tab:ablation-{name}",
    )


def _system_distill_first_stage(config: dict, system: str) -> str | None:
    st = (config.get("students") or {}).get(system) or {}
    ds = (config.get("distill_sets") or {}).get(st.get("distill_set")) or {}
    return "+".join(distill_first_stages(ds, config)) if ds else None


def figure_view(config: dict, name: str) -> dict:
    """Panels with their points (system, x, tick label, distillation first stage) of ``figures.<name>``."""
    spec = config["figures"][name]
    key = f"figures.{name}"
    ev = config["evaluation"]
    panels = []
    for i, p in enumerate(spec["panels"]):
        pkey = f"{key}.panels[{i}]"
        points = []
        if p.get("experiment"):
            if not p.get("x"):
                raise ConfigError(f"{pkey}.x: name the axis plotted on x")
            rows = _experiment_rows(config, pkey, p)
            grid_name = p.get("grid") or next(iter(config["grid"]))
            axes = _axes(grid_name, config["grid"][grid_name])
            if p["x"] not in axes:
                raise ConfigError(f"{pkey}.x: {p['x']!r} is not an axis of grid {grid_name} (have {sorted(axes)})")
            for s, combo in rows:
                v = next(x for x in axes[p["x"]] if x["name"] == combo[p["x"]])
                points.append(dict(system=s, x=v["value"], x_label=v["label"]))
            xlabel = p.get("xlabel") or p["x"]
        else:
            for s, x in (p.get("points") or {}).items():
                points.append(dict(system=s, x=x, x_label=str(x)))
            xlabel = p.get("xlabel") or "x"
        for pt in points:
            pt["distill_first_stage"] = _system_distill_first_stage(config, pt["system"])
        panels.append(dict(points=points, xlabel=xlabel, title=p.get("title"), x_scale=p["x_scale"]))
    tab = config.get("table", {})
    labels = {n: s["label"] for sec in ("first_stages",) for n, s in config.get(sec, {}).items()
              if isinstance(s, dict) and s.get("label")}
    return dict(panels=panels, lines=spec["lines"],
                first_stages=list(spec.get("first_stages") or ev["first_stages"]),
                query_sets=list(spec.get("query_sets") or ev["query_sets"]),
                measure=spec.get("measure") or tab.get("measure") or ev["measures"][0],
                ylabel=spec.get("ylabel"), labels=labels | dict(tab.get("labels") or {}) | dict(spec.get("labels") or {}))
