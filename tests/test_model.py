"""Cross-encoder: pair tokenisation, save/load, lightning-ir and sentence-transformers checkpoints,
and the fast scorer (batching must not change scores)."""

import json
import shutil

import numpy as np
import pytest
import torch

from rankdistill.errors import InputError
from rankdistill.students.model import CrossEncoder, collate
from rankdistill.students.scoring import score_pairs

pytestmark = pytest.mark.usefixtures("fp32_numerics")  # scores compared at float tolerance (conftest)

QUERIES = ["what is a fox", "how do plants grow in winter", "capital of france"] * 6
DOCS = [("the quick brown fox jumps over the lazy dog " * (i % 4 + 1)) + f"passage {i}" for i in range(18)]


@pytest.fixture(scope="module")
def tiny(bert_tiny):
    return CrossEncoder.from_backbone(bert_tiny, query_length=4, doc_length=12, seed=3)


def test_pair_layout_and_separate_limits(tiny):
    ids, types = tiny.encode(["one two three four five six"], ["alpha beta gamma " * 10])
    tok = tiny.tokenizer
    q = tok("one two three four five six", add_special_tokens=False)["input_ids"][:4]
    d = tok("alpha beta gamma " * 10, add_special_tokens=False)["input_ids"][:12]
    assert ids[0] == [tok.cls_token_id] + q + [tok.sep_token_id] + d + [tok.sep_token_id]
    assert types[0] == [0] * 6 + [1] * 13


def test_head_is_first_token_linear_without_bias(tiny):
    assert tiny.linear.bias is None and tiny.linear.weight.shape == (1, 128)
    b = tiny.batch(QUERIES[:3], DOCS[:3])
    with torch.no_grad():
        h = tiny.backbone(**b).last_hidden_state[:, 0]
        assert torch.allclose(tiny(**b), (h @ tiny.linear.weight.T).view(-1), atol=1e-6)


def test_scores_do_not_depend_on_batching_or_order(tiny):
    a = score_pairs(tiny, QUERIES, DOCS, batch_size=64)
    b = score_pairs(tiny, QUERIES, DOCS, batch_size=1)
    c = score_pairs(tiny, QUERIES[::-1], DOCS[::-1], batch_size=5, max_tokens=64, chunk=4)[::-1]
    np.testing.assert_allclose(a, b, atol=2e-6)
    np.testing.assert_allclose(a, c, atol=2e-6)
    assert a.dtype == np.float32 and len(set(a.round(6))) > 5


def test_collate_pads_to_multiple_of_8():
    b = collate([[1, 2, 3], [4]], [[0, 0, 1], [0]], pad_id=0)
    assert b["input_ids"].shape == (2, 8)
    assert b["attention_mask"].sum().item() == 4 and b["token_type_ids"][0, 2].item() == 1


def test_save_load_roundtrip_is_lightning_ir_layout(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["model_type"] == "mono" and cfg["backbone_model_type"] == "bert"
    assert (cfg["query_length"], cfg["doc_length"], cfg["pooling_strategy"], cfg["linear_bias"]) == (4, 12, "first", False)
    from safetensors.torch import load_file

    keys = load_file(str(tmp_path / "m" / "model.safetensors"))
    assert "linear.weight" in keys and "embeddings.word_embeddings.weight" in keys
    back = CrossEncoder.load(str(tmp_path / "m"))
    np.testing.assert_allclose(score_pairs(back, QUERIES, DOCS), score_pairs(tiny, QUERIES, DOCS), atol=1e-6)


def _lightning_ir_checkpoint(bert_tiny, folder, model_type="cross-encoder", scoring="rank", prefix=""):
    """A tiny ELECTRA checkpoint written the way lightning-ir saves a mono model: backbone config +
    lightning-ir keys in config.json, backbone keys + linear.weight in model.safetensors."""
    from safetensors.torch import save_file
    from transformers import ElectraConfig, ElectraModel

    torch.manual_seed(0)
    cfg = ElectraConfig(vocab_size=30522, embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=128)
    electra = ElectraModel(cfg).eval()
    out_dim = 2 if scoring == "mono" else 1
    linear = torch.nn.Linear(64, out_dim, bias=False)
    sd = {prefix + k: v.contiguous() for k, v in electra.state_dict().items()}
    sd[prefix + "linear.weight"] = linear.weight.detach().clone()
    folder.mkdir(parents=True)
    save_file(sd, str(folder / "model.safetensors"))
    d = cfg.to_dict()
    d.update(model_type=model_type, backbone_model_type="electra", architectures=["CrossEncoderElectraModel"],
             query_length=5, doc_length=9, pooling_strategy="first", linear_bias=False, scoring_strategy=scoring)
    (folder / "config.json").write_text(json.dumps(d))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(f"{bert_tiny}/{f}", folder / f)
    return electra, linear


def _lightning_ir_reference(folder, electra, linear, queries, docs, scoring):
    """lightning-ir's CrossEncoderTokenizer + MonoModel.forward, transcribed."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))

    def trunc(texts, n):
        return tok.batch_decode(tok(texts, add_special_tokens=False, truncation=True, max_length=n).input_ids)

    enc = tok(trunc(queries, 5), trunc(docs, 9), truncation=True, padding=True, return_tensors="pt")
    with torch.no_grad():
        s = linear(electra(**enc).last_hidden_state[:, 0])
    if scoring == "mono":
        return torch.log_softmax(s.view(-1, 2), -1)[:, 1].numpy()
    return s.view(-1).numpy()


@pytest.mark.parametrize("model_type,scoring,prefix", [("cross-encoder", "rank", ""), ("mono", "mono", "electra.")])
def test_lightning_ir_checkpoint_scores_like_lightning_ir(bert_tiny, tmp_path, model_type, scoring, prefix):
    folder = tmp_path / "lir"
    electra, linear = _lightning_ir_checkpoint(bert_tiny, folder, model_type, scoring, prefix)
    m = CrossEncoder.load(str(folder))
    assert m.settings.truncation == "decode" and (m.settings.query_length, m.settings.doc_length) == (5, 9)
    want = _lightning_ir_reference(folder, electra, linear, QUERIES, DOCS, scoring)
    np.testing.assert_allclose(score_pairs(m, QUERIES, DOCS, batch_size=4), want, atol=1e-5)


def test_lightning_ir_checkpoint_with_wrong_weights_is_an_input_error(bert_tiny, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "lir"
    _lightning_ir_checkpoint(bert_tiny, folder)
    sd = load_file(str(folder / "model.safetensors"))
    del sd["linear.weight"]
    save_file(sd, str(folder / "model.safetensors"))
    with pytest.raises(InputError, match="lightning-ir mono"):
        CrossEncoder.load(str(folder))


def test_plain_backbone_is_not_a_reranker(bert_tiny):
    with pytest.raises(InputError, match="not a fine-tuned cross-encoder"):
        CrossEncoder.load(bert_tiny)


def test_sentence_transformers_cross_encoder_scores_like_predict(bert_tiny, tmp_path):
    from sentence_transformers import CrossEncoder as STCrossEncoder

    torch.manual_seed(1)
    st = STCrossEncoder(bert_tiny, num_labels=1, max_length=24)
    st.save(str(tmp_path / "st"))
    st = STCrossEncoder(str(tmp_path / "st"))
    m = CrossEncoder.load(str(tmp_path / "st"))
    pairs = list(zip(QUERIES, DOCS))
    want = st.predict(pairs, batch_size=5, convert_to_numpy=True)
    np.testing.assert_allclose(score_pairs(m, QUERIES, DOCS, batch_size=3), want, atol=1e-6)
    # fine-tuning a sentence-transformers model keeps its format
    m.save_pretrained(tmp_path / "again")
    again = CrossEncoder.load(str(tmp_path / "again"))
    np.testing.assert_allclose(score_pairs(again, QUERIES, DOCS), want, atol=1e-6)


def test_pyterrier_reranker_scores_and_ranks(tiny):
    import pandas as pd

    from rankdistill.api import Student

    df = pd.DataFrame({"qid": ["1"] * 3 + ["2"] * 2, "query": [QUERIES[0]] * 3 + [QUERIES[1]] * 2,
                       "docno": list("abcde"), "text": DOCS[:5]})
    out = Student(tiny)(df)
    want = score_pairs(tiny, df["query"].tolist(), df["text"].tolist())
    np.testing.assert_allclose(out.sort_values("docno")["score"].values, want, atol=1e-6)
    for _, g in out.groupby("qid"):
        assert sorted(g["rank"]) == list(range(len(g)))  # PyTerrier ranks are 0-based
        assert g.sort_values("rank")["score"].is_monotonic_decreasing
