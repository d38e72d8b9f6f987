"""The in-memory stage-1 sampler that rankdistill.students.data.Stage1Data replaced (commit 1f3a306): the reference
its samples are compared with (tests/test_train_stage1.py) and the baseline of ``benchmarks/train.py
--stage1-memory``. It holds the whole run in pandas and Python lists."""

import numpy as np

from rankdistill.runs import natural_key, sort_run
from rankdistill.students.data import Group, _step_queries


class OldStage1Data:
    """The in-memory implementation this module replaced (commit 1f3a306), kept as the reference."""

    def __init__(self, run, qrels, qtext, negatives, depth, min_relevance, seed):
        run = sort_run(run)
        run = run[run["rank"] <= depth]
        rel = qrels[qrels["label"] >= min_relevance]
        judged_rel = set(zip(rel["qid"].astype(str), rel["docno"].astype(str)))
        self.positives = {q: sorted(g["docno"].astype(str)) for q, g in rel.groupby("qid")}
        self.negatives = {}
        for q, g in run.groupby("qid", sort=False):
            self.negatives[q] = [d for d in g["docno"] if (q, d) not in judged_rel]
        qids = [q for q in self.positives if q in self.negatives and q in qtext]
        self.too_few = sorted((q for q in qids if len(self.negatives[q]) < negatives), key=natural_key)
        self.no_run = sorted((q for q in self.positives if q not in self.negatives), key=natural_key)
        self.qids = sorted((q for q in qids if len(self.negatives[q]) >= negatives), key=natural_key)
        self.k, self.seed = negatives, seed

    def step_groups(self, step, batch_queries):
        qs = _step_queries(self.qids, step, batch_queries, self.seed)
        out = []
        for i, q in enumerate(qs):
            rng = np.random.default_rng([self.seed, step, i])
            pos = self.positives[q][rng.integers(len(self.positives[q]))]
            neg = [self.negatives[q][j] for j in rng.choice(len(self.negatives[q]), self.k, replace=False)]
            out.append(Group(q, [pos] + neg, [1.0] + [0.0] * self.k))
        return out
