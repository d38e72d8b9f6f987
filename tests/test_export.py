"""Export for serving (rankdistill.export, rule export_student): a trained student's folder loads in
sentence-transformers and transformers and scores as the pipeline does; its ONNX files score the same (int8
in the same order); its model card names the training data, teacher and settings and carries its table rows."""

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_config

pytestmark = pytest.mark.usefixtures("fp32_numerics")  # scores compared at float tolerance (conftest)

pytest.importorskip("onnxruntime", reason="the `cpu` extra (onnxruntime) is not installed")
pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")

BT = "package:cognition/model"
Q = ["what is a cross encoder", "onnx runtime", "how do students learn", "a"] * 4
D = ["a cross encoder reads the query and the passage together", "onnx runtime runs models on cpus",
     "short", "distillation trains a small model from a large one"] * 4


@pytest.mark.parametrize("pooling,scoring", [("first", "rank"), ("mean", "mono")])
def test_the_export_loads_in_sentence_transformers_transformers_and_onnx_runtime(bert_tiny, tmp_path, pooling, scoring):
    import onnxruntime as ort
    from sentence_transformers import CrossEncoder as STCrossEncoder
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rankdistill.export import export_student
    from rankdistill.students.model import CrossEncoder
    from rankdistill.students.scoring import score_pairs

    m = CrossEncoder.from_backbone(bert_tiny, 16, 64, seed=4)
    m.settings.pooling, m.settings.scoring = pooling, scoring
    if scoring == "mono":
        import torch

        m.linear = torch.nn.Linear(m.backbone.config.hidden_size, 2, bias=False)
    m.save_pretrained(tmp_path / "student")
    want = score_pairs(CrossEncoder.load(str(tmp_path / "student")), Q, D, device="cpu", engine="padded")
    files = export_student(tmp_path / "student", tmp_path / "export" / "s", info={"student": "s", "teacher": "t"})
    out = tmp_path / "export" / "s"
    st = STCrossEncoder(str(out), trust_remote_code=True, device="cpu")
    np.testing.assert_allclose(st.predict(list(zip(Q, D))), want, atol=1e-5)
    hf = AutoModelForSequenceClassification.from_pretrained(str(out), trust_remote_code=True)
    tok = AutoTokenizer.from_pretrained(str(out))
    np.testing.assert_allclose(hf(**tok(Q, D, padding=True, return_tensors="pt")).logits[:, 0].detach().numpy(), want,
                               atol=1e-5)
    b = tok(Q, D, padding=True, return_tensors="np")
    for key, tol in (("onnx", 1e-4), ("onnx-int8", None)):
        sess = ort.InferenceSession(str(out / files[key]), providers=["CPUExecutionProvider"])
        names = {i.name for i in sess.get_inputs()}
        got = sess.run(None, {k: b[k] for k in names})[0][:, 0]
        if tol:
            np.testing.assert_allclose(got, want, atol=tol)
        else:  # int8: close to fp32 (a random head's scores are too close together for a rank check)
            assert 0 < np.abs(got - want).max() < 0.1 * np.ptp(want)
    card = (out / "README.md").read_text()
    assert "trust_remote_code=True" in card and "teacher: `t`" in card


def test_the_export_rule_writes_a_trained_students_folder_with_its_table_rows(workflow_factory):
    """The pipeline's export of a trained student: sentence-transformers gives the scores of the student's run."""
    from sentence_transformers import CrossEncoder as STCrossEncoder

    from rankdistill.datasets.docstore import DocStore
    from rankdistill.datasets.queries import read_queries
    from rankdistill.runs import read_run

    cfg = tiny_config()
    cfg["evaluation"]["depth"] = 10
    cfg["distill_sets"] = {"bm25-order": {"kind": "first_stage", "ranker": "bm25", "first_stage": "bm25",
                                          "query_set": "train", "queries": 8, "depth": 8}}
    cfg["students"] = {"tiny": {"kind": "trained", "backbone": BT, "distill_set": "bm25-order", "epochs": 1,
                                "batch_queries": 4, "query_length": 16, "doc_length": 128,
                                "inference": {"engine": "padded"}}}
    wf = workflow_factory(cfg)
    wf.snakemake("results/export/tiny")
    res = wf.root / "results"
    card = (res / "export/tiny/README.md").read_text()
    assert "distill set: `bm25-order`" in card and "teacher: `bm25`" in card and "nDCG@10" in card
    table = pd.read_csv(res / "table.csv")
    row = table[(table.system == "tiny") & (table.measure == "nDCG@10") & table.value.notna()].iloc[0]
    assert f"{row.value:.4f}" in card
    run = read_run(res / "rerank/tiny/bm25/test-a.run").head(10)
    qs = read_queries(res / "queries/test-a/queries.tsv")
    qtext = dict(zip(qs.qid.astype(str), qs["query"]))
    with DocStore(res / "collection/docs.sqlite") as store:
        pairs = [(qtext[q], store.text(d)) for q, d in zip(run.qid, run.docno)]
    st = STCrossEncoder(str(res / "export/tiny"), trust_remote_code=True, device="cpu")
    # where neither side is cut, sentence-transformers' pair truncation and the student's per-side one agree
    from rankdistill.students.model import CrossEncoder

    m = CrossEncoder.load(str(res / "models/students/tiny"))
    ids, _ = m.encode([q for q, _ in pairs], [d for _, d in pairs])
    whole = [len(x) for x in st.tokenizer([q for q, _ in pairs], [d for _, d in pairs])["input_ids"]]
    keep = [i for i in range(len(pairs)) if len(ids[i]) == whole[i]]
    assert len(keep) >= 5
    np.testing.assert_allclose(st.predict([pairs[i] for i in keep]), run.score.to_numpy()[keep], atol=1e-5)
