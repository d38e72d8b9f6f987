"""Our loader against lightning-ir's own code (issue 5: load ``webis/monoelectra-*`` and score like lightning-ir).

tests/data/lightning_ir/ holds tiny mono cross-encoders written by lightning-ir 0.0.6 itself
(``CrossEncoderModule.save_pretrained``, transformers 4.57) and the scores and token ids that
lightning-ir's ``CrossEncoderModule.score`` produced for them (``make_fixture.py`` there says how to
regenerate them in a side venv). lightning-ir is not needed here.

The checks are split so that a failure names its layer: the token ids, the token type ids, the
network on lightning-ir's own input (weights, key names, pooling, bert_pool, head bias, scoring),
and finally end-to-end scores and rankings through ``CrossEncoder.load`` + ``score_pairs``.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rankdistill.students.model import CrossEncoder, PairTokenizer, collate
from rankdistill.students.scoring import score_pairs

pytestmark = pytest.mark.usefixtures("fp32_numerics")  # scores compared at float tolerance (conftest)

FIXTURE = Path(__file__).parent / "data" / "lightning_ir"
REF = json.loads((FIXTURE / "scores.json").read_text(encoding="utf-8"))
NAMES = sorted(REF["models"])
QUERIES = [q for q, docs in zip(REF["queries"], REF["docs"]) for _ in docs]
DOCS = [d for docs in REF["docs"] for d in docs]
ATOL = 1e-5

# lightning-ir writes "tokenizer_class": "CrossEncoderTokenizer" (its own mixin) into tokenizer_config.json.
# transformers 5 cannot resolve that name and would silently fall back to a generic tokenizer without
# token_type_ids (segment 0 for the passage too): CrossEncoder._load_lightning_ir loads the tokenizer by the
# backbone's type; the token type and end-to-end tests below guard that.


@pytest.fixture(scope="module")
def loaded():
    return {name: CrossEncoder.load(str(FIXTURE / name)) for name in NAMES}


def test_fixture_is_what_it_claims():
    """The fixture covers what matters: each head variant, cut texts, the pair limit, varied lengths."""
    assert REF["versions"]["lightning_ir"] == "0.0.6" and REF["versions"]["transformers"].startswith("4.")
    cfgs = {n: REF["models"][n]["config"] for n in NAMES}
    assert {c["scoring_strategy"] for c in cfgs.values()} == {"rank", "mono"}
    assert {c["linear_bias"] for c in cfgs.values()} == {True, False}
    assert any(c["_bert_pool"] for c in cfgs.values())
    assert {c["pooling_strategy"] for c in cfgs.values()} == {"first", "mean"}
    for name in NAMES:
        m = REF["models"][name]
        assert len(m["scores"]) == len(QUERIES) == len(DOCS) == 20
        lengths = [len(x) for x in m["input_ids"]]
        assert max(lengths) > 2 * min(lengths)  # a padded batch of very different lengths
        # longer than both side limits, so truncation shapes the input
        assert max(lengths) >= m["config"]["query_length"] + m["config"]["doc_length"] or \
            max(lengths) == m["model_max_length"]
    assert max(len(x) for x in REF["models"]["electra_pairlimit"]["input_ids"]) == 40  # the pair limit binds


@pytest.mark.parametrize("name", NAMES)
def test_settings_read_from_lightning_ir_config(loaded, name):
    s, c = loaded[name].settings, REF["models"][name]["config"]
    assert (s.query_length, s.doc_length) == (c["query_length"], c["doc_length"])
    assert (s.pooling, s.scoring, s.linear_bias, s.bert_pool) == (
        c["pooling_strategy"], c["scoring_strategy"], c["linear_bias"], c["_bert_pool"])
    assert s.truncation == "decode"  # a foreign checkpoint is tokenised exactly as lightning-ir does
    assert loaded[name].tokenizer.model_max_length == REF["models"][name]["model_max_length"]


@pytest.mark.parametrize("name", NAMES)
def test_token_ids_equal_lightning_ir(loaded, name):
    ids, _ = loaded[name].encode(QUERIES, DOCS)
    assert ids == REF["models"][name]["input_ids"]


@pytest.mark.parametrize("name", NAMES)
def test_token_type_ids_equal_lightning_ir(loaded, name):
    _, types = loaded[name].encode(QUERIES, DOCS)
    assert types == REF["models"][name]["token_type_ids"]


@pytest.mark.parametrize("name", NAMES)
def test_network_scores_lightning_ir_input_like_lightning_ir(loaded, name):
    """Weights, key names, pooling, bert_pool, head bias and scoring: our forward on lightning-ir's own
    (unpadded) token ids and token type ids, re-padded by our collate, gives lightning-ir's scores."""
    m = REF["models"][name]
    batch = collate(m["input_ids"], m["token_type_ids"], loaded[name].pairs.pad_id)
    with torch.inference_mode():
        got = loaded[name].eval()(**batch).numpy()
    np.testing.assert_allclose(got, m["scores"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("engine", ["padded", "packed"])
@pytest.mark.parametrize("name", NAMES)
def test_loaded_checkpoint_scores_and_ranks_like_lightning_ir(loaded, name, engine):
    want = np.asarray(REF["models"][name]["scores"])
    got = score_pairs(loaded[name], QUERIES, DOCS, engine=engine, batch_size=3)  # batches mix lengths, reordered
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
    start = 0
    for docs in REF["docs"]:
        sl = slice(start, start + len(docs))
        assert list(np.argsort(-got[sl], kind="stable")) == list(np.argsort(-want[sl], kind="stable"))
        start += len(docs)


@pytest.mark.parametrize("name", NAMES)
def test_our_fast_truncation_gives_lightning_ir_ids(loaded, name):
    """Our own checkpoints use truncation="ids" (cut token ids, no decode/re-encode); lightning-ir loading
    them decodes and re-encodes. Greedy WordPiece is prefix-stable, so the ids agree (the fixture's
    ``resegmented_texts`` is 0) -- as long as the pair fits the tokenizer's model_max_length."""
    model = loaded[name]
    fast = PairTokenizer(model.tokenizer, type(model.settings)(**{**vars(model.settings), "truncation": "ids"}))
    assert fast.settings.truncation == "ids"
    ids, _ = fast(QUERIES, DOCS)
    assert ids == REF["models"][name]["input_ids"]


@pytest.mark.parametrize("name", NAMES)
def test_our_save_writes_what_lightning_ir_wrote(loaded, name, tmp_path):
    """The reverse direction without lightning-ir: re-saving a lightning-ir folder with our save_pretrained
    gives the same weight keys and tensors and an equivalent lightning-ir config (checked once by hand in the
    side venv: our saved BERT-tiny, MiniLM and ELECTRA students load in lightning-ir 0.0.6 and score like us)."""
    from safetensors.torch import load_file

    loaded[name].save_pretrained(tmp_path / name)
    theirs = load_file(str(FIXTURE / name / "model.safetensors"))
    ours = load_file(str(tmp_path / name / "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for k, v in theirs.items():
        assert torch.equal(ours[k], v), k
    cfg_theirs = json.loads((FIXTURE / name / "config.json").read_text())
    cfg_ours = json.loads((tmp_path / name / "config.json").read_text())
    for key in ("model_type", "backbone_model_type", "architectures", "query_length", "doc_length", "linear_bias",
                "scoring_strategy", "hidden_size", "embedding_size", "vocab_size", "type_vocab_size"):
        assert cfg_ours.get(key) == cfg_theirs.get(key), key
    # lightning-ir writes bert_pool as pooling "first" + "_bert_pool"; MonoConfig reads "bert_pool" as the same
    pool = lambda c: "bert_pool" if c.get("_bert_pool") or c["pooling_strategy"] == "bert_pool" else c["pooling_strategy"]  # noqa: E731
    assert pool(cfg_ours) == pool(cfg_theirs)
