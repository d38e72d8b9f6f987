"""Queries an LLM writes for a passage (doc2query, InPars/Promptagator style): the ``llm`` method of the
``generated`` query-set kind (:mod:`rankdistill.datasets.generated`).

The prompt is few-shot chat: a system instruction, then each example as a turn pair (user: ``Passage: ...``,
assistant: its query), then the target passage as the last user turn; the model's reply is the query. The
default examples (:data:`EXAMPLES`) are three generic MS-MARCO-like (passage, query) pairs written here;
``examples:`` names a query set whose queries and judged passages replace them. Decoding is greedy (the
teacher's backends, :mod:`rankdistill.teacher.backends`: ``hf`` (transformers, loads ``.gguf`` too), ``vllm``,
``openai``), so a passage gives one query and passages are drawn without replacement.

A reply is cleaned (:func:`clean_output`: chat artefacts, a ``Query:`` label, quotes, bullets and everything
after the first line go) and then dropped, with its reason counted, when it is empty, garbage (no letter, or
an echo of the prompt's ``Passage:`` label), shorter than ``min_words`` words, or a repeat of an earlier
query (the first is kept). :func:`source_found` is the InPars filter: keep a query only if a BM25 search of
it ranks its source passage within the top ``depth``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Iterable, Sequence

SYSTEM = ("You write search queries. Given a passage, write one short search query that the passage answers, "
          "as a user would type it into a search engine. Reply with the query only.")
USER = "Passage: {passage}"

# generic MS-MARCO-like examples (written for this package, not taken from a data set)
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("The Danube is Europe's second-longest river. It rises in the Black Forest in Germany and flows through ten "
     "countries, including Austria, Hungary, Serbia and Romania, before emptying into the Black Sea.",
     "what countries does the danube flow through"),
    ("Beta blockers such as propranolol and atenolol block the effects of adrenaline on the heart. They slow the "
     "heart rate and lower blood pressure, and are prescribed for hypertension, angina and after a heart attack.",
     "how do beta blockers lower blood pressure"),
    ("A single shot of espresso (about 30 ml) contains roughly 63 mg of caffeine, while an 8-ounce cup of brewed "
     "coffee contains about 95 mg.",
     "how much caffeine is in a shot of espresso"),
)

DROP_WHY = {
    "source_empty": "the drawn passage has no text",
    "empty": "the reply is empty once chat artefacts, labels and quotes are stripped",
    "garbage": "the reply has no letter, or echoes the prompt (starts with 'Passage:')",
    "too_short": "the query has fewer than min_words words",
    "duplicate": "the query repeats an earlier one (case and spacing ignored; the first is kept)",
    "source_not_retrieved": "the InPars filter: the source passage is not in the filter first stage's top depth "
                            "for the query",
}


def template(examples: Sequence[tuple[str, str]] = EXAMPLES) -> dict:
    """The prompt's wording and examples (a rule param and ``generated.json``'s ``prompt``: editing them reruns)."""
    return {"system": SYSTEM, "user": USER, "examples": [list(e) for e in examples]}


def template_key(tmpl: dict) -> str:
    return hashlib.sha256(json.dumps(tmpl, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def messages(passage: str, examples: Sequence[tuple[str, str]] = EXAMPLES, max_words: int = 200) -> list[dict]:
    """The few-shot chat messages asking for one query for ``passage`` (each passage: its first ``max_words``
    words, ftfy-fixed, as the teacher's prompts put passages)."""
    from ..teacher.prompts import passage_content

    out = [{"role": "system", "content": SYSTEM}]
    for p, q in examples:
        out += [{"role": "user", "content": USER.format(passage=passage_content(p, max_words))},
                {"role": "assistant", "content": q}]
    out.append({"role": "user", "content": USER.format(passage=passage_content(passage, max_words))})
    return out


def build_prompt(passage: str, tokenizer=None, examples: Sequence[tuple[str, str]] = EXAMPLES,
                 max_words: int = 200):
    """A :class:`~rankdistill.teacher.prompts.Prompt`: rendered with the tokenizer's chat template when there is
    one (hf, vllm), the messages alone otherwise (openai)."""
    from ..teacher import prompts as P

    msgs = messages(passage, examples, max_words)
    if tokenizer is None:
        return P.Prompt(tuple(msgs), None, None, max_words)
    text = P.render(tokenizer, msgs)
    return P.Prompt(tuple(msgs), text, len(P.encode(tokenizer, text)), max_words)


_SPECIAL = re.compile(r"<\|[^|>]*\|>|</?s>|<\|?(?:end_?of_?text|eot_id|im_start|im_end)\|?>|\[/?INST\]", re.I)
_ROLE = re.compile(r"^\s*(?:assistant|model)\s*[:\n]", re.I)
_LABEL = re.compile(r"^\s*(?:(?:search|relevant|generated|example|your|the|a)\s+)*(?:query|question|q)\s*\d*"
                    r"(?:\s*:|\s+[-–])\s*", re.I)  # "Query:", "Query 1 -"; not the "q-" of "q-learning"
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.)])\s+")
_QUOTES = "\"'`“”‘’*_ "
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def clean_output(text: str) -> str:
    """The query in an LLM's reply: chat tokens and a leading role name removed, the first non-empty line,
    without bullets, a ``Query:`` label, surrounding quotes and a final full stop, spacing collapsed."""
    t = _SPECIAL.sub("\n", text or "")
    t = _ROLE.sub("", t)
    line = next((ln for ln in t.splitlines() if ln.strip(_QUOTES + ":")), "")
    for _ in range(3):  # "1. Query: "what is x"" peels in layers
        before = line
        line = _BULLET.sub("", line)
        line = _LABEL.sub("", line)
        line = line.strip(_QUOTES)
        if line == before:
            break
    line = " ".join(line.split())
    if line.endswith(".") and "." not in line.rsplit(" ", 1)[-1][:-1]:  # a full stop, not "u.s."
        line = line[:-1].rstrip()
    return line


def words(query: str) -> int:
    return len(re.findall(r"\w+", query))


def judge(outputs: Iterable[str], min_words: int) -> tuple[list[str | None], dict[str, int], int]:
    """Each reply's query or ``None`` (dropped), the drops per reason (:data:`DROP_WHY`) and how many replies the
    cleaning changed. Duplicates are judged in order: the first of equal queries is kept."""
    kept: list[str | None] = []
    dropped = {"empty": 0, "garbage": 0, "too_short": 0, "duplicate": 0}
    seen: set[str] = set()
    cleaned = 0
    for raw in outputs:
        q = clean_output(raw)
        cleaned += q != (raw or "").strip()
        key = q.lower()
        reason = None
        if not q:
            reason = "empty"
        elif not _LETTER.search(q) or re.match(r"^\s*(?:passage|document|article)\s*:", q, re.I):
            reason = "garbage"
        elif words(q) < min_words:
            reason = "too_short"
        elif key in seen:
            reason = "duplicate"
        if reason:
            dropped[reason] += 1
            kept.append(None)
        else:
            seen.add(key)
            kept.append(q)
    return kept, dropped, cleaned


def source_found(frame, index: str, bm25: dict, depth: int):
    """The InPars filter: a boolean per row of ``frame`` (``qid``, ``query``, ``docno``): is the source ``docno``
    within the top ``depth`` of a BM25 search of the query (the first stage's index and settings ``bm25``:
    backend, k1, b; :mod:`rankdistill.retrieval.bm25`)."""
    from ..retrieval.bm25 import clean_topics, retrieve_frame, retriever

    topics, _ = clean_topics(frame[["qid", "query"]])
    retr = retriever(index, bm25.get("backend", "pisa"), bm25.get("k1", 0.9), bm25.get("b", 0.4), depth)
    run = retrieve_frame(retr, topics) if len(topics) else frame.iloc[:0][["qid", "docno"]]
    hits = set(run["qid"].astype(str) + "\t" + run["docno"].astype(str))
    return (frame["qid"].astype(str) + "\t" + frame["docno"].astype(str)).isin(hits)
