"""The typed plan (rankdistill.config.plan): every schema key of a stage reaches that stage's settings
(or is declared display/routing), no settings class carries a default of its own, and a change of
one stage's setting changes that stage's settings and no other's (the params contract of the rules)."""

from __future__ import annotations

import copy
import dataclasses
from types import SimpleNamespace

import pytest

from conftest import ROOT, tiny_config
from rankdistill.config import plan as P
from rankdistill.config import settings as S
from rankdistill.config.loading import load, validate
from rankdistill.config.schema import schema

BT = "package:cognition/model"


def _schema_keys(section: str) -> dict[str, set[str]]:
    """kind -> the keys the schema allows for an entry of ``section`` ("*": a section without kinds)."""
    entry = schema()["properties"][section]["additionalProperties"]
    out = {}
    for branch in entry.get("allOf", []):
        if "if" in branch:
            out[branch["if"]["properties"]["kind"]["const"]] = set(branch["then"]["properties"])
    return out or {"*": set(entry["properties"])}


SETTINGS_CLASSES = [c for c in vars(S).values()
                    if isinstance(c, type) and issubclass(c, S.Settings) and dataclasses.is_dataclass(c)
                    and dataclasses.fields(c)]


def test_no_settings_field_has_a_default():
    """Defaults live in the schema alone: a settings class built without a field is an error."""
    assert len(SETTINGS_CLASSES) >= 15
    for cls in SETTINGS_CLASSES:
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, \
                f"{cls.__name__}.{f.name} has a default of its own"
        with pytest.raises(TypeError):
            cls()


@pytest.mark.parametrize("section", sorted(S.NOT_SETTINGS))
def test_every_schema_key_is_a_setting_or_declared_not_one(section):
    """A new schema key must reach its stage's settings, or be listed in NOT_SETTINGS on purpose."""
    covered: dict[str, set[str]] = {}
    for cls in SETTINGS_CLASSES:
        if cls.section != section:
            continue
        keys = {cls.from_keys.get(f, f) for f in cls.fields()}
        for kind in cls.kinds or ("*",):
            covered.setdefault(kind, set()).update(keys)
    if section == "rerankers" or section == "students":  # cross-encoders share CrossEncoderRerankSettings
        ce = set(S.CrossEncoderRerankSettings.fields()) | {"inference"}
        for kind in ("cross-encoder", "stage1", "pretrained", "trained"):
            covered.setdefault(kind, set()).update(ce)
    if section == "first_stages":  # the PLAID block is a ColBERT setting (PlaidSettings reads inside it)
        covered["colbert"].add("plaid")
    if section == "teachers":
        covered.setdefault("import", set()).update(S.ImportSettings.fields())
    if section == "first_stages":
        covered["import"].update(S.ImportSettings.fields())
    for kind, keys in _schema_keys(section).items():
        missing = keys - covered.get(kind, covered.get("*", set())) - S.NOT_SETTINGS[section]
        assert not missing, f"{section} (kind {kind}): schema keys in no settings class: {sorted(missing)}"


def _students_config():
    cfg = tiny_config()
    cfg["teachers"] = {"t": {"kind": "llm", "model": "some/model", "depth": 12, "window": 6, "step": 3}}
    cfg["distill_sets"] = {"d": {"kind": "teacher", "teacher": "t", "first_stage": "bm25", "query_set": "train",
                                 "queries": 10, "depth": 8}}
    cfg["stage1"] = {"s1": {"backbone": BT, "first_stage": "bm25", "query_set": "train", "steps": 2}}
    cfg["students"] = {"dual": {"kind": "trained", "stage1": "s1", "distill_set": "d", "label": "Dual"}}
    return cfg


WC = SimpleNamespace(first_stage="bm25", query_set="train", teacher="t", distill_set="d", stage1="s1",
                     student="dual")


def _stages(cfg) -> dict[str, dict]:
    plan = P.Plan(validate(copy.deepcopy(cfg)))
    return {
        "index": plan.bm25_index(WC), "retrieve": plan.bm25_retrieve(WC), "teacher": plan.teacher(WC),
        "distill": plan.distill(WC), "stage1": plan.stage1(WC), "student": plan.student(WC),
        "rerank": plan.cross_encoder_rerank(WC), "evaluation": plan.evaluation(),
        "table": plan.table("x"),
    }


@pytest.mark.parametrize("change,changed", [
    (lambda c: c["first_stages"]["bm25"].update(k1=1.2), {"retrieve"}),
    (lambda c: c["first_stages"]["bm25"].update(stemmer="none"), {"index"}),
    (lambda c: c["teachers"]["t"].update(window=8), {"teacher"}),
    (lambda c: c["teachers"]["t"].update(label="T"), {"table"}),
    (lambda c: c["distill_sets"]["d"].update(depth=6), {"distill"}),
    (lambda c: c["distill_sets"]["d"].update(queries=12), {"distill", "teacher"}),  # the teacher ranks what it uses
    (lambda c: c["stage1"]["s1"].update(lr=2e-5), {"stage1"}),
    (lambda c: c["students"]["dual"].update(lr=2e-5), {"student"}),
    (lambda c: c["students"]["dual"].update(save_every=7), {"student"}),
    (lambda c: c["students"]["dual"].update(label="Dual (renamed)"), {"table"}),
    (lambda c: c["students"]["dual"].update(inference={"batch_size": 8}), {"rerank"}),
    (lambda c: c["evaluation"].update(depth=20), {"evaluation", "rerank", "table"}),  # rerank depth: evaluation's
    (lambda c: c.update(table={"decimals": 2}), {"table"}),
])
def test_one_setting_changes_exactly_its_stage(change, changed):
    before = _stages(_students_config())
    cfg = _students_config()
    change(cfg)
    after = _stages(cfg)
    assert {k for k in before if before[k] != after[k]} == changed


def test_settings_are_key_order_free_and_round_trip():
    cfg = _students_config()
    cfg["teachers"]["t"]["openai"] = {"timeout": 10.0, "base_url": "http://x"}
    a = P.Plan(validate(copy.deepcopy(cfg))).teacher(WC)
    cfg["teachers"]["t"]["openai"] = {"base_url": "http://x", "timeout": 10.0}
    b = P.Plan(validate(copy.deepcopy(cfg))).teacher(WC)
    assert a == b and list(a["openai"]) == sorted(a["openai"])
    s = S.TeacherSettings(**a)  # what the rule script does
    assert s.asdict() == a and s.window == 6 and s.step == 3
    with pytest.raises(TypeError):
        S.TeacherSettings(**{**a, "label": "x"})  # an unknown field is an error, not ignored


def test_schema_defaults_reach_the_settings():
    """save_every: the schema's 100 (TrainSettings once said 500); the teacher window: the schema's 20."""
    sch = schema()["properties"]
    cfg = _students_config()
    del cfg["teachers"]["t"]["window"], cfg["teachers"]["t"]["step"]
    st = _stages(cfg)
    trained = next(b["then"]["properties"] for b in sch["students"]["additionalProperties"]["allOf"]
                   if b["if"]["properties"]["kind"]["const"] == "trained")
    assert st["student"]["save_every"] == trained["save_every"]["default"] == 100
    assert st["teacher"]["window"] == 20 and st["teacher"]["step"] == 10
    assert st["student"]["start"] == "results/models/stage1/s1" and "label" not in st["student"]


def test_paper_config_plans_every_rule():
    cfg = load(ROOT / "config" / "paper.yaml")
    plan = P.Plan(cfg)
    for name, st in cfg["students"].items():
        s = S.StudentSettings(**plan.student(name)) if st["kind"] == "trained" else None
        assert s is None or s.epochs >= 1
    for cell in plan.table_cells():
        assert plan.eval_file(*cell).startswith("results/eval/")


def _kind_defaults(section: str, kind: str | None) -> dict:
    entry = schema()["properties"][section]["additionalProperties"]
    props = entry.get("properties", {})
    for branch in entry.get("allOf", []):
        if "if" in branch and branch["if"]["properties"]["kind"]["const"] == kind:
            props = branch["then"]["properties"]
    return {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}


def _library_defaults():
    """(where, {name: default}) of the library entry points and classes the rules call."""
    import inspect

    from rankdistill.retrieval import bm25, colbert, dense, fusion
    from rankdistill.teacher import core
    from rankdistill.students.train import TrainSettings, train_stage2

    def sig(f):
        return {n: p.default for n, p in inspect.signature(f).parameters.items()
                if p.default is not inspect.Parameter.empty and n != "validation"}  # Validation kwargs, not the block

    train = {f.name: f.default for f in dataclasses.fields(TrainSettings)
             if f.default is not dataclasses.MISSING and f.name not in ("steps", "epochs")}  # None: "required"
    return [
        (("stage1", None), {k: v for k, v in train.items() if k != "loss"}),
        (("students", "trained"), train | sig(train_stage2)),
        (("teachers", "llm"), sig(core.rerank_run_file)),
        (("first_stages", "bm25"), sig(bm25.build_index) | {k: v for k, v in sig(bm25.retrieve).items() if k != "depth"}),
        (("first_stages", "dense"), {k: v for k, v in (sig(dense.build_index) | sig(dense.retrieve)).items()
                                     if k != "depth"}),
        (("rerankers", "dense"), {k: v for k, v in sig(dense.rerank_run_file).items() if k != "depth"}),
        (("rerankers", "colbert"), {k: v for k, v in sig(colbert.rerank_run_file).items() if k not in ("depth",)}),
        (("rerankers", "fusion"), {k: v for k, v in sig(fusion.rerank_run_file).items() if k != "depth"}),
    ]


def test_library_defaults_agree_with_the_schema():
    """The rules pass every setting, but the Python API keeps defaults for use without a config: where
    a default names a schema key it must be the schema's (save_every was 500 against the schema's 100)."""
    for (section, kind), defaults in _library_defaults():
        schema_defaults = _kind_defaults(section, kind)
        wrong = {k: (v, schema_defaults[k]) for k, v in defaults.items()
                 if k in schema_defaults and schema_defaults[k] != v}
        assert not wrong, f"{section} ({kind}): library default != schema default: {wrong}"
