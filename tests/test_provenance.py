"""Provenance manifests (rankdistill.provenance) and the HTML report of a finished run."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from conftest import Workflow, tiny_config
from rankdistill import provenance as pv


def test_small_file_gets_full_sha256(tmp_path):
    f = tmp_path / "a.run"
    f.write_bytes(b"q1 Q0 d1 1 2.5 bm25\n")
    d = pv.path_digest(f)
    assert d["method"] == "sha256" and d["size"] == 20
    assert d["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()


def test_large_file_gets_size_head_tail_digest(tmp_path):
    f = tmp_path / "big.bin"
    data = bytearray(b"x" * (3 * pv.SAMPLE))
    f.write_bytes(data)
    d1 = pv.file_digest(f, full_max=pv.SAMPLE)
    assert d1["method"] == "sha256-size-head-tail"
    data[-1:] = b"y"  # a changed tail is detected
    f.write_bytes(data)
    d2 = pv.file_digest(f, full_max=pv.SAMPLE)
    assert d2["sha256"] != d1["sha256"]
    f.write_bytes(data + b"z")  # so is an append
    assert pv.file_digest(f, full_max=pv.SAMPLE)["sha256"] != d2["sha256"]
    # documented limit: an edit strictly inside the middle is not
    data[len(data) // 2] = ord("m")
    f.write_bytes(data)
    assert pv.file_digest(f, full_max=pv.SAMPLE)["sha256"] == d2["sha256"]
    # the full hash would see it
    assert pv.file_digest(f)["method"] == "sha256"


def test_folder_digest_tracks_files_not_the_snakemake_timestamp(tmp_path):
    d = tmp_path / "index"
    (d / "sub").mkdir(parents=True)
    (d / "a.bin").write_bytes(b"aaa")
    (d / "sub" / "b.bin").write_bytes(b"bb")
    first = pv.path_digest(d)
    assert first["method"] == "sha256-listing" and first["files"] == 2 and first["size"] == 5
    (d / ".snakemake_timestamp").write_text("")
    assert pv.path_digest(d)["sha256"] == first["sha256"]
    (d / "sub" / "b.bin").write_bytes(b"bc")
    changed = pv.path_digest(d)["sha256"]
    assert changed != first["sha256"]
    (d / "c.bin").write_bytes(b"")
    assert pv.path_digest(d)["sha256"] != changed
    assert pv.path_digest(tmp_path / "nope") == {"path": str(tmp_path / "nope"), "missing": True}


def test_manifest_paths():
    assert pv.manifest_path("results/table.tex") == Path("results/table.tex.manifest.json")
    assert pv.manifest_path("results/index/bm25") == Path("results/index/bm25.manifest.json")


def test_git_state_of_a_checkout(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "f.txt").write_text("1")
    subprocess.run(git + ["add", "f.txt"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "x"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    pv.git_state.cache_clear()
    assert pv.git_state(str(repo)) == {"commit": head, "dirty": False}
    (repo / "f.txt").write_text("2")
    pv.git_state.cache_clear()
    assert pv.git_state(str(repo)) == {"commit": head, "dirty": True}
    assert pv.git_commit_label(str(repo)) == head[:12] + "+dirty"
    pv.git_state.cache_clear()
    assert pv.git_state(str(tmp_path)) is None  # not a checkout


def test_models_in_params_are_resolved_and_checksummed(bert_tiny):
    params = {"spec": {"kind": "cross_encoder", "backbone": "package:cognition/model", "revision": "v1"},
              "teacher": {"model": "castorini/rank_zephyr_7b_v1_full"}, "code": "abc"}
    models = {m["ref"]: m for m in pv.model_entries(params)}
    local = models["package:cognition/model"]
    assert local["param"] == "spec.backbone" and local["revision"] == "v1"
    assert Path(local["path"]) == Path(bert_tiny)
    assert local["method"] == "sha256-listing" and local["files"] >= 2
    assert local["sha256"] == pv.path_digest(bert_tiny)["sha256"]
    hub = models["castorini/rank_zephyr_7b_v1_full"]
    assert hub["hub_id"] == "castorini/rank_zephyr_7b_v1_full" and "path" not in hub
    assert set(models) == {"package:cognition/model", "castorini/rank_zephyr_7b_v1_full"}


def test_build_and_write_manifest(tmp_path):
    inp = tmp_path / "in.tsv"
    inp.write_text("q1\tquery\n")
    out = tmp_path / "out.run"
    out.write_text("q1 Q0 d1 1 1.0 x\n")
    m = pv.build_manifest(rule="demo", outputs={"run": str(out)}, inputs={"queries": str(inp)},
                          params={"k1": 0.9, "code": "123"}, wildcards={"query_set": "a"}, threads=2)
    assert m["params"] == {"k1": 0.9, "code": "123"}
    assert m["inputs"]["queries"]["sha256"] == hashlib.sha256(inp.read_bytes()).hexdigest()
    assert {"rankdistill", "torch", "snakemake"} <= set(m["packages"])
    written = pv.write_manifests(m)
    assert written == [tmp_path / "out.run.manifest.json"]
    data = json.loads(written[0].read_text())
    assert data["output"] == str(out) and data["output_name"] == "run" and data["rule"] == "demo"


# --- a real run: every output has a manifest, they chain, Snakemake ignores them; the report ------

@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Workflow:
    wf = Workflow(tmp_path_factory.mktemp("provenance") / "wf", tiny_config())
    wf.snakemake("results/table.tex")
    return wf


def _outputs(root: Path) -> list[Path]:
    res = root / "results"
    files = [p for p in res.rglob("*") if p.is_file() and not p.name.endswith(pv.MANIFEST_SUFFIX)
             and not {"logs", "benchmarks", "index"} & set(p.relative_to(res).parts)]
    return files + [p for p in (res / "index").iterdir() if p.is_dir()]


@pytest.mark.slow  # shares one real run of the tiny workflow (~30 s)
def test_every_output_of_a_run_has_a_manifest(finished):
    outs = _outputs(finished.root)
    assert any(p.name == "table.tex" for p in outs) and any(p.suffix == ".run" for p in outs)
    by_path = {}
    for out in outs:
        mf = pv.manifest_path(out)
        assert mf.exists(), f"no manifest for {out}"
        data = json.loads(mf.read_text())
        rel = str(out.relative_to(finished.root))
        assert data["output"] == rel
        if out.is_file():  # (PISA adds scorer files to the index folder on first retrieval)
            assert data["outputs"][data["output_name"]]["sha256"] == pv.path_digest(out)["sha256"]
        assert "code" in data["params"] and data["packages"]["rankdistill"]
        by_path[rel] = data
    # the chain: a run file's manifest records the index and query checksums its producers recorded
    run = by_path["results/first_stage/bm25/test-a.run"]
    assert run["rule"] == "retrieve_bm25" and run["params"]["settings"]["k1"] == 0.9
    assert run["wildcards"] == {"first_stage": "bm25", "query_set": "test-a"}
    assert run["inputs"]["index"]["method"] == "sha256-listing" and run["inputs"]["index"]["files"] > 0
    assert run["inputs"]["queries"]["sha256"] == \
        by_path["results/queries/test-a/queries.tsv"]["outputs"]["queries"]["sha256"]
    table = by_path["results/table.tex"]
    assert len(table["inputs"]["per_query"]) == 2
    # and Snakemake is not bothered by the side files
    assert finished.jobs("results/table.tex") == {}


@pytest.mark.slow  # shares one real run of the tiny workflow (~30 s)
def test_report_renders_tables_with_captions(finished):
    finished.snakemake("--report", "report.html", "results/table.tex")
    html = (finished.root / "report.html").read_text(errors="replace")
    assert len(html) > 50_000
    # the tables, their caption (workflow/report/table.rst, filled from the config) and the workflow text
    for needle in ("table.tex", "table.csv", "table.md", "Main results table", "(test-a, test-b)",
                   "50 of each first stage", "paired t-test", "Rank-DistiLLM"):
        assert needle in html, needle
    assert "mailto:" not in html and "{{" not in html


def test_table_caption_cites_config_and_git_commit(tmp_path):
    """The table rule's caption: the config file and, in a git checkout, the code's commit."""
    from rankdistill.table import write_tables_for_cells

    files = []
    for i, s in enumerate(["bm25", "student"]):
        p = tmp_path / f"{s}.tsv"
        p.write_text("qid\tmeasure\tvalue\n" + "".join(f"q{q}\tnDCG@10\t{(q * 7 + i * 3) % 10 / 10}\n" for q in range(8)))
        files.append(str(p))
    spec = dict(systems=["bm25", "student"], first_stages=["bm25"], query_sets=["qa"], measure="nDCG@10",
                baseline="bm25", provenance="Configuration: config/config.yaml.")
    write_tables_for_cells(spec, [("bm25", "bm25", "qa"), ("student", "bm25", "qa")], files,
                           tex=tmp_path / "t.tex", csv=tmp_path / "t.csv", md=tmp_path / "t.md")
    md = (tmp_path / "t.md").read_text()
    import rankdistill

    pv.git_state.cache_clear()
    label = pv.git_commit_label(Path(rankdistill.__file__).resolve().parent)
    if label is None:
        assert "Configuration: config/config.yaml." in md and "code: git" not in md
    else:
        assert f"Configuration: config/config.yaml; code: git {label}." in md
        assert f"code: git {label}" in (tmp_path / "t.tex").read_text()


@pytest.mark.slow  # shares one real run of the tiny workflow (~30 s)
def test_check_finds_edited_and_missing_outputs(finished, monkeypatch, capsys):
    monkeypatch.chdir(finished.root)
    assert pv.check("results") == []  # the index gained PISA scorer files after its manifest: fine
    assert pv.main(["results"]) == 0
    qrels = Path("results/queries/test-a/qrels.txt")
    run = Path("results/first_stage/bm25/test-b.run")
    old_q, old_r = qrels.read_bytes(), run.read_bytes()
    try:
        qrels.write_bytes(old_q + b"q0 0 d0 1\n")
        run.unlink()
        assert sorted(pv.check("results")) == [(str(run), "missing"), (str(qrels), "changed since it was produced")]
        assert pv.main(["results"]) == 1
        assert f"{qrels}: changed" in capsys.readouterr().out
    finally:
        qrels.write_bytes(old_q)
        run.write_bytes(old_r)
    assert pv.check("results") == []


def test_every_report_caption_renders():
    """workflow/report/*.rst: Jinja fills in from config/wildcards, and the RST has no errors."""
    from types import SimpleNamespace

    import docutils.core
    import jinja2
    import yaml

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())
    smk = SimpleNamespace(config=cfg, wildcards=SimpleNamespace(student="tiny-dual-ranknet", stage1="tiny-infonce",
                                                                ablation="depth", figure="subsampling"))
    captions = sorted((root / "workflow" / "report").glob("*.rst"))
    assert {"workflow.rst", "table.rst"} <= {p.name for p in captions}
    for p in captions:
        text = jinja2.Template(p.read_text(), undefined=jinja2.StrictUndefined).render(snakemake=smk)
        assert "{{" not in text and "}}" not in text, p.name
        out = docutils.core.publish_parts(text, writer="html",
                                          settings_overrides={"report_level": 2, "halt_level": 2})
        assert "mailto:" not in out["body"], p.name
