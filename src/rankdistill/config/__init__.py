"""The configuration: load and validate (:mod:`.loading`, defaults from the schema alone, :mod:`.schema`),
grid expansion (:mod:`.grid`), cross-reference checks (:mod:`.checks`), views the DAG needs (:mod:`.views`),
the typed per-stage settings (:mod:`.settings`) and the plan that builds them per rule (:mod:`.plan`).

Light by design (yaml, jsonschema; ir_measures to parse measures): the Snakefile builds the DAG from
this package alone, without torch, transformers or pandas. The names below are loaded on first use,
so a job that imports one submodule (a rule script: :mod:`.settings`) loads only that one, and its
code version (:mod:`rankdistill.codegraph`) depends on that submodule's imports alone.
"""

from __future__ import annotations

_EXPORTS = {
    "load": "loading", "validate": "loading", "SCHEMA_PATH": "schema", "OWN_RUN": "views",
    "SYSTEM_SECTIONS": "views", "system_kind": "views", "systems": "views", "Plan": "plan",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
