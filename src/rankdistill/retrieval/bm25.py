"""BM25 through PyTerrier: ``pisa`` (pyterrier-pisa, default, no Java) or ``terrier`` (Terrier).

The index depends only on the collection and the stemmer; ``k1``, ``b`` and ``depth`` are
retrieval parameters, so changing them re-runs retrieval but not indexing.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path


from ..datasets.docstore import DocStore
from ..datasets.queries import read_queries
from ..errors import UnavailableError
from ..io import atomic_dir, write_json
from ..runs import RunWriter, query_batches

log = logging.getLogger(__name__)

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def clean_query(text: str) -> str:
    """PISA's and Terrier's query parsers choke on operators and punctuation; keep words only."""
    return " ".join(_NON_WORD.sub(" ", text).split())


def _terrier_unavailable(e: Exception) -> UnavailableError:
    return UnavailableError(
        "the 'terrier' BM25 backend needs Java and Terrier's jar, which PyTerrier downloads from Maven "
        f"Central on first use; that failed here ({type(e).__name__}: {str(e)[:200]}). Use "
        "'backend: pisa' (pyterrier-pisa, no Java) or run where Maven Central is reachable."
    )


def build_index(docstore: str | os.PathLike, out: str | os.PathLike, backend: str = "pisa",
                stemmer: str = "porter2", threads: int = 1) -> None:
    """Index the document store into the folder ``out`` (written atomically)."""
    store = DocStore(docstore)
    with atomic_dir(out) as tmp:
        if backend == "pisa":
            from pyterrier_pisa import PisaIndex

            idx = PisaIndex(str(tmp / "pisa"), text_field="text", stemmer=stemmer, threads=threads)
            idx.index(iter(store))
        elif backend == "terrier":
            try:
                import pyterrier as pt

                indexer = pt.IterDictIndexer(str((tmp / "terrier").resolve()), stemmer=None if stemmer == "none" else stemmer, threads=threads)
                indexer.index(iter(store))
            except Exception as e:  # Java / jar download failures surface as many exception types
                raise _terrier_unavailable(e) from e
        else:
            raise ValueError(f"unknown BM25 backend {backend!r}")
        write_json(tmp / "index.json", {"backend": backend, "stemmer": stemmer, "documents": len(store)})
    log.info("indexed %d documents with %s", len(store), backend)


def retriever(index: str | os.PathLike, backend: str = "pisa", k1: float = 0.9, b: float = 0.4,
              depth: int = 1000, threads: int = 1):
    """A PyTerrier transformer: ``qid, query`` frame → ranked ``qid, docno, score, rank``."""
    index = Path(index)
    if backend == "pisa":
        from pyterrier_pisa import PisaIndex

        return PisaIndex(str(index / "pisa"), threads=threads).bm25(k1=k1, b=b, num_results=depth, threads=threads)
    if backend == "terrier":
        try:
            import pyterrier as pt

            return pt.terrier.Retriever(str((index / "terrier").resolve()), wmodel="BM25", num_results=depth,
                                        controls={"bm25.k_1": str(k1), "bm25.b": str(b)})
        except Exception as e:
            raise _terrier_unavailable(e) from e
    raise ValueError(f"unknown BM25 backend {backend!r}")


def clean_topics(topics):
    """``(topics, number dropped)``: the queries BM25 searches, ``query`` cleaned (:func:`clean_query`),
    queries left without words dropped with a warning."""
    topics = topics.assign(query=topics["query"].map(clean_query))
    empty = topics["query"].str.len() == 0
    if empty.any():
        log.warning("%d queries have no words after cleaning and get no results: %s", empty.sum(),
                    list(topics.loc[empty, "qid"])[:5])
        topics = topics[~empty]
    return topics, int(empty.sum())


def retrieve_frame(retr, topics):
    """``qid, docno, score`` of the cleaned ``topics`` (``qid, query``) searched with :func:`retriever`'s ``retr``."""
    return retr.transform(topics)[["qid", "docno", "score"]]


def retrieve(index: str | os.PathLike, queries: str | os.PathLike, out: str | os.PathLike, backend: str = "pisa",
             k1: float = 0.9, b: float = 0.4, depth: int = 1000, threads: int = 1, tag: str = "bm25",
             query_batch: int = 10000) -> dict:
    """Retrieve the top ``depth`` for every query and write a TREC run to ``out``.

    Queries are retrieved and written ``query_batch`` at a time (natural qid order), so memory
    is bounded by a batch, not by the query set (MS MARCO train: 500k queries).
    Returns ``{"queries", "results", "empty_queries"}``.
    """
    topics, empty = clean_topics(read_queries(queries))
    retr = retriever(index, backend, k1, b, depth, threads)
    with RunWriter(out, tag=tag) as w:
        for batch in query_batches(topics, query_batch):
            w.add(retrieve_frame(retr, batch))
    log.info("retrieved %d results for %d queries", w.rows, topics.shape[0])
    return {"queries": int(topics.shape[0]), "results": w.rows, "empty_queries": empty}
