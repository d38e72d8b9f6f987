"""Editing a local input file reruns exactly its descendants; an untouched input reruns nothing.

One real run of a config whose every input is a local file: a corpus of two TSV files, a local
query set (queries + qrels), an imported first-stage run, an imported teacher run and a dense first
stage whose model is a local folder (a copy of all-MiniLM-L6-v2). Then, per kind, a real edit of
the file and a dry run (`snakemake -n`); the file is restored (content and mtime) afterwards.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import Workflow

pytestmark = pytest.mark.slow  # one real run (BM25 + a 300-passage MiniLM encode) + ~10 dry runs


def _data(folder: Path) -> dict[str, Path]:
    from rankdistill.datasets.queries import write_qrels, write_queries
    from rankdistill.datasets.synthetic import SyntheticCollection, SyntheticSpec
    from rankdistill.runs import write_run

    world = SyntheticCollection(SyntheticSpec(seed=7, passages=300))
    docs = list(world.iter_passages())
    folder.mkdir(parents=True)
    files = {"corpus_a": folder / "corpus-a.tsv", "corpus_b": folder / "corpus-b.tsv"}
    for name, part in (("corpus_a", docs[:150]), ("corpus_b", docs[150:])):
        files[name].write_text("".join(f"{d['docno']}\t{d['text']}\n" for d in part), encoding="utf-8")
    queries, qrels = world.queries("test-a", 10)
    files["queries"], files["qrels"] = folder / "queries.tsv", folder / "qrels.txt"
    write_queries(queries, files["queries"])
    write_qrels(qrels, files["qrels"])
    rng = np.random.default_rng(0)
    for name in ("imported", "teacher"):
        rows = [(q, docs[i]["docno"], float(s)) for q in queries["qid"]
                for i, s in zip(rng.choice(len(docs), 40, replace=False), rng.normal(size=40))]
        files[name] = folder / f"{name}.run"
        write_run(pd.DataFrame(rows, columns=["qid", "docno", "score"]), files[name], tag=name)
    return files


def _config(files: dict[str, Path], model: Path) -> dict:
    return {
        "collection": {"kind": "local", "path": [str(files["corpus_a"]), str(files["corpus_b"])]},
        "query_sets": {"test-a": {"kind": "local", "queries": str(files["queries"]), "qrels": str(files["qrels"])}},
        "first_stages": {
            "bm25": {"kind": "bm25", "depth": 50},
            "dense": {"kind": "dense", "model": str(model), "depth": 50, "batch_size": 64},
            "imp": {"kind": "import", "depth": 50, "runs": {"test-a": str(files["imported"])}},
        },
        "teachers": {"timp": {"kind": "import", "depth": 30, "runs": {"bm25": {"test-a": str(files["teacher"])}}}},
        "evaluation": {"query_sets": ["test-a"], "first_stages": ["bm25", "dense", "imp"], "depth": 30,
                       "baseline": "bm25"},
    }


@pytest.fixture(scope="module")
def done(tmp_path_factory, minilm):
    root = tmp_path_factory.mktemp("input-reruns")
    files = _data(root / "data")
    model = root / "models" / "minilm"
    shutil.copytree(minilm, model)
    wf = Workflow(root / "wf", _config(files, model))
    wf.snakemake("results/table.tex")
    wf.files, wf.model = files, model
    return wf


def _after_edit(wf: Workflow, path: Path, edit) -> dict:
    """The dry run's jobs after ``edit(old bytes) -> new bytes`` of ``path``; content and mtime restored after."""
    old, st = path.read_bytes(), path.stat()
    try:
        path.write_bytes(edit(old))  # mtime: now, later than every output
        return wf.jobs("results/table.tex")
    finally:
        path.write_bytes(old)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _drop_last_line(b: bytes) -> bytes:
    return b"".join(b.splitlines(keepends=True)[:-1])


EVERYTHING_AFTER_THE_COLLECTION = {
    "collection": 1, "index_bm25": 1, "retrieve_bm25": 1, "encode_dense": 1, "retrieve_dense": 1,
    "import_run": 1, "teacher_import": 1, "evaluate": 4, "table": 1,
}
EVERYTHING_AFTER_THE_QUERY_SET = {
    "query_set": 1, "retrieve_bm25": 1, "retrieve_dense": 1, "import_run": 1, "teacher_import": 1,
    "evaluate": 4, "table": 1,
}


def test_untouched_inputs_rerun_nothing(done):
    assert done.jobs("results/table.tex") == {}


@pytest.mark.parametrize("which", ["corpus_a", "corpus_b"])
def test_editing_a_corpus_file_rebuilds_the_collection_and_everything_after(done, which):
    edit = lambda b: b.replace(b"\t", b"\tedited ", 1)  # noqa: E731
    assert _after_edit(done, done.files[which], edit) == EVERYTHING_AFTER_THE_COLLECTION
    assert done.jobs("results/table.tex") == {}  # restored: nothing to do again


def test_editing_the_queries_reruns_the_query_set_and_its_descendants(done):
    assert _after_edit(done, done.files["queries"], _drop_last_line) == EVERYTHING_AFTER_THE_QUERY_SET


def test_editing_the_qrels_reruns_the_query_set_and_its_descendants(done):
    # the query_set job writes queries.tsv and qrels.txt together, so its descendants are both files'
    assert _after_edit(done, done.files["qrels"], _drop_last_line) == EVERYTHING_AFTER_THE_QUERY_SET


def test_editing_an_imported_run_reruns_its_import_only(done):
    assert _after_edit(done, done.files["imported"], _drop_last_line) == {"import_run": 1, "evaluate": 1, "table": 1}


def test_editing_an_imported_teacher_run_reruns_its_import_only(done):
    assert _after_edit(done, done.files["teacher"], _drop_last_line) == {"teacher_import": 1, "evaluate": 1,
                                                                         "table": 1}


def test_editing_a_file_inside_a_local_model_folder_reruns_its_first_stage(done):
    # a folder's own mtime does not change when a file in it is rewritten: the fingerprint param catches it
    target = done.model / "config.json"
    dense = {"encode_dense": 1, "retrieve_dense": 1, "evaluate": 1, "table": 1}
    assert _after_edit(done, target, lambda b: b.replace(b"{", b'{"edited_by_test": 1,', 1)) == dense
    out = done.snakemake("-n", "results/table.tex").stdout
    assert "Nothing to be done" in out or done.jobs("results/table.tex") == {}


def test_a_new_file_in_a_model_folder_reruns_too(done):
    extra = done.model / "notes.txt"
    extra.write_text("x")
    try:
        assert done.jobs("results/table.tex") == {"encode_dense": 1, "retrieve_dense": 1, "evaluate": 1, "table": 1}
    finally:
        extra.unlink()
    assert done.jobs("results/table.tex") == {}


def test_the_dry_run_says_which_input_changed(done):
    path = done.files["imported"]
    old, st = path.read_bytes(), path.stat()
    try:
        path.write_bytes(_drop_last_line(old))
        out = done.snakemake("-n", "results/table.tex").stdout
    finally:
        path.write_bytes(old)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert str(path) in out  # "Updated input files: <path>"


def test_editing_the_reader_layer_reruns_the_rules_that_read_input_files(done):
    path = done.root / "src" / "rankdistill" / "textfiles.py"
    old = path.read_bytes()
    try:
        path.write_bytes(old + b"\n# edited by test_input_reruns\n")
        jobs = done.jobs("results/table.tex")
    finally:
        path.write_bytes(old)
    assert jobs == {**EVERYTHING_AFTER_THE_COLLECTION, **EVERYTHING_AFTER_THE_QUERY_SET}
