"""Materialise the configured collection and query sets into cached files (one call per rule)."""

from __future__ import annotations

import logging
import os

import pandas as pd

from ..errors import InputError
from . import irds
from .docstore import build_docstore
from .local import iter_corpus
from .queries import read_qrels, read_queries, write_qrels, write_queries
from .synthetic import SyntheticCollection, SyntheticSpec

log = logging.getLogger(__name__)


def iter_collection(spec: dict):
    kind = spec["kind"]
    if kind == "synthetic":
        return SyntheticCollection(SyntheticSpec.from_config(spec)).iter_passages()
    if kind == "local":
        return iter_corpus(spec["path"], spec.get("format"), tuple(spec.get("text_fields", ["text"])),
                           spec.get("title_field", "title"))
    if kind == "irds":
        return irds.iter_docs(spec["id"], tuple(spec.get("text_fields", ["text"])), spec.get("title_field", "title"))
    raise ValueError(f"unknown collection kind {kind!r}")


def describe(spec: dict) -> str:
    if spec["kind"] == "synthetic":
        return f"synthetic(seed={spec.get('seed')}, passages={spec.get('passages')})"
    if spec["kind"] == "local":
        return f"local:{spec['path']}"
    return f"irds:{spec['id']}"


def build_collection(spec: dict, out: str | os.PathLike) -> int:
    """Stream the collection into a document store at ``out``."""
    from tqdm import tqdm

    from .docstore import TITLE_FORMAT

    n = build_docstore(tqdm(iter_collection(spec), desc="documents", unit="doc", mininterval=5), out, describe(spec),
                       title_format=spec.get("title_format") or TITLE_FORMAT, empty_text=spec.get("empty_text", "keep"))
    log.info("wrote %d documents to %s", n, out)
    return n


def load_query_set(spec: dict, collection: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    kind = spec["kind"]
    if kind == "synthetic":
        if not collection or collection.get("kind") != "synthetic":
            raise ValueError("a synthetic query set needs the synthetic collection it belongs to")
        world = SyntheticCollection(SyntheticSpec.from_config(collection))
        return world.queries(spec["split"], spec.get("queries", 50))
    if kind == "local":
        return read_queries(spec["queries"]), read_qrels(spec["qrels"])
    if kind == "irds":
        return irds.queries(spec["id"]), irds.qrels(spec["id"])
    raise ValueError(f"unknown query set kind {kind!r}")


def build_query_set(spec: dict, collection: dict | None, queries_out, qrels_out) -> None:
    """Write ``queries.tsv`` and ``qrels.txt`` for one query set."""
    queries, qrels = load_query_set(spec, collection)
    if queries.empty:
        raise InputError(spec.get("queries", spec.get("id", "query set")), "no queries")
    known = set(queries["qid"])
    orphan = sorted(set(qrels["qid"]) - known)
    if orphan and len(orphan) == qrels["qid"].nunique():
        raise InputError(spec.get("qrels", spec.get("id", "qrels")),
                         f"none of the judged queries (e.g. {orphan[:3]}) is in the queries file; do the ids match?")
    if orphan:
        log.warning("%d qrels queries have no query text and are dropped, e.g. %s", len(orphan), orphan[:5])
        qrels = qrels[qrels["qid"].isin(known)]
    unjudged = len(known - set(qrels["qid"]))
    if unjudged:
        log.info("%d of %d queries have no judgments (evaluation skips them)", unjudged, len(known))
    write_queries(queries, queries_out)
    write_qrels(qrels, qrels_out)
    log.info("wrote %d queries and %d judgments", len(queries), len(qrels))
