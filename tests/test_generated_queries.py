"""Training queries generated from a collection (query_sets kind generated) and pooled distillation sets
(distill_sets kind pool): the package functions, the config checks and the workflow end to end."""

import json

import pandas as pd
import pytest

from conftest import tiny_config
from rankdistill import config as rdconfig
from rankdistill.datasets.docstore import build_docstore
from rankdistill.datasets.generated import build_generated_query_set
from rankdistill.datasets.pseudo_queries import pseudo_queries_from_docstore
from rankdistill.datasets.queries import read_qrels, read_queries, write_qrels
from rankdistill.distill import build_distill_set, pool_distill_sets, read_distill_set
from rankdistill.errors import ConfigError, InputError
from rankdistill.runs import write_run

BT = "package:cognition/model"
WORDS = ("danube river flows through countries central eastern europe black sea beta blockers propranolol "
         "atenolol lower blood pressure slow heart rate espresso milk sugar served parisian cafes daily").split()


def _store(tmp_path, n=40):
    docs = [{"docno": f"d{i}", "text": " ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(12))} for i in range(n)]
    docs.append({"docno": "short", "text": "too short"})
    build_docstore(docs, tmp_path / "docs.sqlite")
    return tmp_path / "docs.sqlite"


SPEC = {"kind": "generated", "method": "spans", "queries": 300, "min_words": 3, "max_words": 6, "seed": 3,
        "prefix": None, "openings": None, "exclude": []}


def _generate(tmp_path, spec=SPEC, **kw):
    out = tmp_path / "gen"
    out.mkdir(exist_ok=True)
    stats = build_generated_query_set(spec, "gen", _store(tmp_path), out / "queries.tsv", out / "qrels.txt",
                                      out / "generated.json", **kw)
    return read_queries(out / "queries.tsv"), read_qrels(out / "qrels.txt"), stats


def test_spans_are_the_pseudo_query_draws_with_their_source_as_the_positive(tmp_path):
    queries, qrels, stats = _generate(tmp_path)
    same = pseudo_queries_from_docstore(tmp_path / "docs.sqlite", 300, 3, 6, seed=3, prefix="gen-")
    assert list(queries["qid"]) == list(same["qid"]) and list(queries["query"]) == list(same["query"])
    assert dict(zip(qrels["qid"], qrels["docno"])) == dict(zip(same["qid"], same["docno"]))
    assert set(qrels["label"]) == {1} and qrels["qid"].is_unique
    assert stats["queries"] == len(queries) and stats["draws"] == 300
    assert stats["dropped"]["source_too_short"] == 300 - len(queries) > 0  # draws on the two-word passage
    assert json.loads((tmp_path / "gen" / "generated.json").read_text())["queries"] == len(queries)


def test_excluded_passages_are_never_a_source(tmp_path):
    _store(tmp_path)
    write_qrels(pd.DataFrame({"qid": ["q1", "q1"], "docno": ["d1", "d2"], "label": [1, 0]}), tmp_path / "qrels.txt")
    write_run(pd.DataFrame({"qid": ["q9"] * 3, "docno": ["d3", "d4", "d5"], "score": [3.0, 2.0, 1.0]}),
              tmp_path / "held.run")
    exclude = [("held qrels", str(tmp_path / "qrels.txt"), None), ("bm25 top 2", str(tmp_path / "held.run"), 2)]
    queries, qrels, stats = _generate(tmp_path, exclude=exclude)
    assert not set(qrels["docno"]) & {"d1", "d2", "d3", "d4"}
    assert "d5" in set(qrels["docno"])  # rank 3 of the run: below the excluded depth
    assert [e["passages"] for e in stats["exclude"]] == [2, 2] and stats["passages_excluded"] == 4
    assert stats["passages_drawn_from"] == stats["passages"] - 4
    # the draws are those over a collection without the excluded passages (the hold-out recipe)
    rest = [d for d in __import__("rankdistill.datasets.docstore", fromlist=["DocStore"]).DocStore(
        tmp_path / "docs.sqlite") if d["docno"] not in {"d1", "d2", "d3", "d4"}]
    build_docstore(rest, tmp_path / "rest.sqlite")
    same = pseudo_queries_from_docstore(tmp_path / "rest.sqlite", 300, 3, 6, seed=3, prefix="gen-")
    assert list(queries["query"]) == list(same["query"])


def test_openings_come_from_the_named_queries(tmp_path):
    (tmp_path / "real.tsv").write_text("1\twhat is the danube\n2\thow do beta blockers work\n")
    queries, _, _ = _generate(tmp_path, openings_queries=tmp_path / "real.tsv")
    assert queries["query"].str.match(r"^(what is the |how )").all()


def test_a_collection_with_only_short_passages_is_an_input_error(tmp_path):
    build_docstore([{"docno": "a", "text": "two words"}], tmp_path / "docs.sqlite")
    with pytest.raises(InputError, match="no query could be generated"):
        build_generated_query_set(SPEC, "gen", tmp_path / "docs.sqlite", tmp_path / "q.tsv", tmp_path / "r.txt",
                                  tmp_path / "s.json")


def _distill(tmp_path, name, qids):
    run = pd.DataFrame([(q, f"d{k}", 10.0 - k) for q in qids for k in range(4)], columns=["qid", "docno", "score"])
    write_run(run, tmp_path / f"{name}.run")
    (tmp_path / f"{name}.tsv").write_text("".join(f"{q}\tquery {q}\n" for q in qids))
    build_distill_set(tmp_path / f"{name}.run", tmp_path / f"{name}.run", tmp_path / f"{name}.tsv",
                      tmp_path / f"{name}.parquet", tmp_path / f"{name}-d.run", tmp_path / f"{name}.json",
                      num_queries=None, depth=3, name=name)


def test_a_pool_keeps_each_source_and_counts_it(tmp_path):
    _distill(tmp_path, "pseudo", ["p0", "p1", "p2"])
    _distill(tmp_path, "real", ["7", "8"])
    stats = pool_distill_sets([tmp_path / "pseudo.parquet", tmp_path / "real.parquet"],
                              [tmp_path / "pseudo.json", tmp_path / "real.json"], tmp_path / "pool.parquet",
                              tmp_path / "pool.run", tmp_path / "pool.json", sources=["pseudo", "real"], name="pool")
    assert stats["queries_per_source"] == {"pseudo": 3, "real": 2} and stats["pairs_per_source"] == {"pseudo": 9, "real": 6}
    assert stats["per_source"]["real"]["stats"]["depth"] == 3
    table = read_distill_set(tmp_path / "pool.parquet")
    parts = pd.concat([read_distill_set(tmp_path / "pseudo.parquet"), read_distill_set(tmp_path / "real.parquet")])
    assert table.reset_index(drop=True).equals(parts.reset_index(drop=True))
    assert json.loads((tmp_path / "pool.json").read_text())["queries"] == 5


def test_a_pool_rejects_a_query_id_in_two_sources(tmp_path):
    _distill(tmp_path, "a", ["q1", "q2"])
    _distill(tmp_path, "b", ["q2", "q3"])
    with pytest.raises(InputError, match="1 query ids of b are also in a"):
        pool_distill_sets([tmp_path / "a.parquet", tmp_path / "b.parquet"], [tmp_path / "a.json", tmp_path / "b.json"],
                          tmp_path / "p.parquet", tmp_path / "p.run", tmp_path / "p.json", sources=["a", "b"])
    assert not (tmp_path / "p.parquet").exists()


def generated_config():
    cfg = tiny_config()
    cfg["query_sets"]["gen"] = {"kind": "generated", "queries": 40, "seed": 1,
                                "exclude": [{"query_set": "test-a", "first_stage": "bm25", "depth": 20},
                                            {"query_set": "test-b"}]}
    cfg["distill_sets"] = {
        "gen-bm25": {"kind": "first_stage", "ranker": "bm25", "first_stage": "bm25", "query_set": "gen", "depth": 8},
        "real": {"kind": "first_stage", "ranker": "bm25", "first_stage": "bm25", "query_set": "train", "depth": 8},
        "both": {"kind": "pool", "sets": ["gen-bm25", "real"]},
    }
    cfg["students"] = {"s": {"kind": "trained", "backbone": BT, "distill_set": "both", "epochs": 1,
                             "batch_queries": 8, "query_length": 8, "doc_length": 32}}
    return cfg


def test_config_defaults_of_a_generated_query_set():
    qs = rdconfig.validate(generated_config())["query_sets"]["gen"]
    assert (qs["method"], qs["min_words"], qs["max_words"], qs["prefix"], qs["openings"]) == ("spans", 3, 8, None, None)


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c["query_sets"]["gen"].update(method="t5"), "t5"),
    (lambda c: c["query_sets"]["gen"].update(min_words=9), "min_words .9. is above max_words"),
    (lambda c: c["query_sets"]["gen"].update(openings="nope"), "openings: 'nope' is not a query set"),
    (lambda c: c["query_sets"]["gen"]["exclude"].append({"query_set": "gen"}), "cannot exclude its own sources"),
    (lambda c: c["query_sets"]["gen"]["exclude"].append({"query_set": "test-a", "first_stage": "x"}),
     r"exclude\[2\].first_stage: 'x' is not a first stage"),
    (lambda c: c["distill_sets"]["both"].update(sets=["gen-bm25", "nope"]), "sets: 'nope' is not a distillation set"),
    (lambda c: c["distill_sets"].update(again={"kind": "pool", "sets": ["both", "real"]}), "'both' is a pool itself"),
    (lambda c: c["distill_sets"]["both"].update(sets=["real"]), "is too short|should be non-empty|minItems|fewer than 2"),
])
def test_config_errors_name_the_key(mutate, message):
    cfg = generated_config()
    mutate(cfg)
    with pytest.raises(ConfigError, match=message):
        rdconfig.validate(cfg)


def test_generated_queries_train_a_pooled_student_end_to_end(workflow_factory, bert_tiny):
    wf = workflow_factory(generated_config())
    jobs = wf.jobs("results/table.tex")
    assert jobs["generate_queries"] == 1 and jobs["query_set"] == 3
    assert jobs["distill_set"] == 2 and jobs["distill_pool"] == 1 and jobs["train_student"] == 1
    wf.snakemake("results/table.tex")
    gen = json.loads((wf.root / "results/queries/gen/generated.json").read_text())
    held = set(read_qrels(wf.root / "results/queries/test-b/qrels.txt")["docno"])
    from rankdistill.runs import cut, read_run

    held |= set(cut(read_run(wf.root / "results/first_stage/bm25/test-a.run"), 20)["docno"])
    sources = set(read_qrels(wf.root / "results/queries/gen/qrels.txt")["docno"])
    assert sources and not sources & held
    assert gen["passages_excluded"] == len(held) and gen["queries"] > 20
    pool = json.loads((wf.root / "results/distill/both.json").read_text())
    assert pool["queries_per_source"] == {"gen-bm25": gen["queries"], "real": 20}
    assert pool["queries"] == gen["queries"] + 20
    metrics = pd.read_csv(wf.root / "results/models/students/s/metrics.csv")
    assert len(metrics) >= 1
    assert "s" in set(pd.read_csv(wf.root / "results/table.csv")["system"])


def test_unanswered_queries_are_an_error_or_left_out_before_the_deal(tmp_path):
    """A generated query a first stage finds nothing for (all stopwords to BM25): error by default, or dropped
    before the queries are dealt to the first stages (so the deal is that of the answered queries)."""
    qids = [f"p{i}" for i in range(6)]
    ranking = pd.DataFrame([(q, f"d{k}", 9.0 - k) for q in qids for k in range(3)], columns=["qid", "docno", "score"])
    write_run(ranking, tmp_path / "dense.run")
    write_run(ranking[ranking["qid"] != "p1"], tmp_path / "bm25.run")
    (tmp_path / "q.tsv").write_text("".join(f"{q}\tq {q}\n" for q in qids))
    args = ([tmp_path / "dense.run"] * 2, [tmp_path / "bm25.run", tmp_path / "dense.run"], tmp_path / "q.tsv",
            tmp_path / "d.parquet", tmp_path / "d.run", tmp_path / "d.json")
    with pytest.raises(InputError, match="bm25.run: 1 queries of the teacher run .* are missing"):
        build_distill_set(*args, num_queries=None, depth=3)
    stats = build_distill_set(*args, num_queries=None, depth=3, unanswered="drop")
    assert stats["queries"] == 5 and stats["dropped_unanswered"] == {str(tmp_path / "bm25.run"): 1, str(tmp_path / "dense.run"): 0}
    assert list(stats["queries_per_source"].values()) == [3, 2]  # p0 p3 p5 | p2 p4: dealt after p1 left
