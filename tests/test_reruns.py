"""Exact partial reruns: a change reruns the jobs it affects and their descendants, nothing else.

One real run of the tiny config, then dry runs (`snakemake -n`) after each change, comparing the
job lists (rule -> count). The commands are the docs' examples (docs/howto/partial-reruns.md).
"""

from __future__ import annotations

import copy
import re

import pytest

from conftest import Workflow, tiny_config

pytestmark = pytest.mark.slow  # one real run + ~20 dry runs: ~1-2 min on 2 cores

DOWNSTREAM_OF_RETRIEVE = {"retrieve_bm25": 2, "evaluate": 2, "table": 1}  # 2 evaluation query sets


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Workflow:
    """The tiny workflow, run to completion once (shared by the tests; each restores what it edits)."""
    wf = Workflow(tmp_path_factory.mktemp("reruns") / "wf", tiny_config())
    wf.snakemake("results/table.tex")
    return wf


def _with_config(wf: Workflow, change, base=tiny_config) -> dict:
    """Dry run after ``change`` of the ``base()`` config the workflow was run with; the config is restored after."""
    cfg = copy.deepcopy(base())
    change(cfg)
    wf.write_config(cfg)
    try:
        return wf.jobs("results/table.tex")
    finally:
        wf.write_config(base())


def _with_edit(wf: Workflow, relpath: str) -> dict:
    """Dry run after a (behaviour-neutral but real) edit of a package file; the file is restored after."""
    path = wf.root / relpath
    old = path.read_bytes()
    try:
        path.write_bytes(old + b"\n# edited by test_reruns\n")
        return wf.jobs("results/table.tex")
    finally:
        path.write_bytes(old)


def test_complete_run_has_nothing_to_do(done):
    assert done.jobs("results/table.tex") == {}
    # the default target (rule all) is the same results here (the tiny config has no extra tables)
    assert done.jobs() == {}


def test_bm25_k1_reruns_retrieval_and_descendants_only(done):
    def change(cfg):
        cfg["first_stages"]["bm25"]["k1"] = 1.2

    assert _with_config(done, change) == DOWNSTREAM_OF_RETRIEVE  # not collection, index or query sets


def test_stemmer_reruns_the_index_too(done):
    def change(cfg):
        cfg["first_stages"]["bm25"]["stemmer"] = "none"

    assert _with_config(done, change) == {"index_bm25": 1, **DOWNSTREAM_OF_RETRIEVE}


def test_evaluation_depth_reruns_evaluation_and_table(done):
    def change(cfg):
        cfg["evaluation"]["depth"] = 20

    assert _with_config(done, change) == {"evaluate": 2, "table": 1}


def test_table_label_reruns_only_the_table(done):
    def change(cfg):
        cfg["table"] = {"labels": {"test-a": "Test A (renamed)"}}

    assert _with_config(done, change) == {"table": 1}


def test_one_query_set_reruns_only_its_branch(done):
    def change(cfg):
        cfg["query_sets"]["test-b"]["queries"] = 10

    assert _with_config(done, change) == {"query_set": 1, "retrieve_bm25": 1, "evaluate": 1, "table": 1}


def test_editing_package_code_reruns_the_rules_that_use_it(done):
    # rankdistill.retrieval.bm25 is imported by the scripts of index_bm25 and retrieve_bm25 (their code=CODE(...) param)
    assert _with_edit(done, "src/rankdistill/retrieval/bm25.py") == {"index_bm25": 1, **DOWNSTREAM_OF_RETRIEVE}
    # rankdistill.table only in the table rule's
    assert _with_edit(done, "src/rankdistill/table.py") == {"table": 1}
    # rankdistill.provenance writes the tables' provenance pages (workflow.run), so it is in theirs too
    assert _with_edit(done, "src/rankdistill/provenance.py") == {"table": 1}


def test_editing_a_transitive_import_reruns_every_rule_that_imports_it(done):
    # rankdistill.runs is imported by every rule's code here (rankdistill.datasets imports it), so an
    # edit of the run parser reruns the whole DAG (a hand-kept list once missed it under training)
    assert _with_edit(done, "src/rankdistill/runs.py") == {"collection": 1, "query_set": 2, "index_bm25": 1,
                                                           **DOWNSTREAM_OF_RETRIEVE}


def test_editing_code_no_job_runs_reruns_nothing(done):
    # the config checks and the preflight run before the DAG, the harness (rankdistill.workflow) around
    # every job; none of them changes a result (a changed setting they produce is a param and reruns)
    for rel in ("src/rankdistill/preflight.py", "src/rankdistill/config/checks.py", "src/rankdistill/workflow.py"):
        assert _with_edit(done, rel) == {}, rel


def test_a_reinstall_reruns_nothing(done):
    """The same sources at a new place with new mtimes (a reinstall, a fresh checkout): code versions
    hash module names and contents, not paths or mtimes."""
    import shutil

    src = done.root / "src"
    moved = done.root / "src.old"
    src.rename(moved)
    try:
        shutil.copytree(moved, src, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))  # new inodes and mtimes
        assert done.jobs("results/table.tex") == {}
    finally:
        shutil.rmtree(src)
        moved.rename(src)


def test_first_stage_label_reruns_only_the_table(done):
    def change(cfg):
        cfg["first_stages"]["bm25"]["label"] = "BM25 (renamed)"

    assert _with_config(done, change) == {"table": 1}


def test_dry_run_says_why(done):
    """`snakemake -n` names the changed param (docs/howto/partial-reruns.md: check this before a long rerun)."""
    cfg = copy.deepcopy(tiny_config())
    cfg["first_stages"]["bm25"]["k1"] = 1.2
    done.write_config(cfg)
    try:
        out = done.snakemake("-n", "results/table.tex").stdout
    finally:
        done.write_config(tiny_config())
    # the rule's settings param changed, its k1 from 0.9 to 1.2 (the whole settings dict is shown)
    assert "Params have changed since last execution" in out, out[-3000:]
    assert re.search(r"before: .*'k1': 0\.9.*now: .*'k1': 1\.2", out, re.S), out[-3000:]
    assert "Input files updated by another job: results/first_stage/bm25/test-a.run" in out


# --- the docs' targeted-rerun commands (docs/howto/partial-reruns.md) ------------------------------

def test_forcerun_rule_reruns_it_and_descendants(done):
    # targets go BEFORE --forcerun/--until/--omit-from: these take any number of arguments, so a
    # target after them is read as one more rule/file to force (and the default target is built)
    assert done.jobs("--forcerun", "index_bm25", "results/table.tex")["all"] == 1
    assert done.jobs("results/table.tex", "--forcerun", "index_bm25") == {"index_bm25": 1, **DOWNSTREAM_OF_RETRIEVE}
    assert done.jobs("results/table.tex", "--forcerun", "table") == {"table": 1}


def test_forcerun_one_file(done):
    assert done.jobs("results/table.tex", "--forcerun", "results/first_stage/bm25/test-a.run") == {
        "retrieve_bm25": 1, "evaluate": 1, "table": 1}


def test_until_stops_after_the_named_rule(done):
    def change(cfg):
        cfg["first_stages"]["bm25"]["k1"] = 1.2

    cfg = copy.deepcopy(tiny_config())
    change(cfg)
    done.write_config(cfg)
    try:
        assert done.jobs("--until", "retrieve_bm25") == {"retrieve_bm25": 2}
        # --omit-from: everything else that is outdated, but not evaluation and what follows it
        assert done.jobs("--omit-from", "evaluate") == {"retrieve_bm25": 2}
    finally:
        done.write_config(tiny_config())


def test_until_and_omit_from_on_a_fresh_checkout(tmp_path):
    wf = Workflow(tmp_path / "fresh", tiny_config())
    # only the first stage: build the collection, the index and the evaluation query sets' runs
    assert wf.jobs("--until", "retrieve_bm25") == {"collection": 1, "query_set": 2, "index_bm25": 1,
                                                     "retrieve_bm25": 2}
    # everything up to (not including) evaluation
    assert wf.jobs("--omit-from", "evaluate") == {"collection": 1, "query_set": 2, "index_bm25": 1,
                                                    "retrieve_bm25": 2}
    # the full DAG for comparison
    assert wf.jobs() == {"all": 1, "collection": 1, "query_set": 2, "index_bm25": 1, "retrieve_bm25": 2,
                         "evaluate": 2, "table": 1}


def test_every_rule_tracks_its_code_and_scales_resources_on_retries():
    """The conventions exact reruns (and cluster retries) rely on, for every rule in workflow/rules/."""
    import re

    from conftest import ROOT

    rules = {}
    for f in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule |checkpoint )", f.read_text(), flags=re.M)[1:]:
            rules[block.split()[1].rstrip(":")] = block
    assert {"retrieve_bm25", "table"} <= set(rules)
    for name, block in rules.items():
        params = block.split("params:", 1)[1] if "params:" in block else ""
        assert re.search(r"^\s+code=", params, re.M), f"rule {name}: no code=CODE(...) param"
        for res in ("mem_mb", "runtime"):  # per_attempt(N) or a function of attempt, not a constant
            m = re.search(rf"^\s+{res}=(.+?),?$", block, re.M)
            assert m and not re.fullmatch(r"[\d_ *]+", m.group(1)), \
                f"rule {name}: {res} should grow with attempt (per_attempt(...)) so SLURM retries get more"


# --- students: every stage of the distillation pipeline (distillation set, stage 1, stage 2, re-ranking) ----

BT = "package:cognition/model"


def students_config() -> dict:
    """Every stage: BM25, an LLM teacher (a tiny random Llama, not a table row) ranking the training
    queries, a distillation set from its ranking, stage 1, a dual student, its re-ranking runs."""
    cfg = tiny_config()
    cfg["teachers"] = {"tiny": {"kind": "llm", "model": _TEACHER.get("model", "tiny/teacher"), "window": 6, "step": 3,
                                "depth": 12, "batch_size": 4, "max_passage_words": 12, "max_new_tokens": 12,
                                "device": "cpu", "evaluate": {"query_sets": []}}}
    cfg["distill_sets"] = {"rd": {"kind": "teacher", "teacher": "tiny", "first_stage": "bm25", "query_set": "train",
                                  "queries": 6, "depth": 6}}
    cfg["stage1"] = {"s1": {"backbone": BT, "first_stage": "bm25", "query_set": "train", "steps": 1,
                            "batch_queries": 2, "negatives": 2, "depth": 10, "query_length": 8, "doc_length": 24}}
    cfg["students"] = {"dual": {"kind": "trained", "stage1": "s1", "distill_set": "rd", "epochs": 1,
                                "batch_queries": 4, "query_length": 8, "doc_length": 24, "label": "Dual",
                                "inference": {"depth": 10}}}
    cfg["evaluation"]["depth"] = 10
    return cfg


_TEACHER: dict = {}


@pytest.fixture(scope="module")
def students_done(tmp_path_factory) -> Workflow:
    from rankdistill.teacher import tiny

    d = tmp_path_factory.mktemp("tiny-teacher") / "model"
    tok = tiny.build_tokenizer()
    tiny.build_model(tok, layers=2, hidden=64, seed=1).save_pretrained(d)
    tok.save_pretrained(d)
    _TEACHER["model"] = str(d)
    wf = Workflow(tmp_path_factory.mktemp("reruns-students") / "wf", students_config())
    wf.snakemake("results/table.tex")
    return wf


STUDENT_DOWNSTREAM = {"rerank": 2, "evaluate": 2, "table": 1}


def test_students_complete_run_has_nothing_to_do(students_done):
    assert students_done.jobs("results/table.tex") == {}


@pytest.mark.parametrize("change,expected", [
    # display only: the table alone (train_student once got the whole entry, label included, and retrained)
    (lambda c: c["students"]["dual"].update(label="Dual (renamed)"), {"table": 1}),
    (lambda c: c["students"]["dual"].update(lr=2e-5), {"train_student": 1, **STUDENT_DOWNSTREAM}),
    (lambda c: c["students"]["dual"].update(save_every=3), {"train_student": 1, **STUDENT_DOWNSTREAM}),
    (lambda c: c["students"]["dual"]["inference"].update(batch_size=8), STUDENT_DOWNSTREAM),
    (lambda c: c["stage1"]["s1"].update(lr=2e-5), {"train_stage1": 1, "train_student": 1, **STUDENT_DOWNSTREAM}),
    (lambda c: c["distill_sets"]["rd"].update(depth=5), {"distill_set": 1, "train_student": 1, **STUDENT_DOWNSTREAM}),
    (lambda c: c["distill_sets"]["rd"].update(seed=1), {"distill_set": 1, "train_student": 1, **STUDENT_DOWNSTREAM}),
    (lambda c: c["teachers"]["tiny"].update(window=8), {"teacher_llm": 1, "distill_set": 1, "train_student": 1,
                                                          **STUDENT_DOWNSTREAM}),
    (lambda c: c["teachers"]["tiny"].update(label="Tiny"), {"table": 1}),  # display names reach the table only
])
def test_a_students_setting_reruns_exactly_its_descendants(students_done, change, expected):
    assert _with_config(students_done, change, students_config) == expected


def test_editing_training_code_retrains(students_done):
    # rankdistill.students.losses: imported by the training code, not by the re-ranking code
    assert _with_edit(students_done, "src/rankdistill/students/losses.py") == {
        "train_stage1": 1, "train_student": 1, **STUDENT_DOWNSTREAM}
    # rankdistill.distill: the distillation set's code, and the training code reads the set with it
    assert _with_edit(students_done, "src/rankdistill/distill.py") == {
        "distill_set": 1, "train_stage1": 1, "train_student": 1, **STUDENT_DOWNSTREAM}
    # rankdistill.teacher.windows: the teacher's sliding windows, and what is built from its run
    assert _with_edit(students_done, "src/rankdistill/teacher/windows.py") == {
        "teacher_llm": 1, "distill_set": 1, "train_student": 1, **STUDENT_DOWNSTREAM}
