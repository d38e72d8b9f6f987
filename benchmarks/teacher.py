"""Teacher throughput: one window at a time (rank_llm's HF path) vs cross-query lockstep batching.

Same model, same prompts, same run. The model is a Llama built from a config (random weights,
no download) with a tokenizer trained on the spot, so this runs anywhere:

    python benchmarks/teacher.py                                   # CPU, small model
    python benchmarks/teacher.py --device cuda --layers 32 --hidden 4096 --heads 32 \\
        --dtype bfloat16 --batch-size 64 --queries 64 --seq-queries 4    # 7B-shaped, on a GPU

(a) sequential: batch size 1, query after query, window after window — how rank_llm's HF
    backend runs a listwise teacher;
(b) batched: the current windows of ``--batch-size`` different queries generated together.

Generation is forced to a fixed length (rank_llm's min_tokens = max_tokens), so both paths
generate the same number of tokens. Prints windows/s, generated tokens/s, the ratio, and
whether both paths gave identical rankings (they should, with greedy decoding).
"""

from __future__ import annotations

import argparse
import random
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=None, help="default: hidden / 64")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--batch-size", type=int, default=16, help="queries batched together in (b)")
    ap.add_argument("--queries", type=int, default=16, help="queries ranked by the batched path")
    ap.add_argument("--seq-queries", type=int, default=None,
                    help="queries ranked by the sequential path (default: --queries; fewer saves time, rates are per window)")
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--step", type=int, default=5)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--passage-words", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default: rank_llm's estimate for the window")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    import torch

    from rankdistill.teacher import Settings, rank_queries, tiny
    from rankdistill.teacher.backends import HFBackend

    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    rng = random.Random(a.seed)
    vocab = [f"{w}{i}" for w in "car road engine city river bank model query search passage rank index".split()
             for i in range(20)]
    # the tokenizer learns the benchmark's words too, so prompts have realistic token counts
    tok = tiny.build_tokenizer(tiny._default_corpus() + [" ".join(vocab)] * 5, vocab_size=1000)
    dtype = getattr(torch, a.dtype)
    with torch.device(a.device):
        model = tiny.build_model(tok, layers=a.layers, hidden=a.hidden, heads=a.heads, seed=a.seed, dtype=dtype,
                                 device=a.device)
    params = sum(p.numel() for p in model.parameters())
    backend = HFBackend(model=model, tokenizer=tok)
    print(f"model: Llama {a.layers} layers x {a.hidden} hidden, {params / 1e6:.1f}M parameters, {a.dtype} on "
          f"{a.device} (built in {time.perf_counter() - t0:.1f}s); torch threads {torch.get_num_threads()}")

    n = max(a.queries, a.seq_queries or 0)
    docs = {f"d{i}": " ".join(rng.choice(vocab) for _ in range(a.passage_words)) for i in range(n * a.depth)}
    queries = [(f"q{q}", " ".join(rng.sample(vocab, 4)), [f"d{q * a.depth + j}" for j in range(a.depth)]) for q in range(n)]

    def texts(ds):
        return {d: docs[d] for d in ds}

    def run(qs, batch_size):
        s = Settings(window=a.window, step=a.step, depth=a.depth, batch_size=batch_size,
                     max_passage_words=a.passage_words, context_size=1 << 20, max_new_tokens=a.max_new_tokens)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        out = rank_queries(qs, texts, backend, s)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    # warm-up (kernels, allocator) on one query, not timed
    run(queries[:1], 1)
    seq_q = queries[: a.seq_queries or a.queries]
    seq = run(seq_q, 1)
    bat = run(queries[: a.queries], a.batch_size)
    same = all(seq.rankings[q] == bat.rankings[q] for q in seq.rankings)

    def rates(o):
        return o.stats.windows / o.seconds, o.stats.generated_tokens / o.seconds

    sw, st = rates(seq)
    bw, bt = rates(bat)
    prompt_tokens = len(tok.encode(
        __import__("rankdistill.teacher.prompts", fromlist=["build"]).build(
            "rankzephyr", queries[0][1], [docs[d] for d in queries[0][2][: a.window]], tok, a.passage_words,
            1 << 20).text))
    print(f"workload: window {a.window}, step {a.step}, depth {a.depth}, {a.passage_words} words/passage "
          f"(~{prompt_tokens} prompt tokens), {seq.stats.generated_tokens // max(seq.stats.windows, 1)} generated "
          "tokens per window")
    print(f"(a) sequential, one window at a time : {seq.stats.windows:5d} windows in {seq.seconds:8.2f}s  "
          f"{sw:8.2f} windows/s  {st:9.1f} generated tokens/s")
    print(f"(b) cross-query batching, batch {a.batch_size:3d}: {bat.stats.windows:5d} windows in {bat.seconds:8.2f}s  "
          f"{bw:8.2f} windows/s  {bt:9.1f} generated tokens/s")
    print(f"speed-up (b)/(a): {bw / sw:.2f}x windows/s; identical rankings on the common queries: {same}")
    return bw / sw


if __name__ == "__main__":
    main()
