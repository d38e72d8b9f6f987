"""Cross-reference checks of a validated config (what a schema cannot express: names that must exist,
depths that must agree, one run source per cell, model folders of the right kind). Each check
returns problem lines ``key.path: message``; :func:`check_references` raises them as one ConfigError.
"""

from __future__ import annotations

from ..errors import ConfigError
from .models import _ACCEPTS, check_model
from .sources import source_problem
from .views import (OWN_RUN, SYSTEM_SECTIONS, check_measure_depths, distill_first_stages, figure_view, in_table,
                    measure_depths, table_view)


def check_references(config: dict) -> None:
    """Every cross-reference problem of a validated, expanded config, raised as one ConfigError."""
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
    problems += check_table_measures(config)
    from ..ood import check_ood  # collections, query sets' collection, the ood table (issue 13)

    for check in (check_imported_runs, check_generated, check_students, check_teachers, check_outputs, check_rerankers, check_ood):
        problems += check(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def check_table_measures(config: dict) -> list[str]:
    """Measures' evaluation depths (no silent truncation) and the main table's measures."""
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


GENERATED_ONLY = {  # the keys of a generated query set that one method has (the schema's method branches)
    "spans": ("max_words", "openings"),
    "llm": ("model", "backend", "dtype", "device", "max_new_tokens", "batch_size", "max_passage_words", "context_size",
            "examples", "num_examples", "filter", "openai"),
}


def check_generated(config: dict) -> list[str]:
    """A ``generated`` query set's ``openings``, ``examples``, ``filter`` and ``exclude`` name existing query sets
    and first stages, its span lengths agree, and it has no key of the other method."""
    problems = []
    qsets, fstages = config.get("query_sets", {}), config.get("first_stages", {})
    for name, qs in qsets.items():
        if qs.get("kind") != "generated":
            continue
        k = f"query_sets.{name}"
        method = qs.get("method", "spans")
        for other, keys in GENERATED_ONLY.items():  # a key of the other method would be silently ignored
            if other != method:
                for key in sorted(set(keys) & set(qs)):
                    problems.append(f"{k}.{key}: only for method: {other} (this query set's method is {method})")
        if method == "spans" and qs.get("min_words", 3) > qs.get("max_words", 8):
            problems.append(f"{k}: min_words ({qs.get('min_words')}) is above max_words ({qs.get('max_words')})")
        ex = qs.get("examples") if method == "llm" else None
        if ex is not None and ex not in qsets:
            problems.append(f"{k}.examples: {ex!r} is not a query set (have {sorted(qsets)})")
        elif ex == name:
            problems.append(f"{k}.examples: a generated query set cannot take examples from itself")
        elif ex is not None and qsets[ex].get("kind") == "generated":
            problems.append(f"{k}.examples: {ex!r} is a generated query set (its queries are not real examples)")
        flt = qs.get("filter") if method == "llm" else None
        if flt and fstages.get(flt["first_stage"], {}).get("kind") != "bm25":
            problems.append(f"{k}.filter.first_stage: {flt['first_stage']!r} is not a bm25 first stage "
                            f"(have {sorted(n for n, f in fstages.items() if f.get('kind') == 'bm25')})")
        op = qs.get("openings")
        if op is not None and op not in qsets:
            problems.append(f"{k}.openings: {op!r} is not a query set (have {sorted(qsets)})")
        if op == name:
            problems.append(f"{k}.openings: a generated query set cannot take openings from itself")
        for i, ex in enumerate(qs.get("exclude") or []):
            if ex["query_set"] not in qsets:
                problems.append(f"{k}.exclude[{i}].query_set: {ex['query_set']!r} is not a query set (have {sorted(qsets)})")
            elif ex["query_set"] == name:
                problems.append(f"{k}.exclude[{i}].query_set: a generated query set cannot exclude its own sources")
            if ex.get("first_stage") is not None and ex["first_stage"] not in fstages:
                problems.append(f"{k}.exclude[{i}].first_stage: {ex['first_stage']!r} is not a first stage "
                                f"(have {sorted(fstages)})")
    return problems


def check_imported_runs(config: dict) -> list[str]:
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
            p = source_problem(f"first_stages.{name}.runs.{qs}", src)
            if p:
                problems.append(p)
    return problems


def check_students(config: dict) -> list[str]:
    problems: list[str] = []
    qsets = config.get("query_sets", {})
    fstages = config.get("first_stages", {})
    teachers = config.get("teachers", {}) or {}
    dsets = config.get("distill_sets", {}) or {}
    stage1 = config.get("stage1", {}) or {}

    def need(key: str, value, have: dict, what: str) -> None:
        if value not in have:
            problems.append(f"{key}: {value!r} is not a {what} (have {sorted(have)})")

    for name, ds in dsets.items():
        k = f"distill_sets.{name}"
        if ds.get("kind") == "pool":
            for m in ds.get("sets") or []:
                need(f"{k}.sets", m, dsets, "distillation set")
                if (dsets.get(m) or {}).get("kind") == "pool":
                    problems.append(f"{k}.sets: {m!r} is a pool itself; list its sets instead")
            continue
        for fs in distill_first_stages(ds):
            need(f"{k}.first_stage", fs, fstages, "first stage")
        need(f"{k}.query_set", ds.get("query_set"), qsets, "query set")
        if ds.get("kind") == "teacher":
            need(f"{k}.teacher", ds.get("teacher"), teachers, "teacher")
            t = teachers.get(ds.get("teacher")) or {}
            tdepth = t.get("depth") if isinstance(t, dict) else None
            if isinstance(tdepth, int):
                if ds.get("mode") == "rerun" and tdepth != ds["depth"]:
                    problems.append(f"{k}.mode: 'rerun' at depth {ds['depth']} needs a teacher that ranks the top "
                                    f"{ds['depth']}, but teachers.{ds['teacher']}.depth is {tdepth}; define a teacher "
                                    "with that depth or use mode 'projection'")
                if ds["mode"] == "projection" and ds["depth"] > tdepth:
                    problems.append(f"{k}.depth: {ds['depth']} is deeper than the teacher's depth {tdepth} "
                                    f"(teachers.{ds['teacher']}.depth): a projection can only shorten the teacher's list")
        elif ds.get("kind") == "first_stage":
            rerankers = config.get("rerankers", {}) or {}
            need(f"{k}.ranker", ds.get("ranker"), {**fstages, **rerankers}, "first stage or re-ranker")
            r = rerankers.get(ds.get("ranker"))
            if isinstance(r, dict) and ds.get("ranker") not in fstages:
                rdepth = r.get("depth") or (config.get("evaluation") or {}).get("depth")
                if isinstance(rdepth, int) and ds.get("depth", 100) > rdepth:
                    problems.append(f"{k}.depth: {ds.get('depth', 100)} is deeper than the re-ranker's depth {rdepth} "
                                    f"(rerankers.{ds['ranker']}.depth): it ranks only the first stage's top {rdepth}")
    def check_validation(k: str, entry: dict) -> None:
        v = entry.get("validation") or {}
        if v.get("query_set") is not None:
            need(f"{k}.validation.query_set", v["query_set"], qsets, "query set")
        if v.get("first_stage") is not None:
            need(f"{k}.validation.first_stage", v["first_stage"], fstages, "first stage")

    for name, s1 in stage1.items():
        need(f"stage1.{name}.first_stage", s1.get("first_stage"), fstages, "first stage")
        need(f"stage1.{name}.query_set", s1.get("query_set"), qsets, "query set")
        check_validation(f"stage1.{name}", s1)
    for name, st in (config.get("students", {}) or {}).items():
        k = f"students.{name}"
        if st.get("kind") != "trained":
            continue
        need(f"{k}.distill_set", st.get("distill_set"), dsets, "distillation set")
        check_validation(k, st)
        if st.get("stage1") is not None:
            need(f"{k}.stage1", st.get("stage1"), stage1, "stage1 entry")
            if st.get("backbone") is not None:
                problems.append(f"{k}.backbone: a dual-stage student starts from its stage1 model "
                                f"(stage1.{st['stage1']}.backbone); remove backbone or set stage1: null")
        elif st.get("backbone") is None:
            problems.append(f"{k}: a single-stage student (stage1: null) needs a backbone")
    return problems


def check_teachers(config: dict) -> list[str]:
    problems = []
    qsets = config.get("query_sets", {})
    fstages = config.get("first_stages", {})
    teachers = config.get("teachers", {}) or {}
    for name, t in teachers.items():
        k = f"teachers.{name}"
        if t.get("kind") == "llm":
            if t["step"] > t["window"]:
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
                    p = source_problem(f"{k}.runs.{fs}.{qs}", src)
                    if p:
                        problems.append(p)
            for s in config.get("evaluation", {}).get("systems") or []:
                if s == name and not in_table(config, name):
                    problems.append(f"evaluation.systems: {name!r} (an import teacher) has no run for any "
                                    "evaluation cell (first stage x query set)")
    for dname, ds in (config.get("distill_sets") or {}).items():
        t = teachers.get(ds.get("teacher")) if ds.get("kind") == "teacher" else None
        for fs in distill_first_stages(ds) if t and t.get("kind") == "import" else []:
            if ds.get("query_set") not in (t.get("runs") or {}).get(fs, {}):
                problems.append(f"distill_sets.{dname}: teachers.{ds['teacher']} (import) has no run for first stage "
                                f"{fs!r} and query set {ds.get('query_set')!r}")
    return problems


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


def check_rerankers(config: dict) -> list[str]:
    """Reference and model-folder checks of ``rerankers`` and ``kind: pretrained`` students."""
    problems: list[str] = []
    stage1 = config.get("stage1") or {}
    for name, r in (config.get("rerankers") or {}).items():
        k = f"rerankers.{name}"
        kind = r.get("kind")
        if kind == "stage1":
            if r.get("stage1") not in stage1:
                problems.append(f"{k}.stage1: {r.get('stage1')!r} is not a stage1 entry (have {sorted(stage1)})")
        elif kind == "fusion":
            for c in (r.get("components") or {}):
                if c not in (config.get("first_stages") or {}):
                    problems.append(f"{k}.components: {c!r} is not a first stage "
                                    f"(have {sorted(config.get('first_stages') or {})})")
        elif kind in _ACCEPTS and r.get("model"):
            p = check_model(f"{k}.model", r["model"], kind)
            if p:
                problems.append(p)
        if (r.get("inference") or {}).get("depth") is not None:
            problems.append(f"{k}.inference.depth: a re-ranker's depth is {k}.depth (one setting for every kind)")
        for key in ("first_stages", "query_sets"):
            for x in (r.get("evaluate") or {}).get(key) or []:
                if x not in (config.get(key) or {}):
                    problems.append(f"{k}.evaluate.{key}: {x!r} is not a configured {key[:-1].replace('_', ' ')} "
                                    f"(have {sorted(config.get(key) or {})})")
    for name, st in (config.get("students") or {}).items():
        if st.get("kind") == "pretrained" and st.get("model"):
            p = check_model(f"students.{name}.model", st["model"], "cross-encoder")
            if p:
                problems.append(p)
    return problems
