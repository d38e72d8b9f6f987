"""Malformed LLM outputs: each is repaired as documented in ``rankdistill.teacher.parse``, and the repair
equals rank_llm 0.25.7's for any string (a transcription of its code is the oracle), without raising.

The oracle below is castorini/rank_llm at v0.25.7 (commit 2f21e89), transcribed line by line:
``src/rank_llm/rerank/listwise/listwise_inference_handler.py``, ``ListwiseInferenceHandler._clean_response``
(``use_alpha=False``) and ``src/rank_llm/rerank/listwise/listwise_rankllm.py``,
``ListwiseRankLLM._remove_duplicate`` / ``receive_permutation`` (its ``try``/``except Exception`` falls
back to the original order for the whole window).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankdistill.teacher.parse import OK, REPAIRED, UNUSABLE, extract_ids, parse_permutation

_RANK_LLM_FAKE_NUMBERS = (
    "⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉①②③④⑤⑥⑦⑧⑨❶❷❸❹❺❻❼❽❾０１２３４５６７８９🄀🄁🄂🄃🄄🄅🄆🄇🄈🄉",
    "0123456789012345678912345678912345678901234567890123456789",
)


def rank_llm_clean_response(response: str) -> str:
    """rank_llm ``ListwiseInferenceHandler._clean_response`` with ``use_alpha=False``."""
    if "</think>" in response:
        response = response.split("</think>")[-1].strip()
    response = response.translate(str.maketrans(*_RANK_LLM_FAKE_NUMBERS))
    new_response = ""
    for c in response:
        if not c.isdigit():
            new_response += " "
        else:
            new_response += c
    return new_response.strip()


def rank_llm_receive_permutation(permutation: str, n: int) -> list[int]:
    """rank_llm ``receive_permutation``: the window's new order as 0-based positions."""
    original_rank = [tt for tt in range(n)]
    try:
        response = rank_llm_clean_response(permutation)
        response = [int(x) - 1 for x in response.split()]
        new_response = []  # _remove_duplicate
        for c in response:
            if c not in new_response:
                new_response.append(c)
        response = [ss for ss in new_response if ss in original_rank]
        response = response + [tt for tt in original_rank if tt not in response]
    except Exception:
        response = original_rank
    return response


def test_the_oracle_is_rank_llms_behaviour_on_its_own_edge_cases():
    """Sanity of the transcription: '²' is isdigit (translated first), '⓪' is isdigit but int() fails."""
    assert "⓪".isdigit() and "᧚".isdigit()
    with pytest.raises(ValueError):
        int("⓪")
    assert rank_llm_receive_permutation("[2] > [1] ⓪", 2) == [0, 1]  # int() raised: original order
    assert rank_llm_receive_permutation("² > ¹", 2) == [1, 0]
    assert rank_llm_receive_permutation("[٢] > [١]", 2) == [1, 0]  # Arabic-Indic digits convert


HUGE = "9" * 5000

# (response, window size, repaired permutation, status): the catalogue of bad LLM outputs
CASES = [
    ("lorem ipsum, I think the first passage is best", 3, (0, 1, 2), UNUSABLE),  # garbage: input order
    ("", 3, (0, 1, 2), UNUSABLE),  # empty
    (None, 3, (0, 1, 2), UNUSABLE),  # no response at all
    (" \n\t ", 2, (0, 1), UNUSABLE),  # whitespace only
    (b"[2] > [1]", 2, (0, 1), UNUSABLE),  # not a string (a hand-edited cache): input order
    (f"[{HUGE}] > [2] > [1]", 3, (0, 1, 2), UNUSABLE),  # > 4300 digits: rank_llm's int() raises
    ("[" + "0" * 4300 + "2] > [1]", 2, (0, 1), UNUSABLE),  # leading zeros count towards the limit
    ("[" + "9" * 4300 + "] > [2] > [1]", 3, (1, 0, 2), REPAIRED),  # 4300 digits convert: out of range
    ("[" + "0" * 4299 + "2] > [1]", 2, (1, 0), OK),  # ... and a 4300-digit 2 is id 2
    ("[٣] > [١] > [٢]", 3, (2, 0, 1), OK),  # Arabic-Indic digits are digits
    ("[२] > [१]", 2, (1, 0), OK),  # Devanagari
    ("𝟐 > 𝟏", 2, (1, 0), OK),  # mathematical bold digits
    ("[1٠] > [1]", 10, (9, 0, 1, 2, 3, 4, 5, 6, 7, 8), REPAIRED),  # a mixed-script run is one id (10)
    ("[2] > [1] > ⓪", 2, (0, 1), UNUSABLE),  # isdigit but not a decimal digit: int() raises
    ("᧚ [2] > [1]", 2, (0, 1), UNUSABLE),  # New Tai Lue digit one: isdigit, int() raises
    ("⑵ > ⑴", 2, (0, 1), UNUSABLE),  # parenthesised digits are not in rank_llm's map
    ("³ > ¹ > ²", 3, (2, 0, 1), OK),  # superscripts are in the map
    ("❷ > ❶", 2, (1, 0), OK),  # so are negative circled digits
    ("[１０] > [９]", 10, (9, 8, 0, 1, 2, 3, 4, 5, 6, 7), REPAIRED),  # full-width multi-digit id
    ("[1] > [1] > [1]", 3, (0, 1, 2), REPAIRED),  # repeated ids: first kept, missing appended
    ("[2] > [1] > [2] > [1]", 2, (1, 0), REPAIRED),  # forced-length repetition
    ("[7] > [8] > [99]", 3, (0, 1, 2), UNUSABLE),  # only out-of-range ids
    ("[0] > [2]", 2, (1, 0), REPAIRED),  # 0 is out of range (ids are 1-based)
    ("[-2] > [1]", 2, (1, 0), OK),  # '-' separates: ids 2, 1
    ("[1.2]", 2, (0, 1), OK),  # '.' separates: ids 1, 2
    ("\x00\xff\ufffd[2]\x00[1]\x7f", 2, (1, 0), OK),  # binary junk around the ids
    ("\ud800[2] > \udfff[1]", 2, (1, 0), OK),  # lone surrogates
    ("<think>[1] > [2]</think>", 2, (0, 1), UNUSABLE),  # only reasoning, no answer after it
    ("<think>[1] > [2]</think> [2] > [1]", 2, (1, 0), OK),
    ("[3] > [1]", 3, (2, 0, 1), REPAIRED),  # id 2 missing: appended
    ("anything [1]", 0, (), OK),  # an empty window
]


@pytest.mark.parametrize("response,n,perm,status", CASES)
def test_bad_llm_output_is_repaired_as_documented(response, n, perm, status):
    p = parse_permutation(response, n)
    assert (p.permutation, p.status) == (perm, status)
    if isinstance(response, str):
        assert list(p.permutation) == rank_llm_receive_permutation(response, n)


def test_huge_ids_are_capped_not_converted():
    assert extract_ids("[" + "9" * 4000 + "] [3]", 5) == [6, 3]
    assert extract_ids("[" + "9" * 4301 + "]", 5) is None


def test_parse_ignores_a_lowered_global_int_limit():
    """``sys.set_int_max_str_digits`` elsewhere in the process must not change a window's result."""
    import sys

    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert parse_permutation("[" + "0" * 700 + "2] > [1]", 2).permutation == (1, 0)
    finally:
        sys.set_int_max_str_digits(old)


# ------------------------------------------------------------------ property tests against the oracle

_ODD = "".join(chr(c) for c in range(0x110000) if chr(c).isdigit() and not chr(c).isdecimal())
_DECIMAL = "0123456789٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３４５６７８９𝟎𝟏𝟐"
_tokens = st.one_of(
    st.integers(0, 25).map(lambda i: f"[{i}]"),
    st.text(alphabet=_DECIMAL, min_size=1, max_size=3),
    st.sampled_from(list(_ODD)),
    st.sampled_from([" > ", ">", " ", ",", "\n", "-", ".", "</think>", "<think>", "[", "]", "and", "\x00"]),
    st.integers(4290, 4310).map(lambda k: "1" * k),  # around the int-conversion limit
)
_responses = st.one_of(
    st.text(),  # arbitrary Unicode, surrogates included
    st.lists(_tokens, max_size=30).map("".join),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.tuples(st.sampled_from("0123456789٣"), st.integers(1, 6000)).map(lambda t: f"[{t[0] * t[1]}] > [1] > [2]"),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response=_responses, n=st.integers(0, 22))
def test_parse_equals_rank_llm_on_any_string_and_never_raises(response, n):
    p = parse_permutation(response, n)
    assert sorted(p.permutation) == list(range(n))
    assert p.status in (OK, REPAIRED, UNUSABLE)
    assert list(p.permutation) == rank_llm_receive_permutation(response, n)


@settings(max_examples=100, deadline=None)
@given(junk=st.one_of(st.binary(max_size=100), st.integers(), st.floats(), st.lists(st.integers(), max_size=5),
                      st.dictionaries(st.text(max_size=3), st.integers(), max_size=3)))
def test_parse_of_a_non_string_keeps_the_input_order(junk):
    assert parse_permutation(junk, 4).permutation == (0, 1, 2, 3)
