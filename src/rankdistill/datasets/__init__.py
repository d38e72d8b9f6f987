"""Datasets: a collection (document store) and named query sets (queries + qrels).

Three kinds, chosen in the config: ``irds`` (an ir_datasets id; needs a network on first use),
``local`` (your own files: JSONL/TSV/TREC corpus, TSV/TREC topics, TREC qrels) and ``synthetic``
(generated deterministically from a seed by :mod:`rankdistill.datasets.synthetic`).
"""

from .docstore import DocStore, build_docstore  # noqa: F401
from .queries import read_qrels, read_queries, write_qrels, write_queries  # noqa: F401
