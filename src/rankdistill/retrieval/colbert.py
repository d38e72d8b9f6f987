"""ColBERT (late interaction): checkpoint loading, query/passage encoding and MaxSim search.

**Checkpoint layout** (``colbert-ir/colbertv2.0`` on the Hugging Face hub, as written by
Stanford's ``colbert-ai``): a BERT encoder saved with the ``bert.`` prefix (``config.json``,
``model.safetensors`` or ``pytorch_model.bin``), one extra matrix ``linear.weight``
(``dim x hidden``, no bias) that projects every token state to ``dim`` (128), the BERT tokenizer,
and ``artifact.metadata`` (JSON: ``query_maxlen`` 32, ``doc_maxlen`` 180, ``dim``,
``mask_punctuation``, ``attend_to_mask_tokens``, ``query_token_id`` ``[unused0]``,
``doc_token_id`` ``[unused1]``). Values missing from the metadata fall back to ColBERT's defaults.

**Encoding** (what ColBERTv2 does):

* query: ``[CLS] [Q] q_1 ... q_n [SEP]`` where ``[Q]`` is the ``[unused0]`` token, truncated to
  ``query_length`` and then *augmented*: padded to exactly ``query_length`` with ``[MASK]``
  tokens. The [MASK] positions are not attended to (unless ``attend_to_mask_tokens``) but their
  output vectors are kept, so every query has ``query_length`` vectors;
* passage: ``[CLS] [D] d_1 ... d_m [SEP]`` (``[D]`` = ``[unused1]``), truncated to
  ``doc_length``, no augmentation; vectors of padding and of punctuation tokens (the skiplist:
  the first token id of each character of ``string.punctuation``) are dropped;
* every vector is projected by ``linear`` and L2-normalised.

**Search**: score(q, d) = sum over query vectors of the max inner product with d's vectors
(MaxSim). :func:`retrieve` does it *exactly* over all float16 token-embedding shards: per block
of passages one matmul ``tokens x (queries x query_length)``, a per-passage max over its segment,
a sum, and a running top-k merge. Memory is bounded by the query batch and the block size.
For MS MARCO-sized corpora, :func:`build_plaid` / :func:`retrieve_plaid` build and search an
approximate PLAID index with ``fast-plaid`` from the same shards (see the README for why).
"""

from __future__ import annotations

import json
import logging
import os
import string
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..datasets.docstore import DocStore
from ..datasets.queries import read_queries
from ..errors import InputError, UnavailableError
from ..io import atomic_dir, write_json
from ..runs import RunWriter, query_batches
from . import encoders

log = logging.getLogger(__name__)

# ColBERT's defaults (colbert-ai ColBERTConfig) for values a checkpoint's artifact.metadata lacks
DEFAULTS = {
    "query_maxlen": 32,
    "doc_maxlen": 180,
    "dim": 128,
    "mask_punctuation": True,
    "attend_to_mask_tokens": False,
    "query_token_id": "[unused0]",
    "doc_token_id": "[unused1]",
}
_TOKENS_PER_BLOCK = 1 << 15  # passage tokens scored per matmul block


@dataclass(frozen=True)
class ColBERTSettings:
    query_length: int
    doc_length: int
    dim: int
    mask_punctuation: bool
    attend_to_mask_tokens: bool
    query_marker: str
    doc_marker: str


def read_checkpoint_metadata(folder: str | os.PathLike) -> dict:
    """``artifact.metadata`` of a colbert-ai checkpoint (empty dict if the file is absent)."""
    path = Path(folder) / "artifact.metadata"
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON: {e}") from None
    return meta if isinstance(meta, dict) else {}


def load_linear(folder: str | os.PathLike):
    """The ``linear.weight`` projection (``dim x hidden``) of a ColBERT checkpoint folder."""
    import torch

    folder = Path(folder)
    st = folder / "model.safetensors"
    if st.exists():
        from safetensors import safe_open

        with safe_open(str(st), framework="pt") as f:
            if "linear.weight" in f.keys():
                return f.get_tensor("linear.weight").float()
    pt = folder / "pytorch_model.bin"
    if pt.exists():
        state = torch.load(pt, map_location="cpu", weights_only=True, mmap=True)
        if "linear.weight" in state:
            return state["linear.weight"].float()
    raise InputError(folder, "no 'linear.weight' in model.safetensors / pytorch_model.bin: not a ColBERT checkpoint "
                             "(expected the colbert-ir/colbertv2.0 layout: BERT weights plus a linear projection)")


# Texts per forward pass when the config leaves batch_size null: a throughput choice of the device (padding is
# masked, so the embeddings do not depend on it), large enough to fill a GPU, small enough for a laptop's cache.
AUTO_BATCH = {"cuda": 256, "cpu": 32}


def encoding_batch_size(batch_size: int | None, device) -> int:
    """``batch_size``, or (``None``) the device's :data:`AUTO_BATCH` (logged)."""
    if batch_size is not None:
        return int(batch_size)
    value = AUTO_BATCH.get(getattr(device, "type", str(device)), AUTO_BATCH["cpu"])
    from ..hardware import remember

    reason = f"auto -> {value} texts per forward pass on {getattr(device, 'type', device)}"
    log.info("colbert batch_size: %s", reason)
    remember("colbert.batch_size", {"requested": None, "value": value, "reason": reason})
    return value


class ColBERT:
    """A ColBERT checkpoint ready to encode queries and passages (see the module docstring)."""

    def __init__(self, model: str, query_length: int | None = None, doc_length: int | None = None,
                 batch_size: int | None = None, device: str | None = None):
        import torch
        self.ref = model
        folder = encoders.local_model_dir(model)
        meta = {**DEFAULTS, **read_checkpoint_metadata(folder)}
        self.device = encoders.torch_device(device)
        self.tokenizer = encoders.load_tokenizer(folder)
        self.bert = encoders.load_encoder_model(folder).to(self.device).eval()
        weight = load_linear(folder)
        hidden = int(self.bert.config.hidden_size)
        if weight.ndim != 2 or weight.shape[1] != hidden:
            raise InputError(folder, f"linear.weight has shape {tuple(weight.shape)}, expected (dim, {hidden})")
        self.linear = torch.nn.Linear(hidden, weight.shape[0], bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(weight)
        self.linear = self.linear.to(self.device).eval()
        limit = min(int(getattr(self.bert.config, "max_position_embeddings", 512)), 512)
        self.settings = ColBERTSettings(
            query_length=min(int(query_length or meta["query_maxlen"]), limit),
            doc_length=min(int(doc_length or meta["doc_maxlen"]), limit),
            dim=int(weight.shape[0]),
            mask_punctuation=bool(meta["mask_punctuation"]),
            attend_to_mask_tokens=bool(meta["attend_to_mask_tokens"]),
            query_marker=str(meta["query_token_id"]),
            doc_marker=str(meta["doc_token_id"]),
        )
        if self.settings.query_length < 4 or self.settings.doc_length < 4:
            raise InputError(folder, "query_length and doc_length must be at least 4 tokens")
        tok = self.tokenizer
        self.q_marker_id = tok.convert_tokens_to_ids(self.settings.query_marker)
        self.d_marker_id = tok.convert_tokens_to_ids(self.settings.doc_marker)
        for name, i in ((self.settings.query_marker, self.q_marker_id), (self.settings.doc_marker, self.d_marker_id)):
            if i is None or i == tok.unk_token_id:
                raise InputError(folder, f"the tokenizer has no marker token {name!r}")
        self.mask_id, self.pad_id = tok.mask_token_id, tok.pad_token_id
        self.skiplist = self._skiplist() if self.settings.mask_punctuation else set()
        self.batch_size = encoding_batch_size(batch_size, self.device)
        self._torch = torch

    def _skiplist(self) -> set[int]:
        ids = set()
        for ch in string.punctuation:
            enc = self.tokenizer.encode(ch, add_special_tokens=False)
            if enc:
                ids.add(enc[0])
        return ids

    def describe(self) -> dict:
        return {"model": self.ref, **asdict(self.settings)}

    # --- tokenisation ---------------------------------------------------------------------
    def _with_marker(self, texts: list[str], length: int, marker: int) -> list[list[int]]:
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=length - 1)["input_ids"]
        return [[x[0], marker, *x[1:]] for x in ids]

    def tokenize_queries(self, texts: list[str]):
        """(ids, attention) int64 [n, query_length]: markers, then [MASK] augmentation."""
        torch = self._torch
        L = self.settings.query_length
        rows = self._with_marker(texts, L, self.q_marker_id)
        ids = torch.full((len(rows), L), self.mask_id, dtype=torch.long)
        att = torch.zeros((len(rows), L), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            att[i, : len(r)] = 1
        if self.settings.attend_to_mask_tokens:
            att[:] = 1
        return ids, att

    def tokenize_docs(self, texts: list[str]) -> list[list[int]]:
        return self._with_marker(texts, self.settings.doc_length, self.d_marker_id)

    # --- encoding -------------------------------------------------------------------------
    def _project(self, ids, att):
        torch = self._torch
        with torch.inference_mode(), encoders.autocast(self.device):
            h = self.bert(input_ids=ids.to(self.device), attention_mask=att.to(self.device)).last_hidden_state
            v = self.linear(h.to(self.linear.weight.dtype) if self.device.type == "cpu" else h)
        return torch.nn.functional.normalize(v.float(), p=2, dim=-1)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """float32 [n, query_length, dim], L2-normalised vectors (all positions kept)."""
        ids, att = self.tokenize_queries(list(texts))
        out = []
        for b in range(0, len(ids), self.batch_size):
            out.append(self._project(ids[b : b + self.batch_size], att[b : b + self.batch_size]).cpu().numpy())
        if not out:
            return np.zeros((0, self.settings.query_length, self.settings.dim), dtype=np.float32)
        return np.concatenate(out)

    def encode_doc_ids(self, rows: list[list[int]]) -> list[np.ndarray]:
        """One batch of tokenised passages (padded to its longest) → per passage [n_kept, dim]."""
        torch = self._torch
        L = max(len(r) for r in rows)
        ids = torch.full((len(rows), L), self.pad_id, dtype=torch.long)
        att = torch.zeros((len(rows), L), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            att[i, : len(r)] = 1
        v = self._project(ids, att).cpu()
        keep = att.bool()
        if self.skiplist:
            keep &= ~torch.isin(ids, torch.tensor(sorted(self.skiplist)))
        return [v[i][keep[i]].numpy() for i in range(len(rows))]

    def encode_docs(self, texts: list[str]) -> list[np.ndarray]:
        """Per passage float32 [n_kept_tokens, dim] (length-sorted batches, input order kept)."""
        rows = self.tokenize_docs(list(texts))
        out: list[np.ndarray | None] = [None] * len(rows)
        for idx in encoders.length_sorted_batches([len(r) for r in rows], self.batch_size):
            for i, e in zip(idx, self.encode_doc_ids([rows[i] for i in idx])):
                out[i] = e
        return out  # type: ignore[return-value]


# --- MaxSim -------------------------------------------------------------------------------

def maxsim(q, tokens, lengths):
    """MaxSim scores of queries against a block of passages in packed form.

    ``q`` float [nq, Lq, dim]; ``tokens`` float [T, dim] (passages' vectors back to back);
    ``lengths`` int [n] (sum = T). Returns float [nq, n]. One matmul for the whole block
    (tokens x query vectors), each passage's max over its own segment of rows
    (``torch.segment_reduce``, no padding copies), then the sum over query vectors.
    """
    import torch

    nq, lq, dim = q.shape
    sim = tokens @ q.reshape(nq * lq, dim).T  # [T, nq*lq]
    best = torch.segment_reduce(sim, "max", lengths=lengths, axis=0)  # [n, nq*lq]
    return best.reshape(-1, nq, lq).sum(-1).T


def _blocks(lengths: np.ndarray, max_tokens: int):
    """Consecutive passage ranges [a, b) whose token count stays under ``max_tokens``."""
    a, tok = 0, 0
    for i, l in enumerate(lengths):
        if i > a and tok + l > max_tokens:
            yield a, i
            a, tok = i, 0
        tok += int(l)
    if a < len(lengths):
        yield a, len(lengths)


def search_embeddings(index: str | os.PathLike, qemb: np.ndarray, depth: int, query_batch: int = 32,
                      tokens_per_block: int = _TOKENS_PER_BLOCK, device=None,
                      loaded=None) -> list[tuple[list[str], np.ndarray]]:
    """Exact MaxSim top-``depth`` (docnos, scores) per query over all shards of ``index``
    (``loaded``: :func:`encoders.load_shards` of ``index``, to reuse over many calls)."""
    import torch

    device = device or torch.device("cpu")
    shards, all_docnos = loaded or encoders.load_shards(index)
    results = []
    bar = encoders.progress(len(shards) * -(-len(qemb) // query_batch), "MaxSim search", "shard")
    for qs in range(0, len(qemb), query_batch):
        q = torch.from_numpy(np.ascontiguousarray(qemb[qs : qs + query_batch], dtype=np.float32)).to(device)
        top = encoders.TopK(q.shape[0], depth, device=device)
        offset = 0
        for shard in shards:
            bar.update(1)
            offs = shard.offsets
            lengths = shard.lengths
            for a, b in _blocks(lengths, tokens_per_block):
                tok = torch.from_numpy(np.array(shard.embeddings[offs[a] : offs[b]])).to(device).float()
                lens = torch.from_numpy(lengths[a:b].astype(np.int64)).to(device)
                top.add(maxsim(q, tok, lens), offset + a)
            offset += len(shard.docnos)
        scores, ids = top.scores.cpu().numpy(), top.ids.cpu().numpy()
        for r in range(q.shape[0]):
            results.append((all_docnos.take(ids[r]), scores[r]))
    bar.close()
    return results


# --- workflow entry points ----------------------------------------------------------------

def build_index(docstore: str | os.PathLike, out: str | os.PathLike, model: str, doc_length: int | None = None,
                batch_size: int | None = None, shard_size: int = 25_000, threads: int = 1, device: str | None = None) -> dict:
    """Encode every passage into float16 token-embedding shards in the folder ``out``."""
    encoders.set_threads(threads)
    enc = ColBERT(model, doc_length=doc_length, batch_size=batch_size, device=device)
    store = DocStore(docstore)
    s = enc.settings
    meta = {"kind": "colbert", "model": model, "doc_length": s.doc_length, "dim": s.dim,
            "mask_punctuation": s.mask_punctuation, "doc_marker": s.doc_marker}
    return encoders.encode_collection(iter(store), out, enc.tokenize_docs, enc.encode_doc_ids, meta,
                                      multi_vector=True, batch_size=enc.batch_size, shard_size=shard_size,
                                      total=len(store))


def _check_index(index, model: str) -> dict:
    meta = encoders.read_meta(index)
    if meta.get("kind") != "colbert":
        raise InputError(index, f"not a ColBERT index (kind {meta.get('kind')!r})")
    if meta.get("model") != model:
        raise InputError(index, f"index was built with {meta.get('model')!r}, queries would be encoded with {model!r}; "
                                "rebuild it")
    return meta


def index_encoder(index: str | os.PathLike, model: str, query_length: int | None = None, batch_size: int = 32,
                  device: str | None = None):
    """``(query encoder, index metadata)`` for exact MaxSim search of ``index`` with ``model``."""
    meta = _check_index(index, model)
    enc = ColBERT(model, query_length=query_length, doc_length=meta["doc_length"], batch_size=batch_size, device=device)
    return enc, meta


def retrieve_frame(topics, index: str | os.PathLike, encoder: "ColBERT", depth: int = 1000, query_batch: int = 32,
                   loaded=None):
    """Each query's (``topics``: ``qid, query``) exact MaxSim top ``depth`` passages: ``qid, docno, score``."""
    qemb = encoder.encode_queries(list(topics["query"]))
    return encoders.hits_frame(topics["qid"], search_embeddings(index, qemb, depth, query_batch, device=encoder.device,
                                                                loaded=loaded))


def retrieve(index: str | os.PathLike, queries: str | os.PathLike, out: str | os.PathLike, model: str,
             query_length: int | None = None, depth: int = 1000, batch_size: int = 32, query_batch: int = 32,
             threads: int = 1, device: str | None = None, tag: str = "colbert", write_batch: int = 4096) -> dict:
    """Exact MaxSim retrieval of every query's top ``depth`` passages; writes a TREC run.

    ``write_batch`` queries at a time are encoded, searched and written (natural qid order), so
    memory is bounded by that batch (a query's token matrix is 32 x 128 floats). Returns
    ``{"queries", "results"}``.
    """
    encoders.set_threads(threads)
    enc, meta = index_encoder(index, model, query_length, batch_size, device)
    topics = read_queries(queries)
    loaded = encoders.load_shards(index)
    with RunWriter(out, tag=tag) as w:
        for batch in query_batches(topics, write_batch):
            w.add(retrieve_frame(batch, index, enc, depth, query_batch, loaded))
    log.info("retrieved %d results for %d queries over %d passages (exact MaxSim)", w.rows, len(topics),
             meta["passages"])
    return {"queries": int(len(topics)), "results": w.rows}


# --- re-ranking a run ---------------------------------------------------------------------

def rerank_frame(run, queries, docstore: DocStore, encoder: "ColBERT", depth: int | None = 100,
                 source: str = "run"):
    """MaxSim scores of each query's top ``depth`` candidates of ``run`` (``qid, docno, score``).

    The candidates' token vectors are computed on the fly (float32; exact search reads float16
    shards, so scores agree to about 1e-3). One query at a time: memory is one candidate list.
    """
    import pandas as pd
    import torch

    from .dense import candidate_texts

    run, qtext = candidate_texts(run, queries, source, depth)
    out = []
    bar = encoders.progress(run["qid"].nunique(), "MaxSim re-ranking", "query")
    for qid, part in run.groupby("qid", sort=False):
        texts = docstore_texts(docstore, part["docno"], source)
        demb = encoder.encode_docs(texts)
        q = torch.from_numpy(encoder.encode_queries([qtext[qid]])).to(encoder.device)
        tok = torch.from_numpy(np.concatenate(demb)).to(encoder.device)
        lens = torch.tensor([len(e) for e in demb], dtype=torch.long, device=encoder.device)
        scores = maxsim(q, tok, lens)[0].cpu().numpy()
        out.append(pd.DataFrame({"qid": part["qid"].to_numpy(), "docno": part["docno"].to_numpy(),
                                 "score": scores.astype(np.float64)}))
        bar.update(1)
    bar.close()
    return pd.concat(out, ignore_index=True) if out else run.iloc[:0][["qid", "docno", "score"]]


def docstore_texts(docstore: DocStore, docnos, source: str) -> list[str]:
    try:
        texts = docstore.get_many(list(docnos))
    except KeyError as e:
        raise InputError(source, f"passages missing from the document store: {e}") from None
    return [texts[d] for d in docnos]


def rerank_run_file(run: str | os.PathLike, queries: str | os.PathLike, docstore: str | os.PathLike,
                    out: str | os.PathLike, model: str, query_length: int | None = None, doc_length: int | None = None,
                    depth: int | None = 100, batch_size: int = 32, threads: int = 1, device: str | None = None,
                    tag: str = "colbert"):
    """File version of :func:`rerank_frame` (the rerankers' ``kind: colbert`` rule): re-score the top ``depth``
    of ``run`` by MaxSim, write a run."""
    from ..runs import read_run, write_run

    encoders.set_threads(threads)
    enc = ColBERT(model, query_length=query_length, doc_length=doc_length, batch_size=batch_size, device=device)
    with DocStore(docstore) as store:
        res = rerank_frame(read_run(run), read_queries(queries), store, enc, depth, source=str(run))
    write_run(res, out, tag=tag)
    log.info("re-ranked %d candidates of %d queries with %s (MaxSim)", len(res), res["qid"].nunique(), model)
    return res


# --- PLAID (approximate) through fast-plaid ------------------------------------------------

PLAID_HINT = (
    "PLAID indexing uses the 'fast-plaid' package (lightonai), whose wheels are built for one exact torch "
    "version each (fast-plaid==1.7.0.2110 needs torch==2.11.0). Run this rule in envs/plaid.yaml "
    "(snakemake --sdm conda) or install a matching pair, e.g. pip install 'torch==2.11.0' "
    "'fast-plaid==1.7.0.2110'. Exact search (index: exact) needs no extra package."
)


def _fast_plaid():
    try:
        from fast_plaid import search as fp_search
    except ImportError as e:  # not installed, or built for another torch (undefined symbol)
        raise UnavailableError(f"fast-plaid is not usable here ({type(e).__name__}: {str(e)[:160]}). {PLAID_HINT}") from e
    return fp_search


def build_plaid(index: str | os.PathLike, out: str | os.PathLike, nbits: int = 2, kmeans_niters: int = 4,
                seed: int = 42, threads: int = 1, device: str | None = None) -> dict:
    """Build a PLAID index (centroids + residual codes) from the exact index's float16 shards.

    The passages' token matrices are handed to fast-plaid as memory-mapped views of the shards,
    so they are not re-encoded and not all loaded at once (fast-plaid samples them for k-means
    and compresses them batch by batch).
    """
    import torch

    fp_search = _fast_plaid()
    encoders.set_threads(threads)
    meta = encoders.read_meta(index)
    if meta.get("kind") != "colbert":
        raise InputError(index, "PLAID needs a ColBERT (multi-vector) index")
    dev = str(encoders.torch_device(device))
    docs, docnos = [], []
    for shard in encoders.iter_shards(index):
        offs = shard.offsets
        with warnings.catch_warnings():  # read-only memory map: fast-plaid only reads it
            warnings.simplefilter("ignore", UserWarning)
            emb = torch.from_numpy(shard.embeddings)  # mmap-backed, pages read lazily
        docs.extend(emb[offs[i] : offs[i + 1]] for i in range(len(shard.docnos)))
        docnos.extend(shard.docnos)
    with atomic_dir(out) as tmp:
        engine = fp_search.FastPlaid(index=str(tmp / "fast_plaid"), device=dev)
        engine.create(documents_embeddings=docs, nbits=nbits, kmeans_niters=kmeans_niters, seed=seed)
        (tmp / "docnos.txt").write_text("".join(d + "\n" for d in docnos), encoding="utf-8")
        info = {"kind": "plaid", "engine": "fast-plaid", "model": meta["model"], "doc_length": meta["doc_length"],
                "nbits": nbits, "kmeans_niters": kmeans_niters, "seed": seed, "passages": len(docnos)}
        write_json(tmp / "meta.json", info)
    return info


def retrieve_plaid(plaid: str | os.PathLike, queries: str | os.PathLike, out: str | os.PathLike, model: str,
                   query_length: int | None = None, depth: int = 1000, n_ivf_probe: int = 8,
                   n_full_scores: int = 4096, batch_size: int = 32, threads: int = 1, device: str | None = None,
                   tag: str = "colbert", write_batch: int = 4096) -> dict:
    """Approximate (PLAID) retrieval of every query's top ``depth`` passages; writes a TREC run."""
    import torch

    fp_search = _fast_plaid()
    encoders.set_threads(threads)
    plaid = Path(plaid)
    info = json.loads((plaid / "meta.json").read_text())
    if info.get("model") != model:
        raise InputError(plaid, f"PLAID index was built with {info.get('model')!r}, not {model!r}; rebuild it")
    docnos = (plaid / "docnos.txt").read_text(encoding="utf-8").splitlines()
    enc = ColBERT(model, query_length=query_length, doc_length=info["doc_length"], batch_size=batch_size, device=device)
    topics = read_queries(queries)
    engine = fp_search.FastPlaid(index=str(plaid / "fast_plaid"), device=str(enc.device))
    with RunWriter(out, tag=tag) as w:
        for batch in query_batches(topics, write_batch):
            qemb = torch.from_numpy(enc.encode_queries(list(batch["query"])))
            res = engine.search(queries_embeddings=qemb, top_k=depth, n_ivf_probe=n_ivf_probe,
                                n_full_scores=max(n_full_scores, depth))
            hits = [([docnos[i] for i, _ in r], np.asarray([s for _, s in r], dtype=np.float32)) for r in res]
            encoders.write_hits(w, batch["qid"], hits)
    return {"queries": int(len(topics)), "results": w.rows}


def init_checkpoint(bert: str, out: str | os.PathLike, dim: int = 128, seed: int = 0, query_maxlen: int = 32,
                    doc_maxlen: int = 180) -> Path:
    """Write a ColBERT checkpoint in the ``colbert-ir/colbertv2.0`` layout from a BERT model.

    The BERT weights are copied (saved with the ``bert.`` prefix, as colbert-ai does) and the
    ``linear`` projection is initialised from ``seed``: a starting point for training, and how the
    tests build a tiny checkpoint from BERT-tiny.
    """
    import torch
    from safetensors.torch import save_file
    src = encoders.local_model_dir(bert)
    model = encoders.load_encoder_model(src)
    tok = encoders.load_tokenizer(src)
    gen = torch.Generator().manual_seed(seed)
    hidden = int(model.config.hidden_size)
    linear = torch.empty(dim, hidden)
    bound = 1.0 / hidden**0.5
    linear.uniform_(-bound, bound, generator=gen)
    out = Path(out)
    with atomic_dir(out) as tmp:
        # the pooler is unused by ColBERT (and random when the source lacks it): not saved, so the
        # checkpoint is a deterministic function of (bert, dim, seed)
        state = {f"bert.{k}": v.contiguous() for k, v in model.state_dict().items() if not k.startswith("pooler.")}
        state["linear.weight"] = linear
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        cfg = model.config.to_dict()
        cfg["architectures"] = ["HF_ColBERT"]
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True, default=str))
        tok.save_pretrained(str(tmp))
        write_json(tmp / "artifact.metadata", {**DEFAULTS, "dim": dim, "query_maxlen": query_maxlen,
                                               "doc_maxlen": doc_maxlen, "similarity": "cosine",
                                               "checkpoint": str(bert)})
    return out


def retrieve_configured(index: str | os.PathLike, queries: str | os.PathLike, out: str | os.PathLike, model: str,
                        index_kind: str = "exact", query_length: int | None = None, depth: int = 1000,
                        plaid: dict | None = None, batch_size: int = 32, threads: int = 1,
                        tag: str = "colbert") -> dict:
    """The retrieve rule's entry point: exact MaxSim over shards, or PLAID search."""
    if index_kind == "exact":
        return retrieve(index, queries, out, model, query_length=query_length, depth=depth, batch_size=batch_size,
                        threads=threads, tag=tag)
    if index_kind == "plaid":
        p = plaid or {}
        return retrieve_plaid(index, queries, out, model, query_length=query_length, depth=depth,
                              n_ivf_probe=p.get("n_ivf_probe", 8), n_full_scores=p.get("n_full_scores", 4096),
                              batch_size=batch_size, threads=threads, tag=tag)
    raise ValueError(f"unknown ColBERT index kind {index_kind!r} (exact or plaid)")
