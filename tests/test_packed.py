"""Padding-free (packed) scoring equals the backbone's padded forward, for every supported family,
head and pooling; the scorer's packed engine returns the padded engine's scores in input order."""

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, ElectraConfig, RobertaConfig, \
    BertConfig

from rankdistill.students.model import CrossEncoder, Settings
from rankdistill.students.packed import PackedEncoder, pack, unsupported
from rankdistill.students.scoring import score_pairs

pytestmark = pytest.mark.usefixtures("fp32_numerics")  # scores compared at float tolerance (conftest)

QUERIES = ["what is a fox", "how do plants grow in winter", "capital of france", "a"] * 5
DOCS = [("the quick brown fox jumps over the lazy dog " * (i % 5 + 1)) + f"passage {i}" for i in range(20)]


def _padded_and_packed(model: CrossEncoder, queries=QUERIES, docs=DOCS):
    model.eval()
    ids, types = model.encode(queries, docs)
    with torch.no_grad():
        padded = model(**model.batch(queries, docs))
        model.enable_packed("sdpa")
        b = pack(ids, types)
        packed = model.forward_packed(**b)
    return padded.numpy(), packed.numpy()


def _tiny(config_cls, tokenizer_dir, **kw):
    torch.manual_seed(0)
    cfg = config_cls(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=128, **kw)
    return cfg, AutoTokenizer.from_pretrained(tokenizer_dir)


@pytest.mark.parametrize("pooling", ["first", "mean", "max", "sum"])
def test_bert_tiny_packed_equals_padded(bert_tiny, pooling):
    m = CrossEncoder.from_backbone(bert_tiny, query_length=6, doc_length=20, seed=1)
    m.settings.pooling = pooling
    padded, packed = _padded_and_packed(m)
    np.testing.assert_allclose(packed, padded, atol=2e-5)
    assert np.ptp(padded) > 0  # the pairs score differently, so equality is not trivial


def test_minilm_packed_equals_padded(minilm):
    m = CrossEncoder.from_backbone(minilm, query_length=32, doc_length=64, seed=1)
    padded, packed = _padded_and_packed(m)
    np.testing.assert_allclose(packed, padded, atol=2e-5)


def test_electra_with_embedding_projection_and_mono_head(bert_tiny):
    cfg, tok = _tiny(ElectraConfig, bert_tiny, embedding_size=16)
    m = CrossEncoder(AutoModel.from_config(cfg), tok, Settings(query_length=8, doc_length=24, scoring="mono",
                                                              linear_bias=True))
    assert hasattr(m.backbone, "embeddings_project")
    padded, packed = _padded_and_packed(m)
    np.testing.assert_allclose(packed, padded, atol=2e-5)


def test_roberta_positions_start_after_padding_idx(bert_tiny):
    cfg, tok = _tiny(RobertaConfig, bert_tiny, pad_token_id=1, type_vocab_size=1)
    m = CrossEncoder(AutoModel.from_config(cfg, add_pooling_layer=False), tok, Settings(query_length=8, doc_length=24))
    ids, _ = m.encode(QUERIES, DOCS)
    assert all(1 not in x for x in ids)  # id 1 is RoBERTa's padding_idx; real tokens must not use it here
    m.eval()
    with torch.no_grad():
        b = m.batch(QUERIES, DOCS)
        b.pop("token_type_ids", None)
        padded = m(**b).numpy()
        m.enable_packed("sdpa")
        packed = m.forward_packed(**pack(ids, None)).numpy()
    np.testing.assert_allclose(packed, padded, atol=2e-5)


@pytest.mark.parametrize("config_cls", [BertConfig, ElectraConfig])
def test_sequence_classification_heads(tmp_path, bert_tiny, config_cls):
    cfg, tok = _tiny(config_cls, bert_tiny, num_labels=1)
    AutoModelForSequenceClassification.from_config(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    m = CrossEncoder.load(str(tmp_path))
    assert m.seqcls and m.packed_unsupported() is None
    padded, packed = _padded_and_packed(m)
    np.testing.assert_allclose(packed, padded, atol=2e-5)


def test_score_pairs_packed_engine_matches_padded(bert_tiny):
    m = CrossEncoder.from_backbone(bert_tiny, query_length=6, doc_length=20, seed=2)
    want = score_pairs(m, QUERIES, DOCS, engine="padded", batch_size=7)
    stats = {}
    got = score_pairs(m, QUERIES, DOCS, engine="packed", batch_size=5, max_tokens=64, chunk=8, stats=stats)
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert stats["engine"] == "packed" and stats["padded_tokens"] == stats["tokens"]  # no padding at all
    assert score_pairs(m, [], [], engine="packed").shape == (0,)


def test_unsupported_backbones_fall_back(bert_tiny):
    from transformers import GPT2Config

    gpt = AutoModel.from_config(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=100))
    assert "model type" in unsupported(gpt)
    with pytest.raises(ValueError, match="cannot run this backbone packed"):
        PackedEncoder(gpt)
    m = CrossEncoder.from_backbone(bert_tiny, query_length=6, doc_length=20, seed=2)
    with pytest.raises(ValueError, match="engine"):
        score_pairs(m, QUERIES, DOCS, engine="fast")


def test_pack_layout():
    b = pack([[5, 6, 7], [8], [9, 10]], [[0, 1, 1], [0], [0, 1]])
    assert b["input_ids"].tolist() == [5, 6, 7, 8, 9, 10]
    assert b["position_ids"].tolist() == [0, 1, 2, 0, 0, 1]
    assert b["cu_seqlens"].tolist() == [0, 3, 4, 6] and b["cu_seqlens"].dtype == torch.int32
    assert b["token_type_ids"].tolist() == [0, 1, 1, 0, 0, 1] and b["max_len"] == 3


def test_attention_core_choice():
    from rankdistill.students.packed import _attention_backend, attention_candidates

    assert attention_candidates(torch.device("cpu"), torch.bfloat16) == ["sdpa"]
    assert attention_candidates(torch.device("cuda"), torch.float32) == ["sdpa"]  # flash kernels need 16-bit
    gpu = attention_candidates(torch.device("cuda"), torch.bfloat16)
    assert gpu[-1] == "sdpa" and "aten-flash" in gpu  # this PyTorch has the kernel behind SDPA's flash path
    assert _attention_backend("auto", torch.device("cuda"), torch.bfloat16) == gpu[0]
    with pytest.raises(ValueError, match="attention must be one of"):
        _attention_backend("flash", torch.device("cpu"), torch.float32)


def test_auto_engine_falls_back_when_the_kernel_fails(bert_tiny, monkeypatch, caplog):
    """A GPU build without the varlen kernel (here: the CUDA-only kernels asked for on a CPU) must not
    break re-ranking: the probe catches it and the next attention core, or the padded engine, scores."""
    import rankdistill.students.packed as packed

    m = CrossEncoder.from_backbone(bert_tiny, query_length=6, doc_length=20, seed=2)
    want = score_pairs(m, QUERIES, DOCS, engine="padded")
    monkeypatch.setattr(packed, "attention_candidates", lambda *a: ["varlen", "aten-flash", "sdpa"])
    stats = {}
    with caplog.at_level("WARNING", logger="rankdistill.students.scoring"):
        got = score_pairs(m, QUERIES, DOCS, engine="auto", stats=stats)
    assert stats["engine"] == "packed" and m._packed.attention == "sdpa"
    assert "varlen attention" in caplog.text and "aten-flash attention" in caplog.text
    np.testing.assert_allclose(got, want, atol=2e-5)

    monkeypatch.setattr(packed, "attention_candidates", lambda *a: ["varlen"])
    caplog.clear()
    with caplog.at_level("WARNING", logger="rankdistill.students.scoring"):
        got = score_pairs(m, QUERIES, DOCS, engine="auto", stats=stats)
    assert stats["engine"] == "padded" and "scoring padded" in caplog.text
    np.testing.assert_allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError, match="engine='packed' is not available"):
        score_pairs(m, QUERIES, DOCS, engine="packed")
