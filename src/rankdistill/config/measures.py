"""Which measures a table shows and the depth each is computed at (light: the evaluation, table and
config-check code share these, and none of them imports the rest of the config package)."""

from __future__ import annotations


def table_measures(config: dict, spec: dict | None = None) -> list[str]:
    """A table's measures: its own ``measures``/``measure``, else ``table.measures``/``table.measure``,
    else every one of ``evaluation.measures``."""
    tab = config.get("table") or {}
    for src in (spec or {}, tab):
        if src.get("measures"):
            return list(src["measures"])
        if src.get("measure"):
            return [src["measure"]]
    return list(config["evaluation"]["measures"])


def measure_cutoff(measure: str) -> int | None:
    """The rank cutoff a measure itself has (``R@1000`` -> 1000, ``AP(rel=2)`` -> None)."""
    import ir_measures

    return ir_measures.parse_measure(measure).params.get("cutoff")


def measure_depths(measures: list[str], depth: int | None, overrides: dict | None = None) -> dict[str, int | None]:
    """Each measure's evaluation depth: ``overrides[m]`` if given (None: the full run), else ``depth``."""
    overrides = overrides or {}
    return {m: overrides[m] if m in overrides else depth for m in measures}


def check_measure_depths(measures: list[str], depths: dict[str, int | None], key: str = "evaluation") -> list[str]:
    """Config problems: a measure whose own cutoff is deeper than the run it is computed on.

    ``R@1000`` on runs cut at 100 would silently be R@100; that is an error, not a truncation.
    """
    problems = []
    for m in measures:
        k, d = measure_cutoff(m), depths.get(m)
        if k is not None and d is not None and k > d:
            problems.append(f"{key}.measures: {m} needs each run's top {k} but is computed on the top {d} "
                            f"(evaluation.depth or measure_depths); set {key}.measure_depths: {{{m!r}: {k}}} "
                            "(null: the full run) or raise evaluation.depth")
    return problems
