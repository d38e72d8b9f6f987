"""RANKDISTILL_REQUIRE_SHARED_DATA=1 (set by .ci/run) turns a skip for missing ../shared/data into a failure."""

from __future__ import annotations

import pytest

import conftest
from conftest import ROOT


def test_missing_shared_data_skips_or_fails_under_the_switch(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path)
    monkeypatch.delenv(conftest.REQUIRE_SHARED_DATA, raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing corpus/doc-text.trec"):
        conftest.shared_data("vaswani", ("corpus/doc-text.trec", "qrels"))
    monkeypatch.setenv(conftest.REQUIRE_SHARED_DATA, "1")
    with pytest.raises(pytest.fail.Exception, match="RANKDISTILL_REQUIRE_SHARED_DATA=1"):
        conftest.shared_data("vaswani", ("corpus/doc-text.trec", "qrels"))
    (tmp_path / "vaswani" / "corpus").mkdir(parents=True)
    (tmp_path / "vaswani" / "corpus" / "doc-text.trec").write_text("x")
    with pytest.raises(pytest.fail.Exception, match="missing qrels"):  # every needed file is checked
        conftest.shared_data("vaswani", ("corpus/doc-text.trec", "qrels"))
    (tmp_path / "vaswani" / "qrels").write_text("x")
    assert conftest.shared_data("vaswani", ("corpus/doc-text.trec", "qrels")) == tmp_path / "vaswani"


def test_ci_sets_the_switch():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    i = lines.index(next(line for line in lines if line.startswith("export RANKDISTILL_REQUIRE_SHARED_DATA=1")))
    assert i < lines.index(next(line for line in lines if "python -m pytest" in line))
