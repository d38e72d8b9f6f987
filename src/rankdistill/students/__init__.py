"""The cross-encoder students, one concept per module (importing this package imports nothing heavy).

* :mod:`.model`: the cross-encoder (backbone + linear head; loads lightning-ir mono,
  sentence-transformers / HF sequence-classification and plain backbone folders; saves lightning-ir).
* :mod:`.packed`: the padding-free encoder (variable-length attention over packed pairs).
* :mod:`.scoring`: the scoring engine (:func:`~.scoring.score_pairs`, padded and packed).
* :mod:`.rerank`: re-ranking runs: :func:`~.rerank.rerank_frame` (DataFrame) and
  :func:`~.rerank.rerank_run_file` (the ``rerank`` rule).
* :mod:`.losses`: InfoNCE, RankNet, ADR-MSE.
* :mod:`.data`: training data (stage-1 index over a first-stage run, distillation-set groups).
* :mod:`.loop`: the training loop (checkpoints, metrics CSV, validation, loss plot).
* :mod:`.train`: the entry points (:func:`~.train.train_stage1`, :func:`~.train.train_stage2`,
  ``python -m rankdistill.students.train``).

Import order (no cycles): losses, packed, data → model → scoring → rerank, loop → train.
"""
