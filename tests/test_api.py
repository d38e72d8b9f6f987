"""The PyTerrier API (rankdistill.api): each stage's transformer gives the rankings its rule writes.

Each test runs the file-level function a rule script calls and the transformer on the same tiny
inputs and compares the runs: the same (qid, docno) at the same rank (the transformer's 0-based
rank + 1) with the same score.
"""

import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyterrier")
pytest.importorskip("pyterrier_pisa")

from rankdistill import api  # noqa: E402
from rankdistill.datasets import build_docstore  # noqa: E402
from rankdistill.datasets.queries import write_queries  # noqa: E402
from rankdistill.errors import InputError  # noqa: E402
from rankdistill.runs import read_run  # noqa: E402

pytestmark = pytest.mark.usefixtures("fp32_numerics")  # scores compared at float tolerance (conftest)

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ("fox dog cat river bank money loan water fish bird tree forest city paris france river "
         "capital museum art painting music song film actor vaccine virus doctor").split()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """60 passages, 4 queries (qids in natural, not lexical, order), a BM25 index and its top-20 run."""
    from rankdistill.retrieval import bm25

    d = tmp_path_factory.mktemp("api")
    rng = random.Random(5)
    docs = [{"docno": f"d{i}", "text": " ".join(rng.choice(VOCAB) for _ in range(rng.randint(8, 30)))}
            for i in range(60)]
    build_docstore(docs, d / "docs.sqlite")
    queries = pd.DataFrame({"qid": ["2", "10", "3", "q7"],
                            "query": ["fox river bank", "paris museum art", "virus vaccine doctor", "fish?! water"]})
    write_queries(queries, d / "queries.tsv")
    bm25.build_index(d / "docs.sqlite", d / "bm25")
    bm25.retrieve(d / "bm25", d / "queries.tsv", d / "bm25.run", depth=20)
    return {"dir": d, "queries": queries, "docs": {x["docno"]: x["text"] for x in docs}, "store": d / "docs.sqlite"}


def assert_same_run(frame: pd.DataFrame, run_path) -> None:
    """``frame`` (a transformer's output) holds exactly the rule's run: same rows, ranks and scores."""
    rule = read_run(run_path)
    got = frame.sort_values(["qid", "rank"]).reset_index(drop=True)
    want = rule.sort_values(["qid", "rank"]).reset_index(drop=True)
    assert len(got) == len(want) > 0
    assert list(zip(got.qid, got.docno, got["rank"] + 1)) == list(zip(want.qid, want.docno, want["rank"]))
    np.testing.assert_allclose(got.score.to_numpy(), want.score.to_numpy(), rtol=1e-12, atol=1e-12)
    assert (got.groupby("qid")["rank"].min() == 0).all()  # PyTerrier ranks are 0-based


def _bm25(data, depth=20):
    return api.BM25(data["dir"] / "bm25", depth=depth)


def test_bm25_transformer_equals_the_retrieve_rule(data):
    out = _bm25(data)(data["queries"])
    assert_same_run(out, data["dir"] / "bm25.run")
    # the original query text travels on (the rule's cleaning is only what PISA searches)
    assert set(out.loc[out.qid == "q7", "query"]) == {"fish?! water"}
    # a query without words after cleaning gets no results (the rule skips it with a warning)
    none = _bm25(data)(pd.DataFrame({"qid": ["9"], "query": ["?! ..."]}))
    assert none.empty and {"qid", "query", "docno", "score", "rank"} <= set(none.columns)


def test_student_transformer_equals_the_rerank_rule(data, bert_tiny, tmp_path):
    from rankdistill.students.model import CrossEncoder
    from rankdistill.students.rerank import rerank_run_file

    CrossEncoder.from_backbone(bert_tiny, query_length=8, doc_length=32, seed=4).save_pretrained(tmp_path / "m")
    d = data["dir"]
    rerank_run_file(str(tmp_path / "m"), d / "bm25.run", d / "queries.tsv", d / "docs.sqlite", tmp_path / "s.run",
                    depth=10)
    student = api.Student(tmp_path / "m", docstore=data["store"])
    out = (_bm25(data) % 10 >> student)(data["queries"])
    assert_same_run(out, tmp_path / "s.run")
    # the rule's depth cut inside the transformer, and texts from a 'text' column instead of the store
    cands = _bm25(data)(data["queries"])
    cands["text"] = cands["docno"].map(data["docs"])
    assert_same_run(api.Student(tmp_path / "m", depth=10)(cands), tmp_path / "s.run")
    # the rule scored something: a re-ranked order differs from BM25's for some query
    assert (out.merge(cands, on=["qid", "docno"], suffixes=("", "_bm25"))
            .pipe(lambda m: (m["rank"] != m["rank_bm25"]).any()))


def _encoder_stage_equals_its_rules(stage, model, retriever, reranker, data, tmp_path):
    """``stage``'s retriever and re-ranker transformers give the runs of its index/retrieve/rerank functions."""
    d = data["dir"]
    stage.build_index(data["store"], tmp_path / "idx", model=model)
    stage.retrieve(tmp_path / "idx", d / "queries.tsv", tmp_path / "r.run", model=model, depth=15)
    assert_same_run(retriever(tmp_path / "idx", model, depth=15)(data["queries"]), tmp_path / "r.run")
    stage.rerank_run_file(d / "bm25.run", d / "queries.tsv", data["store"], tmp_path / "rr.run", model=model, depth=10)
    out = (_bm25(data) % 10 >> reranker(model, docstore=data["store"]))(data["queries"])
    assert_same_run(out, tmp_path / "rr.run")


def test_dense_transformers_equal_the_dense_rules(data, bert_tiny, tmp_path):
    from rankdistill.retrieval import dense

    _encoder_stage_equals_its_rules(dense, bert_tiny, api.DenseRetriever, api.DenseReranker, data, tmp_path)


def test_colbert_transformers_equal_the_colbert_rules(data, bert_tiny, tmp_path):
    from rankdistill.retrieval import colbert

    ckpt = str(colbert.init_checkpoint(bert_tiny, tmp_path / "colbert", dim=32, seed=1))
    _encoder_stage_equals_its_rules(colbert, ckpt, api.ColBERTRetriever, api.ColBERTReranker, data, tmp_path)


@pytest.fixture(scope="module")
def tiny_backend():
    """The teacher tests' offline LLM: a tokenizer trained on the spot and a random 2-layer Llama."""
    import torch

    from rankdistill.teacher import tiny
    from rankdistill.teacher.backends import HFBackend

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tok = tiny.build_tokenizer()
    yield HFBackend(model=tiny.build_model(tok, layers=2, hidden=64, seed=1), tokenizer=tok)
    torch.set_num_threads(threads)


TEACHER = dict(window=6, step=3, depth=12, max_passage_words=12, max_new_tokens=16, batch_size=3)


def test_teacher_transformer_equals_the_teacher_rule(data, tiny_backend, tmp_path):
    from rankdistill.teacher import rerank_run_file

    d = data["dir"]
    summary = rerank_run_file(str(d / "bm25.run"), str(d / "queries.tsv"), str(data["store"]), str(tmp_path / "t.run"),
                     model="tiny", backend_obj=tiny_backend, cache_dir=str(tmp_path / "cache"), **TEACHER)
    teacher = api.Teacher("tiny", backend_obj=tiny_backend, docstore=data["store"], **TEACHER)
    out = (_bm25(data) >> teacher)(data["queries"])
    assert_same_run(out, tmp_path / "t.run")
    assert len(out) == 4 * 12  # each query's top depth, the rest dropped as the rule drops it
    assert teacher.outcome.stats.windows == summary["repair"]["windows"] > 0
    # sharing the rule's window cache: the same rankings, and no prompt is sent again
    cached = api.Teacher("tiny", backend_obj=tiny_backend, docstore=data["store"], cache_dir=tmp_path / "cache",
                         **TEACHER)
    assert_same_run(cached(_bm25(data)(data["queries"])), tmp_path / "t.run")
    assert cached.outcome.stats.generated == 0 and cached.outcome.stats.cached == summary["repair"]["windows"]


def test_bad_frames_are_clear_errors(data, bert_tiny, tiny_backend):
    from rankdistill.students.model import CrossEncoder

    student = api.Student(CrossEncoder.from_backbone(bert_tiny, query_length=8, doc_length=16, seed=0))
    cands = _bm25(data, depth=5)(data["queries"])
    with pytest.raises(InputError, match="no 'text' column and no docstore"):
        student(cands)
    with pytest.raises(InputError, match=r"missing \['docno'\]"):
        student(data["queries"].assign(text="x"))
    with pytest.raises(InputError, match="duplicate candidate"):
        student(pd.concat([cands, cands.head(1)]).assign(text="x"))
    with pytest.raises(InputError, match="has no 'score'"):
        api.Teacher("tiny", backend_obj=tiny_backend, docstore=data["store"], depth=3)(cands.drop(columns="score"))
    with pytest.raises(TypeError, match="unknown teacher settings"):
        api.Teacher("tiny", backend_obj=tiny_backend, windw=4)


def _readme_example() -> str:
    text = (ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- api-example: tested by tests/test_api.py -->\s*```python\n(.*?)```", text, re.S)
    assert m, "docs/reference/api.md: the Python API example block is missing"
    return m.group(1)


def test_readme_api_example_runs_verbatim(tmp_path, monkeypatch, bert_tiny, smollm2_gguf):
    """The docs' API example (docs/reference/api.md), executed as written (in a scratch folder): BM25 >> student
    and BM25 >> teacher."""
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_readme_example(), "docs/reference/api.md", "exec"), scope)
    for name in ("reranked", "teacher_ranked"):
        out = scope[name]
        assert {"qid", "query", "docno", "score", "rank"} <= set(out.columns)
        assert out.groupby("qid")["rank"].apply(lambda r: sorted(r) == list(range(len(r)))).all()
    assert scope["reranked"].groupby("qid").size().max() <= 3
