"""The teacher's window cache at its edges: garbage responses and entries never break a rerun, the key
holds the model and the generation settings, and the vLLM backend's generate() against a fake engine."""

from __future__ import annotations

import json
import re
import sys
import types

import pytest

from rankdistill.teacher import prompts as P
from rankdistill.teacher.backends import Backend, Generation
from rankdistill.teacher.cache import WindowCache
from rankdistill.teacher.core import Settings, rank_queries

_ID_LINE = re.compile(r"^\[(\d+)\] ", re.M)

# six queries of five candidates, one window each (window >= depth): every window's key is independent
QUERIES = [(f"q{i}", f"query {i}", [f"d{i}-{j}" for j in range(5)]) for i in range(6)]
TEXTS = {d: f"passage {d} text" for _, _, docs in QUERIES for d in docs}
SETTINGS = Settings(prompt="rankzephyr", window=20, step=10, depth=20, batch_size=4, max_passage_words=20)


def _n_passages(prompt: P.Prompt) -> int:
    return len(_ID_LINE.findall(prompt.messages[-1]["content"]))


class Scripted(Backend):
    """A remote-like backend (no tokenizer) answering ``respond(n)``; counts the windows it generated."""

    name = "scripted"

    def __init__(self, respond, model_key="scripted-model", stop_at_eos=False):
        self.respond, self.model_key, self.stop_at_eos = respond, model_key, stop_at_eos
        self.windows = 0

    def generate(self, prompts, max_new_tokens):
        self.windows += len(prompts)
        return [Generation(self.respond(_n_passages(p)), 7) for p in prompts]


def reverse(n):
    return " > ".join(f"[{i}]" for i in range(n, 0, -1))


def _rank(backend, cache, settings=SETTINGS):
    return rank_queries(QUERIES, lambda ds: {d: TEXTS[d] for d in ds}, backend, settings, cache)


def test_a_huge_number_response_is_cached_and_its_rerun_succeeds(tmp_path):
    """A digit run over Python's int limit once crashed parse *after* caching, so every rerun crashed."""
    huge = lambda n: "[" + "9" * 5000 + "] > " + reverse(n)  # noqa: E731
    with WindowCache(tmp_path) as c:
        first = _rank(Scripted(huge), c)
    assert first.stats.unusable == 6  # rank_llm's int() raises: the whole window keeps its input order
    assert first.rankings == {q: docs for q, _, docs in QUERIES}
    again = Scripted(huge)
    with WindowCache(tmp_path) as c:
        rerun = _rank(again, c)
    assert again.windows == 0 and rerun.stats.cached == 6 and rerun.rankings == first.rankings


def test_hand_written_garbage_in_the_cache_never_breaks_a_rerun(tmp_path):
    with WindowCache(tmp_path) as c:
        ref = _rank(Scripted(reverse), c)
    assert ref.rankings == {q: docs[::-1] for q, _, docs in QUERIES}
    path = tmp_path / "windows.jsonl"
    keys = [json.loads(line)["key"] for line in path.read_text().splitlines()]
    assert len(keys) == 6
    garbage = [  # (line written by hand, whether it is a usable cache entry)
        (json.dumps({"key": keys[0], "response": "[" + "1" * 9000 + "]"}), True),
        (json.dumps({"key": keys[1], "response": "⓪ \x00\udcff junk"}), True),
        (json.dumps({"key": keys[2], "response": None}), False),
        (json.dumps({"key": keys[3], "response": 5}), False),
        (json.dumps({"key": keys[4]}), False),
        (json.dumps([keys[5], "[1]"]), False),
        ("[" * 100000 + "]" * 100000, False),  # JSON nested past the recursion limit
        ('{"key": "\xff\xfe', False),
    ]
    with open(path, "wb") as f:
        for line, _ in garbage:
            f.write(line.encode("utf-8", "surrogateescape") + b"\n")
        f.write(b"\xff\xfe\x00 not utf-8\n")
    cache = WindowCache(tmp_path)
    assert len(cache) == 2 and cache.skipped_lines == len(garbage) - 2 + 1
    b = Scripted(reverse)
    with cache:
        out = _rank(b, cache)
    assert out.stats.cached == 2 and b.windows == 4  # the unusable entries are regenerated, not crashed on
    assert out.rankings["q0"] == QUERIES[0][2] and out.rankings["q1"] == QUERIES[1][2]  # garbage: input order
    assert all(out.rankings[f"q{i}"] == ref.rankings[f"q{i}"] for i in range(2, 6))


def test_the_cache_key_holds_the_model_and_the_generation_settings(tmp_path):
    """A changed model or changed generation settings must never be answered by another's entries."""
    with WindowCache(tmp_path) as c:
        _rank(Scripted(reverse, model_key="model-A"), c)
    for backend, settings in [
        (Scripted(reverse, model_key="model-B"), SETTINGS),  # another model
        (Scripted(reverse, model_key="model-A", stop_at_eos=True), SETTINGS),  # another stopping rule
        (Scripted(reverse, model_key="model-A"), Settings(**{**SETTINGS.__dict__, "max_new_tokens": 99})),
    ]:
        with WindowCache(tmp_path) as c:
            out = _rank(backend, c, settings)
        assert backend.windows == 6 and out.stats.cached == 0, (backend.model_key, backend.stop_at_eos)
    same = Scripted(reverse, model_key="model-A")
    with WindowCache(tmp_path) as c:
        _rank(same, c)
    assert same.windows == 0  # nothing else changed: all answered from the cache


def test_prompt_key_changes_with_each_part():
    p = P.build("rankzephyr", "q", ["a", "b"])
    k = p.key("m", "g")
    assert len({k, p.key("m2", "g"), p.key("m", "g2"), P.build("rankzephyr", "q", ["a", "c"]).key("m", "g")}) == 4


# ------------------------------------------------------------------ vLLM generate() against a fake engine


class FakeSamplingParams:
    """vLLM's ``SamplingParams`` keyword interface (the fields the backend may set); unknown ones fail."""

    FIELDS = {"n", "temperature", "top_p", "top_k", "seed", "max_tokens", "min_tokens", "stop", "stop_token_ids"}

    def __init__(self, **kw):
        unknown = set(kw) - self.FIELDS
        if unknown:
            raise TypeError(f"SamplingParams got unexpected keyword(s) {unknown}")
        self.__dict__.update(kw)


class FakeLLM:
    """vLLM's offline API (vllm-project/vllm ``vllm/entrypoints/llm.py``: ``LLM.generate(prompts,
    sampling_params=None, *, use_tqdm=True, lora_request=None, ...)``, prompts as ``TokensPrompt`` dicts
    ``{"prompt_token_ids": [...]}``, returning ``RequestOutput`` objects in prompt order whose
    ``.outputs[0]`` is a ``CompletionOutput`` with ``.text`` and ``.token_ids``); answers each window
    in reverse order."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.calls = []

    def generate(self, prompts, sampling_params=None, *, use_tqdm=True, lora_request=None):
        assert isinstance(sampling_params, FakeSamplingParams)
        self.calls.append((prompts, sampling_params))
        outs = []
        for p in prompts:
            assert set(p) == {"prompt_token_ids"} and all(isinstance(t, int) for t in p["prompt_token_ids"])
            n = len(_ID_LINE.findall(self.tok.decode(p["prompt_token_ids"])))
            text = reverse(n)
            comp = types.SimpleNamespace(index=0, text=text, token_ids=self.tok.encode(text, add_special_tokens=False),
                                         finish_reason="length")
            outs.append(types.SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], outputs=[comp], finished=True))
        return outs


def test_vllm_backend_generate_runs_against_a_fake_engine(tmp_path, monkeypatch):
    from rankdistill.teacher import tiny
    from rankdistill.teacher.backends import VLLMBackend

    tok = tiny.build_tokenizer()
    tok.save_pretrained(tmp_path / "tok")
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(SamplingParams=FakeSamplingParams, LLM=None))
    engine = FakeLLM(tok)
    b = VLLMBackend(str(tmp_path / "tok"), llm=engine, context_size=2048, max_new_tokens=64)
    out = rank_queries(QUERIES, lambda ds: {d: TEXTS[d] for d in ds}, b, SETTINGS, WindowCache(None))
    assert out.rankings == {q: docs[::-1] for q, _, docs in QUERIES}  # the engine's answers were applied
    assert out.stats.ok == 6 and out.backend_calls == 2 == len(engine.calls)  # batches of 4 and 2 queries
    prompts, sp = engine.calls[0]
    assert len(prompts) == 4
    m = P.num_output_tokens(tok, 5)
    assert (sp.temperature, sp.top_p, sp.max_tokens, sp.min_tokens) == (0.0, 1.0, m, m)  # greedy, fixed length
    first = P.build("rankzephyr", QUERIES[0][1], [TEXTS[d] for d in QUERIES[0][2]], tok, 20, 2048)
    assert prompts[0]["prompt_token_ids"] == P.encode(tok, first.text)  # tokenised as the HF backend does
    assert out.stats.generated_tokens == sum(len(tok.encode(reverse(5), add_special_tokens=False)) for _ in range(6))
