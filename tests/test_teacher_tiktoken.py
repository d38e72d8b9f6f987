"""RankGPT prompts for API models (no HF tokenizer) are fitted to the context with tiktoken counts exactly
as rank_llm 0.25.7's ``SafeOpenai`` does.

Oracle: castorini/rank_llm v0.25.7 (commit 2f21e89) ``src/rank_llm/rerank/listwise/rank_gpt.py``,
``SafeOpenai.create_prompt``, ``get_num_tokens`` and ``num_output_tokens``, transcribed below; its
``generate_prompt`` is our ``prompts.messages`` (rank_llm's rank_gpt_template.yaml, tested in test_teacher).
"""

from __future__ import annotations

import json

import pytest

from rankdistill.errors import ConfigError, UnavailableError
from rankdistill.teacher import prompts as P
from rankdistill.teacher.tiktoken_count import MessageTokenCounter, cl100k_base


def rank_llm_get_num_tokens(model, encoding, prompt):
    if model in ["gpt-3.5-turbo-0301", "gpt-3.5-turbo"]:
        tokens_per_message = 4
        tokens_per_name = -1
    elif model in ["gpt-4-0314", "gpt-4"]:
        tokens_per_message = 3
        tokens_per_name = 1
    else:
        tokens_per_message, tokens_per_name = 0, 0
    num_tokens = 0
    for message in prompt:
        num_tokens += tokens_per_message
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))
            if key == "name":
                num_tokens += tokens_per_name
    num_tokens += 3
    return num_tokens


def rank_llm_num_output_tokens(encoding, window_size):
    return len(encoding.encode(" > ".join([f"[{i+1}]" for i in range(window_size)]))) - 1


def rank_llm_create_prompt(model, encoding, context_size, window_size, kind, query, passages):
    n = len(passages)
    max_length = 300 * (window_size // n)
    while True:
        prompt = P.messages(kind, query, passages, max_length)  # generate_prompt(max_length=...)
        num_tokens = rank_llm_get_num_tokens(model, encoding, prompt)
        if num_tokens <= context_size - rank_llm_num_output_tokens(encoding, window_size):
            break
        max_length -= max(1, (num_tokens - context_size + rank_llm_num_output_tokens(encoding, window_size)) // (n * 4))
    return prompt, num_tokens


@pytest.fixture(scope="module")
def enc():
    return cl100k_base()


def test_the_offline_ranks_are_tiktokens_cl100k_base(enc):
    assert enc.name == "cl100k_base" and enc.n_vocab == 100277
    assert enc.encode("hello world") == [15339, 1917]
    assert enc.decode(enc.encode("Rank the passages [1] > [2] — ünïcödé")) == "Rank the passages [1] > [2] — ünïcödé"


def test_a_file_that_is_not_cl100k_base_is_an_error(tmp_path, monkeypatch):
    from rankdistill.teacher import tiktoken_count

    bad = tmp_path / "cl100k_base.tiktoken"
    bad.write_text("IQ== 0\nIg== 1\n")
    monkeypatch.setenv(tiktoken_count.FILE_ENV, str(bad))
    with pytest.raises(UnavailableError, match="not the cl100k_base BPE ranks"):
        cl100k_base()
    monkeypatch.setenv(tiktoken_count.FILE_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(UnavailableError, match="no such file"):
        cl100k_base()


PASSAGES = [" ".join(f"w{i}x{j} lorem{j % 7} ipsum [{j % 3}]" for j in range(120)) for i in range(20)]


@pytest.mark.parametrize("model", ["gpt-3.5-turbo", "gpt-4", "gpt-4o-mini"])
@pytest.mark.parametrize("context_size", [100_000, 4096, 2500])
@pytest.mark.parametrize("n,window", [(20, 20), (7, 20), (10, 10)])
def test_rankgpt_messages_equal_rank_llm_safe_openai(enc, model, context_size, n, window):
    passages = PASSAGES[:n]
    want, want_tokens = rank_llm_create_prompt(model, enc, context_size, window, "rankgpt", "what is [2] bm25", passages)
    got = P.build("rankgpt", "what is [2] bm25", passages, None, 300, context_size, MessageTokenCounter(model, window, enc))
    assert list(got.messages) == want and got.n_tokens == want_tokens
    assert got.n_tokens <= context_size - rank_llm_num_output_tokens(enc, window)


def test_the_budget_really_truncates_and_an_impossible_one_is_a_config_error(enc):
    c = MessageTokenCounter("gpt-4o", 20, enc)
    full = P.build("rankgpt", "q", PASSAGES, None, 300, 100_000, c)
    tight = P.build("rankgpt", "q", PASSAGES, None, 300, 4096, c)
    assert full.max_words == 300 and tight.max_words < 120 < full.n_tokens // 20  # passages were shortened
    with pytest.raises(ConfigError, match="does not fit context_size=200"):
        P.build("rankgpt", "q", PASSAGES, None, 300, 200, c)


def test_openai_teacher_sends_the_fitted_messages(enc, monkeypatch):
    """Through the teacher loop: what reaches the endpoint is rank_llm's fitted prompt."""
    from rankdistill.teacher.backends import OpenAIBackend
    from rankdistill.teacher.core import Settings, rank_queries

    sent = []

    class Captured(OpenAIBackend):
        def _post(self, body):
            sent.append(json.loads(json.dumps(body)))
            return {"choices": [{"message": {"content": "[2] > [1]"}}], "usage": {"completion_tokens": 5}}

    b = Captured("gpt-4o-mini", base_url="http://127.0.0.1:9/v1", window=20, concurrency=1)
    assert isinstance(b.token_counter, MessageTokenCounter) and b.token_counter.window == 20
    settings = Settings(prompt="rankgpt", window=20, step=10, depth=20, batch_size=2, context_size=3000)
    docs = [f"d{i}" for i in range(20)]
    texts = dict(zip(docs, PASSAGES))
    rank_queries([("1", "what is bm25", docs)], lambda ds: {d: texts[d] for d in ds}, b, settings)
    want, _ = rank_llm_create_prompt("gpt-4o-mini", enc, 3000, 20, "rankgpt", "what is bm25", PASSAGES)
    assert len(sent) == 1 and sent[0]["messages"] == want
