"""CPU runtimes of the cross-encoders (rankdistill.students.cpu): each converted model scores as torch fp32
does (fp32 to ~1e-5, int8 in the same order), a conversion is cached by content and settings, `engine: auto`
resolves to ONNX Runtime on a CPU, and the workflow converts once (rule convert_cpu) and re-ranks with it."""

import json

import numpy as np
import pytest

from conftest import tiny_config

pytest.importorskip("onnxruntime", reason="the `cpu` extra (onnxruntime) is not installed")

from rankdistill.students import cpu  # noqa: E402
from rankdistill.students.model import CrossEncoder  # noqa: E402
from rankdistill.students.scoring import score_pairs  # noqa: E402

pytestmark = pytest.mark.usefixtures("fp32_numerics")  # scores compared at float tolerance (conftest)

Q = ["what is a cross encoder", "onnx runtime", "how do students learn from teachers", "a"] * 6
D = ["a cross encoder reads the query and the passage together and scores them " * 2,
     "onnx runtime runs models exported from pytorch on cpus", "short", "distillation trains a small model " * 5] * 6


def _spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module")
def student(tmp_path_factory, bert_tiny):
    d = tmp_path_factory.mktemp("cpu") / "student"
    CrossEncoder.from_backbone(bert_tiny, 16, 64, seed=1).save_pretrained(d)
    return str(d)


@pytest.fixture(scope="module")
def seqcls(tmp_path_factory, bert_tiny):
    """A sentence-transformers cross-encoder (sequence classification, sigmoid) on BERT-tiny."""
    from sentence_transformers import CrossEncoder as STCrossEncoder

    d = tmp_path_factory.mktemp("cpu") / "seqcls"
    STCrossEncoder(bert_tiny, num_labels=1, max_length=96).save(str(d))
    return str(d)


def test_onnx_fp32_scores_equal_torch_and_int8_keeps_the_order(student, tmp_path):
    m = CrossEncoder.load(student)
    want = score_pairs(m, Q, D, device="cpu", engine="padded")
    cpu.convert(student, tmp_path / "fp32", "onnx")
    got = score_pairs(m, Q, D, device="cpu", engine="onnx", cpu_model=tmp_path / "fp32")
    np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, np.abs(want).max()))
    # auto with a converted model on a CPU uses it
    np.testing.assert_allclose(score_pairs(m, Q, D, device="cpu", cpu_model=tmp_path / "fp32"), got, atol=1e-6)
    man = cpu.convert(student, tmp_path / "int8", "onnx-int8")
    assert man["files"]["onnx"] == "model_int8.onnx" and man["key"]["quantization"] == "dynamic"
    q8 = score_pairs(m, Q, D, device="cpu", engine="onnx-int8", cpu_model=tmp_path / "int8")
    assert not np.allclose(q8, want, atol=1e-7)  # really quantized
    assert _spearman(q8[:4], want[:4]) > 0.7 and _spearman(q8, want) > 0.9


def test_a_sentence_transformers_cross_encoder_converts_with_its_head_and_activation(seqcls, tmp_path):
    m = CrossEncoder.load(seqcls)
    assert m.seqcls
    want = score_pairs(m, Q, D, device="cpu", engine="padded")
    man = cpu.convert(seqcls, tmp_path / "fp32", "onnx")
    assert man["output"] == "logits"
    got = score_pairs(m, Q, D, device="cpu", engine="onnx", cpu_model=tmp_path / "fp32")
    assert ((got > 0) & (got < 1)).all()  # sigmoid applied as sentence-transformers does
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_conversion_is_cached_by_content_and_settings(student, tmp_path):
    out = tmp_path / "c"
    first = cpu.convert(student, out, "onnx")
    stamp = (out / "model.onnx").stat().st_mtime_ns
    again = cpu.convert(student, out, "onnx")
    assert again == first and (out / "model.onnx").stat().st_mtime_ns == stamp  # converts nothing
    # another model's content in the same place converts again
    other = tmp_path / "other"
    m = CrossEncoder.load(student)
    m.linear.weight.data.mul_(2)
    m.save_pretrained(other)
    third = cpu.convert(str(other), out, "onnx")
    assert third["key"]["source"] != first["key"]["source"]
    assert json.loads((out / "manifest.json").read_text())["key"] == third["key"]


def test_engine_resolution_and_clear_errors(student, tmp_path):
    assert cpu.resolve_engine("auto", "cpu") == "auto"  # the CPU runtimes are opt-in (resolve_engine's docstring)
    assert cpu.resolve_engine("auto", "cuda") == "auto"
    assert cpu.resolve_engine("packed", "cpu") == "packed"
    m = CrossEncoder.load(student)
    with pytest.raises(ValueError, match="needs the converted model"):
        score_pairs(m, Q[:2], D[:2], device="cpu", engine="onnx")
    cpu.convert(student, tmp_path / "fp32", "onnx")
    with pytest.raises(ValueError, match="converted for 'onnx', not 'onnx-int8'"):
        score_pairs(m, Q[:2], D[:2], device="cpu", engine="onnx-int8", cpu_model=tmp_path / "fp32")
    with pytest.raises(Exception, match="no manifest.json"):
        cpu.CpuSession(tmp_path)


def test_openvino_fp32_scores_equal_torch(student, tmp_path):
    pytest.importorskip("openvino", reason="openvino is not installed")
    m = CrossEncoder.load(student)
    want = score_pairs(m, Q, D, device="cpu", engine="padded")
    cpu.convert(student, tmp_path / "ov", "openvino")
    got = score_pairs(m, Q, D, device="cpu", engine="openvino", cpu_model=tmp_path / "ov")
    np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, np.abs(want).max()))


def test_the_workflow_converts_once_and_reranks_with_the_converted_model(workflow_factory, student):
    """`engine: onnx`: the re-ranker's runs come from ONNX Runtime on the convert_cpu rule's folder; a rerun
    converts nothing; another engine is another conversion."""
    from rankdistill.datasets.docstore import DocStore
    from rankdistill.datasets.queries import read_queries
    from rankdistill.runs import read_run

    cfg = tiny_config()
    cfg["evaluation"]["depth"] = 10
    cfg["rerankers"] = {"ce": {"kind": "cross-encoder", "model": student, "inference": {"engine": "onnx"},
                               "evaluate": {"query_sets": ["test-a"], "first_stages": ["bm25"]}}}
    wf = workflow_factory(cfg)
    jobs = wf.jobs("results/rerank/ce/bm25/test-a.run")
    assert jobs["convert_cpu"] == 1 and jobs["rerank"] == 1
    wf.snakemake("results/rerank/ce/bm25/test-a.run")
    res = wf.root / "results"
    assert cpu.read_manifest(res / "cpu/ce/onnx")["key"]["engine"] == "onnx"
    manifest = json.loads((res / "rerank/ce/bm25/test-a.run.manifest.json").read_text())
    assert '"onnx"' in json.dumps(manifest["params"]["settings"]["engine"])  # the resolved engine is recorded
    run = read_run(res / "rerank/ce/bm25/test-a.run").head(8)
    qs = read_queries(res / "queries/test-a/queries.tsv")
    qtext = dict(zip(qs.qid.astype(str), qs["query"]))
    with DocStore(res / "collection/docs.sqlite") as store:
        want = score_pairs(CrossEncoder.load(student), [qtext[q] for q in run.qid], [store.text(d) for d in run.docno],
                           device="cpu", engine="padded")
    np.testing.assert_allclose(run.score.to_numpy(), want, atol=1e-5)
    assert "Nothing to be done" in wf.snakemake("-n", "results/rerank/ce/bm25/test-a.run").stdout
    cfg["rerankers"]["ce"]["inference"] = {"engine": "onnx-int8"}
    wf.write_config(cfg)
    jobs = wf.jobs("results/rerank/ce/bm25/test-a.run")
    assert jobs["convert_cpu"] == 1 and jobs["rerank"] == 1
