import shutil

import pytest

from rankdistill.datasets import read_queries
from rankdistill.datasets.build import build_collection, build_query_set
from rankdistill.errors import UnavailableError
from rankdistill.evaluate import evaluate_run
from rankdistill.retrieval.bm25 import build_index, clean_query, retrieve
from rankdistill.runs import read_run


@pytest.fixture(scope="module")
def vaswani_index(vaswani, tmp_path_factory):
    d = tmp_path_factory.mktemp("vaswani")
    build_collection({"kind": "local", "path": str(vaswani / "corpus" / "doc-text.trec")}, d / "docs.sqlite")
    build_index(d / "docs.sqlite", d / "index", backend="pisa", stemmer="porter2", threads=2)
    build_query_set({"kind": "local", "queries": str(vaswani / "query-text.trec"), "qrels": str(vaswani / "qrels")},
                    None, d / "q.tsv", d / "qrels.txt")
    return d


def test_pisa_bm25_on_vaswani(vaswani_index, tmp_path):
    d = vaswani_index
    stats = retrieve(d / "index", d / "q.tsv", tmp_path / "bm25.run", k1=1.2, b=0.75, depth=1000, threads=2)
    run = read_run(tmp_path / "bm25.run")
    assert run.groupby("qid").size().max() <= 1000
    assert run["qid"].nunique() == 93 == stats["queries"] and stats["results"] == len(run)
    ev = evaluate_run(tmp_path / "bm25.run", d / "qrels.txt", tmp_path / "e.tsv", ["nDCG@10", "AP"])
    ndcg = ev[ev.measure == "nDCG@10"]["value"].mean()
    ap = ev[ev.measure == "AP"]["value"].mean()
    # Lucene BM25 (Anserini) scores nDCG@10 0.4368 / MAP 0.2856 on Vaswani; PISA's BM25 is close
    assert 0.40 < ndcg < 0.47 and 0.26 < ap < 0.31
    # k1/b change the ranking, depth cuts it
    retrieve(d / "index", d / "q.tsv", tmp_path / "b.run", k1=0.5, b=0.2, depth=10, threads=2)
    other = read_run(tmp_path / "b.run")
    assert other.groupby("qid").size().max() == 10
    assert not other.merge(run, on=["qid", "docno"])[["score_x"]].equals(run[["score"]])
    # retrieving and writing 7 queries at a time gives the same bytes as one batch
    retrieve(d / "index", d / "q.tsv", tmp_path / "b7.run", k1=0.5, b=0.2, depth=10, threads=2, query_batch=7)
    assert (tmp_path / "b7.run").read_bytes() == (tmp_path / "b.run").read_bytes()


def test_query_cleaning():
    assert clean_query("what's (BM25)? a+b:c") == "what s BM25 a b c"


def test_terrier_backend_fails_clearly_without_its_jar(tmp_path, vaswani_index):
    import pyterrier as pt

    if shutil.which("java") and pt.java.started():
        pytest.skip("a JVM with Terrier is already running here")
    try:
        build_index(vaswani_index / "docs.sqlite", tmp_path / "t", backend="terrier")
    except UnavailableError as e:
        assert "backend: pisa" in str(e) and "Maven" in str(e)
        assert not (tmp_path / "t").exists()  # nothing half-built left behind
    else:  # a machine that can fetch Terrier: then it must really work
        retrieve(tmp_path / "t", vaswani_index / "q.tsv", tmp_path / "t.run", backend="terrier", depth=10)
        assert read_run(tmp_path / "t.run")["qid"].nunique() == 93
