"""Titles (issue 13): document stores keep title and body apart; the LLM teacher's prompt shows them as
rank_llm's convert_doc_to_prompt_content does, the students' (and BM25's, the encoders') input joins them as
lightning-ir / ir_datasets default_text does; a title+body TREC collection and the real Vaswani collection end
to end through the workflow (PISA BM25 over the whole corpus, a student re-ranking, the OOD table)."""

import json

import pandas as pd
import pytest

from rankdistill.datasets import DocStore, build_docstore
from rankdistill.datasets.build import build_collection
from rankdistill.datasets.local import iter_corpus
from rankdistill.teacher import prompts as P

TREC = """<DOC>
<DOCNO>d1</DOCNO>
<TITLE>Glacier Melt</TITLE>
<TEXT>Ice sheets are retreating fast in [2] regions.</TEXT>
</DOC>
<DOC>
<DOCNO>d2</DOCNO>
<HEAD>Coral Reefs</HEAD>
Warm water bleaches the reefs.
</DOC>
<DOC>
<DOCNO>d3</DOCNO>
No title here at all.
</DOC>
"""


@pytest.fixture
def trec_store(tmp_path):
    (tmp_path / "docs.trec").write_text(TREC)
    build_collection({"kind": "local", "path": str(tmp_path / "docs.trec"), "format": None}, tmp_path / "s.sqlite")
    return tmp_path / "s.sqlite"


def test_trec_and_jsonl_titles_are_kept_apart_from_the_body(tmp_path, trec_store):
    with DocStore(trec_store) as s:
        assert s.get_docs(["d1", "d2", "d3"]) == {
            "d1": ("Glacier Melt", "Ice sheets are retreating fast in [2] regions."),
            "d2": ("Coral Reefs", "Warm water bleaches the reefs."),
            "d3": ("", "No title here at all.")}
        # one string for BM25, encoders and students: lightning-ir's "{title} {text}"
        assert s.get_many(["d1", "d3"]) == {"d1": "Glacier Melt Ice sheets are retreating fast in [2] regions.",
                                           "d3": "No title here at all."}
        assert [d["title"] for d in s] == ["Glacier Melt", "Coral Reefs", ""]
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps({"docno": "a", "title": "T", "text": "body"}) + "\n"
                 + json.dumps({"docno": "b", "title": None, "text": "other"}) + "\n")
    assert [(d["title"], d["text"]) for d in iter_corpus(p)] == [("T", "body"), ("", "other")]
    # a settable join
    build_docstore(iter_corpus(p), tmp_path / "j.sqlite", title_format="{title} [SEP] {text}")
    with DocStore(tmp_path / "j.sqlite") as s:
        assert s.get_many(["a", "b"]) == {"a": "T [SEP] body", "b": "other"}
    with pytest.raises(ValueError, match="title_format"):
        build_docstore(iter_corpus(p), tmp_path / "k.sqlite", title_format="{title}")


def test_teacher_prompt_shows_titles_as_rank_llm_does(trec_store, tmp_path):
    """The real teacher code path (tiny LM) records its prompts: 'Title: t Content: x', then rank_llm's
    strip / ftfy / word cut (the title's words count) and [k] -> (k)."""
    from rankdistill.datasets.queries import write_queries
    from rankdistill.runs import write_run
    from rankdistill.teacher import tiny
    from rankdistill.teacher.backends import HFBackend
    from rankdistill.teacher.core import rerank_run_file

    tok = tiny.build_tokenizer()
    inner = HFBackend(model=tiny.build_model(tok, layers=1, hidden=32, seed=1), tokenizer=tok)
    seen = []

    class Recording:
        def __getattr__(self, name):
            return getattr(inner, name)

        def generate(self, prompts, max_new_tokens):
            seen.extend(prompts)
            return inner.generate(prompts, max_new_tokens)

    write_queries(pd.DataFrame({"qid": ["1"], "query": ["melting ice"]}), tmp_path / "q.tsv")
    write_run(pd.DataFrame({"qid": ["1"] * 3, "docno": ["d1", "d2", "d3"], "score": [3.0, 2, 1]}), tmp_path / "r.run")
    rerank_run_file(str(tmp_path / "r.run"), str(tmp_path / "q.tsv"), str(trec_store), str(tmp_path / "t.run"),
           str(tmp_path / "t.json"), backend_obj=Recording(), model="tiny", window=3, step=3, depth=3,
           max_passage_words=6, max_new_tokens=8, cache_dir=str(tmp_path / "cache"))
    user = " ".join(m["content"] for p in seen for m in p.messages)
    assert "[1] Title: Glacier Melt Content: Ice sheets\n" in user  # 6 words, the title's included
    assert "[2] Title: Coral Reefs Content: Warm water\n" in user
    assert "[3] No title here at all.\n" in user
    assert P.passage_content(P.doc_content("Glacier Melt", "Ice in [2] regions"), 300) == \
        "Title: Glacier Melt Content: Ice in (2) regions"


def test_student_input_joins_title_and_text(trec_store, monkeypatch):
    """rerank_frame (the students' and cross-encoder re-rankers' code) scores 'title text' strings."""
    import numpy as np

    import rankdistill.students.rerank as rr

    got = {}

    def fake_score(model, queries, docs, **kw):
        got["docs"] = list(docs)
        return np.zeros(len(docs), dtype=np.float32)

    monkeypatch.setattr(rr, "score_pairs", fake_score)
    run = pd.DataFrame({"qid": ["1", "1"], "docno": ["d2", "d3"], "score": [2.0, 1.0]})
    with DocStore(trec_store) as s:
        rr.rerank_frame(None, run, {"1": "reefs"}, s, depth=None)
    assert got["docs"] == ["Coral Reefs Warm water bleaches the reefs.", "No title here at all."]


# --- end to end through the workflow: a title+body TREC collection and the real Vaswani collection -------


@pytest.mark.slow
def test_vaswani_and_a_titled_trec_collection_end_to_end(workflow_factory, vaswani, tmp_path, bert_tiny):
    from rankdistill.students.model import CrossEncoder

    d = tmp_path / "tiny"
    d.mkdir()
    docs = "".join(f"<DOC>\n<DOCNO>t{i}</DOCNO>\n<TITLE>{title}</TITLE>\n{body}\n</DOC>\n" for i, (title, body) in
                   enumerate([("glacier melt", "ice sheets retreat"), ("coral reefs", "warm water bleaching"),
                              ("river floods", "heavy rain and snow melt"), ("desert dunes", "sand moves with wind"),
                              ("glacier lakes", "melt water collects in valleys")]))
    (d / "docs.trec").write_text(docs)
    (d / "q.tsv").write_text("1\tglacier melt\n2\tcoral reefs\n3\tsand wind\n")
    (d / "qrels").write_text("1 0 t0 2\n1 0 t4 1\n2 0 t1 2\n3 0 t3 1\n")
    CrossEncoder.from_backbone(bert_tiny, 16, 64, seed=1).save_pretrained(tmp_path / "released")
    cfg = {
        "collection": {"kind": "local", "path": str(d / "docs.trec")},
        "collections": {"vaswani": {"kind": "local", "path": str(vaswani / "corpus" / "doc-text.trec")}},
        "query_sets": {
            "tiny": {"kind": "local", "queries": str(d / "q.tsv"), "qrels": str(d / "qrels")},
            "vaswani": {"kind": "local", "queries": str(vaswani / "query-text.trec"), "qrels": str(vaswani / "qrels"),
                        "collection": "vaswani"},
        },
        "first_stages": {"bm25": {"kind": "bm25", "k1": 0.9, "b": 0.4, "depth": 100}},
        "students": {"zoo": {"kind": "pretrained", "model": str(tmp_path / "released")}},
        "evaluation": {"query_sets": ["tiny"], "first_stages": ["bm25"], "depth": 100, "baseline": "bm25"},
        "ood": {"systems": ["bm25", "zoo"], "first_stage": "bm25", "baseline": "bm25",
                "groups": {"tiny": ["tiny"], "vaswani": ["vaswani"]}},
    }
    wf = workflow_factory(cfg)
    wf.snakemake("results/table_ood.tex")
    res = wf.root / "results"
    with DocStore(res / "collection" / "vaswani" / "docs.sqlite") as s:
        assert len(s) == 11429  # the whole corpus
    with DocStore(res / "collection" / "docs.sqlite") as s:
        assert s.get_docs(["t0"])["t0"] == ("glacier melt", "ice sheets retreat")
    assert (res / "collection" / "vaswani" / "index" / "bm25").is_dir() and (res / "index" / "bm25").is_dir()
    long = pd.read_csv(res / "table_ood.csv")
    g = long.set_index(["system", "query_set"])
    assert g.loc[("bm25", "vaswani"), "n_queries"] == 93
    # PISA BM25 on Vaswani (the paper's TIREx BM25: .447)
    assert 0.40 < g.loc[("bm25", "vaswani"), "value"] < 0.50
    # the title reaches BM25: "glacier melt" finds t0 (title match) first
    run = pd.read_csv(res / "first_stage" / "bm25" / "tiny.run", sep=r"\s+", header=None)
    assert run[run[0] == 1].sort_values(3).iloc[0, 2] == "t0"
    zoo = pd.read_csv(res / "rerank" / "zoo" / "bm25" / "vaswani.run", sep=r"\s+", header=None)
    assert zoo[0].nunique() == 93 and zoo.groupby(0).size().max() == 100  # re-ranked the BM25 top 100
    assert {"amean", "gmean"} <= set(long.query_set)
    md = (res / "table_ood.md").read_text()
    assert "Arith. mean" in md and "vaswani" in md
