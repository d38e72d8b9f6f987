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

The tables and figures that show a grid's experiments are :mod:`rankdistill.config.views`.
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

from ..errors import ConfigError
from .schema import error_lines, section_validator

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

def _validated(validator, section: str, name: str, settings: dict, grid_name: str) -> dict:
    settings = copy.deepcopy(settings)
    msgs = error_lines(validator.iter_errors(settings), prefix=f"{section}.{name}")
    if msgs:
        raise ConfigError(f"grid.{grid_name} generates an invalid entry:\n  " + "\n  ".join(msgs))
    return settings


def expand(config: dict) -> dict:
    """Add the grids' students and distillation sets to ``config`` (in place; idempotent) and return it."""
    grids = config.get("grid") or {}
    if not grids:
        return config
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
                        validators[section] = section_validator(section)
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
