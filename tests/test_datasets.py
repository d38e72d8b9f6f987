import json

import numpy as np
import pandas as pd
import pytest

from rankdistill.datasets import DocStore, build_docstore, read_qrels, read_queries
from rankdistill.datasets.build import build_collection, build_query_set
from rankdistill.datasets.local import iter_corpus
from rankdistill.datasets.synthetic import SPLITS, SyntheticCollection, SyntheticSpec
from rankdistill.errors import InputError


def test_local_formats_into_docstore(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"docno": "d1", "text": "first  doc"}) + "\n" + json.dumps({"docno": "d2", "text": "second"}) + "\n")
    (tmp_path / "b.tsv").write_text("d3\tthird doc\n")
    (tmp_path / "c.trec").write_text("<DOC>\n<DOCNO> d4 </DOCNO>\nfourth <b>doc</b>\n</DOC>\n<DOC><DOCNO>d5</DOCNO> fifth</DOC>\n")
    spec = {"kind": "local", "path": [str(tmp_path / n) for n in ("a.jsonl", "b.tsv", "c.trec")]}
    n = build_collection(spec, tmp_path / "docs.sqlite")
    assert n == 5
    with DocStore(tmp_path / "docs.sqlite") as store:
        assert len(store) == 5
        assert store.get_many(["d4", "d1"]) == {"d4": "fourth doc", "d1": "first doc"}
        assert [d["docno"] for d in store] == ["d1", "d2", "d3", "d4", "d5"]
        with pytest.raises(KeyError, match="1 docnos not in the collection"):
            store.get_many(["d1", "zz"])
        assert store.get_many(["d1", "zz"], missing="skip") == {"d1": "first doc"}


@pytest.mark.parametrize(
    "name, text, msg, line",
    [
        ("x.jsonl", '{"docno": "a", "text": "t"}\n{"docno": "b", "text": \n', "invalid JSON", 2),
        ("x.jsonl", '{"text": "no id"}\n', "has no 'docno'", 1),
        ("x.tsv", "d1 only one column\n", "expected 'docno<TAB>text'", 1),
        ("x.trec", "<DOC>\nno docno here\n</DOC>\n", "without <DOCNO>", 1),
        ("x.trec", "<DOC>\n<DOCNO>a</DOCNO>\n", "ends inside a <DOC>", 1),
    ],
)
def test_malformed_corpus_lines(tmp_path, name, text, msg, line):
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError) as e:
        list(iter_corpus(tmp_path / name))
    assert msg in str(e.value) and e.value.line == line and name in str(e.value)


def test_duplicate_and_empty_collections(tmp_path):
    with pytest.raises(InputError, match="duplicate docno 'a'"):
        build_docstore([{"docno": "a", "text": "x"}, {"docno": "a", "text": "y"}], tmp_path / "s.sqlite", "mine")
    with pytest.raises(InputError, match="no documents"):
        build_docstore([], tmp_path / "s.sqlite", "mine")
    assert not (tmp_path / "s.sqlite").exists()


def test_queries_and_qrels_readers(tmp_path):
    (tmp_path / "q.tsv").write_text("1\twhat is  bm25\n2\thow\tto rank\n")
    q = read_queries(tmp_path / "q.tsv")
    assert q.values.tolist() == [["1", "what is bm25"], ["2", "how to rank"]]
    (tmp_path / "t.trec").write_text("<top>\n<num> Number: 301\n<title> foreign minorities\n<desc> x\n</top>\n")
    assert read_queries(tmp_path / "t.trec").values.tolist() == [["301", "foreign minorities"]]
    (tmp_path / "bad.tsv").write_text("1\tok\n1\tagain\n")
    with pytest.raises(InputError, match="duplicate query id '1'"):
        read_queries(tmp_path / "bad.tsv")
    (tmp_path / "qrels").write_text("1 0 d1 2\n1 0 d2 x\n")
    with pytest.raises(InputError) as e:
        read_qrels(tmp_path / "qrels")
    assert e.value.line == 2 and "not an integer" in str(e.value)


def test_irds_loading_code_on_a_locally_registered_dataset(tmp_path):
    """The ir_datasets path (real loading code), on a dataset registered from local files (no network)."""
    import ir_datasets

    from rankdistill.datasets import irds

    (tmp_path / "docs.tsv").write_text("d1\tthe cat\nd2\tthe dog\n")
    (tmp_path / "queries.tsv").write_text("q1\tcat\n")
    (tmp_path / "qrels").write_text("q1 0 d1 1\n")
    ds = ir_datasets.create_dataset(docs_tsv=str(tmp_path / "docs.tsv"), queries_tsv=str(tmp_path / "queries.tsv"),
                                    qrels_trec=str(tmp_path / "qrels"))
    name = f"rankdistill-test/{tmp_path.name}"
    ir_datasets.registry.register(name, ds)
    build_collection({"kind": "irds", "id": name, "text_fields": ["text"]}, tmp_path / "s.sqlite")
    assert DocStore(tmp_path / "s.sqlite").text("d2") == "the dog"
    build_query_set({"kind": "irds", "id": name}, None, tmp_path / "q.tsv", tmp_path / "r.txt")
    assert (tmp_path / "r.txt").read_text() == "q1 0 d1 1\n"


def test_vaswani_real_collection(vaswani, tmp_path):
    n = build_collection({"kind": "local", "path": str(vaswani / "corpus" / "doc-text.trec")}, tmp_path / "v.sqlite")
    assert n == 11429
    q = read_queries(vaswani / "query-text.trec")
    assert len(q) == 93
    assert len(read_qrels(vaswani / "qrels")) == 2083


# --- synthetic ---------------------------------------------------------------------------

def test_synthetic_is_deterministic_and_chunk_independent():
    a = SyntheticCollection(SyntheticSpec(seed=3, passages=3000))
    b = SyntheticCollection(SyntheticSpec(seed=3, passages=3000))
    pa = list(a.iter_passages())
    assert pa == list(b.iter_passages())
    assert list(a.iter_passages(2040, 2060)) == pa[2040:2060]  # a window across a chunk boundary
    c = SyntheticCollection(SyntheticSpec(seed=4, passages=3000))
    assert [p["text"] for p in c.iter_passages(0, 5)] != [p["text"] for p in pa[:5]]
    qa, ra = a.queries("test-a", 20)
    qb, rb = b.queries("test-a", 20)
    assert qa.equals(qb) and ra.equals(rb)


def test_synthetic_splits_are_disjoint_and_graded():
    w = SyntheticCollection(SyntheticSpec(seed=1, passages=4000))
    qs = {s: w.queries(s, 40) for s in SPLITS}
    texts = {s: set(q["query"]) for s, (q, _) in qs.items()}
    assert not (texts["train"] & texts["test-a"]) and not (texts["test-a"] & texts["test-b"])
    ids = [set(q["qid"]) for q, _ in qs.values()]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2])
    _, train_qrels = qs["train"]
    assert train_qrels.groupby("qid").size().eq(1).all() and set(train_qrels["label"]) == {1}
    _, test_qrels = qs["test-a"]
    assert set(test_qrels["label"]) == {0, 1, 2, 3}
    assert test_qrels.groupby("qid")["label"].max().eq(3).all()  # every test query has a grade-3 passage
    with pytest.raises(ValueError, match="only .* distinct queries"):
        w.queries("test-b", 10_000)


def test_synthetic_has_vocabulary_mismatch():
    """Relevant passages often use a synonym of a query word: the point of the benchmark."""
    w = SyntheticCollection(SyntheticSpec(seed=2, passages=3000))
    q, r = w.queries("test-a", 40)
    texts = {p["docno"]: set(p["text"].lower().replace(".", "").split()) for p in w.iter_passages()}
    rel = r[r.label >= 2]
    overlap = []
    for qid, query in zip(q.qid, q["query"]):
        words = set(query.lower().split())
        for d in rel[rel.qid == qid].docno:
            overlap.append(len(words & texts[d]) / len(words))
    assert 0.2 < np.mean(overlap) < 0.8


def test_synthetic_streams_large_collections_with_bounded_memory():
    import tracemalloc

    w = SyntheticCollection(SyntheticSpec(seed=5, passages=1_000_000))
    tracemalloc.start()
    n = sum(1 for _ in w.iter_passages(0, 4096))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n == 4096 and peak < 50e6  # the first chunks only: memory does not grow with the collection
