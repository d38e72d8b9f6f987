"""Configuration: validation against ``workflow/schemas/config.schema.yaml`` with defaults, plus
the cross-references a schema cannot express (evaluation names existing query sets, ...).

``validate(config)`` fills defaults *in place* (so the Snakefile's global ``config`` is complete)
and raises :class:`ConfigError` listing every problem as ``key.path: message``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


def _schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as f:  # the C loader when present: the schema is large (dry-run time)
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _validator_class():
    import jsonschema

    base = jsonschema.Draft202012Validator
    props = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from props(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


def _path(err) -> str:
    return ".".join(str(p) for p in err.absolute_path) or "(top level)"


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place (filling defaults) and return it; raise ConfigError if invalid."""
    if not isinstance(config, dict) or not config:
        raise ConfigError("the configuration is empty: pass --configfile or keep config/config.yaml")
    cls = _validator_class()
    errors = sorted(cls(_schema()).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    # if/then branches report the same problem twice (once for "if" context); keep unique lines
    msgs = list(dict.fromkeys(f"{_path(e)}: {e.message}" for e in errors if e.validator not in ("if", "allOf")))
    if msgs:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(msgs))
    from .grid import expand  # grids add students and distillation sets before the cross-reference checks

    expand(config)
    _check_references(config)
    return config


def systems(config: dict) -> list[str]:
    """Table rows: ``evaluation.systems`` or first stages, teachers, re-rankers, students in config order
    (teachers and re-rankers with at least one evaluation cell)."""
    ev = config["evaluation"]
    if ev.get("systems"):
        return list(ev["systems"])
    fs = [f for f in config["first_stages"] if f in ev["first_stages"]]
    from .reranker_config import evaluates
    from .teacher_config import in_table

    teachers = [t for t in config.get("teachers", {}) if in_table(config, t)]
    rerankers = [r for r in config.get("rerankers", {})
                 if any(evaluates(config, r, f, q) for f in ev["first_stages"] for q in ev["query_sets"])]
    return fs + teachers + rerankers + list(config.get("students", {}))


# (kind, config section) of every table row: each name is unique across these sections
SYSTEM_SECTIONS = (("first_stage", "first_stages"), ("teacher", "teachers"), ("reranker", "rerankers"),
                   ("student", "students"))


def system_kind(config: dict, name: str) -> str:
    for kind, key in SYSTEM_SECTIONS:
        if name in config.get(key, {}):
            return kind
    raise ConfigError(f"unknown system {name!r}")


def _check_references(config: dict) -> None:
    problems = []
    ev = config["evaluation"]
    names: dict[str, str] = {}
    for _, key in SYSTEM_SECTIONS:
        for n in config.get(key, {}):
            if n in names:
                problems.append(f"{key}.{n}: the name {n!r} is also used in {names[n]}; system names must be unique")
            names[n] = key
    for q in ev["query_sets"]:
        if q not in config["query_sets"]:
            problems.append(f"evaluation.query_sets: {q!r} is not a query set (have {sorted(config['query_sets'])})")
    for f in ev["first_stages"]:
        if f not in config["first_stages"]:
            problems.append(f"evaluation.first_stages: {f!r} is not a first stage (have {sorted(config['first_stages'])})")
    for s in ev.get("systems") or []:
        if s not in names:
            problems.append(f"evaluation.systems: {s!r} is not a first stage, teacher, re-ranker or student")
    if ev.get("baseline") is not None and ev["baseline"] not in names:
        problems.append(f"evaluation.baseline: {ev['baseline']!r} is not a first stage, teacher, re-ranker or student")
    import ir_measures

    for m in ev["measures"] + ([config["table"]["measure"]] if config.get("table", {}).get("measure") else []):
        try:
            ir_measures.parse_measure(m)
        except Exception:
            problems.append(f"evaluation.measures: {m!r} is not an ir_measures measure (e.g. nDCG@10, RR(rel=2)@10)")
    tm = config.get("table", {}).get("measure")
    if tm and tm not in ev["measures"]:
        problems.append(f"table.measure: {tm!r} must be one of evaluation.measures {ev['measures']}")
    problems += _check_table_measures(config)
    for hook in _REFERENCE_HOOKS:
        problems += hook(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


# later stages (teachers, students, ...) register checks of their own cross-references here
_REFERENCE_HOOKS: list = []


def _check_table_measures(config: dict) -> list[str]:
    """Measures' evaluation depths (no silent truncation) and the main table's measures."""
    from .evaluate import check_measure_depths, measure_depths

    ev, tab, problems = config["evaluation"], config.get("table", {}), []
    for m in ev.get("measure_depths") or {}:
        if m not in ev["measures"]:
            problems.append(f"evaluation.measure_depths: {m!r} is not one of evaluation.measures {ev['measures']}")
    try:
        problems += check_measure_depths(ev["measures"], measure_depths(ev["measures"], ev["depth"], ev.get("measure_depths")))
    except Exception:  # noqa: BLE001  (an unparsable measure is reported above)
        pass
    for m in tab.get("measures") or []:
        if m not in ev["measures"]:
            problems.append(f"table.measures: {m!r} must be one of evaluation.measures {ev['measures']}")
    if tab.get("measure") and tab.get("measures"):
        problems.append("table: give measure or measures, not both")
    return problems


def _check_imported_runs(config: dict) -> list[str]:
    """An ``import`` first stage names runs of existing query sets, one for each evaluated one."""
    problems = []
    qsets = config.get("query_sets", {})
    evaluated = config.get("evaluation", {})
    for name, fs in config.get("first_stages", {}).items():
        if fs.get("kind") != "import":
            continue
        for qs in fs.get("runs", {}):
            if qs not in qsets:
                problems.append(f"first_stages.{name}.runs: {qs!r} is not a query set (have {sorted(qsets)})")
        if name in evaluated.get("first_stages", []):
            for qs in evaluated.get("query_sets", []):
                if qs not in fs.get("runs", {}):
                    problems.append(f"first_stages.{name}.runs: no run for the evaluated query set {qs!r}")
        for qs, src in fs.get("runs", {}).items():
            if isinstance(src, str) and src.startswith(("http://", "https://")):
                problems.append(f"first_stages.{name}.runs.{qs}: a URL needs an expected checksum: "
                                f"{{url: ..., sha256: ...}} or {{url: ..., md5: ...}}")
            elif isinstance(src, dict):
                given = [k for k in ("path", "url", "irds") if src.get(k)]
                if len(given) != 1:
                    problems.append(f"first_stages.{name}.runs.{qs}: give exactly one of path, url, irds")
                elif given == ["url"] and not (src.get("sha256") or src.get("md5")):
                    problems.append(f"first_stages.{name}.runs.{qs}: a URL needs an expected sha256 or md5")
    return problems


_REFERENCE_HOOKS.append(_check_imported_runs)


def load(path: str | os.PathLike) -> dict:
    """Read a YAML config file and validate it."""
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the configuration: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 (byte 0x{e.object[e.start]:02x} at byte offset {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(e, 'problem', None) or e}") from None
    except (ValueError, RecursionError) as e:  # PyYAML: a 4300+ digit integer, nesting too deep
        raise ConfigError(f"{path}: invalid YAML: {str(e)[:160]}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys, got a {type(cfg).__name__}")
    try:
        return validate(cfg)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


from .student_config import check_students as _check_students  # noqa: E402  (distill sets, stage1, students)

_REFERENCE_HOOKS.append(_check_students)

from .teacher_config import check_teachers as _check_teachers  # noqa: E402  (teachers, imported teacher runs)

_REFERENCE_HOOKS.append(_check_teachers)

from .grid import check_outputs as _check_outputs  # noqa: E402  (extra tables and figures)

_REFERENCE_HOOKS.append(_check_outputs)

from .reranker_config import check_rerankers as _check_rerankers  # noqa: E402  (rerankers, pretrained model folders)

_REFERENCE_HOOKS.append(_check_rerankers)

from .ood import check_ood as _check_ood  # noqa: E402  (collections, query sets' collection, the ood table)

_REFERENCE_HOOKS.append(_check_ood)
