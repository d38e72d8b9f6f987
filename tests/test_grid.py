"""Experiment grids (rankdistill.grid), ablation tables and the sub-sampling figure (rankdistill.figures),
the paper config's grid and its dry run."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, tiny_config
from rankdistill import config as rdconfig
from rankdistill.config import grid, views
from rankdistill.errors import ConfigError


def grid_config() -> dict:
    """Tiny config + a grid over loss x training queries x depth on a teacher-independent distillation set."""
    cfg = tiny_config()
    cfg["grid"] = {
        "g": {
            "name": "s-{stages}-{loss}-{queries}-d{depth}",
            "student": {"kind": "trained", "epochs": 1, "loss": "{loss}", "label": "{loss.label} on {queries} queries"},
            "distill_set": {"name": "ds-{queries}-d{depth}", "kind": "first_stage", "ranker": "bm25",
                            "first_stage": "bm25", "query_set": "train", "queries": "{queries}", "depth": "{depth}"},
            "axes": {
                "stages": {"single": {"student": {"backbone": "bert-{stages}"}}},
                "loss": {"ranknet": {"label": "RankNet"}, "adr-mse": {"label": "ADR-MSE"}},
                "queries": {"5q": 5, "10q": 10},
                "depth": [4, 8],
            },
            "defaults": {"queries": "10q", "depth": 8},
            "experiments": {"loss": ["loss"], "data": ["queries"], "cross": {"vary": ["loss", "depth"], "fix": {"queries": "5q"}}},
        }
    }
    return cfg


def test_grid_expands_named_valid_students_and_shared_distill_sets():
    cfg = rdconfig.validate(grid_config())
    names = {"s-single-ranknet-10q-d8", "s-single-adr-mse-10q-d8", "s-single-ranknet-5q-d8",
             "s-single-ranknet-5q-d4", "s-single-adr-mse-5q-d4", "s-single-adr-mse-5q-d8"}
    assert set(cfg["students"]) == names  # 2 (loss) + 2 (data, one shared) + 4 (cross, one shared with data) - dups
    st = cfg["students"]["s-single-adr-mse-5q-d4"]
    # a complete, schema-valid student: template + bundle + placeholders, then the schema's defaults
    assert st["kind"] == "trained" and st["loss"] == "adr-mse" and st["backbone"] == "bert-single"
    assert st["distill_set"] == "ds-5q-d4" and st["epochs"] == 1 and st["lr"] == 1e-5 and st["stage1"] is None
    assert st["label"] == "ADR-MSE on 5q queries"
    assert set(cfg["distill_sets"]) == {"ds-10q-d8", "ds-5q-d8", "ds-5q-d4"}
    ds = cfg["distill_sets"]["ds-5q-d4"]
    assert ds["queries"] == 5 and ds["depth"] == 4 and isinstance(ds["depth"], int) and ds["seed"] == 42
    # experiments in axis-value order, the others at their base value
    exps = grid.experiments(cfg)
    assert [s for s, _ in exps[("g", "loss")]] == ["s-single-ranknet-10q-d8", "s-single-adr-mse-10q-d8"]
    assert [s for s, _ in exps[("g", "data")]] == ["s-single-ranknet-5q-d8", "s-single-ranknet-10q-d8"]
    assert len(exps[("g", "cross")]) == 4
    # validating the expanded config again changes nothing (the Snakefile and tests both validate)
    again = rdconfig.validate(copy.deepcopy(cfg))
    assert again == cfg


def test_experiment_tables_rows_labels_and_baseline():
    cfg = grid_config()
    cfg["tables"] = {"data": {"experiment": "data"}, "loss": {"grid": "g", "experiment": "loss", "baseline": None},
                     "pick": {"systems": ["bm25", "s-single-adr-mse-10q-d8"], "query_sets": ["test-a"]}}
    cfg = rdconfig.validate(cfg)
    v = views.table_view(cfg, "data")
    assert v["systems"] == ["s-single-ranknet-5q-d8", "s-single-ranknet-10q-d8"]
    assert v["baseline"] == "s-single-ranknet-10q-d8"  # the base combination (defaults: 10q), not the first row
    assert v["labels"] == {"s-single-ranknet-5q-d8": "5q", "s-single-ranknet-10q-d8": "10q"}
    assert v["tex_label"] == "tab:ablation-data" and v["measure"] == "nDCG@10"
    assert views.table_view(cfg, "loss")["baseline"] is None
    p = views.table_view(cfg, "pick")
    assert p["baseline"] == "bm25" and p["query_sets"] == ["test-a"] and p["first_stages"] == ["bm25"]


@pytest.mark.parametrize("mutate, message", [
    (lambda g: g.update(name="s-{loss}"), "generated twice with different settings"),
    (lambda g: g["student"].update(label="{nope}"), "{nope} is not an axis"),
    (lambda g: g["axes"]["loss"].update(bogus={"label": "B"}), "students.s-single-bogus-10q-d8.loss: 'bogus' is not one of"),
    (lambda g: g["experiments"].update(bad=["size"]), "grid.g.experiments.bad: 'size' is not an axis"),
    (lambda g: g.update(defaults={"depth": 3}), "grid.g.defaults.depth: 3 is not a value of the axis"),
    (lambda g: g["experiments"].update(bad={"vary": ["loss"], "fix": {"loss": "ranknet"}}), "both varied and fixed"),
    (lambda g: g["student"].update(distill_set="x"), "remove one of them"),
    (lambda g: g["axes"]["stages"].update(dual={"student": {"backbone": "b", "stagee1": "x"}}), "stagee1"),
])
def test_grid_errors_name_the_key(mutate, message):
    cfg = grid_config()
    mutate(cfg["grid"]["g"])
    cfg["grid"]["g"]["experiments"]["stages"] = ["stages"]
    with pytest.raises(ConfigError, match=None) as e:
        rdconfig.validate(cfg)
    assert message in str(e.value), str(e.value)


def test_adding_an_axis_value_leaves_existing_students_untouched():
    """Settings (the rules' params) of existing students stay identical, so Snakemake reruns nothing of them."""
    before = rdconfig.validate(grid_config())
    cfg = grid_config()
    cfg["grid"]["g"]["axes"]["depth"] = [4, 8, 16]
    after = rdconfig.validate(cfg)
    assert set(after["students"]) - set(before["students"]) == {"s-single-ranknet-5q-d16", "s-single-adr-mse-5q-d16"}
    assert all(after["students"][n] == s for n, s in before["students"].items())
    assert all(after["distill_sets"][n] == d for n, d in before["distill_sets"].items())


def test_generated_name_colliding_with_a_different_entry_is_an_error():
    cfg = grid_config()
    cfg["students"] = {"s-single-ranknet-10q-d8": {"kind": "pretrained", "model": "x"}}
    with pytest.raises(ConfigError, match="defined in the config and generated differently"):
        rdconfig.validate(cfg)


@pytest.mark.parametrize("extra, message", [
    ({"tables": {"t": {"experiment": "nope"}}}, "tables.t.experiment: 'nope' is not an experiment of grid g"),
    ({"tables": {"t": {"systems": ["bm25"], "experiment": "loss"}}}, "give either systems"),
    ({"tables": {"t": {"systems": ["bm25", "xx"]}}}, "tables.t.systems: 'xx' is not a first stage"),
    ({"tables": {"t": {"systems": ["bm25"], "baseline": "s-single-ranknet-10q-d8"}}}, "is not one of the table's rows"),
    ({"tables": {"t": {"systems": ["bm25"], "first_stages": ["dense"]}}}, "tables.t.first_stages: 'dense' is not a configured first stage"),
    ({"figures": {"f": {"panels": [{"experiment": "loss", "x": "size"}]}}}, "'size' is not an axis of grid g"),
    ({"figures": {"f": {"panels": [{"points": {"bm25": 1}}]}}}, "'bm25' is not a student"),
    ({"figures": {"f": {"panels": [{"experiment": "loss"}]}}}, "name the axis plotted on x"),
])
def test_table_and_figure_references_are_checked(extra, message):
    cfg = grid_config() | extra
    with pytest.raises(ConfigError) as e:
        rdconfig.validate(cfg)
    assert message in str(e.value), str(e.value)


PAPER_TRAINED = {
    f"electra-{size}-{stages}-{loss}-{data}-{q}-d{d}"
    for size, stages, loss, data, q, d in [
        ("base", "dual", "ranknet", "colbertv2", "10k", 100), ("base", "dual", "ranknet", "bm25", "10k", 100),
        ("base", "single", "ranknet", "colbertv2", "10k", 100), ("base", "single", "ranknet", "bm25", "10k", 100),
        ("base", "dual", "adr-mse", "colbertv2", "10k", 100),
        ("base", "dual", "ranknet", "colbertv2", "1k", 100), ("base", "dual", "ranknet", "colbertv2", "2k", 100),
        ("base", "dual", "ranknet", "colbertv2", "5k", 100),
        ("base", "dual", "ranknet", "colbertv2", "10k", 10), ("base", "dual", "ranknet", "colbertv2", "10k", 20),
        ("base", "dual", "ranknet", "colbertv2", "10k", 50),
        ("large", "dual", "ranknet", "colbertv2", "10k", 100),
    ]
}


def test_paper_grid_is_the_papers_experiments():
    cfg = rdconfig.load(ROOT / "config" / "paper.yaml")
    trained = {n for n, s in cfg["students"].items() if s["kind"] == "trained"}
    assert trained == PAPER_TRAINED
    base = cfg["students"]["electra-base-dual-ranknet-colbertv2-10k-d100"]
    assert base["stage1"] == "electra-base-infonce" and base["loss"] == "ranknet" and base["epochs"] == 3
    assert cfg["students"]["electra-large-dual-ranknet-colbertv2-10k-d100"]["stage1"] == "electra-large-infonce"
    single = cfg["students"]["electra-base-single-ranknet-bm25-10k-d100"]
    assert single["backbone"] == "google/electra-base-discriminator" and single["stage1"] is None
    assert len(cfg["distill_sets"]) == 8
    d10 = cfg["distill_sets"]["rd-colbertv2-10k-d10"]
    assert (d10["teacher"], d10["first_stage"], d10["queries"], d10["depth"], d10["mode"]) == (
        "rankzephyr-published", "colbertv2", 10000, 10, "projection")
    assert cfg["distill_sets"]["rd-bm25-10k-d100"]["teacher"] == "rankzephyr"
    from rankdistill.config.views import limit_queries

    assert limit_queries(cfg, "rankzephyr", "bm25", "train") == 10000  # the LLM ranks only the 10k sample
    # the ablation tables' rows and baselines (loss: significance against RankNet)
    assert views.table_view(cfg, "loss")["baseline"] == "electra-base-dual-ranknet-colbertv2-10k-d100"
    assert views.table_view(cfg, "loss")["labels"]["electra-base-dual-adr-mse-colbertv2-10k-d100"] == "ADR-MSE"
    assert len(views.table_view(cfg, "data")["systems"]) == 4 and len(views.table_view(cfg, "depth")["systems"]) == 4
    fig = views.figure_view(cfg, "subsampling")
    assert [[p["x"] for p in panel["points"]] for panel in fig["panels"]] == [[10, 20, 50, 100], [1000, 2000, 5000, 10000]]
    assert [p["x_label"] for p in fig["panels"][1]["points"]] == ["1k", "2k", "5k", "10k"]


# --- the figure and the ablation table on hand-made per-query files -----------------------------------------

def _per_query(path: Path, values: list[float], measure: str = "nDCG@10") -> str:
    rows = [(f"q{i}", measure, v) for i, v in enumerate(values)] + [(f"q{i}", "RR@10", 1.0) for i in range(len(values))]
    pd.DataFrame(rows, columns=["qid", "measure", "value"]).to_csv(path, sep="\t", index=False)
    return str(path)


def test_figure_data_plots_mean_over_query_sets_per_first_stage(tmp_path):
    from rankdistill.figures import figure_data, write_figure

    # system -> first stage -> query set -> per-query values
    vals = {"d10": {"bm25": {"a": [0.2, 0.4], "b": [0.6, 0.6]}, "col": {"a": [0.5, 0.5], "b": [0.7, 0.9]}},
            "d20": {"bm25": {"a": [0.4, 0.4], "b": [0.8, 0.8]}, "col": {"a": [0.9, 0.7], "b": [1.0, 1.0]}},
            "k1": {"bm25": {"a": [0.1, 0.1], "b": [0.3, 0.3]}, "col": {"a": [0.0, 0.2], "b": [0.2, 0.2]}}}
    cells, files = [], []
    for s, by_fs in vals.items():
        for fs, by_qs in by_fs.items():
            for qs, v in by_qs.items():
                cells.append((s, fs, qs))
                files.append(_per_query(tmp_path / f"{s}-{fs}-{qs}.tsv", v))
    spec = {"panels": [
        {"points": [{"system": "d20", "x": 20, "x_label": "20", "distill_first_stage": "col"},
                    {"system": "d10", "x": 10, "x_label": "10", "distill_first_stage": "col"}],
         "xlabel": "Depth", "title": None, "x_scale": "auto"},
        {"points": [{"system": "k1", "x": 1000, "x_label": "1k", "distill_first_stage": "bm25"}],
         "xlabel": "Queries", "title": None, "x_scale": "auto"}],
        "lines": "first_stage", "first_stages": ["bm25", "col"], "query_sets": ["a", "b"], "measure": "nDCG@10",
        "ylabel": None, "labels": {"bm25": "BM25", "col": "ColBERTv2"}}
    pdf, png, csv = tmp_path / "f.pdf", tmp_path / "f.png", tmp_path / "f.csv"
    data = write_figure(spec, cells, files, pdf, png, csv)
    got = {(r.panel, r.system, r.line): r.value for r in data.itertuples()}
    # mean over query sets of each query set's mean
    assert got[(0, "d10", "bm25")] == pytest.approx((0.3 + 0.6) / 2)
    assert got[(0, "d10", "col")] == pytest.approx((0.5 + 0.8) / 2)
    assert got[(0, "d20", "col")] == pytest.approx((0.8 + 1.0) / 2)
    assert got[(1, "k1", "bm25")] == pytest.approx(0.2) and len(got) == 6
    assert set(data.line_label) == {"BM25", "ColBERTv2"} and (data.cells == 2).all()
    assert pdf.read_bytes()[:4] == b"%PDF" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pd.testing.assert_frame_equal(pd.read_csv(csv), data, check_dtype=False)
    # one line per first stage of the distillation data: the mean over every evaluated cell
    by_ds = figure_data(spec | {"lines": "distill_first_stage"}, dict(zip(map(tuple, cells), files)))
    got = {(r.system, r.line): r.value for r in by_ds.itertuples()}
    assert got == pytest.approx({("d20", "col"): (0.4 + 0.8 + 0.8 + 1.0) / 4, ("d10", "col"): (0.3 + 0.6 + 0.5 + 0.8) / 4,
                                 ("k1", "bm25"): (0.1 + 0.3 + 0.1 + 0.2) / 4})


def test_ablation_table_significance_against_its_baseline(tmp_path):
    from rankdistill.table import write_tables_for_cells

    rng = [0.1 * (i % 5) for i in range(20)]
    base = [v + 0.3 + 0.01 * (i % 3) for i, v in enumerate(rng)]
    files = [_per_query(tmp_path / "r.tsv", base), _per_query(tmp_path / "a.tsv", rng),  # ADR-MSE: 0.3 lower
             _per_query(tmp_path / "c.tsv", [v + 0.05 if i % 2 else v - 0.05 for i, v in enumerate(base)])]
    cells = [("ranknet", "bm25", "x"), ("adr", "bm25", "x"), ("close", "bm25", "x")]
    spec = dict(systems=["ranknet", "adr", "close"], first_stages=["bm25"], query_sets=["x"], measure="nDCG@10",
                baseline="ranknet", labels={"ranknet": "RankNet", "adr": "ADR-MSE"}, tex_label="tab:ablation-loss")
    long = write_tables_for_cells(spec, cells, files, tmp_path / "t.tex", tmp_path / "t.csv", tmp_path / "t.md")
    sig = dict(zip(long.system, long.significant))
    assert sig == {"ranknet": False, "adr": True, "close": False}
    tex = (tmp_path / "t.tex").read_text()
    assert r"\label{tab:ablation-loss}" in tex and r"ADR-MSE & \underline{0.200}$^\dagger$" in tex and "RankNet" in tex


# --- the workflow: dry run of the paper config, and the rules end to end --------------------------------------

def test_paper_config_dry_run_lists_every_ablation(workflow_factory):
    wf = workflow_factory(tiny_config())
    t = time.time()
    counts = wf.jobs("--configfile", "config/paper.yaml")  # rule all: main table, ablation tables, figure
    took = time.time() - t
    assert took < 30  # ~3 s of CPU on a quiet machine (snakemake's start-up alone is ~2 s)
    assert counts["train_student"] == len(PAPER_TRAINED) == 12
    assert counts["distill_set"] == 8 and counts["train_stage1"] == 2
    assert counts["ablation_table"] == 5 and counts["figure"] == 1  # 4 ablations + the ColBERTv2 check and counts["table"] == 1 and counts["all"] == 1
    # 7 main-table students and 7 ablation-only students, each on BM25/ColBERTv2 x DL19/DL20
    assert counts["rerank"] == 7 * 2 * 2 + 7 * 2 * 2 + 4 * 29  # + the OOD table's 4 cross-encoder rows x 29 TIREx sets
    # only the first-stage runs, not per-query files: one BM25 retrieval per query set (train, DL19, DL20 and
    # the 29 TIREx query sets of the OOD table)
    assert counts["retrieve_bm25"] == 3 + 29
    main = wf.jobs("results/table.tex", "--configfile", "config/paper.yaml")
    assert "ablation_table" not in main and main["train_student"] == 5
    one = wf.jobs("results/ablation_depth.tex", "--configfile", "config/paper.yaml")
    assert one["train_student"] == 4 and one["distill_set"] == 4 and one["ablation_table"] == 1


def test_tables_and_figures_are_targets_of_all_only_when_configured(workflow_factory):
    cfg = grid_config()
    cfg["grid"]["g"]["student"]["backbone"] = None
    del cfg["grid"]["g"]["axes"]["stages"]
    cfg["grid"]["g"]["name"] = "s-{loss}-{queries}-d{depth}"
    cfg["stage1"] = {"pre": {"first_stage": "bm25", "query_set": "train"}}
    cfg["grid"]["g"]["student"] = {"stage1": "pre", "epochs": 1, "loss": "{loss}"}
    wf = workflow_factory(cfg)
    plain = wf.jobs()
    assert "ablation_table" not in plain and "figure" not in plain and plain["train_student"] == 6
    cfg["tables"] = {"loss": {"experiment": "loss"}, "data": {"experiment": "data"}}
    cfg["figures"] = {"sub": {"panels": [{"experiment": "cross", "x": "depth"}], "lines": "distill_first_stage"}}
    wf.write_config(cfg)
    counts = wf.jobs()
    assert counts["ablation_table"] == 2 and counts["figure"] == 1 and counts["train_student"] == 6
    assert counts["distill_set"] == 3 and counts["train_stage1"] == 1


@pytest.mark.slow
def test_ablation_table_and_figure_rules_end_to_end(workflow_factory, bert_tiny, tmp_path):
    from rankdistill.students.model import CrossEncoder

    cfg = tiny_config()
    cfg["students"] = {}
    for seed in (1, 2):
        CrossEncoder.from_backbone(bert_tiny, 8, 32, seed=seed).save_pretrained(tmp_path / f"m{seed}")
        cfg["students"][f"m{seed}"] = {"kind": "pretrained", "model": str(tmp_path / f"m{seed}"), "inference": {"depth": 20}}
    cfg["tables"] = {"seeds": {"systems": ["m2", "m1"], "query_sets": ["test-a"]}}
    cfg["figures"] = {"seeds": {"panels": [{"points": {"m1": 1, "m2": 2}, "xlabel": "seed"}]}}
    wf = workflow_factory(cfg)
    wf.snakemake()
    res = wf.root / "results"
    tex = (res / "ablation_seeds.tex").read_text()
    assert r"\label{tab:ablation-seeds}" in tex and "Configuration: config/config.yaml" in tex
    long = pd.read_csv(res / "ablation_seeds.csv")
    assert list(long.system) == ["m2", "m1"] and set(long.query_set) == {"test-a"} and long.baseline.tolist() == [True, False]
    data = pd.read_csv(res / "figures" / "seeds.csv")
    assert (res / "figures" / "seeds.pdf").stat().st_size > 1000 and (res / "figures" / "seeds.png").stat().st_size > 1000
    # the plotted point is the mean of the two query sets' mean nDCG@10 of the student's evaluation files
    per = {qs: pd.read_csv(res / "eval" / "m1" / "bm25" / f"{qs}.tsv", sep="\t") for qs in ("test-a", "test-b")}
    want = sum(d[d.measure == "nDCG@10"].value.mean() for d in per.values()) / 2
    assert data[data.system == "m1"].value.iloc[0] == pytest.approx(want)
    assert (res / "figures" / "seeds.pdf.manifest.json").exists()  # provenance like every rule output
    assert "Nothing to be done" in wf.snakemake("-n").stdout
    # the report shows the ablation table and the figure with their captions
    wf.snakemake("--report", "report.html")
    html = (wf.root / "report.html").read_text(errors="replace")
    for needle in ("ablation_seeds.tex", "seeds.png", "seeds.pdf", "Ablation ``seeds``", "Sub-sampling of the distillation data",
                   "one line per evaluated first stage"):
        assert needle in html or needle.replace("``", "") in html, needle
    assert "{{" not in html
