"""Several experiments side by side: `results:` moves every file the workflow writes (outputs, logs,
benchmarks, scratch, caches), so two configs with different folders never touch each other."""

from __future__ import annotations

import hashlib
import re

import pytest

from conftest import ROOT, tiny_config


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_no_rule_writes_a_literal_results_path():
    """Every path in the rules goes through R() (a literal "results/..." would ignore the key)."""
    bad = []
    for f in sorted((ROOT / "workflow" / "rules").glob("*.smk")) + [ROOT / "workflow" / "Snakefile"]:
        for i, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"""(?<![\w+])f?["']results/""", code):
                bad.append(f"{f.name}:{i}: {line.strip()}")
    assert not bad, "paths not under R(...) (the results folder):\n" + "\n".join(bad)


@pytest.mark.parametrize("configfile", [None, "config/config.yaml", "config/paper.yaml"])
def test_dry_run_paths_are_all_under_the_results_folder(workflow_factory, configfile):
    import yaml

    cfg = yaml.safe_load((ROOT / configfile).read_text()) if configfile else tiny_config()
    cfg["results"] = "runs/exp-a"
    wf = workflow_factory(cfg)
    p = wf.snakemake("-n", "runs/exp-a/table.tex")
    written = []
    for line in p.stdout.splitlines():
        m = re.match(r"^\s+(output|log|benchmark): (.*)$", line)
        if m:
            written += [x.strip() for x in m.group(2).split(",")]
    assert len(written) > 10
    outside = [w for w in written if not w.startswith("runs/exp-a/")]
    assert not outside, outside
    assert "results/" not in p.stdout.replace("runs/exp-a/", "")


@pytest.mark.slow
def test_two_results_folders_do_not_touch_each_other(workflow_factory):
    cfg_a = tiny_config(results="exp/a")
    # experiment a also shows two measures with pairwise significance through the table rule
    cfg_a["evaluation"].update(measures=["nDCG@10", "AP"], measure_depths={"AP": None})
    cfg_a["table"] = {"significance": "pairwise", "labels": {"bm25": "BM25"}}
    wf = workflow_factory(cfg_a)
    wf.snakemake("exp/a/table.tex")
    a = wf.root / "exp" / "a"
    import pandas as pd

    long = pd.read_csv(a / "table.csv")
    assert set(long.measure) == {"nDCG@10", "AP"} and dict(zip(long.measure, long.depth)).get("nDCG@10") == 50
    tex = (a / "table.tex").read_text()
    assert r"\multicolumn{2}{c}{nDCG@10} & \multicolumn{2}{c}{AP}" in tex and "(a) BM25" in tex
    assert "Computed on each run's top 50 per query (nDCG@10) and full ranking (AP)." in tex
    before = _snapshot(a)
    assert "table.tex" in before and any(k.startswith("logs/") for k in before)
    assert any(k.startswith("benchmarks/") for k in before)
    cfg_b = tiny_config(results="exp/b")
    cfg_b["first_stages"]["bm25"]["k1"] = 1.2  # a different experiment
    wf.write_config(cfg_b)
    wf.snakemake("exp/b/table.tex")
    assert _snapshot(a) == before  # not one byte or mtime of experiment a changed
    b = wf.root / "exp" / "b"
    assert (b / "table.tex").exists() and (b / "logs" / "table.log").exists()
    assert not (wf.root / "results").exists()
    # each is complete and up to date on its own (rerun semantics unchanged)
    assert "Nothing to be done" in wf.snakemake("-n", "exp/b/table.tex").stdout
    wf.write_config(cfg_a)
    assert "Nothing to be done" in wf.snakemake("-n", "exp/a/table.tex").stdout
    # a changed setting reruns only its own folder's jobs
    cfg_a["first_stages"]["bm25"]["k1"] = 1.0
    cfg_a2 = cfg_a
    wf.write_config(cfg_a2)
    out = wf.snakemake("-n", "exp/a/table.tex").stdout
    assert "exp/a/first_stage/bm25/test-a.run" in out and "exp/b/" not in out
