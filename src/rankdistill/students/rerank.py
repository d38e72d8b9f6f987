"""Re-ranking runs with a cross-encoder student.

:func:`rerank_frame` (DataFrame level) scores each query's top ``depth`` candidates of a run frame
with passages from a DocStore (or anything with ``get_many``); :func:`rerank_run_file` (file level,
the ``rerank`` rule) reads a run, a query set and a DocStore, calls :func:`rerank_frame` and writes a
run. :class:`rankdistill.api.Student` is the same code as a PyTerrier transformer. The scoring engine
is :func:`rankdistill.students.scoring.score_pairs`.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from .model import CrossEncoder
from .scoring import score_pairs

log = logging.getLogger(__name__)


def rerank_frame(model: CrossEncoder, run: pd.DataFrame, queries: dict[str, str], docstore, depth: int | None,
                 source: str = "run", queries_per_block: int = 2000, **kwargs) -> pd.DataFrame:
    """Score each query's top ``depth`` candidates; returns ``qid, docno, score`` (ranks via write_run).

    Passages are fetched per block of queries, so memory is bounded by the block, not the collection.
    """
    from ..runs import cut

    run = cut(run, depth)
    missing = sorted(set(run["qid"]) - set(queries))
    if missing:
        raise InputError(source, f"{len(missing)} queries of the run have no text in the query set, e.g. {missing[:5]}")
    qids = list(dict.fromkeys(run["qid"]))
    bar = None
    if kwargs.get("progress") is True:  # one bar over all blocks, moving per batch
        from tqdm import tqdm

        bar = kwargs["progress"] = tqdm(total=len(run), unit="pair", desc="re-rank", mininterval=2)
    parts = []
    stats_all = {"pairs": 0, "seconds": 0.0, "tokens": 0, "padded_tokens": 0}
    engine = None
    empty = 0
    for b in range(0, len(qids), queries_per_block):
        block = run[run["qid"].isin(set(qids[b:b + queries_per_block]))]
        try:
            texts = docstore.get_many(block["docno"])
        except KeyError as e:
            raise InputError(source, f"passages missing from the document store: {e}") from None
        empty += sum(1 for d in block["docno"] if not texts[d])
        st: dict = {}
        scores = score_pairs(model, [queries[q] for q in block["qid"]], [texts[d] for d in block["docno"]],
                             stats=st, **kwargs)
        for k in stats_all:
            stats_all[k] += st.get(k, 0)
        engine = st.get("engine", engine)
        parts.append(pd.DataFrame({"qid": block["qid"].values, "docno": block["docno"].values,
                                   "score": scores.astype(np.float64)}))
    if bar is not None:
        bar.close()
    if empty:  # a collection built with empty_text: keep
        log.warning("%s: %d of %d candidates have an empty passage; each is scored as the pair (query, empty "
                    "text), not as real text", source, empty, len(run))
    if stats_all["seconds"] > 0:
        log.info("scored %d pairs in %.1f s (%.0f pairs/s, %s engine, %.1f%% padding)", stats_all["pairs"],
                 stats_all["seconds"], stats_all["pairs"] / stats_all["seconds"], engine,
                 100 * (1 - stats_all["tokens"] / max(stats_all["padded_tokens"], 1)))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["qid", "docno", "score"])


def rerank_run_file(model: str, run: str | os.PathLike, queries: str | os.PathLike, docstore: str | os.PathLike,
                    out: str | os.PathLike, depth: int | None = 100, tag: str = "rankdistill",
                    device: str | None = None, precision: str = "auto", batch_size: int | None = None,
                    max_tokens: int | None = None, compile: bool = False, threads: int | None = None,
                    query_length: int | None = None, doc_length: int | None = None, engine: str = "auto",
                    cpu_model: str | os.PathLike | None = None) -> None:
    """Re-rank the top-``depth`` of ``run`` with the cross-encoder ``model`` and write the run ``out``.

    ``cpu_model``: the folder :func:`rankdistill.students.cpu.convert` wrote, for the CPU engines (``onnx``, ...).
    """
    from ..datasets.docstore import DocStore
    from ..datasets.queries import read_queries
    from ..runs import read_run, write_run

    if threads:
        torch.set_num_threads(threads)
    scorer = CrossEncoder.load(model, query_length=query_length, doc_length=doc_length)
    r = read_run(run)
    qs = read_queries(queries)
    qmap = dict(zip(qs["qid"].astype(str), qs["query"]))
    session = None
    if cpu_model is not None:
        from .cpu import CpuSession, cpu_flags

        session = CpuSession(cpu_model, threads=threads)
        log.info("engine %s (%s; CPU %s)", session.engine, cpu_model, cpu_flags())
    with DocStore(docstore) as store:
        scored = rerank_frame(scorer, r, qmap, store, depth, source=str(run), device=device, precision=precision,
                              batch_size=batch_size, max_tokens=max_tokens, compile=compile, engine=engine,
                              progress=True, cpu_model=session, threads=threads)
    write_run(scored, out, tag=tag)
    log.info("wrote %s (%d queries, %d pairs)", out, scored["qid"].nunique(), len(scored))
