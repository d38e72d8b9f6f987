"""rankdistill: distil listwise LLM re-rankers into cross-encoders (Rank-DistiLLM), stage by stage.

Every stage of the Snakemake workflow is a function in this package, usable from Python without
Snakemake: datasets, first-stage retrieval, the LLM teacher, distillation sets, training,
re-ranking, evaluation and tables.
"""

__version__ = "0.1.0"
