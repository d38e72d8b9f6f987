"""The synthetic collection's held-out splits (val, test-a, test-b) share no query with train."""

from rankdistill.datasets.synthetic import SPLITS, SyntheticCollection, SyntheticSpec, _SPLIT_REGIONS


def test_every_split_is_a_disjoint_region_of_topic_concept_pairs():
    w = SyntheticCollection(SyntheticSpec(seed=42, passages=3000))
    pairs = w._eligible_pairs
    assert len(set(pairs)) == len(pairs)  # each (topic, concept a, concept b) once
    regions = {s: set(pairs[int(lo * len(pairs)):int(hi * len(pairs))]) for s, (lo, hi) in _SPLIT_REGIONS.items()}
    assert set(regions) == set(SPLITS) and sum(map(len, regions.values())) == len(pairs)
    for a in SPLITS:
        for b in SPLITS:
            assert a == b or not (regions[a] & regions[b]), (a, b)
    # all queries of every split: distinct qids and texts across splits; val is judged like the test splits
    qs = {s: w.queries(s, w.max_queries(s)) for s in SPLITS}
    texts = {s: set(q["query"]) for s, (q, _) in qs.items()}
    ids = {s: set(q["qid"]) for s, (q, _) in qs.items()}
    for a in SPLITS:
        for b in SPLITS:
            if a != b:
                assert not (texts[a] & texts[b]) and not (ids[a] & ids[b]), (a, b)
    val_q, val_qrels = qs["val"]
    assert len(val_q) > 0 and set(val_qrels["label"]) == {0, 1, 2, 3}
    assert val_qrels.groupby("qid")["label"].max().eq(3).all()


def test_val_was_carved_from_train_and_the_test_splits_did_not_move():
    w = SyntheticCollection(SyntheticSpec(seed=42, passages=3000))
    n = len(w._eligible_pairs)
    assert w.max_queries("train") + w.max_queries("val") == int(0.6 * n)  # the old train region
    assert w.max_queries("test-a") == int(0.8 * n) - int(0.6 * n)
