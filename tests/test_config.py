import copy
from pathlib import Path

import pytest
import yaml

from rankdistill import config as rdconfig
from rankdistill.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _default():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_and_paper_configs_validate():
    cfg = rdconfig.load(ROOT / "config" / "config.yaml")
    assert cfg["first_stages"]["bm25"]["stemmer"] == "porter2"  # default filled in
    assert cfg["evaluation"]["correction"] == "holm"
    rdconfig.load(ROOT / "config" / "paper.yaml")


def test_defaults_fill_nested_named_things():
    cfg = _default()
    cfg["first_stages"]["bm25"] = {"kind": "bm25"}
    rdconfig.validate(cfg)
    assert cfg["first_stages"]["bm25"] == {"kind": "bm25", "backend": "pisa", "k1": 0.9, "b": 0.4, "depth": 1000,
                                            "stemmer": "porter2"}


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["first_stages"]["bm25"].update(k1=-1), "first_stages.bm25.k1: -1 is less than or equal to the minimum of 0"),
        (lambda c: c["first_stages"]["bm25"].update(kl=1.2), "first_stages.bm25: Additional properties are not allowed ('kl' was unexpected)"),
        (lambda c: c["first_stages"]["bm25"].update(backend="lucene"), "first_stages.bm25.backend: 'lucene' is not one of"),
        (lambda c: c["query_sets"]["test-a"].update(split="dev"), "query_sets.test-a.split"),
        (lambda c: c["evaluation"].update(query_sets=["dl19"]), "evaluation.query_sets: 'dl19' is not a query set"),
        (lambda c: c["evaluation"].update(baseline="bm26"), "evaluation.baseline: 'bm26' is not a first stage"),
        (lambda c: c["evaluation"].update(measures=["nDCG@ten"]), "'nDCG@ten' is not an ir_measures measure"),
        (lambda c: c.update(colection={}), "Additional properties are not allowed ('colection' was unexpected)"),
    ],
)
def test_bad_values_name_the_key(mutate, expected):
    cfg = copy.deepcopy(_default())
    mutate(cfg)
    with pytest.raises(ConfigError) as e:
        rdconfig.validate(cfg)
    assert expected in str(e.value)


def test_systems_order_and_kinds():
    cfg = rdconfig.validate(_default())
    assert rdconfig.systems(cfg)[0] == "bm25"
    assert rdconfig.system_kind(cfg, "bm25") == "first_stage"
    with pytest.raises(ConfigError):
        rdconfig.system_kind(cfg, "nope")
