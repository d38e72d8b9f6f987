"""Property-based round trips of every reader/writer pair: runs, qrels, queries, corpora (JSONL, TSV, TREC)
and the document store, with arbitrary Unicode ids and texts, odd whitespace, byte-order marks, CRLF line
ends, gzip and a range of sizes; and the LLM response parser (any string -> a permutation, its repairs
counted). Kept fast: modest ``max_examples``, no deadline."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankdistill.datasets.docstore import DocStore, build_docstore, join_title
from rankdistill.datasets.local import iter_corpus
from rankdistill.datasets.queries import read_qrels, read_queries, write_qrels, write_queries
from rankdistill.runs import read_run, sort_run, write_run
from rankdistill.teacher.parse import OK, REPAIRED, UNUSABLE, RepairStats, parse_permutation

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BOM = b"\xef\xbb\xbf"

# ids: printable, no whitespace (no Z* or C* character), any script
_ID = st.text(st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=12)
# texts: anything, with the separators and look-alikes readers must not trip on mixed in
_ODD = st.sampled_from(["\t", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0", "\u2028", "\u2029", "\u3000",
                        "\ufeff", "<num>", "<top>", "{", '"', "\\", "é", "𝟘", "٣", "  "])
_CHARS = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))  # a NUL byte: binary, an error
_TEXT = st.lists(st.one_of(st.text(_CHARS, max_size=20), _ODD), max_size=12).map("".join)
_BIG = st.integers(1, 30_000).map(lambda k: "word " * k)  # up to 150k characters in one record


def _fold(s: str) -> str:
    return " ".join(s.split())


def _variant(data: bytes, bom: bool, crlf: bool, gz: bool) -> tuple[bytes, str]:
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    if bom:
        data = BOM + data
    return (gzip.compress(data, mtime=0), ".gz") if gz else (data, "")


def _file(td: str, name: str, data: bytes, bom: bool, crlf: bool, gz: bool) -> Path:
    data, ext = _variant(data, bom, crlf, gz)
    p = Path(td) / (name + ext)
    p.write_bytes(data)
    return p


_FLAGS = st.tuples(st.booleans(), st.booleans(), st.booleans())


# --- runs -------------------------------------------------------------------------------------

_RUN = st.lists(st.tuples(_ID, _ID, st.floats(allow_nan=False, allow_infinity=False, width=64)), min_size=1,
                max_size=40, unique_by=lambda r: (r[0], r[1]))


@FAST
@given(rows=_RUN, flags=_FLAGS, sep=st.sampled_from([" ", "\t", " \t ", "  "]))
def test_runs_round_trip(rows, flags, sep):
    run = pd.DataFrame(rows, columns=["qid", "docno", "score"])
    with tempfile.TemporaryDirectory() as td:
        written = Path(td) / "w.run"
        write_run(run, written)
        p = _file(td, "r.run", written.read_bytes().replace(b" ", sep.encode()), *flags)
        back = read_run(p)
    want = sort_run(run)
    assert back["qid"].tolist() == want["qid"].tolist() and back["docno"].tolist() == want["docno"].tolist()
    assert back["score"].tolist() == want["score"].tolist() and back["rank"].tolist() == want["rank"].tolist()


# --- qrels and queries ---------------------------------------------------------------------------

@FAST
@given(rows=st.lists(st.tuples(_ID, _ID, st.integers(-3, 10**15)), min_size=1, max_size=40,
                     unique_by=lambda r: (r[0], r[1])), flags=_FLAGS)
def test_qrels_round_trip(rows, flags):
    qrels = pd.DataFrame(rows, columns=["qid", "docno", "label"])
    with tempfile.TemporaryDirectory() as td:
        written = Path(td) / "w.txt"
        write_qrels(qrels, written)
        back = read_qrels(_file(td, "qrels.txt", written.read_bytes(), *flags))
    assert sorted(back.itertuples(index=False, name=None)) == sorted(rows)


@FAST
@given(rows=st.lists(st.tuples(_ID, _TEXT.filter(lambda t: _fold(t))), min_size=1, max_size=30,
                     unique_by=lambda r: r[0]), flags=_FLAGS)
def test_queries_round_trip(rows, flags):
    """Any query text (tabs, Unicode line separators, '<top>' and '<num>' inside a query) reads back folded."""
    queries = pd.DataFrame(rows, columns=["qid", "query"])
    with tempfile.TemporaryDirectory() as td:
        written = Path(td) / "w.tsv"
        write_queries(queries, written)
        back = read_queries(_file(td, "queries.tsv", written.read_bytes(), *flags))
    assert back["qid"].tolist() == [q for q, _ in rows]
    assert back["query"].tolist() == [_fold(t) for _, t in rows]


# --- corpora in every format, and the document store ---------------------------------------------

_DOCS = st.lists(st.tuples(_ID, st.one_of(_TEXT, _BIG), _TEXT), min_size=1, max_size=25, unique_by=lambda d: d[0])
_NO_TAGS = st.characters(blacklist_characters="<>\x00", blacklist_categories=("Cs",))
_TREC_TEXT = st.lists(st.one_of(st.text(_NO_TAGS, max_size=20), _ODD.filter(lambda s: "<" not in s)),
                      max_size=12).map("".join)
_TREC_DOCS = st.lists(st.tuples(_ID.filter(lambda s: "<" not in s and ">" not in s), _TREC_TEXT, _TREC_TEXT),
                      min_size=1, max_size=25, unique_by=lambda d: d[0])


def _jsonl(docs) -> bytes:
    return "".join(json.dumps({"docno": d, "text": t, "title": ti}, ensure_ascii=False) + "\n"
                   for d, t, ti in docs).encode("utf-8", "surrogatepass")


def _tsv(docs) -> bytes:
    return "".join(f"{d}\t{t}\n" for d, t, _ in docs).encode("utf-8", "surrogatepass")


def _trec(docs) -> bytes:
    return "".join(f"<DOC>\n<DOCNO> {d} </DOCNO>\n<TITLE>{ti}</TITLE>\n{t}\n</DOC>\n" for d, t, ti in docs).encode()


def _check(docs, got, titles: bool):
    assert [g["docno"] for g in got] == [d for d, _, _ in docs]
    assert [g["text"] for g in got] == [_fold(t) for _, t, _ in docs]
    if titles:
        assert [g["title"] for g in got] == [_fold(ti) for _, _, ti in docs]


@FAST
@given(docs=_DOCS.filter(lambda ds: all("\n" not in t for _, t, _ in ds)), flags=_FLAGS)
def test_jsonl_corpus_round_trips(docs, flags):
    with tempfile.TemporaryDirectory() as td:
        _check(docs, list(iter_corpus(_file(td, "c.jsonl", _jsonl(docs), *flags))), titles=True)


@FAST
@given(docs=_DOCS.filter(lambda ds: all("\n" not in t for _, t, _ in ds)), flags=_FLAGS)
def test_tsv_corpus_round_trips(docs, flags):
    with tempfile.TemporaryDirectory() as td:
        _check(docs, list(iter_corpus(_file(td, "c.tsv", _tsv(docs), *flags))), titles=False)


@FAST
@given(docs=_TREC_DOCS, flags=_FLAGS)
def test_trec_corpus_round_trips(docs, flags):
    with tempfile.TemporaryDirectory() as td:
        got = list(iter_corpus(_file(td, "c.trec", _trec(docs), *flags)))
    _check(docs, got, titles=True)


@FAST
@given(docs=_DOCS, policy=st.sampled_from(["keep", "drop"]))
def test_the_document_store_round_trips(docs, policy):
    kept = [d for d in docs if _fold(d[1]) or _fold(d[2])] if policy == "drop" else docs
    with tempfile.TemporaryDirectory() as td:
        path = Path(td) / "docs.sqlite"
        if not kept:
            return
        n = build_docstore(({"docno": d, "text": t, "title": ti} for d, t, ti in docs), path, empty_text=policy)
        assert n == len(kept)
        with DocStore(path) as store:
            rows = list(store)
            assert [(r["docno"], r["body"], r["title"]) for r in rows] == [(d, _fold(t), _fold(ti)) for d, t, ti in kept]
            got = store.get_many([d for d, _, _ in kept])
            assert got == {d: join_title(_fold(ti), _fold(t)) for d, t, ti in kept}


# --- the LLM response parser ---------------------------------------------------------------------

_RESPONSE = st.one_of(
    st.text(),
    st.lists(st.one_of(st.integers(-3, 30).map(str), st.sampled_from([" > ", "[", "]", ",", "</think>", "٣", "⑴",
                                                                        "¹", "\n", "rank"])), max_size=40).map("".join),
    st.binary(max_size=100).map(lambda b: b.decode("utf-8", "surrogateescape")),
)


@settings(max_examples=300, deadline=None)
@given(responses=st.lists(st.tuples(_RESPONSE, st.integers(0, 25)), min_size=1, max_size=8))
def test_any_response_is_a_permutation_or_a_counted_repair(responses):
    stats = RepairStats()
    for response, n in responses:
        p = parse_permutation(response, n)
        assert sorted(p.permutation) == list(range(n))
        if n == 0:  # an empty window has nothing to rank, whatever the response says
            assert p.status == OK and p.permutation == ()
        elif p.status == OK:  # nothing repaired: the response named each id once, all in range
            assert p.duplicates == p.out_of_range == p.missing == 0 and p.ids == n
        elif p.status == REPAIRED:
            assert p.duplicates + p.out_of_range + p.missing > 0
        else:
            assert p.status == UNUSABLE and p.permutation == tuple(range(n))
        stats.add(p, response)
    assert stats.windows == len(responses) == stats.ok + stats.repaired + stats.unusable
    assert stats.missing == sum(parse_permutation(r, n).missing for r, n in responses)
    json.dumps(stats.as_dict())  # the summary can always be written


# --- what the properties found (pinned) --------------------------------------------------------------

def test_a_tsv_query_mentioning_num_or_top_is_still_a_tsv_query(tmp_path):
    p = tmp_path / "q.tsv"
    p.write_text("1\tthe <num> tag\n2\twhat is <top>\n", encoding="utf-8")
    assert read_queries(p)["query"].tolist() == ["the <num> tag", "what is <top>"]
    p.write_text("\n<top>\n<num> 7\n<title> a topic\n</top>\n", encoding="utf-8")
    assert read_queries(p).values.tolist() == [["7", "a topic"]]


def test_ids_that_are_digits_but_not_ascii_numbers_sort_as_strings(tmp_path):
    """'²'.isdigit() is true but int('²') fails; a 5000-digit id exceeds int()'s limit: both once raised."""
    qrels = pd.DataFrame({"qid": ["²", "9" * 5000, "10", "9"], "docno": ["d"] * 4, "label": [1] * 4})
    write_qrels(qrels, tmp_path / "qrels.txt")
    assert [q[:4] for q in read_qrels(tmp_path / "qrels.txt")["qid"]] == ["9", "10", "9999", "²"]
    write_run(qrels.assign(score=1.0), tmp_path / "r.run")
    assert [q[:4] for q in read_run(tmp_path / "r.run")["qid"]] == ["9", "10", "9999", "²"]
