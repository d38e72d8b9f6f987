"""The report's provenance page: the lineage of the reported results through their manifests."""

import os
from pathlib import Path

from rankdistill import provenance as pv


def _job(rule, out, inputs=None, **params):
    Path(out).write_text(f"{rule} output\n")
    pv.write_manifests(pv.build_manifest(rule=rule, outputs={"out": out}, inputs=inputs or {},
                                         params={"code": f"code-{rule}", **params}, wildcards={"x": rule}))


def test_lineage_follows_recorded_inputs_and_the_summary_names_jobs_models_and_changes(tmp_path, bert_tiny,
                                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    _job("make_a", "a.txt", model="package:cognition/model")
    _job("make_b", "b.txt", {"a": "a.txt"})
    _job("make_c", "c.txt", {"a": "a.txt", "b": "b.txt"})
    _job("unrelated", "d.txt")
    jobs = pv.lineage(["c.txt"])
    assert [j["rule"] for j in jobs] == ["make_a", "make_b", "make_c"]  # inputs first, each once, d not reached
    md = pv.summary_markdown(["c.txt"])
    assert "Results: `c.txt`" in md and "unrelated" not in md
    assert "| `b.txt` | make_b | x=make_b | code-make_b | sha256 " in md
    assert "`package:cognition/model`" in md and os.path.realpath(bert_tiny) in md
    assert "None: every result is as its job wrote it." in md and "* packages: rankdistill" in md
    (tmp_path / "a.txt").write_text("edited by hand\n")
    md = pv.summary_markdown(["c.txt"])
    assert "* `a.txt`: changed since it was produced" in md
    pv.write_summary(["c.txt"], tmp_path / "prov.md")
    assert (tmp_path / "prov.md").read_text() == md
    assert "No provenance manifests found." in pv.summary_markdown(["nothing.txt"])


class _Files(list):
    """The parts of a Snakemake Namedlist that provenance reads: the files, and their names."""

    def __init__(self, **named):
        super().__init__(named.values())
        self._named = named

    def items(self):
        return self._named.items()


class _Job:
    def __init__(self, rule, input, output, params):
        self.rule, self.input, self.output, self.params = rule, input, output, params


def test_a_table_job_writes_its_provenance_page_from_its_inputs_lineage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _job("make_a", "a.txt")
    _job("make_b", "b.txt", {"a": "a.txt"})
    job = _Job("table", _Files(per_query="b.txt"), _Files(tex="t.tex", md="t.md", provenance="t.provenance.md"),
               _Files(code="abc123"))
    assert pv.write_job_summary(job) == "t.provenance.md"
    md = (tmp_path / "t.provenance.md").read_text()
    assert "Results: `t.tex`, `t.md`" in md and "Made by rule `table` (code abc123) from 1 input files" in md
    assert "| `a.txt` | make_a |" in md and "| `b.txt` | make_b |" in md
    # a job without a provenance output writes nothing
    assert pv.write_job_summary(_Job("other", _Files(x="b.txt"), _Files(out="o.txt"), _Files())) is None
    assert not (tmp_path / "o.txt").exists()
