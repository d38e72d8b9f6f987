"""Pseudo-queries cut from a passage collection (the real-text check's extra training queries)."""

import re

import pytest

from rankdistill.datasets.docstore import build_docstore
from rankdistill.datasets.pseudo_queries import (STOPWORDS, content_words, pseudo_queries_frame, query_openings,
                                                 pseudo_queries_from_docstore)
from rankdistill.errors import InputError

PASSAGES = [
    {"docno": "d1", "text": "The Danube flows through ten countries of central and eastern Europe before the Black Sea."},
    {"docno": "d2", "text": "Short text."},
    {"docno": "d3", "text": "Beta blockers such as propranolol and atenolol lower blood pressure and slow the heart rate."},
    {"docno": "d4", "text": "Café au lait: 20% milk, espresso, and a spoon of sugar; served hot in Parisian cafés daily."},
]


def _spans(words, lo, hi):
    return {" ".join(words[s:s + k]) for k in range(lo, hi + 1) for s in range(len(words) - k + 1)}


def test_each_query_is_a_run_of_its_source_passages_content_words():
    frame = pseudo_queries_frame(iter(PASSAGES), len(PASSAGES), 200, 3, 6, seed=1)
    text = {p["docno"]: p["text"] for p in PASSAGES}
    assert len(frame) > 100 and list(frame.columns) == ["qid", "query", "docno"]
    assert frame["qid"].is_unique and frame["qid"].str.startswith("p").all()
    assert "d2" not in set(frame["docno"])  # two content words: fewer than max_words, no query
    assert set(frame["docno"]) == {"d1", "d3", "d4"}
    for q, d in zip(frame["query"], frame["docno"]):
        words = q.split()
        assert 3 <= len(words) <= 6 and not set(words) & STOPWORDS
        assert q in _spans(content_words(text[d]), 3, 6), (q, d)
    # query ids are draw numbers in increasing order: the frame does not depend on the store's order of reading
    nums = [int(q[1:]) for q in frame["qid"]]
    assert nums == sorted(nums) and max(nums) < 200


def test_same_seed_same_queries_and_another_seed_others():
    a = pseudo_queries_frame(iter(PASSAGES), 4, 50, seed=3)
    b = pseudo_queries_frame(iter(PASSAGES), 4, 50, seed=3)
    c = pseudo_queries_frame(iter(PASSAGES), 4, 50, seed=4)
    assert a.equals(b) and not a.equals(c)


def test_content_words_lowercase_ascii_without_function_words():
    assert content_words("What is the Cost of a 2019 Café?") == ["cost", "2019", "caf"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), "n must be at least 1"),
    (dict(n=5, min_words=4, max_words=3), "min_words <= max_words"),
    (dict(n=5, min_words=0), "min_words <= max_words"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pseudo_queries_frame(iter(PASSAGES), 4, **kwargs)


def test_a_wrong_passage_count_is_an_error_not_a_silent_skew():
    with pytest.raises(ValueError, match="has 4 passages, not 9"):
        pseudo_queries_frame(iter(PASSAGES), 9, 20)
    with pytest.raises(ValueError, match="no passages"):
        pseudo_queries_frame(iter([]), 0, 20)


def test_from_a_docstore_and_a_store_too_short_for_any_query(tmp_path):
    store = tmp_path / "docs.sqlite"
    build_docstore(PASSAGES, store)
    frame = pseudo_queries_from_docstore(store, 40, seed=2)
    assert frame.equals(pseudo_queries_frame(iter(PASSAGES), 4, 40, seed=2))
    short = tmp_path / "short.sqlite"
    build_docstore([{"docno": "x", "text": "two words"}], short)
    with pytest.raises(InputError, match="short.sqlite.*no passage has 8 content words"):
        pseudo_queries_from_docstore(short, 10)


def test_query_openings_are_the_words_before_the_first_content_word():
    assert query_openings(["what is the daily life of thai people", "cost of interior concrete flooring",
                           "How long does it take", "what is"]) == ["what is the", "", "how", "what is"]


def test_openings_make_queries_read_like_real_ones_over_the_same_draw():
    """An opening of a real query, then the passage's words from the first to the last drawn content word,
    function words kept; the passages and the content words drawn are those of the plain draw."""
    plain = pseudo_queries_frame(iter(PASSAGES), 4, 200, 3, 6, seed=1)
    opened = pseudo_queries_frame(iter(PASSAGES), 4, 200, 3, 6, seed=1, openings=["what is the", "how", ""])
    assert list(opened["qid"]) == list(plain["qid"]) and list(opened["docno"]) == list(plain["docno"])
    words = {p["docno"]: " ".join(re.findall(r"[a-z0-9]+", p["text"].lower())) for p in PASSAGES}
    starts = {"what is the": 0, "how": 0, "": 0}
    for q, p, d in zip(opened["query"], plain["query"], opened["docno"]):
        # "what" and "how" are function words: a phrase never starts with one, an opening always does
        opening = {"what": "what is the", "how": "how"}.get(q.split()[0], "")
        starts[opening] += 1
        phrase = q[len(opening):].strip()
        assert content_words(phrase) == p.split(), (q, p)  # the same content words, in order
        assert f" {phrase} " in f" {words[d]} ", (q, d)  # consecutive words of the source passage
    assert all(n > 30 for n in starts.values()), starts  # every opening drawn, the empty one included
    assert any(set(q.split()) & STOPWORDS - {"what", "is", "the", "how"} for q in opened["query"])
    with pytest.raises(ValueError, match="openings is empty"):
        pseudo_queries_frame(iter(PASSAGES), 4, 5, openings=[])
