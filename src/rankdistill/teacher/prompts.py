"""Listwise ranking prompts: RankZephyr (single turn) and RankGPT (multi-turn), as rank_llm builds them.

The wording is rank_llm's ``rank_zephyr_template.yaml`` and ``rank_gpt_template.yaml``: a model's
prompt must be the prompt it was trained on (RankZephyr was fine-tuned on exactly this text), or
a real teacher silently degrades. Passages are numbered ``[1]..[n]`` in the window's current
order. Passage handling follows rank_llm's ``_convert_doc_to_prompt_content``: strip, ``ftfy``
fix, keep the first ``max_passage_words`` whitespace words, and rewrite any literal ``[k]`` to
``(k)`` (so passage text cannot look like an identifier); the query gets the same rewrite.

With a tokenizer, the messages are rendered with the tokenizer's chat template
(``add_generation_prompt=True``) and, as in rank_llm's ``create_prompt``, the per-passage word
budget shrinks until the prompt fits ``context_size`` minus the expected output length (the token
length of ``"[1] > [2] > ... > [n]"``). Without a tokenizer (an API model) but with a
:class:`~rankdistill.teacher.tiktoken_count.MessageTokenCounter`, the messages are fitted with
tiktoken counts exactly as rank_llm's ``SafeOpenai.create_prompt`` does (see that module).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Sequence

from ..errors import ConfigError

PROMPTS = ("rankzephyr", "rankgpt")

RANKZEPHYR_SYSTEM = (
    "You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the query"
)
RANKZEPHYR_PREFIX = (
    "I will provide you with {num} passages, each indicated by a numerical identifier []. "
    "Rank the passages based on their relevance to the search query: {query}.\n"
)
RANKZEPHYR_BODY = "[{rank}] {candidate}\n"
RANKZEPHYR_SUFFIX = (
    "Search Query: {query}.\n"
    "Rank the {num} passages above based on their relevance to the search query. All the passages should be "
    "included and listed using identifiers, in descending order of relevance. The output format should be "
    "[] > [], e.g., [2] > [1], Answer concisely and directly and only respond with the ranking results, "
    "do not say any word or explain."
)

RANKGPT_SYSTEM = (
    "You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to the query."
)
RANKGPT_PREFIX_USER = (
    "I will provide you with {num} passages, each indicated by number identifier [].\n"
    "Rank the passages based on their relevance to query: {query}."
)
RANKGPT_PREFIX_ASSISTANT = "Okay, please provide the passages."
RANKGPT_BODY_USER = "[{rank}] {candidate}"
RANKGPT_BODY_ASSISTANT = "Received passage [{rank}]."
RANKGPT_SUFFIX_USER = (
    "Search Query: {query}.\n"
    "Rank the {num} passages above based on their relevance to the search query. The passages should be "
    "listed in descending order using identifiers. The most relevant passages should be listed first. "
    "The output format should be [] > [], e.g., [1] > [2]. Only response the ranking results, do not say "
    "any word or explain."
)

_ID = re.compile(r"\[(\d+)\]")


def _fix_text(s: str) -> str:
    try:
        from ftfy import fix_text
    except ImportError:  # pragma: no cover - ftfy is a declared dependency
        return s
    return fix_text(s)


def replace_number(s: str) -> str:
    """``[3]`` → ``(3)``: passage or query text must not contain window identifiers."""
    return _ID.sub(r"(\1)", s)


def doc_content(title: str, text: str) -> str:
    """rank_llm's ``convert_doc_to_prompt_content`` for a document with a title: ``"Title: " + title + " " +
    "Content: " + text`` (before it strips, fixes and truncates; the title's words count against the
    passage's word budget); a document without a title is its text."""
    return "Title: " + title + " " + "Content: " + text if title else text


def passage_content(text: str, max_words: int) -> str:
    """rank_llm's passage text: stripped, ftfy-fixed, first ``max_words`` words, ``[k]`` → ``(k)``."""
    content = _fix_text(str(text).strip())
    content = " ".join(content.split()[: int(max_words)])
    return replace_number(content)


def messages(kind: str, query: str, passages: Sequence[str], max_words: int) -> list[dict[str, str]]:
    """Chat messages asking to rank ``passages`` (window order, numbered from 1) for ``query``."""
    num = len(passages)
    q = replace_number(query)
    contents = [passage_content(p, max_words) for p in passages]
    if kind == "rankzephyr":
        body = "".join(RANKZEPHYR_BODY.format(rank=i + 1, candidate=c) for i, c in enumerate(contents))
        user = RANKZEPHYR_PREFIX.format(num=num, query=q) + body + RANKZEPHYR_SUFFIX.format(num=num, query=q)
        return [{"role": "system", "content": RANKZEPHYR_SYSTEM}, {"role": "user", "content": user}]
    if kind == "rankgpt":
        out = [
            {"role": "system", "content": RANKGPT_SYSTEM},
            {"role": "user", "content": RANKGPT_PREFIX_USER.format(num=num, query=q)},
            {"role": "assistant", "content": RANKGPT_PREFIX_ASSISTANT},
        ]
        for i, c in enumerate(contents):
            out.append({"role": "user", "content": RANKGPT_BODY_USER.format(rank=i + 1, candidate=c)})
            out.append({"role": "assistant", "content": RANKGPT_BODY_ASSISTANT.format(rank=i + 1)})
        out.append({"role": "user", "content": RANKGPT_SUFFIX_USER.format(num=num, query=q)})
        return out
    raise ConfigError(f"unknown prompt {kind!r} (choose from {', '.join(PROMPTS)})")


def expected_output(n: int) -> str:
    """The ideal response for a window of ``n``: ``[1] > [2] > ... > [n]`` (its length sizes the output)."""
    return " > ".join(f"[{i + 1}]" for i in range(n))


def num_output_tokens(tokenizer, n: int) -> int:
    """rank_llm's output-length estimate: tokens of ``"[1] > ... > [n]"`` without special tokens."""
    return len(tokenizer.encode(expected_output(n), add_special_tokens=False))


def render(tokenizer, msgs: list[dict[str, str]]) -> str:
    """Messages → the model's prompt text via its chat template (generation prompt appended)."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise ConfigError(
            "the teacher model's tokenizer has no chat template; a listwise teacher needs an instruction-tuned "
            "chat model (set tokenizer.chat_template, or choose another model)"
        )
    text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return _fix_text(text)


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of a rendered prompt; no second BOS when the chat template already wrote one."""
    bos = getattr(tokenizer, "bos_token", None)
    special = not (bos and text.startswith(bos))
    return tokenizer.encode(text, add_special_tokens=special)


@dataclass(frozen=True)
class Prompt:
    """One window's prompt: chat messages, and (with a tokenizer) the rendered text and its length."""

    messages: tuple
    text: str | None
    n_tokens: int | None
    max_words: int  # per-passage word budget after fitting the context

    def key(self, model_key: str, gen_key: str) -> str:
        """Content hash of (model, generation settings, prompt): the cache key of this window."""
        payload = self.text if self.text is not None else json.dumps(list(self.messages), ensure_ascii=False)
        h = hashlib.sha256()
        for part in (model_key, gen_key, payload):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()


def build(
    kind: str,
    query: str,
    passages: Sequence[str],
    tokenizer=None,
    max_words: int = 300,
    context_size: int = 4096,
    counter=None,
) -> Prompt:
    """The window's prompt; with a tokenizer, passages are shortened until it fits ``context_size``.

    Without a tokenizer, ``counter`` (a :class:`~rankdistill.teacher.tiktoken_count.MessageTokenCounter`)
    fits the chat messages as rank_llm's ``SafeOpenai.create_prompt``: from ``max_words * (window // n)``
    words per passage down until ``count(messages) <= context_size - output_tokens()``.
    """
    n = len(passages)
    if tokenizer is not None:  # the chat template's text, counted by the model's tokenizer
        budget, words, how = context_size - num_output_tokens(tokenizer, n), max_words, ""

        def measure(msgs):
            text = render(tokenizer, msgs)
            return text, len(encode(tokenizer, text))
    elif counter is not None and n:  # the messages, counted as rank_llm counts them for API models
        budget, how = context_size - counter.output_tokens(), " by rank_llm's tiktoken count"
        words = max(1, int(max_words) * (counter.window // n))

        def measure(msgs):
            return None, counter.count(msgs)
    else:
        return Prompt(tuple(messages(kind, query, passages, max_words)), None, None, max_words)
    while True:
        msgs = messages(kind, query, passages, words)
        text, n_tok = measure(msgs)
        if n_tok <= budget:
            return Prompt(tuple(msgs), text, n_tok, words)
        if words <= 1:
            raise ConfigError(
                f"a window of {n} passages does not fit context_size={context_size} tokens even with 1 word "
                f"per passage ({n_tok} prompt tokens{how}): raise context_size or lower window"
            )
        words = max(1, words - max(1, (n_tok - budget) // (n * 4)))
