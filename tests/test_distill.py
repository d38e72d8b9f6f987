"""Distillation sets: projection (rank-distillm utils/subsample.py), re-run, seeded nested samples, reporting."""

import json

import pandas as pd
import pytest

from rankdistill.distill import build, build_distill_set, read_distill_set, sample_candidates_frame, sample_queries
from rankdistill.errors import InputError
from rankdistill.runs import read_run, write_run


def frame(rows):
    return pd.DataFrame(rows, columns=["qid", "docno", "score"])


# first stage d1 > d2 > ... > d6; teacher re-ranked the top 5 into d3 d1 d5 d2 d4
FS = frame([("1", f"d{i}", 7.0 - i) for i in range(1, 7)])
T = frame([("1", d, 5.0 - i) for i, d in enumerate(["d3", "d1", "d5", "d2", "d4"])])


def test_projection_keeps_first_stage_top_d_in_teacher_order():
    table, counts = build(T, FS, None, depth=3, mode="projection")
    assert list(table["docno"]) == ["d3", "d1", "d2"]  # d5 has first-stage rank 5 > 3
    assert list(table["rank"]) == [1, 2, 3] and list(table["target"]) == [3, 2, 1]
    assert list(table["first_stage_rank"]) == [3, 1, 2] and counts == {"1": 3}


def test_rerun_takes_teacher_top_d():
    table, _ = build(T, FS, None, depth=3, mode="rerun")
    assert list(table["docno"]) == ["d3", "d1", "d5"] and list(table["target"]) == [3, 2, 1]


def test_targets_are_d_plus_1_minus_rank_for_short_queries():
    table, counts = build(T, FS, None, depth=10, mode="projection")
    assert counts == {"1": 5} and list(table["target"]) == [10, 9, 8, 7, 6]


def test_sample_is_seeded_and_nested():
    qids = [str(i) for i in range(100)]
    a, b = sample_queries(qids, 10, seed=1), sample_queries(qids, 20, seed=1)
    assert a == sample_queries(qids, 10, seed=1) and set(a) < set(b) and a != sample_queries(qids, 10, seed=2)
    assert sample_queries(qids, None) == sorted(qids, key=int)


def test_build_distill_set_reports_short_queries(tmp_path):
    fs = pd.concat([FS, frame([("2", f"e{i}", 9.0 - i) for i in range(1, 9)])])
    t = pd.concat([T, frame([("2", d, 9.0 - i) for i, d in enumerate(["e2", "e1"])])])  # query 2: 2 candidates
    write_run(fs, tmp_path / "fs.run")
    write_run(t, tmp_path / "t.run")
    (tmp_path / "q.tsv").write_text("1\tfirst query\n2\tsecond query\n")
    out = {k: tmp_path / f"ds.{k}" for k in ("parquet", "run", "json")}
    stats = build_distill_set(tmp_path / "t.run", tmp_path / "fs.run", tmp_path / "q.tsv", out["parquet"], out["run"],
                              out["json"], num_queries=5, depth=4, name="ds")
    assert stats["short_queries"] == {"2": 2} and stats["queries"] == 2 and stats["dropped_queries"] == []
    assert json.loads(out["json"].read_text())["pairs"] == 6
    table = read_distill_set(out["parquet"])
    assert list(table[table.qid == "2"]["docno"]) == ["e2", "e1"] and list(table[table.qid == "2"]["target"]) == [4, 3]
    run = read_run(out["run"])  # lightning-ir readable: score = target
    assert set(run["score"]) == {4.0, 3.0, 2.0, 1.0}
    stats = build_distill_set(tmp_path / "t.run", tmp_path / "fs.run", tmp_path / "q.tsv", out["parquet"], out["run"],
                              out["json"], num_queries=None, depth=4, min_candidates=3, name="ds")
    assert stats["dropped_queries"] == ["2"] and stats["queries"] == 1


def test_rerun_mode_checks_teacher_depth(tmp_path):
    write_run(FS, tmp_path / "fs.run")
    write_run(T, tmp_path / "t.run")
    (tmp_path / "q.tsv").write_text("1\tfirst query\n")
    with pytest.raises(InputError, match="outside the first stage's top 3"):
        build_distill_set(tmp_path / "t.run", tmp_path / "fs.run", tmp_path / "q.tsv", tmp_path / "a.parquet",
                          tmp_path / "a.run", tmp_path / "a.json", num_queries=None, depth=3, mode="rerun")


def test_teacher_queries_without_text_are_an_error(tmp_path):
    write_run(FS, tmp_path / "fs.run")
    write_run(T, tmp_path / "t.run")
    (tmp_path / "q.tsv").write_text("7\tother\n")
    with pytest.raises(InputError, match="have no text"):
        build_distill_set(tmp_path / "t.run", tmp_path / "fs.run", tmp_path / "q.tsv", tmp_path / "a.parquet",
                          tmp_path / "a.run", tmp_path / "a.json", num_queries=None, depth=3)


def test_first_stage_run_is_streamed_and_filtered_to_the_sampled_queries(tmp_path, caplog):
    # a first stage over 40 training queries x 8 passages; the teacher re-ranked the top 5 of 20 of them
    fs = frame([(str(q), f"p{q}-{i}", 10.0 - i) for q in range(1, 41) for i in range(8)])
    t = frame([(str(q), f"p{q}-{i}", float(i)) for q in range(1, 21) for i in range(5)])  # reversed order
    write_run(fs, tmp_path / "fs.run")
    write_run(t, tmp_path / "t.run")
    (tmp_path / "q.tsv").write_text("".join(f"{q}\tquery {q}\n" for q in range(1, 41)))
    out = [tmp_path / f"ds.{k}" for k in ("parquet", "run", "json")]
    with caplog.at_level("INFO", logger="rankdistill.runs"):
        stats = build_distill_set(tmp_path / "t.run", tmp_path / "fs.run", tmp_path / "q.tsv", *out, num_queries=6,
                                  depth=4, name="ds")
    assert f"{tmp_path / 'fs.run'}: kept 48 of 320 lines (6 queries)" in caplog.text  # only the sample is held
    chosen = sample_queries([str(q) for q in range(1, 21)], 6, seed=42)
    reference, _ = build(read_run(tmp_path / "t.run"), read_run(tmp_path / "fs.run"), chosen, 4, "projection")
    table = pd.read_parquet(out[0])
    pd.testing.assert_frame_equal(table, reference)  # what the in-memory build of the whole runs gives
    assert stats["queries"] == 6 and stats["queries_in_teacher_run"] == 20 and sorted(table["qid"].unique()) == sorted(chosen)
    assert list(table[table.qid == chosen[0]]["first_stage_rank"]) == [4, 3, 2, 1]

    # a teacher query the first stage lacks is still reported, sampled or not
    write_run(fs[fs.qid != "17"], tmp_path / "fs.run")
    with pytest.raises(InputError, match=r"fs.run: 1 queries of the teacher run .* are missing, e.g. \['17'\]"):
        build_distill_set(tmp_path / "t.run", tmp_path / "fs.run", tmp_path / "q.tsv", *out, num_queries=1, depth=4)
    # and every line is still validated, also of queries that are not sampled
    with open(tmp_path / "fs.run", "a") as f:
        f.write("40 Q0 bad-line 9\n")
    with pytest.raises(InputError, match="fs.run:313: expected 6 columns"):
        build_distill_set(tmp_path / "t.run", tmp_path / "fs.run", tmp_path / "q.tsv", *out, num_queries=1, depth=4)



def test_candidate_sources_are_dealt_the_sample_in_turn(tmp_path):
    """Two candidate sources (a ranker over BM25's and over a dense retriever's lists): query i of the sample
    takes source i mod 2, with that source's candidates and targets, exactly as two single-source builds."""
    qids = [str(q) for q in range(1, 13)]
    bm25 = frame([(q, f"b{q}-{i}", 10.0 - i) for q in qids for i in range(6)])
    dense = frame([(q, f"d{q}-{i}", 10.0 - i) for q in qids for i in range(6)])
    t_bm25 = frame([(q, f"b{q}-{i}", float(i)) for q in qids for i in range(6)])  # the ranker reverses each list
    t_dense = frame([(q, f"d{q}-{i}", float(i % 3)) for q in qids for i in range(6)])
    for name, f in (("bm25", bm25), ("dense", dense), ("t-bm25", t_bm25), ("t-dense", t_dense)):
        write_run(f, tmp_path / f"{name}.run")
    (tmp_path / "q.tsv").write_text("".join(f"{q}\tquery {q}\n" for q in qids))
    out = [tmp_path / f"ds.{k}" for k in ("parquet", "run", "json")]
    stats = build_distill_set([tmp_path / "t-bm25.run", tmp_path / "t-dense.run"], [tmp_path / "bm25.run", tmp_path / "dense.run"],
                              tmp_path / "q.tsv", *out, num_queries=8, depth=4, name="mix")
    chosen = sample_queries(qids, 8, seed=42)
    table = pd.read_parquet(out[0])
    assert list(dict.fromkeys(table["qid"])) == chosen  # natural qid order, each query once
    for i, q in enumerate(chosen):
        rows = table[table.qid == q]
        prefix = "b" if i % 2 == 0 else "d"
        assert all(d.startswith(f"{prefix}{q}-") for d in rows["docno"]), (i, q, list(rows["docno"]))
        assert list(rows["target"]) == [4, 3, 2, 1]
    ref_b, _ = build(read_run(tmp_path / "t-bm25.run"), read_run(tmp_path / "bm25.run"), chosen[0::2], 4)
    ref_d, _ = build(read_run(tmp_path / "t-dense.run"), read_run(tmp_path / "dense.run"), chosen[1::2], 4)
    assert list(table[table.qid == chosen[0]]["docno"]) == list(ref_b[ref_b.qid == chosen[0]]["docno"])
    assert list(table[table.qid == chosen[1]]["docno"]) == list(ref_d[ref_d.qid == chosen[1]]["docno"])
    assert list(ref_b[ref_b.qid == chosen[0]]["docno"]) == [f"b{chosen[0]}-{i}" for i in (3, 2, 1, 0)]
    assert stats["queries"] == 8 and stats["pairs"] == 32
    assert stats["queries_per_source"] == {str(tmp_path / "bm25.run"): 4, str(tmp_path / "dense.run"): 4}
    assert stats["first_stage_run"] == [str(tmp_path / "bm25.run"), str(tmp_path / "dense.run")]
    # a query one source's first stage lacks is an error naming that run
    write_run(dense[dense.qid != "5"], tmp_path / "dense.run")
    with pytest.raises(InputError, match=r"dense.run: 1 queries of the teacher run .*t-dense.run are missing"):
        build_distill_set([tmp_path / "t-bm25.run", tmp_path / "t-dense.run"], [tmp_path / "bm25.run", tmp_path / "dense.run"],
                          tmp_path / "q.tsv", *out, num_queries=8, depth=4, name="mix")
    with pytest.raises(ValueError, match="one first-stage run per teacher run"):
        build_distill_set([tmp_path / "t-bm25.run"], [tmp_path / "bm25.run", tmp_path / "dense.run"], tmp_path / "q.tsv", *out,
                          num_queries=8, depth=4)

def test_one_teacher_run_for_two_sources_is_scanned_once(tmp_path, monkeypatch):
    """A ranker's own search over the whole collection orders both sources' candidates (distill_real's
    pseudo-queries): the same teacher file twice, its query list read once, each source cut from it."""
    import rankdistill.distill as distill

    qids = [str(q) for q in range(1, 9)]
    teacher = frame([(q, f"x{q}-{i}", 20.0 - i) for q in qids for i in range(12)])
    bm25 = frame([(q, f"x{q}-{i}", 20.0 - i) for q in qids for i in range(0, 12, 2)])  # the even ones
    dense = frame([(q, f"x{q}-{i}", 20.0 - i) for q in qids for i in range(6)])
    for name, f in (("teacher", teacher), ("bm25", bm25), ("dense", dense)):
        write_run(f, tmp_path / f"{name}.run")
    (tmp_path / "q.tsv").write_text("".join(f"{q}\tquery {q}\n" for q in qids))
    scans = []
    real = distill.run_queries
    monkeypatch.setattr(distill, "run_queries", lambda path: scans.append(str(path)) or real(path))
    out = [tmp_path / f"ds.{k}" for k in ("parquet", "run", "json")]
    build_distill_set([tmp_path / "teacher.run"] * 2, [tmp_path / "bm25.run", tmp_path / "dense.run"], tmp_path / "q.tsv",
                      *out, num_queries=None, depth=3, name="pool")
    assert scans == [str(tmp_path / "teacher.run")]
    table = pd.read_parquet(out[0])
    for i, q in enumerate(qids):  # all queries, natural order: odd positions from BM25's list, even from the dense one
        docs = list(table[table.qid == q]["docno"])
        assert docs == ([f"x{q}-{j}" for j in (0, 2, 4)] if i % 2 == 0 else [f"x{q}-{j}" for j in (0, 1, 2)]), (q, docs)


# ------------------------------------------------------------------ rank-distillm's subsample.py as the oracle

RUN_HEADER = ["query_id", "q0", "doc_id", "rank", "score", "system"]


def rank_distillm_subsample(rank_gpt_file, first_stage_file, sub_sample_size):
    """webis-de/rank-distillm ``utils/subsample.py`` ``main()``, transcribed (one sub-sample size, returned
    instead of written): its parsing, merge, ``sort_index`` and ``rank(method="first")``."""
    rank_gpt_run = (
        pd.read_csv(rank_gpt_file, sep=r"\s+", names=RUN_HEADER).set_index(["query_id", "doc_id"]).sort_index()
    )
    first_stage_run = (
        pd.read_csv(first_stage_file, sep=r"\s+", names=RUN_HEADER).set_index(["query_id", "doc_id"])
    ).drop(columns=["q0", "system", "score"])
    rank_gpt_run = rank_gpt_run.merge(first_stage_run, on=["query_id", "doc_id"], suffixes=["", "_first_stage"])
    sub_sample_run = (
        rank_gpt_run.loc[rank_gpt_run["rank_first_stage"] <= sub_sample_size]
        .reset_index()
        .drop(columns=["rank_first_stage"])
    )
    sub_sample_run["rank"] = (
        sub_sample_run.groupby("query_id")["score"].rank(ascending=False, method="first").astype(int)
    )
    sub_sample_run = sub_sample_run.sort_values(["query_id", "rank"], ascending=[True, True])
    return sub_sample_run.loc[:, RUN_HEADER]


def _write_trec(path, rows):
    path.write_text("".join(f"{q} Q0 {d} {r} {s} tag\n" for q, d, r, s in rows))


def _ours(teacher, first, depth):
    table, _ = build(read_run(teacher), read_run(first), None, depth, "projection")
    return {q: list(g.sort_values("rank")["docno"]) for q, g in table.groupby("qid")}


def _theirs(teacher, first, depth):
    ref = rank_distillm_subsample(teacher, first, depth)
    return {str(q): [str(d) for d in g.sort_values("rank")["doc_id"]] for q, g in ref.groupby("query_id")}


def test_projection_ties_and_first_stage_rank_column_as_rank_distillm(tmp_path):
    """Ties in teacher score: numeric docnos break them numerically (9 before 10), others as strings
    ("d10" before "d9"); the first-stage rank is the file's rank column, not its score order."""
    first = [("1", d, r, 1.0) for r, d in enumerate(["9", "10", "100", "2", "30"], start=1)]  # all tied scores
    teacher = [("1", d, 0, s) for d, s in [("100", 5.0), ("10", 3.0), ("9", 3.0), ("2", 3.0), ("30", 1.0)]]
    _write_trec(tmp_path / "f.run", first)
    _write_trec(tmp_path / "t.run", teacher)
    assert _ours(tmp_path / "t.run", tmp_path / "f.run", 4) == {"1": ["100", "2", "9", "10"]}
    assert _ours(tmp_path / "t.run", tmp_path / "f.run", 4) == _theirs(tmp_path / "t.run", tmp_path / "f.run", 4)
    # string docnos: lexicographic tie order
    _write_trec(tmp_path / "f2.run", [(q, "d" + d, r, s) for q, d, r, s in first])
    _write_trec(tmp_path / "t2.run", [(q, "d" + d, r, s) for q, d, r, s in teacher])
    assert _ours(tmp_path / "t2.run", tmp_path / "f2.run", 4) == {"1": ["d100", "d10", "d2", "d9"]}
    assert _ours(tmp_path / "t2.run", tmp_path / "f2.run", 4) == _theirs(tmp_path / "t2.run", tmp_path / "f2.run", 4)
    # the rank column decides the cut, even against the scores: "30" is rank 1 here though scored lowest
    _write_trec(tmp_path / "f3.run", [("1", "30", 1, 0.0), ("1", "9", 2, 5.0), ("1", "10", 3, 4.0)])
    assert _ours(tmp_path / "t.run", tmp_path / "f3.run", 2) == {"1": ["9", "30"]}
    assert _ours(tmp_path / "t.run", tmp_path / "f3.run", 2) == _theirs(tmp_path / "t.run", tmp_path / "f3.run", 2)


def test_projection_equals_rank_distillm_subsample_on_random_runs(tmp_path):
    from hypothesis import given, reject, settings
    from hypothesis import strategies as st

    styles = {"numeric": lambda i: str(i + 1), "prefixed": lambda i: f"D{i}", "mixed": lambda i: str(i) if i % 3 else f"x{i}"}

    @settings(max_examples=60, deadline=None)
    @given(data=st.data(), style=st.sampled_from(sorted(styles)), depth=st.integers(1, 12))
    def check(data, style, depth):
        name = styles[style]
        first, teacher = [], []
        for q in data.draw(st.lists(st.sampled_from(["1", "2", "10", "q3"]), min_size=1, max_size=3, unique=True)):
            n = data.draw(st.integers(1, 14))
            docs = [name(i) for i in data.draw(st.lists(st.integers(0, 40), min_size=n, max_size=n, unique=True))]
            ranks = data.draw(st.permutations(range(1, n + 1)))  # a rank column in any order
            first += [(q, d, r, float(data.draw(st.integers(0, 3)))) for d, r in zip(docs, ranks)]
            extra = [name(41 + i) for i in range(data.draw(st.integers(0, 2)))]  # not in the first stage
            ranked = data.draw(st.permutations(docs + extra))
            teacher += [(q, d, i + 1, float(data.draw(st.integers(0, 4)))) for i, d in enumerate(ranked)]
        _write_trec(tmp_path / "f.run", first)
        _write_trec(tmp_path / "t.run", teacher)
        try:
            theirs = _theirs(tmp_path / "t.run", tmp_path / "f.run", depth)
        except ValueError as e:  # pandas parsed one file's docnos as integers, the other's as strings:
            if "trying to merge on" not in str(e):  # rank-distillm itself stops there, so there is no oracle
                raise
            reject()
        assert _ours(tmp_path / "t.run", tmp_path / "f.run", depth) == theirs

    check()


def _deep_run():
    """Query 1 has 30 candidates (d1 best), query 2 has 4."""
    return frame([("1", f"d{i}", 100.0 - i) for i in range(1, 31)] + [("2", f"e{i}", 10.0 - i) for i in range(1, 5)])


def test_candidate_sample_keeps_the_top_and_draws_the_rest_from_the_deeper_ranks():
    out = sample_candidates_frame(_deep_run(), top=3, extra=4, pool=20, seed=5)
    one = out[out["qid"] == "1"]
    assert list(one["docno"][:3]) == ["d1", "d2", "d3"]
    deep = [int(d[1:]) for d in one["docno"][3:]]
    assert len(deep) == 4 and len(set(deep)) == 4 and all(4 <= r <= 20 for r in deep)  # within the pool, no repeats
    assert deep == sorted(deep) and list(one["rank"]) == list(range(1, 8))  # the run's order, renumbered
    assert list(out[out["qid"] == "2"]["docno"]) == ["e1", "e2", "e3", "e4"]  # fewer than asked: all of them
    # a projection of depth top + extra keeps exactly the sample, in the teacher's order
    teacher = frame([("1", f"d{i}", float(i)) for i in range(1, 31)])  # the teacher reverses the first stage
    table, _ = build(teacher, out[out["qid"] == "1"], None, depth=7)
    assert sorted(table["docno"]) == sorted(one["docno"]) and list(table["docno"]) == list(one["docno"])[::-1]


def test_candidate_sample_is_seeded_per_query():
    run = _deep_run()
    a = sample_candidates_frame(run, 2, 5, 30, seed=1)
    b = sample_candidates_frame(run[run["qid"] == "1"], 2, 5, 30, seed=1)  # without query 2
    assert list(a[a["qid"] == "1"]["docno"]) == list(b["docno"])
    c = sample_candidates_frame(run, 2, 5, 30, seed=2)
    assert list(c[c["qid"] == "1"]["docno"]) != list(b["docno"])


@pytest.mark.parametrize("top,extra,pool", [(-1, 3, 10), (2, -1, 10), (0, 0, 10), (5, 6, 10)])
def test_candidate_sample_rejects_bad_sizes(top, extra, pool):
    with pytest.raises(ValueError, match="candidate sample"):
        sample_candidates_frame(_deep_run(), top, extra, pool)
