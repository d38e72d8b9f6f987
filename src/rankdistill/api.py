"""The Python API: one PyTerrier transformer per stage, each running the code its rule runs.

Frames use PyTerrier's standard columns: queries ``qid, query``; results ``qid, query, docno,
[text,] score, rank``. Ranks are 0-based (PyTerrier's convention); the order within a query is the
one a rule writes to its run file (score descending, ties by docno descending:
:func:`rankdistill.runs.sort_run`), so ``rank + 1`` is the rank in the rule's run. Transformers
compose with ``>>`` (then) and ``%`` (rank cut-off)::

    from rankdistill.api import BM25, Student, Teacher

    bm25 = BM25("results/index/bm25", depth=100)
    pipeline = bm25 % 20 >> Student("results/models/students/<name>", docstore="results/collection/docs.sqlite")
    pipeline(pd.DataFrame({"qid": ["1"], "query": ["what is a fox"]}))

Each transformer calls its stage's DataFrame-level function (``*_frame``), which the rule's
file-level function (``*_run_file``, or ``retrieve``) wraps:

* :class:`BM25` -- :func:`rankdistill.retrieval.bm25.retrieve_frame` (rule ``retrieve_bm25``)
* :class:`DenseRetriever` -- :func:`rankdistill.retrieval.dense.retrieve_frame` (rule ``retrieve_dense``);
  :class:`DenseReranker` -- :func:`rankdistill.retrieval.dense.rerank_frame` (rule ``rerank_dense``)
* :class:`ColBERTRetriever` -- :func:`rankdistill.retrieval.colbert.retrieve_frame` (exact index; rule
  ``retrieve_colbert``); :class:`ColBERTReranker` -- :func:`rankdistill.retrieval.colbert.rerank_frame`
  (rule ``rerank_colbert``)
* :class:`Teacher` -- :func:`rankdistill.teacher.core.rank_candidates` (rule ``teacher``: listwise
  sliding windows, rank_llm's schedule, the window cache and the repair of bad LLM output)
* :class:`Student` -- :func:`rankdistill.students.rerank.rerank_frame` (rule ``rerank``)

Re-rankers read passage texts from a ``text`` column or, without one, from ``docstore`` (a
``docs.sqlite`` the ``collection`` rule builds).
"""

from __future__ import annotations

import os

import pandas as pd
import pyterrier as pt

from .errors import InputError

SOURCE = "input frame"


# ------------------------------------------------------------------------------------------ helpers
def _require(df: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(SOURCE, f"{what} needs the columns {list(columns)}; missing {missing} "
                                 f"(columns: {list(df.columns)})")


def _query_texts(df: pd.DataFrame) -> dict[str, str]:
    """qid -> query text of a frame (one text per qid)."""
    _require(df, ["qid", "query"], "this transformer")
    q = df[["qid", "query"]].astype({"qid": str}).drop_duplicates()
    dup = q[q["qid"].duplicated()]
    if len(dup):
        raise InputError(SOURCE, f"query {dup['qid'].iloc[0]!r} has more than one query text")
    return dict(zip(q["qid"], q["query"]))


def _candidates(df: pd.DataFrame, depth: int | None) -> pd.DataFrame:
    """``qid, docno, score`` of a candidate frame; without a ``score`` column every candidate scores 0
    (only allowed when all candidates are re-ranked)."""
    _require(df, ["qid", "docno"], "a re-ranker")
    run = df[["qid", "docno"]].astype(str)
    if "score" in df.columns:
        run = run.assign(score=df["score"].astype(float).to_numpy())
    elif depth is not None:
        raise InputError(SOURCE, f"depth={depth} cuts by the first stage's score, but the frame has no 'score'")
    else:
        run = run.assign(score=0.0)
    dup = run[run.duplicated(["qid", "docno"])]
    if len(dup):
        raise InputError(SOURCE, f"duplicate candidate (qid, docno) = ({dup['qid'].iloc[0]}, {dup['docno'].iloc[0]})")
    return run


class _FrameTexts:
    """``get_many`` over a frame's ``text`` column (the DocStore interface the rerank functions use)."""

    def __init__(self, df: pd.DataFrame):
        self._texts = dict(zip(df["docno"].astype(str), df["text"]))

    def get_many(self, docnos) -> dict[str, str]:
        docnos = list(docnos)
        missing = [d for d in docnos if d not in self._texts]
        if missing:
            raise KeyError(missing[:5])
        return {d: self._texts[d] for d in docnos}

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _texts(df: pd.DataFrame, docstore: str | os.PathLike | None):
    """Passage texts for a re-ranker: the frame's ``text`` column, else the DocStore ``docstore``."""
    if "text" in df.columns:
        return _FrameTexts(df)
    if docstore is None:
        raise InputError(SOURCE, "no 'text' column and no docstore to look passages up in "
                                 "(pass docstore=..., or add texts with pt.text.get_text)")
    from .datasets.docstore import DocStore

    return DocStore(docstore)


def ranked(scored: pd.DataFrame, inp: pd.DataFrame | None = None) -> pd.DataFrame:
    """A rule's run order as a PyTerrier result frame: ``scored`` (``qid, docno, score``) ordered as
    :func:`rankdistill.runs.sort_run` orders a written run, 0-based ``rank``, and the other columns of
    ``inp`` (``query``, ``text``, ...) joined back on ``qid`` / ``(qid, docno)``.

    Equal scores are ordered by docno descending, as trec_eval and ir_measures order them:

    >>> scored = pd.DataFrame({"qid": ["1", "1", "1"], "docno": ["a", "b", "c"], "score": [0.5, 2.0, 0.5]})
    >>> print(ranked(scored).to_string(index=False))
    qid docno  score  rank
      1     b    2.0     0
      1     c    0.5     1
      1     a    0.5     2
    """
    from .runs import sort_run

    out = sort_run(scored)
    out["rank"] = out["rank"] - 1
    if inp is None:
        return out
    inp = inp.astype({c: str for c in ("qid", "docno") if c in inp.columns})
    per_query = [c for c in ("query",) if c in inp.columns]
    if per_query:
        out = out.merge(inp[["qid", *per_query]].drop_duplicates("qid"), on="qid", how="left")
    if "docno" in inp.columns:
        extra = [c for c in inp.columns if c not in ("qid", "docno", "score", "rank", *per_query)]
        if extra:
            out = out.merge(inp[["qid", "docno", *extra]], on=["qid", "docno"], how="left")
    first = ["qid", *per_query, "docno"]
    return out[first + [c for c in out.columns if c not in first]]


# ----------------------------------------------------------------------------------------- students
class Student(pt.Transformer):
    """A cross-encoder (a trained student folder, a lightning-ir mono or sentence-transformers
    checkpoint, or a loaded :class:`~rankdistill.students.model.CrossEncoder`) re-ranking candidates:
    ``qid, query, docno[, text, score]`` -> the same rows with the model's ``score`` and ``rank``.

    ``depth``: re-rank each query's top ``depth`` by the input ``score`` and drop the rest, as the
    ``rerank`` rule does (default: all rows; cut with ``%`` instead). ``inference``: keyword arguments
    of :func:`~rankdistill.students.scoring.score_pairs` (``device``, ``precision``, ``batch_size``,
    ``max_tokens``, ``compile``, ``engine``), the rule's ``inference:`` settings.
    """

    def __init__(self, model, docstore: str | os.PathLike | None = None, depth: int | None = None,
                 query_length: int | None = None, doc_length: int | None = None, **inference):
        from .students.model import CrossEncoder

        self.model = model if isinstance(model, CrossEncoder) else CrossEncoder.load(
            str(model), query_length=query_length, doc_length=doc_length)
        self.docstore, self.depth, self.inference = docstore, depth, inference

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        from .students.rerank import rerank_frame

        qtext = _query_texts(inp)
        run = _candidates(inp, self.depth)
        with _texts(inp, self.docstore) as store:
            scored = rerank_frame(self.model, run, qtext, store, self.depth, source=SOURCE, **self.inference)
        return ranked(scored, inp)


# ---------------------------------------------------------------------------------------- first stages
class BM25(pt.Transformer):
    """BM25 over an index the ``index_bm25`` rule built (``results/index/<first_stage>``): ``qid, query`` ->
    each query's top ``depth`` ``docno, score, rank``. Queries are cleaned as the rule cleans them
    (:func:`~rankdistill.retrieval.bm25.clean_query`); a query left without words gets no results.

    >>> import tempfile
    >>> from rankdistill.datasets import build_docstore
    >>> from rankdistill.retrieval.bm25 import build_index
    >>> folder = tempfile.mkdtemp()
    >>> build_docstore([{"docno": "d1", "text": "The red fox jumps."}, {"docno": "d2", "text": "Paris is in France."},
    ...                 {"docno": "d3", "text": "A fox is a small canid."}], f"{folder}/docs.sqlite")
    3
    >>> build_index(f"{folder}/docs.sqlite", f"{folder}/bm25-index")  # doctest: +ELLIPSIS
    ...
    >>> bm25 = BM25(f"{folder}/bm25-index", depth=10)
    >>> print(bm25(pd.DataFrame({"qid": ["1"], "query": ["what is a fox"]}))[["qid", "docno", "rank"]].to_string(index=False))
    qid docno  rank
      1    d1     0
      1    d3     1
    """

    def __init__(self, index: str | os.PathLike, backend: str = "pisa", k1: float = 0.9, b: float = 0.4,
                 depth: int = 1000, threads: int = 1):
        from .retrieval.bm25 import retriever

        self.retriever = retriever(index, backend, k1, b, depth, threads)

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        from .retrieval.bm25 import clean_topics, retrieve_frame

        _query_texts(inp)
        topics, _ = clean_topics(inp[["qid", "query"]].astype({"qid": str}).drop_duplicates("qid"))
        hits = retrieve_frame(self.retriever, topics) if len(topics) else pd.DataFrame(columns=["qid", "docno", "score"])
        return ranked(hits, inp[["qid", "query"]])


class _IndexRetriever(pt.Transformer):
    """What the dense and ColBERT retrievers share: each input query searched in the loaded index by the
    stage's own ``retrieve_frame`` (the function the rule's file wrapper calls)."""

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        _query_texts(inp)
        topics = inp[["qid", "query"]].astype({"qid": str}).drop_duplicates("qid")
        return ranked(self._retrieve_frame()(topics, self.index, self.encoder, self.depth, self.query_batch,
                                             self.loaded), topics)


class DenseRetriever(_IndexRetriever):
    """Exact dense retrieval from an index the ``encode_dense`` rule built: ``qid, query`` -> top ``depth``.
    The index must have been built with ``model`` (and its pooling and similarity)."""

    def __init__(self, index: str | os.PathLike, model: str, depth: int = 1000, pooling: str = "auto",
                 similarity: str = "auto", query_length: int = 64, query_prefix: str = "", batch_size: int = 64,
                 query_batch: int = 256, device: str | None = None):
        from .retrieval import encoders
        from .retrieval.dense import index_encoder

        self.index, self.depth, self.query_batch = index, depth, query_batch
        self.encoder, _ = index_encoder(index, model, pooling, similarity, query_length, query_prefix, batch_size,
                                        device)
        self.loaded = encoders.load_shards(index)

    def _retrieve_frame(self):
        from .retrieval.dense import retrieve_frame

        return retrieve_frame


class _EncoderReranker(pt.Transformer):
    """What the dense and ColBERT re-rankers share: the input's candidates (top ``depth`` by ``score``) and
    their texts go through the stage's own ``rerank_frame`` (the function the rule's file wrapper calls)."""

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        topics = pd.DataFrame(list(_query_texts(inp).items()), columns=["qid", "query"])
        run = _candidates(inp, self.depth)
        with _texts(inp, self.docstore) as store:
            scored = self._rerank_frame()(run, topics, store, self.encoder, self.depth, source=SOURCE)
        return ranked(scored, inp)


class DenseReranker(_EncoderReranker):
    """A bi-encoder re-scoring candidates (query-passage cosine or dot product), as the ``kind: dense``
    re-rankers do: ``qid, query, docno[, text, score]`` -> the same rows with the new ``score`` and ``rank``."""

    def __init__(self, model: str, docstore: str | os.PathLike | None = None, depth: int | None = None,
                 pooling: str = "auto", similarity: str = "auto", query_length: int = 64, doc_length: int = 256,
                 query_prefix: str = "", doc_prefix: str = "", batch_size: int = 64):
        from .retrieval.dense import _encoder

        self.encoder = _encoder(model, pooling, similarity, query_length, doc_length, query_prefix, doc_prefix,
                                batch_size)
        self.docstore, self.depth = docstore, depth

    def _rerank_frame(self):
        from .retrieval.dense import rerank_frame

        return rerank_frame


class ColBERTRetriever(_IndexRetriever):
    """Exact MaxSim retrieval from a ColBERT index the ``encode_colbert`` rule built (``index: exact``)."""

    def __init__(self, index: str | os.PathLike, model: str, depth: int = 1000, query_length: int | None = None,
                 batch_size: int = 32, query_batch: int = 32, device: str | None = None):
        from .retrieval import encoders
        from .retrieval.colbert import index_encoder

        self.index, self.depth, self.query_batch = index, depth, query_batch
        self.encoder, _ = index_encoder(index, model, query_length, batch_size, device)
        self.loaded = encoders.load_shards(index)

    def _retrieve_frame(self):
        from .retrieval.colbert import retrieve_frame

        return retrieve_frame


class ColBERTReranker(_EncoderReranker):
    """A ColBERT checkpoint re-scoring candidates by MaxSim, as the ``kind: colbert`` re-rankers do."""

    def __init__(self, model: str, docstore: str | os.PathLike | None = None, depth: int | None = None,
                 query_length: int | None = None, doc_length: int | None = None, batch_size: int = 32,
                 device: str | None = None):
        from .retrieval.colbert import ColBERT

        self.encoder = ColBERT(model, query_length=query_length, doc_length=doc_length, batch_size=batch_size,
                               device=device)
        self.docstore, self.depth = docstore, depth

    def _rerank_frame(self):
        from .retrieval.colbert import rerank_frame

        return rerank_frame


# --------------------------------------------------------------------------------------------- teacher
class Teacher(pt.Transformer):
    """The LLM teacher: listwise sliding-window re-ranking of each query's top ``depth`` candidates (by the
    input ``score``), as the ``teacher`` rule does: ``qid, query, docno, score[, text]`` -> each query's top
    ``depth`` in teacher order (scores ``depth, depth-1, ...``), rows below ``depth`` dropped.

    ``settings``: the teacher's settings as the rule takes them (``prompt``, ``window``, ``step``, ``depth``,
    ``batch_size``, ``max_passage_words``, ``context_size``, ``max_new_tokens``, and for the backend
    ``dtype``, ``device``, ``stop_at_eos``, ``convert_dir``, ``threads``, ``openai``, ``tokenizer``); unset
    ones take :class:`rankdistill.teacher.Settings`' values. ``cache_dir``: a window cache folder (the
    rule's ``cache_dir`` is shared: a prompt the rule sent is not sent again); ``backend_obj`` replaces the
    backend built from ``backend`` and ``model`` (tests, notebooks).
    """

    BACKEND_KEYS = ("dtype", "device", "stop_at_eos", "convert_dir", "threads", "openai", "tokenizer")

    def __init__(self, model: str, backend: str = "hf", docstore: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, backend_obj=None, **settings):
        from dataclasses import fields

        from .teacher import Settings
        from .teacher import prompts as P

        names = {f.name for f in fields(Settings)}
        unknown = set(settings) - names - set(self.BACKEND_KEYS)
        if unknown:
            raise TypeError(f"unknown teacher settings {sorted(unknown)}")
        self.settings = Settings(**{k: v for k, v in settings.items() if k in names})
        P.messages(self.settings.prompt, "q", ["p"], 1)  # fail fast on an unknown prompt kind
        if backend_obj is None:
            from .teacher.backends import make_backend

            s = self.settings
            backend_obj = make_backend(backend, model, context_size=s.context_size, max_new_tokens=s.max_new_tokens,
                                       window=s.window, **{k: v for k, v in settings.items() if k in self.BACKEND_KEYS})
        self.backend, self.docstore, self.cache_dir = backend_obj, docstore, cache_dir

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        from .teacher.cache import WindowCache
        from .teacher.core import candidate_lists, rank_candidates

        qtext = _query_texts(inp)
        cands = candidate_lists(_candidates(inp, self.settings.depth), self.settings.depth)
        with _texts(inp, self.docstore) as store, WindowCache(self.cache_dir, name="api") as cache:
            def texts(docnos):
                try:
                    return store.get_many(docnos)
                except KeyError as e:
                    raise InputError(SOURCE, f"passages missing: {e}") from None

            scored, self.outcome = rank_candidates(list(cands), qtext, cands, texts, self.backend, self.settings,
                                                   cache)
        return ranked(scored, inp)
