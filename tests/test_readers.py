"""The one reader layer (rankdistill.textfiles) and every reader built on it.

Unit tests of the layer's rules (BOM, UTF-8, gzip by magic bytes, ids, empty texts, duplicate
documents across files), then property-based tests: arbitrary Unicode, huge numbers and binary
junk fed to every reader give a clean result or a RankDistillError naming the file, never any
other exception.
"""

from __future__ import annotations

import gzip
import json
import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankdistill.datasets.build import build_collection
from rankdistill.datasets.docstore import DocStore, build_docstore
from rankdistill.datasets.local import iter_corpus
from rankdistill.datasets.queries import read_qrels, read_queries
from rankdistill import config as rdconfig
from rankdistill.errors import ConfigError, InputError, RankDistillError
from rankdistill.retrieval.imported import import_run
from rankdistill.runs import read_run, run_queries
from rankdistill.textfiles import check_id, iter_lines

BOM = b"\xef\xbb\xbf"


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return p


# --- the layer ---------------------------------------------------------------------------------

def test_bom_is_stripped_from_the_first_line_only(tmp_path):
    p = _write(tmp_path, "q.tsv", BOM + b"1\tfirst\n2\tsecond \xef\xbb\xbf\n")
    assert list(iter_lines(p)) == [(1, "1\tfirst"), (2, "2\tsecond \ufeff")]
    assert read_queries(p)["qid"].tolist() == ["1", "2"]  # not "\ufeff1"


@pytest.mark.parametrize("reader, data", [
    (read_run, b"1 Q0 d1 1 2.0 t\n1 Q0 d2 2 1.0 t\n"),
    (read_qrels, b"1 0 d1 1\n"),
])
def test_bom_does_not_become_part_of_the_first_id(tmp_path, reader, data):
    df = reader(_write(tmp_path, "f.txt", BOM + data))
    assert df["qid"].iloc[0] == "1" and len(df) == data.count(b"\n")


def test_crlf_and_only_newline_ends_a_line(tmp_path):
    # \x1c, \x85 and \u2028 are line breaks to str.splitlines but not to sed/awk: one line here
    p = _write(tmp_path, "c.tsv", "d1\ta\u2028b\x85c\r\nd2\tz\n".encode())
    assert [n for n, _ in iter_lines(p)] == [1, 2]
    docs = list(iter_corpus(p))
    assert [d["docno"] for d in docs] == ["d1", "d2"] and docs[1]["line"] == 2


def test_non_utf8_names_file_line_and_byte_offset(tmp_path):
    p = _write(tmp_path, "q.tsv", b"1\tok\n2\tcaf\xe9\n")
    with pytest.raises(InputError) as e:
        read_queries(p)
    assert e.value.line == 2 and str(p) in str(e.value) and "byte offset 10" in str(e.value)


def test_non_utf8_inside_gzip_counts_offsets_in_the_decompressed_text(tmp_path):
    p = _write(tmp_path, "r.run.gz", b"1 Q0 d1 1 1.0 t\n1 Q0 d\xff 2 0.5 t\n")
    with pytest.raises(InputError) as e:
        read_run(p)
    assert e.value.line == 2 and "byte offset 22" in str(e.value)


def test_gzip_is_read_by_content(tmp_path):
    p = _write(tmp_path, "q.tsv.gz", b"1\thello world\n")
    assert read_queries(p)["query"].tolist() == ["hello world"]


def test_a_gz_that_is_not_gzip_is_an_error(tmp_path):
    p = tmp_path / "run.gz"
    p.write_bytes(b"1 Q0 d1 1 1.0 t\n")
    with pytest.raises(InputError, match="named .gz but is not gzip"):
        read_run(p)


def test_gzip_data_without_gz_is_an_error(tmp_path):
    p = tmp_path / "qrels.txt"
    p.write_bytes(gzip.compress(b"1 0 d1 1\n"))
    with pytest.raises(InputError, match="gzip-compressed but its name does not end in .gz"):
        read_qrels(p)


def test_truncated_gzip_names_the_line(tmp_path):
    data = gzip.compress(b"".join(b"1 Q0 d%d %d 1.0 t\n" % (i, i + 1) for i in range(5000)))
    p = tmp_path / "r.run.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt or truncated gzip") as e:
        read_run(p)
    assert e.value.line and e.value.line > 1


def test_nul_byte_is_binary_not_text(tmp_path):
    with pytest.raises(InputError, match="NUL byte at byte offset 3"):
        read_queries(_write(tmp_path, "q.tsv", b"1\ta\x00b\n"))


@pytest.mark.parametrize("value", ["d 97", "d\t1", "d\u00a01", "d\u20031", "a\x07", ""])
def test_check_id_rejects_whitespace_control_and_empty(value):
    with pytest.raises(InputError):
        check_id(value, "f", 3, "docno")


def test_check_id_accepts_unicode_words():
    assert check_id("doc-ü_1.2#x", "f", 1) == "doc-ü_1.2#x"


# --- corpora -------------------------------------------------------------------------------------

def test_json_null_text_is_an_error_not_the_string_none(tmp_path):
    p = _write(tmp_path, "c.jsonl", b'{"docno": "a", "text": "x"}\n{"docno": "b", "text": null}\n')
    with pytest.raises(InputError, match="must be a string, got null") as e:
        list(iter_corpus(p))
    assert e.value.line == 2


def test_tsv_docno_with_inner_whitespace_is_an_error(tmp_path):
    p = _write(tmp_path, "c.tsv", b"d 97\tsome text\n")
    with pytest.raises(InputError, match="contains whitespace") as e:
        list(iter_corpus(p))
    assert e.value.line == 1


def test_empty_texts_are_a_counted_warning(tmp_path, caplog):
    p = _write(tmp_path, "c.tsv", b"d1\ttext\nd2\t \nd3\t\t\nd4\tmore\n")
    with caplog.at_level(logging.WARNING):
        docs = list(iter_corpus(p))
    assert [d["text"] for d in docs] == ["text", "", "", "more"]
    assert "2 document(s) have empty text (first on line 2)" in caplog.text


_EMPTY = {
    "jsonl": b'{"docno": "d1", "text": "text"}\n{"docno": "d2", "text": "  "}\n{"docno": "d3", "text": "more"}\n',
    "tsv": b"d1\ttext\nd2\t \t\nd3\tmore\n",
    "trec": b"<DOC>\n<DOCNO>d1</DOCNO>\ntext\n</DOC>\n<DOC>\n<DOCNO>d2</DOCNO>\n\n</DOC>\n<DOC>\n<DOCNO>d3</DOCNO>\n"
            b"more\n</DOC>\n",
}
_EMPTY_LINE = {"jsonl": 2, "tsv": 2, "trec": 5}


def _build(tmp_path, fmt: str, policy: str | None):
    p = _write(tmp_path, f"c.{fmt}", _EMPTY[fmt])
    spec = {"kind": "local", "path": str(p), "format": None, "text_fields": ["text"]}
    if policy is not None:
        spec["empty_text"] = policy
    out = tmp_path / "docs.sqlite"
    return p, out, build_collection(spec, out)


@pytest.mark.parametrize("fmt", list(_EMPTY))
def test_empty_passages_are_kept_with_a_counted_warning_by_default(tmp_path, fmt, caplog):
    with caplog.at_level(logging.WARNING):
        p, out, n = _build(tmp_path, fmt, None)
    assert n == 3
    assert f"1 document(s) have empty text (first 'd2' at {p}:{_EMPTY_LINE[fmt]}); kept as empty strings" in caplog.text
    with DocStore(out) as store:
        assert store.text("d2") == "" and store._con.execute("SELECT value FROM meta WHERE key='empty'").fetchone() == ("1",)


@pytest.mark.parametrize("fmt", list(_EMPTY))
def test_empty_passages_can_be_dropped(tmp_path, fmt, caplog):
    with caplog.at_level(logging.WARNING):
        p, out, n = _build(tmp_path, fmt, "drop")
    assert n == 2 and "dropped (empty_text: drop)" in caplog.text
    with DocStore(out) as store:
        assert len(store) == 2 and [d["docno"] for d in store] == ["d1", "d3"] and "d2" not in store


@pytest.mark.parametrize("fmt", list(_EMPTY))
def test_empty_passages_can_be_an_error_naming_the_line(tmp_path, fmt):
    with pytest.raises(InputError, match="document 'd2' has empty text") as e:
        _build(tmp_path, fmt, "error")
    assert e.value.path == str(tmp_path / f"c.{fmt}") and e.value.line == _EMPTY_LINE[fmt]
    assert not (tmp_path / "docs.sqlite").exists()


def test_empty_text_policy_is_in_the_schema_with_keep_as_default():
    from conftest import tiny_config

    cfg = tiny_config(collections={"ood": {"kind": "local", "path": "c.tsv"}, "web": {"kind": "irds", "id": "x"}})
    got = rdconfig.validate(cfg)["collections"]
    assert got["ood"]["empty_text"] == got["web"]["empty_text"] == "keep"
    with pytest.raises(ConfigError, match="empty_text"):
        rdconfig.validate(tiny_config(collections={"ood": {"kind": "local", "path": "c.tsv", "empty_text": "skip"}}))


def _store(tmp_path, *files) -> DocStore:
    out = tmp_path / "docs.sqlite"
    build_collection({"kind": "local", "path": [str(f) for f in files], "format": None, "text_fields": ["text"]}, out)
    return DocStore(out)


def test_identical_documents_in_two_files_are_one_document(tmp_path):
    a = _write(tmp_path, "a.tsv", b"p1\tshared passage\np2\tonly in a\n")
    b = _write(tmp_path, "b.tsv", b"p3\tonly in b\np1\tshared  passage\n")  # same text after whitespace folding
    with _store(tmp_path, a, b) as store:
        assert len(store) == 3
        assert [d["docno"] for d in store] == ["p1", "p2", "p3"]  # first occurrence kept, order renumbered
        assert store.text("p1") == "shared passage"


def test_same_docno_different_text_names_both_files_and_lines(tmp_path):
    a = _write(tmp_path, "a.tsv", b"p0\tx\np1\tone text\n")
    b = _write(tmp_path, "b.tsv", b"p1\tanother text\n")
    with pytest.raises(InputError) as e:
        _store(tmp_path, a, b)
    msg = str(e.value)
    assert msg.startswith(f"{b}:1:") and f"{a}:2" in msg and "different text" in msg


def test_duplicate_docno_within_one_file_is_an_error_even_if_identical(tmp_path):
    a = _write(tmp_path, "a.tsv", b"p1\tsame\np2\tx\np1\tsame\n")
    with pytest.raises(InputError, match="duplicate docno 'p1' \\(first on line 1\\)") as e:
        _store(tmp_path, a)
    assert e.value.line == 3


def test_dl19_and_dl20_passages_combine(trec_dl):
    files = [trec_dl / "dl19" / "passages.jsonl", trec_dl / "dl20" / "passages.jsonl"]
    files = [f for f in files if f.exists()]
    if len(files) < 2:
        pytest.skip("passages.jsonl of dl19/dl20 not in the shared data")
    seen: dict[str, str] = {}
    shared = 0
    for f in files:
        for d in iter_corpus(f):
            if d["docno"] in seen:
                assert seen[d["docno"]] == d["text"]
                shared += 1
            seen[d["docno"]] = d["text"]
    with tempfile.TemporaryDirectory() as td, _store(Path(td), *files) as store:
        assert shared == 35 and len(store) == len(seen) == 9658  # the 35 passages both files hold, once


# --- imported runs against the collection ---------------------------------------------------------

@pytest.fixture
def small_store(tmp_path) -> Path:
    out = tmp_path / "docs.sqlite"
    build_docstore(({"docno": f"d{i}", "text": f"text {i}"} for i in range(10)), out)
    return out


def test_imported_run_with_unknown_docnos_is_an_error_naming_the_line(tmp_path, small_store):
    run = _write(tmp_path, "r.run", b"1 Q0 d1 1 3.0 t\n1 Q0 made-up 2 2.0 t\n1 Q0 d2 3 1.0 t\n")
    with pytest.raises(InputError, match="'made-up' is not in the collection") as e:
        import_run(str(run), tmp_path / "out.run", docstore=small_store)
    assert e.value.line == 2 and e.value.path == str(run)
    assert not (tmp_path / "out.run").exists()


def test_imported_run_with_known_docnos_imports(tmp_path, small_store):
    run = _write(tmp_path, "r.run", b"1 Q0 d1 1 3.0 t\n1 Q0 d2 2 2.0 t\n")
    stats = import_run(str(run), tmp_path / "out.run", docstore=small_store)
    assert stats["written"] == 2 and read_run(tmp_path / "out.run")["docno"].tolist() == ["d1", "d2"]


_UNKNOWN_RUN = (b"1 Q0 d1 1 3.0 t\n1 Q0 made-up 2 2.5 t\n1 Q0 d2 3 2.0 t\n2 Q0 other 1 4.0 t\n"
                b"2 Q0 made-up 2 3.0 t\n2 Q0 d3 3 1.0 t\n")


def test_unknown_docnos_are_counted_over_the_whole_run(tmp_path, small_store):
    """The error names the first line with an unknown docno and counts all of them (docnos and rows)."""
    run = _write(tmp_path, "r.run", _UNKNOWN_RUN)
    with pytest.raises(InputError) as e:
        import_run(str(run), tmp_path / "out.run", docstore=small_store, unknown_docnos="error")
    assert e.value.line == 2 and e.value.path == str(run)
    assert "docno 'made-up' is not in the collection" in str(e.value)
    assert "2 unknown docnos in 3 rows" in str(e.value), str(e.value)
    assert not (tmp_path / "out.run").exists()


def test_unknown_docnos_drop_leaves_them_out_before_ranks_and_depth(tmp_path, small_store, caplog):
    run = _write(tmp_path, "r.run", _UNKNOWN_RUN)
    summary = tmp_path / "out.json"
    with caplog.at_level(logging.WARNING):
        stats = import_run(str(run), tmp_path / "out.run", docstore=small_store, unknown_docnos="drop", depth=2,
                           summary=summary)
    assert (stats["unknown_docnos"], stats["unknown_rows"]) == (2, 3)
    assert "dropped 3 rows whose 2 docnos are not in the collection" in caplog.text
    got = read_run(tmp_path / "out.run")
    assert got[["qid", "docno", "rank"]].values.tolist() == [["1", "d1", 1], ["1", "d2", 2], ["2", "d3", 1]]
    saved = json.loads(summary.read_text())
    assert saved["unknown_docnos"] == 2 and saved["unknown_rows"] == 3 and saved["unknown_docnos_policy"] == "drop"


def test_unknown_docnos_policy_defaults_to_error_in_the_schema():
    from rankdistill import config as rdconfig
    from rankdistill.config.plan import Plan
    from types import SimpleNamespace

    from conftest import tiny_config

    cfg = tiny_config()
    cfg["first_stages"]["pub"] = {"kind": "import", "runs": {"test-a": "a.run"}}
    cfg["teachers"] = {"pubt": {"kind": "import", "runs": {"bm25": {"train": "t.run"}}, "unknown_docnos": "drop"}}
    plan = Plan(rdconfig.validate(cfg))
    assert plan.imported_run(SimpleNamespace(first_stage="pub", query_set="test-a"))["unknown_docnos"] == "error"
    wc = SimpleNamespace(teacher="pubt", first_stage="bm25", query_set="train")
    assert plan.imported_teacher_run(wc)["unknown_docnos"] == "drop"
    cfg["first_stages"]["pub"]["unknown_docnos"] = "ignore"
    with pytest.raises(ConfigError, match="unknown_docnos"):
        rdconfig.validate(cfg)


def test_imported_duplicate_names_both_lines(tmp_path):
    run = _write(tmp_path, "r.run", b"1 Q0 d1 1 3.0 t\n1 Q0 d2 2 2.0 t\n1 Q0 d1 3 1.0 t\n")
    with pytest.raises(InputError, match="first seen on line 1") as e:
        import_run(str(run), tmp_path / "out.run")
    assert e.value.line == 3


# --- property-based: any bytes give a clean result or an InputError naming the file --------------

_TOKENS = st.sampled_from([
    "1", "Q0", "d1", "0", "-1", "1e400", "nan", "inf", "1_0", "١٢", "²", "9" * 5000, "0x10", "\ufeff", "\u00a0",
    "\u2028", "\x85", "\x1c", "\t", " ", "<DOC>", "</DOC>", "<DOCNO>", "</DOCNO>", "<top>", "<num>", "<title>",
    "</top>", '{"docno": "a", "text": null}', '{"docno": 1e999}', '{"docno": ' + "9" * 5000 + "}", "[" * 2000,
    '{"docno": "x", "text": "y"}', "\r", "é", "\ud7ff", "𝟘", "",
    "collection:", "  kind: local", "  path:", "- a", "evaluation: {depth: 1e999}", "&a [*a]", "!!python/object:x",
    "? [a]", ": b", "query_sets: {x: {kind: local, queries: q, qrels: r}}",
])
_LINES = st.lists(st.lists(_TOKENS, max_size=8).map(" ".join), max_size=12).map(lambda ls: "\n".join(ls).encode())
_JUNK = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
    _LINES,
    _LINES.map(lambda b: BOM + b),
    _LINES.map(lambda b: gzip.compress(b, mtime=0)),
)
_NAMES = st.sampled_from(["f.txt", "f.tsv", "f.run", "f.jsonl", "f.trec", "f.txt.gz", "f.jsonl.gz", "f.tsv.gz"])


def _readers(store: Path):
    return {
        "read_run": read_run,
        "run_queries": run_queries,
        "read_qrels": read_qrels,
        "read_queries": read_queries,
        "corpus": lambda p: list(iter_corpus(p)),
        "corpus_jsonl": lambda p: list(iter_corpus(p, "jsonl")),
        "corpus_trec": lambda p: list(iter_corpus(p, "trec")),
        "corpus_tsv": lambda p: list(iter_corpus(p, "tsv")),
        "collection": lambda p: build_collection({"kind": "local", "path": str(p), "format": None,
                                                  "text_fields": ["text"]}, p.parent / "docs.sqlite"),
        "import_run": lambda p: import_run(str(p), p.parent / "imported.run", docstore=store),
        "config": rdconfig.load,
    }


_READER_NAMES = list(_readers(Path("x")))


@pytest.fixture(scope="module")
def property_store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("store") / "docs.sqlite"
    build_docstore(({"docno": d, "text": "t"} for d in ("d1", "a", "x", "1", "Q0")), out)
    return out


@pytest.mark.parametrize("reader", _READER_NAMES)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_JUNK, name=_NAMES)
def test_every_reader_gives_a_result_or_an_input_error_naming_the_file(reader, data, name, property_store):
    with tempfile.TemporaryDirectory() as td:
        p = Path(td) / name
        p.write_bytes(data)
        try:
            _readers(property_store)[reader](p)
        except RankDistillError as e:
            assert str(p) in str(e), f"{reader}: error does not name the file: {e}"
            want = ConfigError if reader == "config" else InputError
            assert isinstance(e, want), f"{reader}: {type(e).__name__}: {e}"


_WORD = st.text(min_size=1, max_size=12).filter(lambda s: not any(c.isspace() for c in s))


@settings(max_examples=200, deadline=None)
@given(qid=_WORD, docno=_WORD,
       score=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**30, 10**30)))
def test_a_run_line_round_trips_or_is_rejected(qid, docno, score):
    """Any ids without whitespace: valid ones read back exactly, others (control characters) are errors."""
    line = f"{qid} Q0 {docno} 1 {score!r} t\n".encode("utf-8", "surrogatepass")
    qid = qid.removeprefix("\ufeff")  # a byte-order mark at the start of the file is not part of the id
    valid = all(s and s.isprintable() for s in (qid, docno))
    with tempfile.TemporaryDirectory() as td:
        p = Path(td) / "r.run"
        p.write_bytes(line)
        if not valid:
            with pytest.raises(InputError, match=str(p)):
                read_run(p)
            return
        df = read_run(p)
        assert (df["qid"].iloc[0], df["docno"].iloc[0], df["score"].iloc[0]) == (qid, docno, float(score))


# --- exact line numbers: the line where the offending record starts, in every format ---------------

_TREC_DOCS = (b"<DOC>\r\n<DOCNO>a</DOCNO>\r\n<TITLE>t</TITLE>\r\nx\r\n</DOC>\r\n\r\n"
              b"<DOC>\r\n<DOCNO>b</DOCNO>\r\ny\r\nmore\r\n</DOC>\r\n")  # 11 lines: the next record starts on 12
_TOPICS = b"<top>\r\n<num> 1\r\n<title> a\r\n</top>\r\n\r\n"  # 5 lines

# (format, reader, file contents after a BOM, the line the bad record starts on, text in the message)
_LINE_CASES = [
    ("run", read_run, b"\r\n1 Q0 d1 1 2.0 t\r\n\r\n1 Q0 d2 x 1.0 t\r\n", 4, "not an integer"),
    ("run-duplicate", read_run, b"\r\n1 Q0 d1 1 2.0 t\r\n\r\n1 Q0 d2 2 1.0 t\r\n1 Q0 d1 3 0.5 t\r\n", 5,
     "first seen on line 2"),
    ("qrels", read_qrels, b"\r\n1 0 d1 1\r\n\r\n1 0 d2 high\r\n", 4, "relevance grade"),
    ("queries", read_queries, b"\r\n1\tone\r\n\r\n1\tagain\r\n", 4, "first on line 2"),
    ("topics", read_queries, _TOPICS + _TOPICS, 6, "duplicate topic number '1' (first on line 1)"),
    ("jsonl", lambda p: list(iter_corpus(p, "jsonl")),
     b'\r\n{"docno": "a", "text": "x"}\r\n\r\n{"docno": "b", "text": 3}\r\n', 4, "must be a string"),
    ("tsv", lambda p: list(iter_corpus(p, "tsv")), b"\r\na\tx\r\n\r\nb no tab\r\n", 4, "expected 'docno<TAB>text'"),
    ("trec-no-docno", lambda p: list(iter_corpus(p, "trec")), _TREC_DOCS + b"<DOC>\r\n<TEXT>z</TEXT>\r\n</DOC>\r\n",
     12, "without <DOCNO>"),
    ("trec-bad-docno", lambda p: list(iter_corpus(p, "trec")),
     _TREC_DOCS + b"<DOC>\r\n\r\n<DOCNO>c\x07</DOCNO>\r\nz\r\n</DOC>\r\n", 12, "control character"),
    ("trec-unclosed", lambda p: list(iter_corpus(p, "trec")), _TREC_DOCS + b"<DOC>\r\n<DOCNO>c</DOCNO>\r\nz\r\n",
     12, "has no </DOC>"),
    ("trec-duplicate", None, _TREC_DOCS + b"<DOC>\r\n<DOCNO>b</DOCNO>\r\nz\r\n</DOC>\r\n", 12,
     "duplicate docno 'b' (first on line 7)"),
    ("tsv-duplicate", None, b"\r\na\tx\r\n\r\nb\ty\r\na\tz\r\n", 5, "duplicate docno 'a' (first on line 2)"),
    ("jsonl-duplicate", None, b'\r\n{"docno": "a", "text": "x"}\r\n\r\n{"docno": "a", "text": "x"}\r\n', 4,
     "duplicate docno 'a' (first on line 2)"),
    ("jsonl-empty-text", "error", b'\r\n{"docno": "a", "text": "x"}\r\n\r\n{"docno": "b", "text": " "}\r\n', 4,
     "has empty text"),
    ("trec-empty-text", "error", _TREC_DOCS + b"<DOC>\r\n<DOCNO>c</DOCNO>\r\n\r\n</DOC>\r\n", 12, "has empty text"),
    ("import", "import", b"\r\n1 Q0 d1 1 2.0 t\r\n\r\n1 Q0 zz 2 1.0 t\r\n1 Q0 yy 3 0.5 t\r\n", 4,
     "2 unknown docnos in 2 rows"),
]
_EXT = {"run": "run", "qrels": "txt", "queries": "tsv", "topics": "trec", "jsonl": "jsonl", "tsv": "tsv",
        "trec": "trec", "import": "run"}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case, reader, data, line, match", _LINE_CASES, ids=[c[0] for c in _LINE_CASES])
def test_errors_name_the_line_the_record_starts_on(tmp_path, case, reader, data, line, match, gz, small_store):
    """With a BOM, CRLF line ends, blank lines and multi-line records before it (and through gzip)."""
    fmt = case.split("-")[0]
    p = _write(tmp_path, f"f.{_EXT[fmt]}" + (".gz" if gz else ""), BOM + data)
    spec = {"kind": "local", "path": str(p), "format": fmt, "text_fields": ["text"]}
    if reader is None:
        reader = lambda p: build_collection(spec, tmp_path / "docs.sqlite")  # noqa: E731
    elif reader == "error":
        reader = lambda p: build_collection({**spec, "empty_text": "error"}, tmp_path / "docs.sqlite")  # noqa: E731
    elif reader == "import":
        reader = lambda p: import_run(str(p), tmp_path / "out.run", docstore=small_store)  # noqa: E731
    with pytest.raises(InputError) as e:
        reader(p)
    assert (e.value.path, e.value.line) == (str(p), line), str(e.value)
    assert match in str(e.value), str(e.value)


def test_an_empty_passage_is_scored_with_a_counted_warning_not_as_real_text(tmp_path, caplog):
    """empty_text: keep stores the passage as ''; a re-ranker scores the pair (query, '') and says how many."""
    from rankdistill.students.model import CrossEncoder
    from rankdistill.students.rerank import rerank_frame

    import pandas as pd

    p = _write(tmp_path, "c.tsv", b"d1\tthe cat sat\nd2\t \nd3\ta dog ran\n")
    out = tmp_path / "docs.sqlite"
    build_collection({"kind": "local", "path": str(p), "format": None, "text_fields": ["text"]}, out)
    run = pd.DataFrame({"qid": ["1"] * 3, "docno": ["d1", "d2", "d3"], "score": [3.0, 2.0, 1.0]})
    with DocStore(out) as store, caplog.at_level(logging.WARNING):
        model = CrossEncoder.load(str(Path(__file__).parent / "data" / "lightning_ir" / "bert"))  # a tiny fixture
        scored = rerank_frame(model, run, {"1": "cat"}, store, None, source="r.run")
    assert len(scored) == 3 and scored["score"].notna().all()
    assert "r.run: 1 of 3 candidates have an empty passage" in caplog.text
