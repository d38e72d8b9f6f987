"""A catalogue of malformed inputs: each gives its exact error class, naming the file and line.

Readers (runs, qrels, queries, topics, JSONL/TSV/TREC corpora, the collection build, imported
runs with and without the collection check, Parquet runs), the config (naming the key), and a few
through snakemake, where the error must be the one-line reason, not a traceback. (LLM-output
cases live with the teacher's tests.)
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import yaml

from rankdistill import config as rdconfig
from rankdistill.datasets.build import build_collection
from rankdistill.datasets.docstore import build_docstore
from rankdistill.datasets.local import iter_corpus
from rankdistill.datasets.queries import read_qrels, read_queries
from rankdistill.errors import ConfigError, InputError
from rankdistill.retrieval.imported import import_run
from rankdistill.runs import read_run

from conftest import tiny_config

RUN_OK = b"1 Q0 d1 1 2.0 t\n"


def _corpus(fmt):
    return lambda p: list(iter_corpus(p, fmt))


def _import(p: Path):
    store = p.parent / "store.sqlite"
    build_docstore(({"docno": f"d{i}", "text": "x"} for i in range(5)), store)
    return import_run(str(p), p.parent / "out.run", docstore=store)


def _collection(p: Path):
    return build_collection({"kind": "local", "path": str(p), "format": None, "text_fields": ["text"]},
                            p.parent / "docs.sqlite")


READERS = {
    "run": read_run, "qrels": read_qrels, "queries": read_queries, "jsonl": _corpus("jsonl"),
    "tsv": _corpus("tsv"), "trec": _corpus("trec"), "import": _import, "collection": _collection,
    "import_nocheck": lambda p: import_run(str(p), p.parent / "out.run"),
}

# (case id, reader, file name, content, expected line (None: the whole file), text the message contains)
CASES = [
    # --- runs ---
    ("run-5-columns", "run", "r.run", RUN_OK + b"1 Q0 d2 2 1.0\n", 2, "expected 6 columns"),
    ("run-7-columns", "run", "r.run", RUN_OK + b"1 Q0 d2 2 1.0 t x\n", 2, "expected 6 columns"),
    ("run-rank-word", "run", "r.run", RUN_OK + b"1 Q0 d2 two 1.0 t\n", 2, "rank 'two' is not an integer"),
    ("run-rank-float", "run", "r.run", RUN_OK + b"1 Q0 d2 2.0 1.0 t\n", 2, "is not an integer"),
    ("run-rank-arabic-digits", "run", "r.run", RUN_OK + "1 Q0 d2 ٢ 1.0 t\n".encode(), 2, "is not an integer"),
    ("run-rank-5000-digits", "run", "r.run", RUN_OK + b"1 Q0 d2 " + b"9" * 5000 + b" 1.0 t\n", 2,
     "is not an integer"),
    ("run-score-word", "run", "r.run", RUN_OK + b"1 Q0 d2 2 high t\n", 2, "score 'high' is not a number"),
    ("run-score-nan", "run", "r.run", RUN_OK + b"1 Q0 d2 2 nan t\n", 2, "is not finite"),
    ("run-score-inf", "run", "r.run", RUN_OK + b"1 Q0 d2 2 -inf t\n", 2, "is not finite"),
    ("run-score-overflow", "run", "r.run", RUN_OK + b"1 Q0 d2 2 1e400 t\n", 2, "is not finite"),
    ("run-score-underscore", "run", "r.run", RUN_OK + b"1 Q0 d2 2 1_0 t\n", 2, "is not a number"),
    ("run-duplicate-pair", "run", "r.run", RUN_OK + b"1 Q0 d2 2 1.0 t\n1 Q0 d1 3 0.5 t\n", 3, "first seen on line 1"),
    ("run-not-utf8", "run", "r.run", RUN_OK + b"1 Q0 d\xe92 2 1.0 t\n", 2, "not UTF-8"),
    ("run-latin1-bom-utf16", "run", "r.run", "1 Q0 d1 1 2.0 t\n".encode("utf-16"), 1, "not UTF-8"),
    ("run-nul-byte", "run", "r.run", RUN_OK + b"1 Q0 d\x002 2 1.0 t\n", 2, "NUL byte"),
    ("run-control-char-docno", "run", "r.run", RUN_OK + b"1 Q0 d\x072 2 1.0 t\n", 2, "control character"),
    ("run-gz-not-gzip", "run", "r.run.gz", RUN_OK, None, "is not gzip data"),
    ("run-gzip-without-gz", "run", "r.run", gzip.compress(RUN_OK), None, "gzip-compressed"),
    ("run-empty", "run", "r.run", b"\n\n", None, "run file is empty"),
    ("run-binary", "run", "r.run", bytes(range(256)), 1, "NUL byte"),
    # --- qrels ---
    ("qrels-3-columns", "qrels", "q.txt", b"1 0 d1 1\n1 d2 1\n", 2, "expected 4 columns"),
    ("qrels-5-columns", "qrels", "q.txt", b"1 0 d1 1\n1 0 d2 1 x\n", 2, "expected 4 columns"),
    ("qrels-grade-word", "qrels", "q.txt", b"1 0 d1 1\n1 0 d2 rel\n", 2, "relevance grade 'rel'"),
    ("qrels-grade-float", "qrels", "q.txt", b"1 0 d1 1\n1 0 d2 1.0\n", 2, "is not an integer"),
    ("qrels-grade-huge", "qrels", "q.txt", b"1 0 d1 1\n1 0 d2 " + b"1" * 4400 + b"\n", 2, "is not an integer"),
    ("qrels-duplicate", "qrels", "q.txt", b"1 0 d1 1\n1 0 d2 0\n1 0 d1 2\n", 3, "first on line 1"),
    ("qrels-not-utf8", "qrels", "q.txt", b"1 0 d1 1\n1 0 d\xff 1\n", 2, "byte offset 14"),
    ("qrels-control-qid", "qrels", "q.txt", b"1 0 d1 1\n\x1b1 0 d2 1\n", 2, "control character"),
    ("qrels-empty", "qrels", "q.txt", b"", None, "qrels file is empty"),
    # --- queries (TSV) ---
    ("queries-no-tab", "queries", "q.tsv", b"1\tfirst\n2 second\n", 2, "expected 'qid<TAB>query text'"),
    ("queries-duplicate-id", "queries", "q.tsv", b"1\tfirst\n2\tx\n1\tagain\n", 3, "first on line 1"),
    ("queries-empty-text", "queries", "q.tsv", b"1\tfirst\n2\t  \n", 2, "has no text"),
    ("queries-space-in-id", "queries", "q.tsv", b"1\tfirst\nq 2\tsecond\n", 2, "contains whitespace"),
    ("queries-nbsp-in-id", "queries", "q.tsv", "1\tfirst\nq\u00a02\tsecond\n".encode(), 2, "contains whitespace"),
    ("queries-not-utf8", "queries", "q.tsv", b"1\tfirst\n2\tcaf\xe9\n", 2, "not UTF-8"),
    ("queries-nul", "queries", "q.tsv", b"1\tfi\x00rst\n", 1, "NUL byte"),
    ("queries-empty", "queries", "q.tsv", b"\n", None, "queries file is empty"),
    ("queries-gz-not-gzip", "queries", "q.tsv.gz", b"1\tx\n", None, "is not gzip data"),
    # --- queries (TREC topics) ---
    ("topics-no-title", "queries", "t.trec", b"<top>\n<num> 1\n<title> a\n</top>\n<top>\n<num> 2\n</top>\n", 5,
     "without <num> or <title>"),
    ("topics-duplicate", "queries", "t.trec", b"<top>\n<num> 1\n<title> a\n</top>\n<top>\n<num> 1\n<title> b\n</top>\n",
     5, "duplicate topic number '1' (first on line 1)"),
    ("topics-none", "queries", "t.trec", b"<num> 1 <title> a\n", None, "no <top> topics"),
    ("topics-control-number", "queries", "t.trec", b"<top>\n<num> 1\x07\n<title> a\n</top>\n", 1, "control character"),
    # --- JSONL corpus ---
    ("jsonl-invalid", "jsonl", "c.jsonl", b'{"docno": "a", "text": "x"}\n{"docno": "b", "text": }\n', 2, "invalid JSON"),
    ("jsonl-not-object", "jsonl", "c.jsonl", b'["a", "x"]\n', 1, "must be a JSON object"),
    ("jsonl-no-docno", "jsonl", "c.jsonl", b'{"text": "x"}\n', 1, "has no 'docno'"),
    ("jsonl-null-text", "jsonl", "c.jsonl", b'{"docno": "a", "text": null}\n', 1, "must be a string, got null"),
    ("jsonl-number-text", "jsonl", "c.jsonl", b'{"docno": "a", "text": 12}\n', 1, "must be a string, got int"),
    ("jsonl-list-docno", "jsonl", "c.jsonl", b'{"docno": ["a"], "text": "x"}\n', 1, "docno must be a string"),
    ("jsonl-float-docno", "jsonl", "c.jsonl", b'{"docno": 1.5, "text": "x"}\n', 1, "got float"),
    ("jsonl-bool-docno", "jsonl", "c.jsonl", b'{"docno": true, "text": "x"}\n', 1, "got bool"),
    ("jsonl-space-docno", "jsonl", "c.jsonl", b'{"docno": "d 97", "text": "x"}\n', 1, "contains whitespace"),
    ("jsonl-empty-docno", "jsonl", "c.jsonl", b'{"docno": " ", "text": "x"}\n', 1, "empty docno"),
    ("jsonl-missing-text", "jsonl", "c.jsonl", b'{"docno": "a", "body": "x"}\n', 1, "has no field 'text'"),
    ("jsonl-5000-digit-number", "jsonl", "c.jsonl", b'{"docno": ' + b"7" * 5000 + b', "text": "x"}\n', 1,
     "invalid JSON"),
    ("jsonl-deep-nesting", "jsonl", "c.jsonl", b"[" * 100000 + b"]" * 100000 + b"\n", 1, "invalid JSON"),
    ("jsonl-not-utf8", "jsonl", "c.jsonl", b'{"docno": "a", "text": "\xc3\x28"}\n', 1, "not UTF-8"),
    ("jsonl-gz-not-gzip", "jsonl", "c.jsonl.gz", b'{"docno": "a", "text": "x"}\n', None, "is not gzip data"),
    # --- TSV corpus ---
    ("tsv-no-tab", "tsv", "c.tsv", b"d1\tx\nd2 no tab\n", 2, "expected 'docno<TAB>text'"),
    ("tsv-space-docno", "tsv", "c.tsv", b"d1\tx\nd 97\ty\n", 2, "contains whitespace"),
    ("tsv-empty-docno", "tsv", "c.tsv", b"\tx\n", 1, "empty docno"),
    ("tsv-not-utf8", "tsv", "c.tsv", b"d1\tx\nd2\t\x80\n", 2, "byte 0x80"),
    ("tsv-control-docno", "tsv", "c.tsv", b"d1\tx\nd\x7f2\ty\n", 2, "control character"),
    ("tsv-empty-file", "tsv", "c.tsv", b"\n \n", None, "corpus file has no documents"),
    # --- TREC corpus ---
    ("trec-no-docno", "trec", "c.trec", b"<DOC>\n<TEXT>x</TEXT>\n</DOC>\n", 1, "without <DOCNO>"),
    ("trec-nested-doc", "trec", "c.trec", b"<DOC>\n<DOCNO>a</DOCNO>\n<DOC>\n", 3, "opened before the previous"),
    ("trec-unterminated", "trec", "c.trec", b"<DOC>\n<DOCNO>a</DOCNO>\ntext\n", 1, "has no </DOC>"),
    ("trec-text-outside", "trec", "c.trec", b"<DOC><DOCNO>a</DOCNO>x</DOC>\nstray\n", 2, "text outside"),
    ("trec-space-docno", "trec", "c.trec", b"<DOC>\n<DOCNO> d 97 </DOCNO>\nx\n</DOC>\n", 1, "contains whitespace"),
    # --- the collection (duplicates) ---
    ("collection-duplicate-docno", "collection", "c.tsv", b"d1\tx\nd2\ty\nd1\tz\n", 3, "duplicate docno 'd1'"),
    ("collection-null-text", "collection", "c.jsonl", b'{"docno": "a", "text": null}\n', 1, "got null"),
    ("collection-empty", "collection", "c.tsv", b"\n\n", None, "corpus file has no documents"),
    # --- imported runs ---
    ("import-unknown-docno", "import", "r.run", RUN_OK + b"1 Q0 made-up 2 1.0 t\n", 2, "is not in the collection"),
    ("import-duplicate", "import_nocheck", "r.run", RUN_OK + b"1 Q0 d2 2 1.0 t\n1 Q0 d1 3 1.5 t\n", 3,
     "first seen on line 1"),
    ("import-bad-score", "import_nocheck", "r.run", RUN_OK + b"1 Q0 d2 2 x t\n", 2, "is not a number"),
    ("import-not-utf8", "import_nocheck", "r.run", RUN_OK + b"1 Q0 \xfe 2 1.0 t\n", 2, "not UTF-8"),
    ("import-bad-parquet", "import_nocheck", "r.parquet", b"not parquet", None, "not a readable Parquet file"),
]


@pytest.mark.parametrize("case, reader, name, data, line, match", CASES, ids=[c[0] for c in CASES])
def test_malformed_input(tmp_path, case, reader, name, data, line, match):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(InputError) as e:
        READERS[reader](p)
    assert type(e.value) is InputError
    msg = str(e.value)
    assert e.value.path == str(p) and e.value.line == line, msg
    assert msg.startswith(f"{p}:{line}: " if line is not None else f"{p}: "), msg
    assert match in msg, msg
    assert "\n" not in msg  # one line


def test_missing_files_are_named():
    for reader in ("run", "qrels", "queries", "tsv"):
        with pytest.raises(InputError, match="does not exist") as e:
            READERS[reader](Path("/nonexistent/file.txt"))
        assert e.value.path == "/nonexistent/file.txt"


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        read_run(tmp_path)


def test_parquet_rows_are_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "r.parquet"
    pq.write_table(pa.table({"qid": ["1", "1"], "docno": ["d1", "d 2"], "score": [1.0, 0.5]}), p)
    with pytest.raises(InputError, match=r"r.parquet \(row 2\): docno 'd 2' contains whitespace"):
        import_run(str(p), tmp_path / "out.run")
    pq.write_table(pa.table({"qid": ["1"], "doc": ["d1"], "score": [1.0]}), p)
    with pytest.raises(InputError, match="no docno column"):
        import_run(str(p), tmp_path / "out.run")


def test_same_docno_different_text_in_two_files(tmp_path):
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_bytes(b"d1\tone\n")
    b.write_bytes(b"d0\tzero\nd1\ttwo\n")
    with pytest.raises(InputError) as e:
        build_collection({"kind": "local", "path": [str(a), str(b)], "format": None, "text_fields": ["text"]},
                         tmp_path / "docs.sqlite")
    assert str(e.value) == f"{b}:2: docno 'd1' is also in {a}:1 with a different text"


# --- the config: each error names the key ---------------------------------------------------------

def _set(path: str, value):
    def change(cfg):
        *keys, last = path.split(".")
        node = cfg
        for k in keys:
            node = node[k]
        node[last] = value
    return change


CONFIG_CASES = [
    ("unknown-top-level-key", _set("evalution", {}), "(top level): Additional properties are not allowed ('evalution'"),
    ("unknown-first-stage-key", _set("first_stages.bm25.kl", 1), "first_stages.bm25: Additional properties"),
    ("k1-wrong-type", _set("first_stages.bm25.k1", "high"), "first_stages.bm25.k1: 'high' is not of type"),
    ("depth-zero", _set("first_stages.bm25.depth", 0), "first_stages.bm25.depth: 0 is less than"),
    ("depth-float", _set("first_stages.bm25.depth", 1.5), "first_stages.bm25.depth: 1.5 is not of type 'integer'"),
    ("bad-kind", _set("first_stages.bm25.kind", "bm26"), "first_stages.bm25"),
    ("passages-too-few", _set("collection.passages", 3), "collection.passages: 3 is less than the minimum"),
    ("unknown-eval-query-set", _set("evaluation.query_sets", ["dl19"]), "evaluation.query_sets: 'dl19' is not a query set"),
    ("unknown-eval-first-stage", _set("evaluation.first_stages", ["bm26"]), "evaluation.first_stages: 'bm26'"),
    ("unknown-baseline", _set("evaluation.baseline", "bm26"), "evaluation.baseline: 'bm26'"),
    ("bad-measure", _set("evaluation.measures", ["nDCG@ten"]), "evaluation.measures: 'nDCG@ten'"),
    ("alpha-out-of-range", _set("evaluation.alpha", 2), "evaluation.alpha"),
    ("local-query-set-without-qrels", _set("query_sets.test-a", {"kind": "local", "queries": "q.tsv"}),
     "query_sets.test-a: 'qrels' is a required property"),
    ("local-collection-without-path", _set("collection", {"kind": "local"}), "collection: 'path' is a required"),
    ("local-collection-empty-list", _set("collection", {"kind": "local", "path": []}), "collection.path"),
    ("import-url-without-checksum", _set("first_stages.pub", {"kind": "import", "runs": {
        "test-a": "https://example.org/a.run", "test-b": "b.run"}}), "first_stages.pub.runs.test-a: a URL needs"),
    ("import-unknown-query-set", _set("first_stages.pub", {"kind": "import", "runs": {"dev": "a.run"}}),
     "first_stages.pub.runs: 'dev' is not a query set"),
    ("import-two-sources", _set("first_stages.pub", {"kind": "import", "runs": {
        "test-a": {"path": "a", "irds": "b"}, "test-b": "b.run"}}), "first_stages.pub.runs.test-a: give exactly one"),
    ("duplicate-system-name", _set("teachers", {"bm25": {"kind": "import", "runs": {"bm25": {"test-a": "a.run"}}}}),
     "the name 'bm25' is also used in first_stages"),
]


@pytest.mark.parametrize("case, change, match", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_malformed_config(case, change, match):
    cfg = tiny_config()
    change(cfg)
    with pytest.raises(ConfigError) as e:
        rdconfig.validate(cfg)
    assert type(e.value) is ConfigError and match in str(e.value), str(e.value)


@pytest.mark.parametrize("content, match", [
    (b"collection:\n  kind: synthetic\n   seed: 7\n", ":3: invalid YAML"),
    (b"collection: {kind: synthetic\n", "invalid YAML"),
    (b"collection:\n  kind: synth\xe9tic\n", "not UTF-8"),
    (b"- a\n- b\n", "must be a mapping"),
    (b"\tcollection: 1\n", ":1: invalid YAML"),
], ids=["bad-indent", "unclosed-brace", "not-utf8", "a-list", "tab-indent"])
def test_malformed_config_file_names_the_file(tmp_path, content, match):
    p = tmp_path / "config.yaml"
    p.write_bytes(content)
    with pytest.raises(ConfigError) as e:
        rdconfig.load(p)
    assert str(e.value).startswith(str(p)) and match in str(e.value), str(e.value)


def test_the_catalogue_is_large():
    assert len(CASES) + len(CONFIG_CASES) + 5 >= 60


# --- through snakemake: the one-line reason, no traceback ---------------------------------------

SNAKEMAKE_CASES = {
    "queries-not-utf8": ("queries", b"1\tfirst\n2\tcaf\xe9\n", 2, "not UTF-8"),
    "corpus-null-text": ("corpus", b'{"docno": "a", "text": "x"}\n{"docno": "b", "text": null}\n', 2, "got null"),
    "import-unknown-docno": ("run", None, 2, "is not in the collection"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(SNAKEMAKE_CASES))
def test_bad_input_in_a_rule_is_one_line(workflow_factory, tmp_path, case):
    kind, data, line, match = SNAKEMAKE_CASES[case]
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(data if kind == "corpus" else b'{"docno": "a", "text": "alpha"}\n{"docno": "b", "text": "beta"}\n')
    queries, qrels, run = tmp_path / "q.tsv", tmp_path / "qrels.txt", tmp_path / "r.run"
    queries.write_bytes(data if kind == "queries" else b"1\talpha\n2\tbeta\n")
    qrels.write_bytes(b"1 0 a 1\n2 0 b 1\n")
    run.write_bytes(b"1 Q0 a 1 2.0 t\n1 Q0 zzz 2 1.0 t\n2 Q0 b 1 1.0 t\n")
    cfg = {
        "collection": {"kind": "local", "path": str(corpus)},
        "query_sets": {"t": {"kind": "local", "queries": str(queries), "qrels": str(qrels)}},
        "first_stages": {"pub": {"kind": "import", "runs": {"t": str(run)}}},
        "evaluation": {"query_sets": ["t"], "first_stages": ["pub"], "baseline": "pub"},
    }
    wf = workflow_factory(cfg)
    p = wf.snakemake("results/table.tex", check=False)
    assert p.returncode != 0
    path = {"queries": queries, "corpus": corpus, "run": run}[kind]
    reason = [ln for ln in p.stderr.splitlines() if ln.startswith("rankdistill error in rule")]
    assert len(reason) == 1 and f"{path}:{line}: " in reason[0] and match in reason[0], p.stderr[-3000:]
    assert "Traceback (most recent call last)" not in p.stderr


@pytest.mark.slow
def test_a_missing_local_input_is_named_before_any_job(workflow_factory, tmp_path):
    """Local files are rule inputs: a missing one stops the dry run already, naming the file."""
    queries, qrels = tmp_path / "q.tsv", tmp_path / "qrels.txt"
    queries.write_bytes(b"1\talpha\n")
    qrels.write_bytes(b"1 0 a 1\n")
    cfg = {
        "collection": {"kind": "local", "path": [str(tmp_path / "c.jsonl"), str(tmp_path / "missing.tsv")]},
        "query_sets": {"t": {"kind": "local", "queries": str(queries), "qrels": str(qrels)}},
        "first_stages": {"pub": {"kind": "import", "runs": {"t": str(tmp_path / "gone.run")}}},
        "evaluation": {"query_sets": ["t"], "first_stages": ["pub"], "baseline": "pub"},
    }
    (tmp_path / "c.jsonl").write_bytes(b'{"docno": "a", "text": "alpha"}\n')
    p = workflow_factory(cfg).snakemake("-n", "results/table.tex", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "Missing input files" in out
    assert str(tmp_path / "missing.tsv") in out or str(tmp_path / "gone.run") in out, out[-2000:]


@pytest.mark.slow
def test_unknown_docnos_drop_is_counted_in_the_jobs_log_and_json(workflow_factory, tmp_path):
    """unknown_docnos: drop through the import_run rule: the rows are left out and counted in the job's
    .json and log (the default, error, is the one-line failure above)."""
    import json

    corpus, queries, qrels, run = (tmp_path / n for n in ("c.jsonl", "q.tsv", "qrels.txt", "r.run"))
    corpus.write_bytes(b'{"docno": "a", "text": "alpha"}\n{"docno": "b", "text": "beta"}\n')
    queries.write_bytes(b"1\talpha\n2\tbeta\n")
    qrels.write_bytes(b"1 0 a 1\n2 0 b 1\n")
    run.write_bytes(b"1 Q0 a 1 2.0 t\n1 Q0 zzz 2 1.0 t\n2 Q0 b 1 1.0 t\n2 Q0 zzz 2 0.5 t\n")
    cfg = {
        "collection": {"kind": "local", "path": str(corpus)},
        "query_sets": {"t": {"kind": "local", "queries": str(queries), "qrels": str(qrels)}},
        "first_stages": {"pub": {"kind": "import", "runs": {"t": str(run)}, "unknown_docnos": "drop"}},
        "evaluation": {"query_sets": ["t"], "first_stages": ["pub"], "baseline": "pub"},
    }
    wf = workflow_factory(cfg)
    wf.snakemake("results/first_stage/pub/t.run")
    stats = json.loads((wf.root / "results/first_stage/pub/t.import.json").read_text())
    assert (stats["unknown_docnos"], stats["unknown_rows"], stats["written"]) == (1, 2, 2)
    assert read_run(wf.root / "results/first_stage/pub/t.run")["docno"].tolist() == ["a", "b"]
    log = (wf.root / "results/logs/first_stage/pub/t.log").read_text()
    assert "dropped 2 rows whose 1 docnos are not in the collection" in log
