"""Cross-references of ``distill_sets``, ``stage1`` and ``students`` (no torch: the Snakefile imports it).

Registered in :data:`rankdistill.config._REFERENCE_HOOKS`; each problem is ``key.path: message``.
"""

from __future__ import annotations


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
        need(f"{k}.first_stage", ds.get("first_stage"), fstages, "first stage")
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
                if ds.get("mode", "projection") == "projection" and ds["depth"] > tdepth:
                    problems.append(f"{k}.depth: {ds['depth']} is deeper than the teacher's depth {tdepth} "
                                    f"(teachers.{ds['teacher']}.depth): a projection can only shorten the teacher's list")
        elif ds.get("kind") == "first_stage":
            need(f"{k}.ranker", ds.get("ranker"), fstages, "first stage")
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
