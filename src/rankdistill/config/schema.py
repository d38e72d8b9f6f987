"""The configuration schema (``workflow/schemas/config.schema.yaml``, the one place every default
lives) and a JSON-schema validator that fills those defaults in place."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


@functools.lru_cache(maxsize=1)
def _cached_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as f:  # the C loader when present: the schema is large (dry-run time)
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def schema() -> dict:
    """The parsed schema (a fresh copy: callers may modify it)."""
    return copy.deepcopy(_cached_schema())


def validator_class():
    """Draft 2020-12 with ``default`` filling: a missing key gets its schema default while validating."""
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


def error_lines(errors, prefix: str = "") -> list[str]:
    """``key.path: message`` per error, without the duplicates if/then branches report."""
    errors = sorted(errors, key=lambda e: list(map(str, e.absolute_path)))
    lines = []
    for e in errors:
        if e.validator in ("if", "allOf"):
            continue
        path = ".".join(str(p) for p in e.absolute_path)
        where = ".".join(x for x in (prefix, path) if x) or "(top level)"
        lines.append(f"{where}: {e.message}")
    return list(dict.fromkeys(lines))


def section_validator(section: str):
    """A validator of one entry of a named section (``students``, ``distill_sets``, ...)."""
    root = _cached_schema()
    sub = copy.deepcopy(root["properties"][section]["additionalProperties"])
    sub["$defs"] = root.get("$defs", {})
    return validator_class()(sub)
