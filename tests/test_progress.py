"""Progress bars move per batch: re-ranking a run shows one bar over all its pairs, updated after
every scored batch (not once per block of queries)."""

from __future__ import annotations

import pandas as pd
import tqdm as tqdm_module

from rankdistill.students.model import CrossEncoder
from rankdistill.students.rerank import rerank_frame


class _Store:
    def __init__(self, texts):
        self.texts = texts

    def get_many(self, docnos):
        return {d: self.texts[d] for d in docnos}


def test_rerank_bar_moves_per_batch(bert_tiny, monkeypatch):
    bars = []

    class Recording(tqdm_module.tqdm):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.steps = []
            bars.append(self)

        def update(self, n=1):
            self.steps.append(n)
            return super().update(n)

    monkeypatch.setattr(tqdm_module, "tqdm", Recording)
    model = CrossEncoder.from_backbone(bert_tiny, 8, 32, seed=2)
    texts = {f"d{i}": f"passage {i} about topic {i % 7} " * (1 + i % 5) for i in range(40)}
    run = pd.DataFrame([(str(q), f"d{(q * 7 + r) % 40}", float(-r)) for q in range(6) for r in range(10)],
                       columns=["qid", "docno", "score"])
    queries = {str(q): f"topic {q}" for q in range(6)}
    out = rerank_frame(model, run, queries, _Store(texts), depth=10, queries_per_block=2, batch_size=4,
                       progress=True, device="cpu", engine="padded")
    assert len(out) == 60
    assert len(bars) == 1, "one bar for the whole run, not one per block"
    bar = bars[0]
    assert bar.total == 60 and sum(bar.steps) == 60
    assert len(bar.steps) >= 15 and max(bar.steps) <= 4  # one update per batch of <= 4 pairs
