"""Two-stage fine-tuning of the cross-encoder student (accelerate: one GPU, DDP, or CPU).

* **Stage 1** (pre-fine-tuning, :func:`train_stage1`): InfoNCE over 1 relevant passage (from the
  qrels, added even if the first stage missed it) and ``negatives`` passages drawn uniformly from
  the first stage's top-``depth`` passages that are not judged relevant (paper: 7 from the
  ColBERTv2 top 200, 20k steps x 32 queries).
* **Stage 2** (distillation, :func:`train_stage2`): RankNet or ADR-MSE over each query's whole
  candidate list from a distillation set, for ``epochs`` passes (paper: 3 x 10k queries x 100
  passages, 32 queries a step), starting from a stage-1 model ("dual") or a backbone ("single").

Both stages: AdamW (lr 1e-5), bf16 autocast on GPUs (fp32 on CPUs), optimizer steps over
``batch_queries`` whole query groups split into ``accumulation`` micro-batches (and across DDP
processes), seeded: the queries and negatives of step ``s`` depend only on (seed, s), so a
resumed run sees exactly the batches an uninterrupted one would. Checkpoints (accelerate
``save_state``: weights, optimizer, RNG states) go every ``save_every`` steps to a *scratch*
folder keyed by the settings (Snakemake deletes declared outputs before a job runs); the job
resumes from the latest one. The output folder holds the model (lightning-ir mono layout),
``metrics.csv`` (step, loss, lr, pairs/s, the chance loss of the step's batch, validation nDCG@10
every ``validation.every`` steps), ``loss.png`` (the training curve: raw and smoothed loss, chance
level, learning rate, validation metric) and ``train.json``.

Learning rate: constant (``schedule: none``, the paper's lightning-ir config) or ``linear``: linear
warm-up from 0 over the first ``warmup`` share of the steps, then linear decay to 0 at the last step
(transformers' ``get_linear_schedule_with_warmup``). The factor is a function of the step alone, so a
resumed run follows the same curve.

Multi-GPU: ``accelerate launch --multi_gpu train ...`` or ``torchrun`` around
:func:`train_stage1`/:func:`train_stage2` (``python -m rankdistill.students.train`` below).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Sequence

import torch

from .data import Stage1Data, Stage2Data, _qtext, _texts
from .loop import TrainSettings, Validation, _stamp, fit

log = logging.getLogger(__name__)


def _model(start: str, query_length, doc_length, seed, from_checkpoint: bool):
    from .model import CrossEncoder

    if from_checkpoint:
        m = CrossEncoder.load(start)
        m.settings.query_length, m.settings.doc_length = query_length, doc_length
        return m
    return CrossEncoder.from_backbone(start, query_length=query_length, doc_length=doc_length, seed=seed)


def train_stage1(backbone: str, run: str, qrels: str, queries: str, docstore: str, out: str, scratch: str, *,
                 query_length: int | None = 32, doc_length: int | None = 256, threads: int | None = None,
                 crash_after: int | None = None, name: str = "stage1", validation: dict | None = None,
                 **settings) -> dict:
    """Stage 1: InfoNCE over 1 relevant + ``negatives`` first-stage negatives, for ``steps`` steps.

    ``validation``: keyword arguments of :class:`Validation` (``run``, ``qrels``, ``queries``, ``queries_n``,
    ``depth``, ``every``) for the validation metric in the metrics and the plot; ``None``: no validation."""
    from ..datasets.queries import read_qrels

    if threads:
        torch.set_num_threads(threads)
    s = TrainSettings(loss="infonce", **settings)
    if not s.steps:
        raise ValueError("stage 1 needs steps")
    qtext = _qtext(queries)
    key = s.key(backbone, query_length, doc_length, str(run), str(qrels), _val_key(validation))
    data = Stage1Data(run, read_qrels(qrels), qtext, s.negatives, s.depth, s.min_relevance, s.seed,
                      index_dir=Path(scratch) / key / "stage1-index", source=run)
    model = _model(backbone, query_length, doc_length, s.seed, from_checkpoint=False)
    describe = {"name": name, "stage": 1, "start": backbone, "queries": len(data.qids),
                "skipped_queries": len(data.too_few), "query_length": query_length, "doc_length": doc_length}
    return fit(model, data, s, s.steps, _texts(docstore, run), qtext, out, Path(scratch) / key, "infonce", describe,
               crash_after, _validation(validation, docstore))


def train_stage2(start: str, distill: str, queries: str, docstore: str, out: str, scratch: str, *,
                 start_is_checkpoint: bool, query_length: int | None = 32, doc_length: int | None = 256,
                 threads: int | None = None, crash_after: int | None = None, name: str = "stage2",
                 validation: dict | None = None, save_every: int = 100, **settings) -> dict:
    """Stage 2: RankNet / ADR-MSE over whole query groups of a distillation set, for ``epochs`` epochs
    (``validation`` as in :func:`train_stage1`; ``save_every``: the students' schema default, the rules pass it)."""
    from ..distill import read_distill_set

    if threads:
        torch.set_num_threads(threads)
    s = TrainSettings(save_every=save_every, **settings)
    if s.loss not in ("ranknet", "adr-mse", "infonce"):
        raise ValueError(f"unknown stage-2 loss {s.loss!r}")
    if not s.epochs:
        raise ValueError("stage 2 needs epochs")
    qtext = _qtext(queries)
    data = Stage2Data(read_distill_set(distill), qtext, s.seed, source=distill)
    steps = s.epochs * math.ceil(len(data.qids) / s.batch_queries)
    model = _model(start, query_length, doc_length, s.seed, from_checkpoint=start_is_checkpoint)
    key = s.key(start, query_length, doc_length, str(distill), _val_key(validation))
    describe = {"name": name, "stage": 2, "start": start, "dual": start_is_checkpoint, "queries": len(data.qids),
                "query_length": query_length, "doc_length": doc_length}
    return fit(model, data, s, steps, _texts(docstore, distill), qtext, out, Path(scratch) / key, s.loss, describe,
               crash_after, _validation(validation, docstore))


def _validation(validation: dict | None, docstore: str) -> Validation | None:
    return None if validation is None else Validation(docstore=docstore, **validation)


def _val_key(validation: dict | None):
    return None if validation is None else sorted((k, _stamp(str(v)) if k in ("run", "qrels", "queries") else v)
                                                  for k, v in validation.items())


def validation_kwargs(spec: dict | None, inputs) -> dict | None:
    """:class:`Validation` keyword arguments from a config entry's ``validation`` block and the rule's
    ``val_run`` / ``val_qrels`` / ``val_queries`` inputs (``None`` when the block names no query set)."""
    if not spec or not spec.get("query_set"):
        return None
    return {"run": str(inputs["val_run"]), "qrels": str(inputs["val_qrels"]), "queries": str(inputs["val_queries"]),
            "queries_n": spec["queries"], "depth": spec["depth"], "every": spec["every"]}


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m rankdistill.students.train stage1|stage2 --json '{...kwargs...}'`` (for torchrun / accelerate launch)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m rankdistill.students.train")
    p.add_argument("stage", choices=["stage1", "stage2"])
    p.add_argument("--json", required=True, help="keyword arguments of train_stage1 / train_stage2 as JSON")
    a = p.parse_args(argv)
    kwargs = json.loads(a.json)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (train_stage1 if a.stage == "stage1" else train_stage2)(**kwargs)


if __name__ == "__main__":
    main()
