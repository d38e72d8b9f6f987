"""Experiment grids, extra (ablation) tables and figures in the config (no torch: the Snakefile imports it).

A ``grid:`` entry describes many students at once. Its ``axes`` name the things an ablation varies
(``loss: [ranknet, adr-mse]``, ``queries: {1k: 1000, 10k: 10000}``, ...); the first value of an axis
(or ``defaults``) is its base value. Each ``experiments`` entry crosses the axes it varies, the others
keep their base value, and every combination becomes one student named by the ``name`` template::

    grid:
      electra:
        name: "electra-{size}-{stages}-{loss}-{data}-{queries}-d{depth}"
        student: {kind: trained, loss: "{loss}"}
        distill_set: {name: "rd-{data}-{queries}-d{depth}", kind: teacher, query_set: train,
                      queries: "{queries}", depth: "{depth}"}
        axes:
          size: [base, large]
          stages:
            dual: {student: {stage1: "electra-{size}-infonce"}}
            single: {student: {backbone: "google/electra-{size}-discriminator"}}
          loss: {ranknet: {label: RankNet}, adr-mse: {label: ADR-MSE}}
          ...
        experiments: {main: [stages, data], loss: [loss], depth: [depth]}

In templates, a string that is exactly ``"{axis}"`` becomes the axis value itself (an int stays an
int); inside a longer string ``{axis}`` is the value's name and ``{axis.label}`` its label. An axis
value is a scalar, or a mapping with ``value``, ``label`` and settings bundles ``student`` /
``distill_set`` merged into the templates. With a ``distill_set`` template each student gets its
own distillation set, shared by every student whose data settings are identical (same name).

:func:`expand` adds the generated ``distill_sets`` and ``students`` to the config, each validated
against its section's schema (defaults filled); a generated name that collides with a different
entry is an error (the name template must contain every axis that changes the entry). It is
idempotent, so validating an expanded config again changes nothing.

``tables:`` lists extra tables ``results/ablation_<name>.{tex,csv,md}`` (rows: ``systems`` or a grid
experiment's students; baseline: the experiment's base combination or the first row unless ``baseline`` says otherwise) and ``figures:``
line plots ``results/figures/<name>.{pdf,png,csv}`` (mean measure against an axis, one line per first
stage: the notebook's sub-sampling figure).
"""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

from .errors import ConfigError

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\.label)?\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_BUNDLE_KEYS = {"value", "label", "student", "distill_set"}


# --- axes and experiments ------------------------------------------------------------------------------

def axis_values(spec: Any) -> list[dict]:
    """An axis as a list of ``{name, value, label, student, distill_set}`` in config order."""
    out = []
    if isinstance(spec, list):
        for v in spec:
            out.append(dict(name=str(v), value=v, label=str(v), student={}, distill_set={}))
    else:
        for name, v in spec.items():
            name = str(name)
            if isinstance(v, dict) and set(v) <= _BUNDLE_KEYS:
                out.append(dict(name=name, value=v.get("value", name), label=str(v.get("label", name)),
                                student=v.get("student") or {}, distill_set=v.get("distill_set") or {}))
            else:
                out.append(dict(name=name, value=v, label=name, student={}, distill_set={}))
    return out


def _axes(grid_name: str, grid: dict) -> dict[str, list[dict]]:
    axes = {a: axis_values(spec) for a, spec in grid["axes"].items()}
    for a, vals in axes.items():
        names = [v["name"] for v in vals]
        if len(set(names)) != len(names):
            raise ConfigError(f"grid.{grid_name}.axes.{a}: repeated value names {names}")
    return axes


def _base(grid_name: str, grid: dict, axes: dict[str, list[dict]]) -> dict[str, str]:
    base = {a: vals[0]["name"] for a, vals in axes.items()}
    for a, v in (grid.get("defaults") or {}).items():
        if a not in axes:
            raise ConfigError(f"grid.{grid_name}.defaults.{a}: not an axis (have {sorted(axes)})")
        if str(v) not in [x["name"] for x in axes[a]]:
            raise ConfigError(f"grid.{grid_name}.defaults.{a}: {v!r} is not a value of the axis "
                              f"({[x['name'] for x in axes[a]]})")
        base[a] = str(v)
    return base


def _experiment_combos(grid_name: str, grid: dict, axes: dict, exp_name: str) -> list[dict[str, str]]:
    """The axis-value-name combinations of one experiment, in axis-value order (varied axes crossed)."""
    exp = grid["experiments"][exp_name]
    vary, fix = (exp, {}) if isinstance(exp, list) else (exp.get("vary", []), exp.get("fix") or {})
    key = f"grid.{grid_name}.experiments.{exp_name}"
    combo = _base(grid_name, grid, axes)
    for a, v in fix.items():
        if a not in axes:
            raise ConfigError(f"{key}.fix.{a}: not an axis (have {sorted(axes)})")
        if str(v) not in [x["name"] for x in axes[a]]:
            raise ConfigError(f"{key}.fix.{a}: {v!r} is not a value of the axis ({[x['name'] for x in axes[a]]})")
        combo[a] = str(v)
    for a in vary:
        if a not in axes:
            raise ConfigError(f"{key}: {a!r} is not an axis (have {sorted(axes)})")
        if a in fix:
            raise ConfigError(f"{key}: axis {a!r} is both varied and fixed")
    out = []
    for values in itertools.product(*[[x["name"] for x in axes[a]] for a in vary]):
        c = dict(combo)
        c.update(zip(vary, values))
        out.append(c)
    return out


def _fill(obj: Any, chosen: dict[str, dict], where: str) -> Any:
    """Substitute ``{axis}`` / ``{axis.label}`` in every string of ``obj``."""
    if isinstance(obj, dict):
        return {k: _fill(v, chosen, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, chosen, f"{where}[{i}]") for i, v in enumerate(obj)]
    if not isinstance(obj, str):
        return obj

    def lookup(m: re.Match) -> dict:
        if m.group(1) not in chosen:
            raise ConfigError(f"{where}: {{{m.group(1)}}} is not an axis (have {sorted(chosen)})")
        return chosen[m.group(1)]

    whole = _PLACEHOLDER.fullmatch(obj)
    if whole and not whole.group(2):
        return copy.deepcopy(lookup(whole)["value"])
    return _PLACEHOLDER.sub(lambda m: lookup(m)["label" if m.group(2) else "name"], obj)


def _fill_name(template: str, chosen: dict[str, dict], where: str) -> str:
    """A name template: ``{axis}`` is always the value's name (even when the template is just ``{axis}``)."""
    return _fill(template + "\0", chosen, where)[:-1]


def _merge(template: dict, bundles: list[tuple[str, dict]], where: str) -> dict:
    out = copy.deepcopy(template)
    set_by: dict[str, str] = {}
    for axis, bundle in bundles:
        for k, v in bundle.items():
            if k in set_by and out[k] != v:
                raise ConfigError(f"{where}: axes {set_by[k]!r} and {axis!r} both set {k!r}")
            out[k] = copy.deepcopy(v)
            set_by[k] = axis
    return out


def _generate(grid_name: str, grid: dict, combo: dict[str, str], axes: dict) -> tuple[str, dict, str | None, dict | None]:
    """(student name, student settings, distill set name, distill set settings) of one combination."""
    key = f"grid.{grid_name}"
    chosen = {a: next(x for x in axes[a] if x["name"] == combo[a]) for a in axes}
    ds_name = ds = None
    if grid.get("distill_set"):
        tmpl = dict(grid["distill_set"])
        ds_name_t = tmpl.pop("name")
        ds = _merge(tmpl, [(a, x["distill_set"]) for a, x in chosen.items()], f"{key}.distill_set")
        ds = _fill(ds, chosen, f"{key}.distill_set")
        ds_name = _fill_name(ds_name_t, chosen, f"{key}.distill_set.name")
    elif any(x["distill_set"] for x in chosen.values()):
        raise ConfigError(f"{key}.axes: an axis value sets distill_set settings but the grid has no distill_set template")
    st = _merge(grid["student"], [(a, x["student"]) for a, x in chosen.items()], f"{key}.student")
    st = _fill(st, chosen, f"{key}.student")
    st.setdefault("kind", "trained")
    if ds_name is not None:
        if "distill_set" in st:
            raise ConfigError(f"{key}.student.distill_set: the grid's distill_set template names the student's data; "
                              "remove one of them")
        st["distill_set"] = ds_name
    name = _fill_name(grid["name"], chosen, f"{key}.name")
    for n, what in ((name, "name"), (ds_name, "distill_set.name")):
        if n is not None and not _NAME.match(n):
            raise ConfigError(f"{key}.{what}: {n!r} is not a valid name (letters, digits, '_', '.', '-')")
    return name, st, ds_name, ds


def experiments(config: dict) -> dict[tuple[str, str], list[tuple[str, dict[str, str]]]]:
    """(grid, experiment) -> [(student name, {axis: value name}), ...] in axis-value order."""
    out = {}
    for g, grid in (config.get("grid") or {}).items():
        axes = _axes(g, grid)
        for e in grid["experiments"]:
            out[(g, e)] = [(_fill_name(grid["name"], {a: next(x for x in axes[a] if x["name"] == c[a]) for a in axes},
                                  f"grid.{g}.name"), c)
                           for c in _experiment_combos(g, grid, axes, e)]
    return out


# --- expansion -----------------------------------------------------------------------------------------

def _section_validator(section: str, root: dict):
    from .config import _validator_class

    sub = dict(root["properties"][section]["additionalProperties"])
    sub["$defs"] = root.get("$defs", {})
    return _validator_class()(sub)


def _validated(validator, section: str, name: str, settings: dict, grid_name: str) -> dict:
    settings = copy.deepcopy(settings)
    errors = sorted(validator.iter_errors(settings), key=lambda e: list(map(str, e.absolute_path)))
    msgs = list(dict.fromkeys(
        f"{section}.{name}" + "".join(f".{p}" for p in e.absolute_path) + f": {e.message}"
        for e in errors if e.validator not in ("if", "allOf")))
    if msgs:
        raise ConfigError(f"grid.{grid_name} generates an invalid entry:\n  " + "\n  ".join(msgs))
    return settings


def expand(config: dict) -> dict:
    """Add the grids' students and distillation sets to ``config`` (in place; idempotent) and return it."""
    grids = config.get("grid") or {}
    if not grids:
        return config
    from .config import _schema

    root = _schema()
    validators = {}
    generated: dict[tuple[str, str], tuple[dict, str]] = {}  # (section, name) -> (settings, origin)
    for g, grid in grids.items():
        axes = _axes(g, grid)
        for e in grid["experiments"]:
            for combo in _experiment_combos(g, grid, axes, e):
                name, st, ds_name, ds = _generate(g, grid, combo, axes)
                origin = f"grid.{g}.experiments.{e} ({', '.join(f'{a}={v}' for a, v in combo.items())})"
                for section, n, s in (("distill_sets", ds_name, ds), ("students", name, st)):
                    if n is None:
                        continue
                    if section not in validators:
                        validators[section] = _section_validator(section, root)
                    s = _validated(validators[section], section, n, s, g)
                    prev = generated.get((section, n))
                    if prev is not None and prev[0] != s:
                        raise ConfigError(
                            f"{section}.{n}: generated twice with different settings, by {prev[1]} and by {origin}; "
                            f"the name template must contain every axis that changes the entry")
                    generated[(section, n)] = (s, origin)
    for (section, n), (s, origin) in generated.items():
        have = config.setdefault(section, {})
        if n in have and have[n] != s:
            raise ConfigError(f"{section}.{n}: defined in the config and generated differently by {origin}; "
                              "rename one of them")
        have[n] = s
    return config


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
    from .table import table_measures

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
        measure=measure, measures=measures, baseline=baseline, decimals=spec.get("decimals") or tab.get("decimals", 3),
        significance=spec.get("significance") or tab.get("significance", "baseline"),
        layout=spec.get("layout") or tab.get("layout", "columns"),
        labels=labels | dict(spec.get("labels") or {}), caption=caption or (
            f"Ablation {name}: {' and '.join(measures)} of each variant (rows) re-ranking the top results of each "
            "first stage on each query set (columns)."),
        tex_label=f"tab:ablation-{name}",
    )


def _system_distill_first_stage(config: dict, system: str) -> str | None:
    st = (config.get("students") or {}).get(system) or {}
    ds = (config.get("distill_sets") or {}).get(st.get("distill_set")) or {}
    return ds.get("first_stage")


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
        panels.append(dict(points=points, xlabel=xlabel, title=p.get("title"), x_scale=p.get("x_scale", "auto")))
    tab = config.get("table", {})
    labels = {n: s["label"] for sec in ("first_stages",) for n, s in config.get(sec, {}).items()
              if isinstance(s, dict) and s.get("label")}
    return dict(panels=panels, lines=spec.get("lines", "first_stage"),
                first_stages=list(spec.get("first_stages") or ev["first_stages"]),
                query_sets=list(spec.get("query_sets") or ev["query_sets"]),
                measure=spec.get("measure") or tab.get("measure") or ev["measures"][0],
                ylabel=spec.get("ylabel"), labels=labels | dict(tab.get("labels") or {}) | dict(spec.get("labels") or {}))


OWN_RUN = "own"  # tables.<name>.first_stages: own -- each first stage row on its own run


def check_outputs(config: dict) -> list[str]:
    """Reference checks of ``tables`` and ``figures`` (registered in rankdistill.config)."""
    problems: list[str] = []
    names = {n for sec in ("first_stages", "teachers", "rerankers", "students") for n in (config.get(sec) or {})}
    ev = config["evaluation"]
    measures = ev["measures"]

    def columns(key: str, spec: dict) -> None:
        # any configured first stage / query set may be a column (e.g. a check of a first stage
        # that the main table does not show); every query set has qrels
        for k in ("first_stages", "query_sets"):
            if spec.get(k) == OWN_RUN and k == "first_stages":
                continue
            for x in spec.get(k) or []:
                if x not in config[k]:
                    problems.append(f"{key}.{k}: {x!r} is not a configured {k[:-1].replace('_', ' ')} {sorted(config[k])}")
        for m in ([spec["measure"]] if spec.get("measure") else []) + list(spec.get("measures") or []):
            if m not in measures:
                problems.append(f"{key}.measure: {m!r} must be one of evaluation.measures {measures}")

    if OWN_RUN in config.get("first_stages", {}) and config.get("tables"):
        problems.append(f"first_stages.{OWN_RUN}: the name is reserved for tables' first_stages: {OWN_RUN}")
    for t, spec in (config.get("tables") or {}).items():
        key = f"tables.{t}"
        if bool(spec.get("systems")) == bool(spec.get("experiment")):
            problems.append(f"{key}: give either systems (a list of rows) or experiment (a grid experiment's students)")
            continue
        try:
            view = table_view(config, t)
        except ConfigError as e:
            problems.append(str(e))
            continue
        for s in view["systems"]:
            if s not in names:
                problems.append(f"{key}.systems: {s!r} is not a first stage, teacher, re-ranker or student")
        if spec.get("first_stages") == OWN_RUN:
            for s in view["systems"]:
                if s in names and s not in config["first_stages"]:
                    problems.append(f"{key}.systems: {s!r} is not a first stage (first_stages: own shows each first "
                                    "stage's own run; a re-ranker needs a first stage to re-rank)")
        if view["baseline"] is not None and view["baseline"] not in view["systems"]:
            problems.append(f"{key}.baseline: {view['baseline']!r} is not one of the table's rows {view['systems']}")
        columns(key, spec)
    for f, spec in (config.get("figures") or {}).items():
        key = f"figures.{f}"
        bad = [i for i, p in enumerate(spec["panels"]) if bool(p.get("points")) == bool(p.get("experiment"))]
        for i in bad:
            problems.append(f"{key}.panels[{i}]: give either points ({{student: x}}) or experiment and x")
        if bad:
            continue
        try:
            view = figure_view(config, f)
        except ConfigError as e:
            problems.append(str(e))
            continue
        for i, p in enumerate(view["panels"]):
            for pt in p["points"]:
                if pt["system"] not in (config.get("students") or {}):
                    problems.append(f"{key}.panels[{i}]: {pt['system']!r} is not a student")
                elif view["lines"] == "distill_first_stage" and pt["distill_first_stage"] is None:
                    problems.append(f"{key}.lines: student {pt['system']!r} has no distillation set (lines: "
                                    "distill_first_stage needs one)")
        columns(key, spec)
    return problems
