"""The out-of-domain table (issue 13): pooling per corpus group, both means, Holm across the rows, the
notebook's alignment to the first stage's top-k, titles in the anchors' formats, and many collections
in one config."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import tiny_config
from rankdistill import config as rdconfig
from rankdistill.errors import ConfigError
from rankdistill.ood import geometric_mean, ood_long, restrict, write_ood_table


def _per_query(path, values, measure="nDCG@10"):
    pd.DataFrame({"qid": [str(q) for q in values], "measure": measure, "value": list(values.values())}).to_csv(
        path, sep="\t", index=False)
    return str(path)


# hand-made per-query values: group A = one query set; group B pools two query sets whose qids collide ("1", "2")
A = {"base": {"1": .5, "2": .6, "3": .7, "4": .2}, "x": {"1": .1, "2": .2, "3": .3, "4": .1},
     "y": {"1": .5, "2": .65, "3": .7, "4": .25}}
B1 = {"base": {"1": .4, "2": .4, "3": .5}, "x": {"1": .3, "2": .2, "3": .4}, "y": {"1": .8, "2": .9, "3": .7}}
B2 = {"base": {"1": .3, "2": .6}, "x": {"1": .1, "2": .5}, "y": {"1": .7, "2": .9}}


@pytest.fixture
def files(tmp_path):
    out = {}
    for qs, table in (("qa", A), ("qb1", B1), ("qb2", B2)):
        for s, vals in table.items():
            out[(s, "bm25", qs)] = _per_query(tmp_path / f"{s}-{qs}.tsv", vals)
    return out


SPEC = dict(systems=["x", "y", "base"], groups={"A": ["qa"], "B": ["qb1", "qb2"]}, measure="nDCG@10",
            first_stage="bm25", depth=100, baseline="base", alpha=0.05, correction="holm", decimals=3)


def _holm(p):
    """Holm's step-down adjusted p-values, by hand."""
    order = np.argsort(p)
    m, adj, run = len(p), np.empty(len(p)), 0.0
    for i, k in enumerate(order):
        run = max(run, min(1.0, (m - i) * p[k]))
        adj[k] = run
    return adj


def test_groups_pool_queries_of_their_collections_with_unique_qids(files):
    long = ood_long(SPEC, {(s, q): f for (s, _, q), f in files.items()})
    g = long.set_index(["system", "query_set"])
    # group B has 5 queries (3 + 2; the colliding qids 1 and 2 are kept apart), its value the pooled mean
    assert g.loc[("y", "B"), "n_queries"] == 5
    assert g.loc[("y", "B"), "value"] == pytest.approx(np.mean([.8, .9, .7, .7, .9]))
    assert g.loc[("base", "B"), "value"] == pytest.approx(np.mean([.4, .4, .5, .3, .6]))
    # ... which is not the mean of the two query sets' means
    assert g.loc[("base", "B"), "value"] != pytest.approx((np.mean([.4, .4, .5]) + np.mean([.3, .6])) / 2)
    assert g.loc[("x", "A"), "value"] == pytest.approx(.175)


def test_means_over_groups_arithmetic_and_geometric_without_tests(files):
    long = ood_long(SPEC, {(s, q): f for (s, _, q), f in files.items()})
    g = long.set_index(["system", "query_set"])
    for s in SPEC["systems"]:
        a, b = g.loc[(s, "A"), "value"], g.loc[(s, "B"), "value"]
        assert g.loc[(s, "amean"), "value"] == pytest.approx((a + b) / 2)
        assert g.loc[(s, "gmean"), "value"] == pytest.approx(math.sqrt(a * b))
        assert math.isnan(g.loc[(s, "amean"), "p_value"]) and not g.loc[(s, "gmean"), "significant"]
    assert geometric_mean([0.5, 0.0]) == 0.0 and geometric_mean([0.25, 1.0]) == pytest.approx(0.5)


def test_paired_t_test_per_group_against_the_baseline_with_holm_across_the_rows(files):
    long = ood_long(SPEC, {(s, q): f for (s, _, q), f in files.items()})
    g = long.set_index(["system", "query_set"])
    base_b = [.4, .4, .5, .3, .6]
    raw = {"x": stats.ttest_rel([.3, .2, .4, .1, .5], base_b).pvalue,
           "y": stats.ttest_rel([.8, .9, .7, .7, .9], base_b).pvalue}
    adj = dict(zip(raw, _holm(np.array(list(raw.values())))))
    for s in ("x", "y"):
        assert g.loc[(s, "B"), "p_value"] == pytest.approx(raw[s])
        assert g.loc[(s, "B"), "p_corrected"] == pytest.approx(adj[s])
        assert bool(g.loc[(s, "B"), "significant"]) == (adj[s] < 0.05)
    lo = min(raw, key=raw.get)  # Holm: the smallest of the two p-values doubled, the other at least that
    assert adj[lo] == pytest.approx(min(1.0, 2 * raw[lo])) and adj[lo] > raw[lo]
    # group A: x differs on every query by a lot, y hardly
    assert g.loc[("x", "A"), "significant"] and not g.loc[("y", "A"), "significant"]
    assert not g.loc[("base", "A"), "significant"] and g.loc[("base", "A"), "baseline"]


def test_rendered_table_marks_best_second_and_significance(files, tmp_path):
    cells = list(files)
    write_ood_table(dict(SPEC, labels={"x": "System X"}), cells, [files[c] for c in cells], tmp_path / "t.tex",
                    tmp_path / "t.csv", tmp_path / "t.md")
    md = (tmp_path / "t.md").read_text()
    tex = (tmp_path / "t.tex").read_text()
    head = md.splitlines()[0]
    assert "Arith. mean" in head and "Geom. mean" in head and " A |" in head and " B |" in head
    row_x = next(line for line in md.splitlines() if line.startswith("| System X"))
    assert "0.175†" in row_x  # significantly worse than the baseline on A (dagger), not best
    row_y = next(line for line in md.splitlines() if line.startswith("| y"))
    assert "**0.800**" in row_y  # best on B
    assert r"\textbf{" in tex and r"\underline{" in tex and "tab:ood" in tex
    long = pd.read_csv(tmp_path / "t.csv")
    assert set(long.query_set) == {"A", "B", "amean", "gmean"}


def test_a_system_missing_a_group_has_no_means(files):
    part = {(s, q): f for (s, _, q), f in files.items() if not (s == "x" and q == "qb2")}
    long = ood_long(SPEC, part)
    assert not ((long.system == "x") & long.query_set.isin(["amean", "gmean"])).any()


def test_runs_are_restricted_to_the_first_stage_top_k_pairs():
    fs = pd.DataFrame({"qid": ["1"] * 4, "docno": list("abcd"), "score": [4.0, 3, 2, 1]})
    run = pd.DataFrame({"qid": ["1"] * 4, "docno": list("dcxa"), "score": [9.0, 8, 7, 6]})
    out = restrict(run, fs, 3)  # d is BM25 rank 4, x not retrieved: both dropped
    assert list(out.docno) == ["c", "a"] and list(out["rank"]) == [1, 2]


# --- configuration -----------------------------------------------------------------------------------


def ood_config():
    cfg = tiny_config()
    cfg["collections"] = {"other": {"kind": "synthetic", "seed": 9, "passages": 300, "titles": True,
                                    "vocabulary": [0, 100]}}
    cfg["query_sets"]["other-test"] = {"kind": "synthetic", "split": "test-a", "queries": 5, "collection": "other"}
    cfg["ood"] = {"systems": ["bm25"], "first_stage": "bm25", "baseline": None,
                  "groups": {"in": ["test-a"], "out": ["other-test"]}}
    return cfg


def test_config_names_collections_and_checks_references():
    cfg = rdconfig.validate(ood_config())
    assert cfg["ood"]["depth"] == 100 and cfg["collections"]["other"]["title_format"] == "{title} {text}"
    bad = ood_config()
    bad["query_sets"]["other-test"]["collection"] = "nope"
    bad["ood"]["groups"]["out"].append("missing")
    with pytest.raises(ConfigError) as e:
        rdconfig.validate(bad)
    assert "query_sets.other-test.collection: 'nope'" in str(e.value) and "'missing' is not a query set" in str(e.value)
    clash = ood_config()
    clash["collections"]["bm25"] = {"kind": "synthetic"}
    with pytest.raises(ConfigError, match="also a first stage"):
        rdconfig.validate(clash)
    shallow = ood_config()
    shallow["students"] = {"s": {"kind": "pretrained", "model": "some/hub-id", "inference": {"depth": 10}}}
    shallow["ood"]["systems"].append("s")
    with pytest.raises(ConfigError, match="'s' re-ranks each query's top 10 but ood.depth is 100"):
        rdconfig.validate(shallow)


def test_plan_gives_the_ood_rules_their_cells_settings_and_table_spec():
    """The typed plan, not the rule files, says what the OOD rules depend on: a label or the baseline changes
    the table's spec only, ``ood.depth`` the evaluation's settings only."""
    import copy

    from rankdistill.config.plan import Plan

    cfg = ood_config()
    cfg["ood"]["labels"] = {"bm25": "BM25 (PISA)"}
    plan = Plan(rdconfig.validate(copy.deepcopy(cfg)))
    assert plan.ood_cells() == [("bm25", "bm25", "test-a"), ("bm25", "bm25", "other-test")]
    assert plan.ood_eval_file("bm25", "bm25", "other-test") == "results/eval_ood/bm25/bm25/other-test.tsv"
    spec = plan.ood("Configuration: x.yaml.")
    assert spec["groups"] == {"in": ["test-a"], "out": ["other-test"]} and spec["baseline"] is None
    assert spec["first_stage_label"] == "BM25 (PISA)" and spec["provenance"] == "Configuration: x.yaml."
    assert spec["eval_depth"] == plan.evaluation()["depth"][spec["measure"]]
    evaluation = plan.ood_evaluation()
    assert evaluation["candidates"] == 100 and evaluation["measures"] == plan.evaluation_spec["measures"]

    relabelled = copy.deepcopy(cfg)
    relabelled["ood"]["labels"] = {"bm25": "Okapi"}
    other = Plan(rdconfig.validate(relabelled))
    assert other.ood("Configuration: x.yaml.")["first_stage_label"] == "Okapi"
    assert other.ood_evaluation() == evaluation and other.ood_cells() == plan.ood_cells()
    deeper = copy.deepcopy(cfg)
    deeper["ood"]["depth"] = 50
    assert Plan(rdconfig.validate(deeper)).ood_evaluation()["candidates"] == 50
    assert Plan(rdconfig.validate(tiny_config())).ood_cells() == []  # no ood: section, no cells


def test_workflow_builds_each_collection_and_its_index_and_the_ood_table(workflow_factory):
    wf = workflow_factory(ood_config())
    jobs = wf.jobs("results/table_ood.tex")
    assert jobs["collection"] == 1 and jobs["collection_named"] == 1
    assert jobs["index_bm25"] == 1 and jobs["index_bm25_named"] == 1
    assert jobs["ood_evaluate"] == 2 and jobs["ood_table"] == 1
    assert "results/table_ood.tex" in wf.snakemake("-n").stdout  # a target of rule all


def test_paper_ood_dry_run_lists_every_collection_offline(workflow_factory):
    import time

    wf = workflow_factory(tiny_config())
    t = time.time()
    counts = wf.jobs("results/table_ood.tex", "--configfile", "config/paper.yaml")
    assert time.time() - t < 30  # the brief's target is 5 s; CI machines vary
    assert counts["collection_named"] == 14 and counts["index_bm25_named"] == 14  # 14 corpora
    assert counts["retrieve_bm25"] == 29  # 29 test collections, BM25 each
    assert counts["ood_evaluate"] == 29 * 6 and counts["ood_table"] == 1  # 6 rows
    assert counts["teacher_gather"] == 29  # RankZephyr re-ranks every one (sharded: 4 shards each)
    assert counts["teacher_shard"] == 29 * 4


def test_preflight_names_a_missing_licensed_corpus_and_where_ir_datasets_wants_it(tmp_path, monkeypatch):
    import rankdistill.preflight as pf
    from rankdistill.errors import UnavailableError

    monkeypatch.setattr(pf, "_irds_home", lambda: tmp_path)
    monkeypatch.setattr(pf, "_irds_cached", lambda ref: True)  # queries and qrels: assume downloaded
    cfg = ood_config()
    cfg["collections"] = {"gov2": {"kind": "irds", "id": "gov2"}, "wapo": {"kind": "irds", "id": "wapo/v2"},
                          "vaswani": {"kind": "irds", "id": "vaswani"}}
    with pytest.raises(UnavailableError) as e:
        pf.check(cfg, reachable=lambda *a: True, hub_exists=lambda r: True)
    msg = str(e.value)
    assert f"collections.gov2.id: ir_datasets 'gov2' is a licensed corpus" in msg
    assert str(tmp_path / "gov2" / "corpus") in msg and "GOV2 is available by hard drive" in msg
    assert str(tmp_path / "wapo" / "WashingtonPost.v2.tar.gz") in msg
    assert "vaswani" not in msg  # downloadable
    (tmp_path / "gov2" / "corpus").mkdir(parents=True)
    (tmp_path / "wapo").mkdir()
    (tmp_path / "wapo" / "WashingtonPost.v2.tar.gz").write_bytes(b"x")
    pf.check(cfg, reachable=lambda *a: True, hub_exists=lambda r: True)  # provided: no complaint
