"""Dense bi-encoder: pooling/similarity, length-sorted batching, float16 shards and exact search (its TREC DL
figures are asserted through the pipeline in tests/test_rerankers.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rankdistill.datasets.docstore import build_docstore
from rankdistill.datasets.queries import write_queries
from rankdistill.errors import InputError
from rankdistill.retrieval import dense, encoders
from rankdistill.runs import read_run

TEXTS = ["A car is a wheeled motor vehicle used for transportation.", "cats",
         "The automobile industry " * 20, "Paris is the capital of France.", "what is a car"]


@pytest.fixture(scope="module")
def enc(minilm):
    return dense.BiEncoder(minilm, batch_size=2)


def test_sentence_transformers_settings_and_pooling(enc, minilm):
    # all-MiniLM-L6-v2 declares mean pooling and a Normalize module: auto picks mean + cosine
    assert (enc.pooling, enc.similarity) == ("mean", "cosine")
    v = enc.encode(TEXTS, "doc")
    assert v.shape == (5, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    cls = dense.BiEncoder(minilm, pooling="cls", similarity="dot")
    c = cls.encode(TEXTS[:2], "doc")
    assert not np.allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-3)  # dot: not normalised
    assert np.abs(c / np.linalg.norm(c, axis=1, keepdims=True) - v[:2]).max() > 0.05  # CLS != mean
    # the same vectors as sentence-transformers' own implementation of this model
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(minilm, device="cpu").encode(TEXTS, convert_to_numpy=True)
    np.testing.assert_allclose(v, ref, atol=2e-5)


def test_length_sorted_dynamic_padding_equals_one_at_a_time(enc):
    batched = enc.encode(TEXTS, "doc")  # batches of 2, sorted by length, padded per batch
    single = np.stack([enc.encode([t], "doc")[0] for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    ids = enc.tokenize(TEXTS, "doc")
    assert max(len(x) for x in ids) <= enc.doc_length
    order = [i for b in encoders.length_sorted_batches([len(x) for x in ids], 2) for i in b]
    assert sorted(order) == list(range(5)) and [len(ids[i]) for i in order] == sorted(map(len, ids), reverse=True)


def test_index_shards_and_exact_search_match_brute_force(enc, minilm, tmp_path):
    from rankdistill.datasets.synthetic import SyntheticCollection, SyntheticSpec

    world = SyntheticCollection(SyntheticSpec(seed=11, passages=60))
    docs = list(world.iter_passages())
    queries, _ = world.queries("test-a", 5)
    build_docstore(docs, tmp_path / "docs.sqlite")
    write_queries(queries, tmp_path / "q.tsv")
    meta = dense.build_index(tmp_path / "docs.sqlite", tmp_path / "idx", minilm, batch_size=8, shard_size=25)
    assert meta["passages"] == 60 and [s["passages"] for s in meta["shards"]] == [25, 25, 10]
    assert json.loads((tmp_path / "idx" / "meta.json").read_text())["pooling"] == "mean"
    shards = list(encoders.iter_shards(tmp_path / "idx"))
    assert all(s.embeddings.dtype == np.float16 and s.embeddings.shape[1] == 384 for s in shards)
    assert sorted(d for s in shards for d in s.docnos) == sorted(d["docno"] for d in docs)

    stats = dense.retrieve(tmp_path / "idx", tmp_path / "q.tsv", tmp_path / "d.run", minilm, depth=10)
    got = read_run(tmp_path / "d.run")
    assert got.groupby("qid").size().eq(10).all()
    # reference: one matmul over all passages (float16-rounded like the shards), full sort
    dvec = enc.encode([d["text"] for d in docs], "doc").astype(np.float16).astype(np.float32)
    qvec = enc.encode(list(queries["query"]), "query")
    ref = qvec @ dvec.T
    for i, qid in enumerate(queries["qid"]):
        top = np.argsort(-ref[i], kind="stable")[:10]
        mine = got[got.qid == qid].sort_values("rank")
        assert list(mine.docno[:5]) == [docs[j]["docno"] for j in top[:5]]
        np.testing.assert_allclose(mine.score.to_numpy(), ref[i][top], atol=1e-4)
    assert stats == {"queries": 5, "results": 50}  # 3 shards merged by the running top-k: 10 per query
    # encoding, searching and writing 2 queries at a time: the same run (up to the encoder's float
    # rounding, which depends on how queries are padded together)
    dense.retrieve(tmp_path / "idx", tmp_path / "q.tsv", tmp_path / "d2.run", minilm, depth=10, write_batch=2)
    again = read_run(tmp_path / "d2.run")
    assert again[["qid", "docno", "rank"]].equals(got[["qid", "docno", "rank"]])
    np.testing.assert_allclose(again.score, got.score, atol=1e-5)
    with pytest.raises(InputError, match="rebuild"):
        dense.retrieve(tmp_path / "idx", tmp_path / "q.tsv", tmp_path / "x.run", minilm, pooling="cls")


def test_topk_merge_across_blocks():
    import torch

    g = torch.Generator().manual_seed(1)
    scores = torch.randn(4, 1000, generator=g)
    top = encoders.TopK(4, 17)
    for b in range(0, 1000, 128):
        top.add(scores[:, b : b + 128], b)
    want = torch.topk(scores, 17, dim=1)
    torch.testing.assert_close(top.scores, want.values)
    assert torch.equal(top.ids, want.indices)


# all-MiniLM-L6-v2 re-ranking the official BM25 top 100 of DL19/DL20 (0.6424 / 0.6081) is asserted through the
# pipeline (tests/test_rerankers.py, the rerank_dense rule runs the same rerank_frame), not a second time here.


def test_shard_docnos_are_memory_mapped_and_old_indexes_still_read(tmp_path):
    """Search reads docnos from a memory-mapped byte array (not a list of 8.8M strings); indexes
    written before the .npy copy fall back to the text file; any UTF-8 docno round-trips."""
    names = [["d1", "Straße-7", "x"], ["long-docno-" * 3, "d5"]]
    w = encoders.ShardWriter(tmp_path / "idx", {"kind": "dense"}, multi_vector=False)
    for part in names:
        w.add(part, np.ones((len(part), 4), dtype=np.float32))
    w.close()
    shards, corpus = encoders.load_shards(tmp_path / "idx")
    assert isinstance(shards[0].docnos.array, np.memmap)
    assert [list(s.docnos) for s in shards] == names and shards[0].docnos[1] == "Straße-7"
    assert corpus.take([4, 0, 3, 1]) == ["d5", "d1", "long-docno-" * 3, "Straße-7"] and len(corpus) == 5
    for f in (tmp_path / "idx").glob("*.docnos.npy"):
        f.unlink()
    shards, corpus = encoders.load_shards(tmp_path / "idx")
    assert [list(s.docnos) for s in shards] == names and corpus.take([1, 4]) == ["Straße-7", "d5"]
