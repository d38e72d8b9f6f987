"""The LLM teacher: listwise sliding-window re-ranking (RankZephyr / RankGPT prompts).

``rerank_run_file(...)`` is what the Snakemake rule calls; the pieces are usable on their own:
:mod:`.windows` (schedule), :mod:`.prompts`, :mod:`.parse` (repair), :mod:`.backends`
(hf | vllm | openai), :mod:`.cache` (resumable window cache), :mod:`.core` (the batched loop).
Importing this package does not import torch.
"""

from .core import Outcome, Settings, merge_shards, rank_queries, rerank_run_file, select_queries  # noqa: F401
from .parse import RepairStats, parse_permutation  # noqa: F401
from .windows import schedule  # noqa: F401
