"""Batched neural encoding of a collection into float16 embedding shards on disk.

Shared by the dense bi-encoder (one vector per passage) and ColBERT (one vector per token).

* **Streaming**: passages come from the :class:`~rankdistill.datasets.DocStore` in chunks of
  ``shard_size``; each chunk is encoded and written as one shard, so memory is bounded by the
  shard size (and the batch size on the accelerator), never by the corpus size.
* **Length-sorted dynamic padding**: within a shard, passages are tokenised once, sorted by token
  count and batched, and each batch is padded only to its own longest passage. The shard stores
  passages in that order (its docno list says which is which), so search over a shard reads
  runs of similar-length passages too.
* **Shard layout** (folder ``results/index/<first stage>/``)::

      meta.json                    model, settings, dim, counts, list of shards
      shard-00000.npy              float16 [n_passages, dim]  (dense)  or  [n_tokens, dim]  (ColBERT)
      shard-00000.docnos.txt       one docno per line, in the order of the rows / segments
      shard-00000.docnos.npy       the same as fixed-width UTF-8 bytes (memory-mapped for search)
      shard-00000.lengths.npy      int32 [n_passages], tokens per passage (ColBERT only)

  Every file is written atomically and ``meta.json`` last, so a killed job never leaves an index
  that looks complete.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..io import atomic_path, write_json

log = logging.getLogger(__name__)

SHARD_FORMAT = 1


def torch_device(device: str | None = None):
    """``cuda`` when a GPU is visible (honours ``CUDA_VISIBLE_DEVICES``), else ``cpu``."""
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_threads(threads: int | None) -> None:
    """Use the job's cores for CPU matmuls (Snakemake's ``threads``)."""
    if threads:
        import torch

        torch.set_num_threads(max(1, int(threads)))


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (longest first; stable for equal lengths).

    Longest first means the first batch shows the peak memory use at once (an out-of-memory
    error happens immediately, not an hour in).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def iter_chunks(docs: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for d in docs:
        chunk.append(d)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def progress(total: int | None, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, mininterval=5, smoothing=0.1, dynamic_ncols=True)


class Docnos:
    """A shard's docnos as a sequence of ``str`` over a fixed-width byte array (UTF-8), memory-mapped
    from ``shard-NNNNN.docnos.npy``: a search over 8.8M passages reads only the docnos it returns."""

    def __init__(self, array: np.ndarray):
        self.array = array

    @classmethod
    def from_list(cls, docnos: Sequence[str]) -> "Docnos":
        enc = [d.encode("utf-8") for d in docnos]
        return cls(np.array(enc, dtype=f"S{max([len(e) for e in enc] + [1])}"))

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [x.decode("utf-8") for x in self.array[i]]
        return self.array[i].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self.array), 65536):
            yield from (x.decode("utf-8") for x in self.array[start:start + 65536])

    def take(self, idx) -> list[str]:
        return [x.decode("utf-8") for x in self.array[np.asarray(idx, dtype=np.int64)]]


class CorpusDocnos:
    """Docnos of all shards by global row (passage) number, without concatenating them."""

    def __init__(self, parts: Sequence[Docnos]):
        self.parts = list(parts)
        self.starts = np.zeros(len(self.parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in self.parts], out=self.starts[1:])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def take(self, idx) -> list[str]:
        idx = np.asarray(idx, dtype=np.int64)
        part = np.searchsorted(self.starts, idx, side="right") - 1
        return [self.parts[s].array[i - self.starts[s]].decode("utf-8") for s, i in zip(part.tolist(), idx.tolist())]


@dataclass
class Shard:
    """One shard of an index: docnos, the embedding matrix (memory-mapped) and, for multi-vector
    indexes, the number of token vectors of each passage (segments of the matrix, in order)."""

    docnos: Docnos
    embeddings: np.ndarray  # float16 [n, dim] or [n_tokens, dim]
    lengths: np.ndarray | None = None  # int32 [n] for multi-vector

    @property
    def offsets(self) -> np.ndarray:
        """Start row of every passage's segment, plus the end (len = n + 1)."""
        assert self.lengths is not None
        out = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=out[1:])
        return out


class ShardWriter:
    """Writes shards into a (temporary) index folder; :meth:`close` writes ``meta.json``."""

    def __init__(self, folder: str | os.PathLike, meta: dict, multi_vector: bool):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.meta = dict(meta)
        self.multi_vector = multi_vector
        self.shards: list[dict] = []
        self.dim: int | None = None

    def add(self, docnos: list[str], embeddings: np.ndarray, lengths: np.ndarray | None = None) -> None:
        i = len(self.shards)
        name = f"shard-{i:05d}"
        emb = np.ascontiguousarray(embeddings, dtype=np.float16)
        if self.dim is None:
            self.dim = int(emb.shape[1])
        with atomic_path(self.folder / f"{name}.npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, emb)
        with atomic_path(self.folder / f"{name}.docnos.txt") as tmp:
            tmp.write_text("".join(d + "\n" for d in docnos), encoding="utf-8")
        with atomic_path(self.folder / f"{name}.docnos.npy") as tmp:  # the same, memory-mappable
            with open(tmp, "wb") as f:
                np.save(f, Docnos.from_list(docnos).array)
        entry = {"name": name, "passages": len(docnos), "rows": int(emb.shape[0])}
        if self.multi_vector:
            assert lengths is not None and len(lengths) == len(docnos) and int(lengths.sum()) == emb.shape[0]
            with atomic_path(self.folder / f"{name}.lengths.npy") as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, np.asarray(lengths, dtype=np.int32))
        self.shards.append(entry)

    def close(self) -> dict:
        meta = dict(self.meta)
        meta.update(
            format=SHARD_FORMAT,
            multi_vector=self.multi_vector,
            dim=self.dim,
            passages=sum(s["passages"] for s in self.shards),
            rows=sum(s["rows"] for s in self.shards),
            shards=self.shards,
        )
        write_json(self.folder / "meta.json", meta)
        return meta


def read_meta(folder: str | os.PathLike) -> dict:
    import json

    path = Path(folder) / "meta.json"
    if not path.exists():
        raise InputError(folder, "not an embedding index (no meta.json): build it with the encode rule first")
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != SHARD_FORMAT:
        raise InputError(path, f"unsupported index format {meta.get('format')!r} (expected {SHARD_FORMAT}); rebuild it")
    return meta


def iter_shards(folder: str | os.PathLike, mmap: bool = True) -> Iterator[Shard]:
    """Shards of an index in order; embeddings are memory-mapped (read lazily, page by page)."""
    folder = Path(folder)
    meta = read_meta(folder)
    for s in meta["shards"]:
        name = s["name"]
        emb = np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None)
        if (folder / f"{name}.docnos.npy").exists():
            docnos = Docnos(np.load(folder / f"{name}.docnos.npy", mmap_mode="r" if mmap else None))
        else:  # an index written before the .npy copy: read the text (compactly)
            docnos = Docnos.from_list((folder / f"{name}.docnos.txt").read_text(encoding="utf-8").splitlines())
        lengths = np.load(folder / f"{name}.lengths.npy") if meta["multi_vector"] else None
        if len(docnos) != s["passages"] or emb.shape[0] != s["rows"]:
            raise InputError(folder / f"{name}.npy", "shard does not match meta.json (truncated or mixed index); rebuild it")
        yield Shard(docnos, emb, lengths)


def load_shards(folder: str | os.PathLike) -> tuple[list[Shard], CorpusDocnos]:
    """All shards (embeddings and docnos memory-mapped) and the docnos by global row, opened once
    for a search over many query batches."""
    shards = list(iter_shards(folder))
    return shards, CorpusDocnos([s.docnos for s in shards])


def hits_frame(qids, hits):
    """``qid, docno, score`` of ``(docnos, scores)`` per query (``hits``, aligned with ``qids``)."""
    import pandas as pd

    rows = [(q, d, float(x)) for q, (docnos, scores) in zip(qids, hits) for d, x in zip(docnos, scores)]
    return pd.DataFrame(rows, columns=["qid", "docno", "score"])


def write_hits(writer, qids, hits) -> None:
    """Add ``(docnos, scores)`` per query (``hits``, aligned with ``qids``) to a RunWriter."""
    writer.add(hits_frame(qids, hits))


def encode_collection(
    docs: Iterable[dict],
    out: str | os.PathLike,
    tokenize: Callable[[list[str]], list[list[int]]],
    encode_batch: Callable[[list[list[int]]], "list[np.ndarray] | np.ndarray"],
    meta: dict,
    multi_vector: bool,
    batch_size: int = 64,
    shard_size: int = 50_000,
    total: int | None = None,
) -> dict:
    """Encode ``docs`` (``{"docno", "text"}`` records) shard by shard into the folder ``out``.

    ``tokenize(texts)`` gives each text's (truncated) token ids, tokenised once per shard and used
    for length sorting; ``encode_batch(ids)`` pads a batch to its longest member and returns a
    float array ``[n, dim]`` (single vector) or a list of ``[n_i, dim]`` arrays (multi-vector).
    The folder is written atomically.
    """
    from ..io import atomic_dir

    with atomic_dir(out) as tmp:
        writer = ShardWriter(tmp, meta, multi_vector)
        bar = progress(total, "encoding passages", "psg")
        for chunk in iter_chunks(docs, shard_size):
            ids = tokenize([d["text"] for d in chunk])
            lengths = [len(x) for x in ids]
            docnos: list[str] = []
            parts: list[np.ndarray] = []
            seg_lengths: list[int] = []
            for idx in length_sorted_batches(lengths, batch_size):
                embs = encode_batch([ids[i] for i in idx])
                docnos.extend(chunk[i]["docno"] for i in idx)
                if multi_vector:
                    for e in embs:
                        parts.append(np.asarray(e, dtype=np.float16))
                        seg_lengths.append(int(e.shape[0]))
                else:
                    parts.append(np.asarray(embs, dtype=np.float16))
                bar.update(len(idx))
            if multi_vector:
                writer.add(docnos, np.concatenate(parts), np.asarray(seg_lengths, dtype=np.int32))
            else:
                writer.add(docnos, np.concatenate(parts))
        bar.close()
        if not writer.shards:
            raise InputError(out, "the collection has no passages to encode")
        meta = writer.close()
    log.info("encoded %d passages (%d vectors, dim %s) into %d shards", meta["passages"], meta["rows"], meta["dim"],
             len(meta["shards"]))
    return meta


class TopK:
    """Running top-k per query across shards: merge each shard's candidates with ``torch.topk``.

    Scores are float32; docs are identified by a global row number (shard offset + local row).
    """

    def __init__(self, n_queries: int, k: int, device=None):
        import torch

        self.k = k
        self.scores = torch.full((n_queries, 0), float("-inf"), device=device)
        self.ids = torch.zeros((n_queries, 0), dtype=torch.long, device=device)

    def add(self, scores, offset: int) -> None:
        import torch

        kk = min(self.k, scores.shape[1])
        s, i = torch.topk(scores, kk, dim=1)
        s = torch.cat([self.scores, s], dim=1)
        i = torch.cat([self.ids, i + offset], dim=1)
        kk = min(self.k, s.shape[1])
        self.scores, pos = torch.topk(s, kk, dim=1)
        self.ids = torch.gather(i, 1, pos)


def local_model_dir(ref: str, allow_patterns: list[str] | None = None) -> str:
    """A model reference (``package:...``, a local folder, or a hub id) as a local folder.

    Hub ids are downloaded into the Hugging Face cache on first use; without a network (or with
    ``HF_HUB_OFFLINE=1`` and nothing cached) this is an :class:`UnavailableError` naming the id.
    """
    from .. import assets
    from ..errors import UnavailableError

    path = assets.resolve(ref)
    if os.path.isdir(path):
        return path
    if os.path.exists(path):
        raise InputError(path, "expected a model folder (config.json, weights, tokenizer)")
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(path, allow_patterns=allow_patterns)
    except Exception as e:  # offline, unknown repo, gated model: many exception types
        raise UnavailableError(
            f"model {ref!r} is neither a local folder nor a package reference, and downloading it from the "
            f"Hugging Face hub failed ({type(e).__name__}: {str(e)[:200]}). Download it once where the hub is "
            "reachable (it is cached in HF_HOME), or name a local folder."
        ) from e


def load_tokenizer(folder: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def autocast(device):
    """float16 autocast on a GPU, a no-op on the CPU."""
    import contextlib

    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def load_encoder_model(folder: str, allowed_missing: tuple[str, ...] = ("pooler.",)):
    """``AutoModel.from_pretrained(folder)`` that refuses silently random-initialised weights.

    Keys a checkpoint lacks (other than the unused pooler) would be initialised at random and
    give a silently wrong model, so they are an :class:`InputError`. Keys the model does not use
    (an MLM head, ColBERT's ``linear``) are expected and not reported.
    """
    import logging as _logging

    from transformers import AutoModel

    tlog = _logging.getLogger("transformers")
    level = tlog.level
    tlog.setLevel(_logging.ERROR)
    try:
        model, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    finally:
        tlog.setLevel(level)
    missing = [k for k in info.get("missing_keys", []) if not k.startswith(allowed_missing)]
    if missing:
        raise InputError(folder, f"{len(missing)} weights missing from the checkpoint (would be random), "
                                 f"e.g. {sorted(missing)[:3]}")
    return model.eval()
