"""Teacher settings the workflow needs before any job runs (no torch import): cross-reference
checks, which runs a teacher must produce, and how many queries of a training set it ranks."""

from __future__ import annotations


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
    from .ood import ood_query_sets

    if query_set in ood_query_sets(config):  # the out-of-domain table needs every query too
        return None
    wanted = [ds.get("queries") for ds in (config.get("distill_sets") or {}).values()
              if ds.get("kind") == "teacher" and ds.get("teacher") == teacher
              and ds.get("first_stage") == first_stage and ds.get("query_set") == query_set]
    if not wanted or any(n is None for n in wanted):
        return None
    return max(wanted)


def check_teachers(config: dict) -> list[str]:
    problems = []
    qsets = config.get("query_sets", {})
    fstages = config.get("first_stages", {})
    teachers = config.get("teachers", {}) or {}
    for name, t in teachers.items():
        k = f"teachers.{name}"
        if t.get("kind") == "llm":
            if t.get("step", 10) > t.get("window", 20):
                problems.append(f"{k}.step: {t['step']} is larger than window {t['window']}: passages between "
                                "windows would never be ranked")
            for qs in t.get("queries") or {}:
                if qs not in qsets:
                    problems.append(f"{k}.queries: {qs!r} is not a query set (have {sorted(qsets)})")
            for key, section in (("first_stages", "first_stages"), ("query_sets", "query_sets")):
                for x in (t.get("evaluate") or {}).get(key) or []:
                    if x not in config.get("evaluation", {}).get(section, []):
                        problems.append(f"{k}.evaluate.{key}: {x!r} is not in evaluation.{section}")
        elif t.get("kind") == "import":
            for fs, runs in (t.get("runs") or {}).items():
                if fs not in fstages:
                    problems.append(f"{k}.runs: {fs!r} is not a first stage (have {sorted(fstages)})")
                for qs, src in (runs or {}).items():
                    if qs not in qsets:
                        problems.append(f"{k}.runs.{fs}: {qs!r} is not a query set (have {sorted(qsets)})")
                    if isinstance(src, str) and src.startswith(("http://", "https://")):
                        problems.append(f"{k}.runs.{fs}.{qs}: a URL needs an expected checksum: "
                                        "{url: ..., sha256: ...} or {url: ..., md5: ...}")
                    elif isinstance(src, dict):
                        given = [x for x in ("path", "url", "irds") if src.get(x)]
                        if len(given) != 1:
                            problems.append(f"{k}.runs.{fs}.{qs}: give exactly one of path, url, irds")
                        elif given == ["url"] and not (src.get("sha256") or src.get("md5")):
                            problems.append(f"{k}.runs.{fs}.{qs}: a URL needs an expected sha256 or md5")
            for s in config.get("evaluation", {}).get("systems") or []:
                if s == name and not in_table(config, name):
                    problems.append(f"evaluation.systems: {name!r} (an import teacher) has no run for any "
                                    "evaluation cell (first stage x query set)")
    for dname, ds in (config.get("distill_sets") or {}).items():
        t = teachers.get(ds.get("teacher")) if ds.get("kind") == "teacher" else None
        if t and t.get("kind") == "import" and ds.get("query_set") not in (t.get("runs") or {}).get(ds.get("first_stage"), {}):
            problems.append(f"distill_sets.{dname}: teachers.{ds['teacher']} (import) has no run for first stage "
                            f"{ds.get('first_stage')!r} and query set {ds.get('query_set')!r}")
    return problems
