"""Parse an LLM's ranking response into a permutation of the window, repairing what it can.

Rules (castorini/rank_llm ``clean_ranking_response`` + ``receive_permutation``):

1. everything up to the last ``</think>`` is dropped (reasoning models);
2. look-alike digits (superscripts, subscripts, circled, full-width, ...) become ASCII digits;
3. every maximal run of digits is an id (``"[3] > [1]"`` -> 3, 1; any non-digit separates);
4. ids are 1-based; duplicates are dropped (first occurrence kept) and ids outside ``1..n`` are
   dropped;
5. ids the response does not mention are appended in their original (input) order.

A response with no usable id at all keeps the window's input order. Every window is classified
``ok`` (a clean permutation of 1..n), ``repaired`` (rules 4/5 changed something) or ``unusable``
(no usable id), and :class:`RepairStats` counts them for the rule log and the JSON summary.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

_FAKE_DIGITS = str.maketrans(
    "⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉①②③④⑤⑥⑦⑧⑨❶❷❸❹❺❻❼❽❾０１２３４５６７８９🄀🄁🄂🄃🄄🄅🄆🄇🄈🄉",
    "0123456789012345678912345678912345678901234567890123456789",
)
_DIGITS = re.compile(r"[0-9]+")

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


def extract_ids(response: str) -> list[int]:
    """The 1-based ids in ``response`` in order (rules 1-3), duplicates and out-of-range included."""
    if "</think>" in response:
        response = response.split("</think>")[-1]
    response = response.translate(_FAKE_DIGITS)
    return [int(m) for m in _DIGITS.findall(response)]


def parse_permutation(response: str | None, n: int) -> Parsed:
    """Repair ``response`` into a permutation of ``range(n)`` (see the module doc)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    ids = extract_ids(response or "")
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
            self.examples.append({"window": where, "status": parsed.status, "response": (response or "")[:300]})

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
