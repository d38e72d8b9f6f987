"""Parse an LLM's ranking response into a permutation of the window, repairing what it can.

The result is exactly castorini/rank_llm 0.25.7's (``ListwiseInferenceHandler._clean_response``
followed by ``ListwiseRankLLM.receive_permutation``) for *any* string, and this module never
raises on one:

1. everything up to the last ``</think>`` is dropped (reasoning models);
2. look-alike digits in rank_llm's ``fake_numbers_map`` (superscripts, subscripts, circled,
   full-width, ...) become ASCII digits;
3. every character for which ``str.isdigit`` is true is kept, every other one separates, and
   every maximal run of kept characters is one id (``"[3] > [1]"`` -> 3, 1). ``isdigit`` accepts
   every script's decimal digits (``"[٣]"`` is id 3, and ``int`` reads mixed runs like ``"1٣"`` as
   13), but also characters that are no decimal digit (``"⓪"``, ``"᧚"``, ``"⑴"``) and that
   rank_llm's ``int()`` then fails on; a run longer than Python's default int-conversion limit
   (4300 digits, leading zeros included) fails the same way. On such a failure rank_llm's
   ``except`` keeps the window's input order for the *whole* response; so do we (``unusable``),
   without converting anything: an id's value is computed digit by digit, so no global
   ``sys.set_int_max_str_digits`` setting changes the result;
4. ids are 1-based; duplicates are dropped (first occurrence kept) and ids outside ``1..n`` are
   dropped;
5. ids the response does not mention are appended in their original (input) order.

A response with no usable id at all keeps the window's input order; so does a response that is
not a string (``None``, bytes from a hand-edited cache, ...). Every window is classified ``ok``
(a clean permutation of 1..n), ``repaired`` (rules 4/5 changed something) or ``unusable`` (no
usable id, or rule 3's failure), and :class:`RepairStats` counts them for the rule log and the
JSON summary.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field

_FAKE_DIGITS = str.maketrans(
    "⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉①②③④⑤⑥⑦⑧⑨❶❷❸❹❺❻❼❽❾０１２３４５６７８９🄀🄁🄂🄃🄄🄅🄆🄇🄈🄉",
    "0123456789012345678912345678912345678901234567890123456789",
)
INT_MAX_STR_DIGITS = 4300  # CPython's default sys.get_int_max_str_digits(), which rank_llm's int() obeys

OK, REPAIRED, UNUSABLE = "ok", "repaired", "unusable"


@dataclass(frozen=True)
class Parsed:
    """A window's repaired permutation (0-based window positions, best first) and what was repaired."""

    permutation: tuple[int, ...]
    status: str
    ids: int = 0  # ids found in the response
    duplicates: int = 0
    out_of_range: int = 0
    missing: int = 0  # ids appended because the response did not mention them


class _Unconvertible(Exception):
    """A run of ``isdigit`` characters that rank_llm's ``int()`` raises on."""


def _clean(response: str) -> str:
    """rank_llm's ``_clean_response`` (``use_alpha=False``): digits kept, everything else a space."""
    if "</think>" in response:
        response = response.split("</think>")[-1]
    response = response.translate(_FAKE_DIGITS)
    return "".join(c if c.isdigit() else " " for c in response)


def _value(run: str, n: int) -> int:
    """``int(run)`` as rank_llm computes it, capped: any value above ``n`` is returned as ``n + 1``."""
    if len(run) > INT_MAX_STR_DIGITS:
        raise _Unconvertible(run)
    v = 0
    for c in run:
        d = unicodedata.decimal(c, None)
        if d is None:  # isdigit() but no decimal digit: int() raises
            raise _Unconvertible(run)
        if v <= n:
            v = v * 10 + d
    return min(v, n + 1)


def extract_ids(response, n: int | None = None) -> list[int] | None:
    """The 1-based ids in ``response`` in order (rules 1-3), duplicates and out-of-range included.

    With ``n``, any id above ``n`` is reported as ``n + 1`` (no huge integers are built). Returns
    ``None`` when rank_llm's conversion would fail (rule 3) or ``response`` is not a string.
    """
    if not isinstance(response, str):
        return None
    cap = n if n is not None else 10**INT_MAX_STR_DIGITS
    try:
        return [_value(run, cap) for run in _clean(response).split()]
    except _Unconvertible:
        return None


def parse_permutation(response, n: int) -> Parsed:
    """Repair ``response`` into a permutation of ``range(n)`` (see the module doc); never raises on any
    ``response``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    ids = extract_ids(response if response is not None else "", n)
    if ids is None:  # rank_llm's except branch: the whole window keeps its input order
        return Parsed(tuple(range(n)), UNUSABLE if n else OK, 0, 0, 0, n)
    seen: set[int] = set()
    order: list[int] = []
    dup = oor = 0
    for i in ids:
        if i < 1 or i > n:
            oor += 1
        elif i - 1 in seen:
            dup += 1
        else:
            seen.add(i - 1)
            order.append(i - 1)
    if not order:
        return Parsed(tuple(range(n)), UNUSABLE if n else OK, len(ids), dup, oor, n)
    missing = [j for j in range(n) if j not in seen]
    status = OK if not (dup or oor or missing) else REPAIRED
    return Parsed(tuple(order + missing), status, len(ids), dup, oor, len(missing))


def _shown(response, limit: int = 300) -> str:
    """A response as the summary/log shows it (any object, cut to ``limit`` characters)."""
    text = response if isinstance(response, str) else ("" if response is None else repr(response))
    return text[:limit]


@dataclass
class RepairStats:
    """Counts over windows: how many parsed cleanly, were repaired or were unusable."""

    windows: int = 0
    ok: int = 0
    repaired: int = 0
    unusable: int = 0
    duplicates: int = 0
    out_of_range: int = 0
    missing: int = 0
    cached: int = 0  # windows answered from the cache (no LLM call)
    generated: int = 0  # windows sent to the LLM
    generated_tokens: int = 0
    examples: list = field(default_factory=list)  # a few unusable/repaired responses, for the summary

    def add(self, parsed: Parsed, response: str = "", where: str = "") -> None:
        self.windows += 1
        setattr(self, parsed.status, getattr(self, parsed.status) + 1)
        self.duplicates += parsed.duplicates
        self.out_of_range += parsed.out_of_range
        self.missing += parsed.missing
        if parsed.status != OK and len(self.examples) < 5:
            self.examples.append({"window": where, "status": parsed.status, "response": _shown(response)})

    def merge(self, other: "RepairStats") -> "RepairStats":
        out = RepairStats()
        for k, v in asdict(self).items():
            if k == "examples":
                out.examples = (self.examples + other.examples)[:5]
            else:
                setattr(out, k, v + getattr(other, k))
        return out

    def as_dict(self) -> dict:
        d = asdict(self)
        d["repaired_fraction"] = (self.repaired + self.unusable) / self.windows if self.windows else 0.0
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RepairStats":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)
