"""ir_datasets access (real loading code; needs a network the first time a dataset is used)."""

from __future__ import annotations

from typing import Iterator

import pandas as pd

from ..errors import UnavailableError


def load(dataset_id: str):
    try:
        import ir_datasets
    except ImportError as e:  # pragma: no cover - a dependency
        raise UnavailableError("ir_datasets is not installed (pip install ir-datasets)") from e
    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise UnavailableError(f"ir_datasets has no dataset {dataset_id!r}") from None


def _wrap(dataset_id: str, what: str, fn):
    try:
        return fn()
    except (OSError, ConnectionError) as e:
        raise UnavailableError(
            f"could not fetch the {what} of ir_datasets {dataset_id!r}: {e}. ir_datasets downloads its "
            "files on first use; run on a machine with network access once, or point IR_DATASETS_HOME at "
            "a folder that already holds them."
        ) from e


def iter_docs(dataset_id: str, text_fields=("text",), title_field: str | None = "title") -> Iterator[dict]:
    """Stream a dataset's documents: ``text`` from ``text_fields``, ``title`` from ``title_field`` when the
    document type has it (and it is not one of the text fields), else ``""``."""
    ds = load(dataset_id)
    if not ds.has_docs():
        raise UnavailableError(f"ir_datasets {dataset_id!r} has no documents")
    it = _wrap(dataset_id, "documents", lambda: iter(ds.docs_iter()))
    use_title = bool(title_field) and title_field not in text_fields
    fields = getattr(ds.docs_cls(), "_fields", ())
    for f in text_fields:
        if f != "default_text" and fields and f not in fields:
            raise UnavailableError(f"ir_datasets {dataset_id!r}: its documents ({ds.docs_cls().__name__}) have no "
                                   f"field {f!r} (fields: {', '.join(fields)}; or 'default_text')")
    if fields:  # the default title field applies where the document type has one
        use_title = use_title and title_field in fields

    def field(doc, f):  # "default_text": the document type's own text (HTML parsed, fields joined)
        return doc.default_text() if f == "default_text" else getattr(doc, f)

    for doc in it:
        title = getattr(doc, title_field, None) if use_title else None
        yield {"docno": doc.doc_id, "text": " ".join(str(field(doc, f)) for f in text_fields),
               "title": str(title) if title else ""}


def queries(dataset_id: str) -> pd.DataFrame:
    ds = load(dataset_id)
    # the query type's text field, else its default_text() (TREC topics: the title; TIREx queries these)
    rows = _wrap(dataset_id, "queries", lambda: [(q.query_id, q.text if "text" in getattr(q, "_fields", ("text",))
                                                  else q.default_text()) for q in ds.queries_iter()])
    return pd.DataFrame(rows, columns=["qid", "query"])


def qrels(dataset_id: str) -> pd.DataFrame:
    ds = load(dataset_id)
    rows = _wrap(dataset_id, "qrels", lambda: [(q.query_id, q.doc_id, int(q.relevance)) for q in ds.qrels_iter()])
    return pd.DataFrame(rows, columns=["qid", "docno", "label"])


def scoreddocs(dataset_id: str) -> pd.DataFrame:
    """A dataset's scored documents (e.g. published first-stage or teacher runs) as a run frame."""
    ds = load(dataset_id)
    if not ds.has_scoreddocs():
        raise UnavailableError(f"ir_datasets {dataset_id!r} has no scoreddocs")
    rows = _wrap(dataset_id, "scoreddocs", lambda: [(s.query_id, s.doc_id, float(s.score)) for s in ds.scoreddocs_iter()])
    return pd.DataFrame(rows, columns=["qid", "docno", "score"])
