import pandas as pd
import pytest

from rankdistill.errors import InputError
from rankdistill.io import atomic_open
from rankdistill.runs import cut, merge, read_run, sort_run, write_run


def _write(tmp_path, text, name="r.run"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_roundtrip_orders_and_ranks(tmp_path):
    run = pd.DataFrame({"qid": ["10", "9", "9", "9"], "docno": ["a", "x", "y", "z"], "score": [1.0, 0.5, 2.0, 0.1234567890123]})
    p = tmp_path / "out.run"
    write_run(run, p, tag="sys")
    lines = p.read_text().splitlines()
    # numeric qids in numeric order, scores descending, 1-based ranks, exact scores
    assert lines[0] == "9 Q0 y 1 2.0 sys"
    assert lines[2] == "9 Q0 z 3 0.1234567890123 sys"
    assert lines[3] == "10 Q0 a 1 1.0 sys"
    back = read_run(p)
    assert back["score"].tolist() == [2.0, 0.5, 0.1234567890123, 1.0]
    assert back["rank"].tolist() == [1, 2, 3, 1]


def test_ties_follow_trec_eval_order(tmp_path):
    """Equal scores: docno descending, the order trec_eval/ir_measures use, so ranks agree with evaluation."""
    import ir_measures

    run = pd.DataFrame({"qid": ["1"] * 3, "docno": ["d1", "d3", "d2"], "score": [1.0, 1.0, 1.0]})
    s = sort_run(run)
    assert s["docno"].tolist() == ["d3", "d2", "d1"]
    qrels = {"1": {"d3": 1}}
    # P@1 is 1 only if the evaluator also puts d3 first
    assert ir_measures.calc_aggregate([ir_measures.P @ 1], qrels, {"1": {"d1": 1.0, "d3": 1.0, "d2": 1.0}})[ir_measures.P @ 1] == 1.0


@pytest.mark.parametrize(
    "text, line, msg",
    [
        ("1 Q0 d1 1 0.5 t\n1 Q0 d2 2 0.4\n", 2, "expected 6 columns"),
        ("1 Q0 d1 1 high t\n", 1, "is not a number"),
        ("1 Q0 d1 one 0.5 t\n", 1, "not an integer"),
        ("1 Q0 d1 1 nan t\n", 1, "not finite"),
        ("1 Q0 d1 1 0.5 t\n2 Q0 d1 1 0.5 t\n1 Q0 d1 2 0.3 t\n", 3, "duplicate (qid, docno) = (1, d1); first seen on line 1"),
    ],
)
def test_read_errors_name_file_and_line(tmp_path, text, line, msg):
    p = _write(tmp_path, text)
    with pytest.raises(InputError) as e:
        read_run(p)
    assert e.value.line == line
    assert msg in str(e.value)
    assert str(p) in str(e.value)


def test_empty_and_missing(tmp_path):
    with pytest.raises(InputError, match="empty"):
        read_run(_write(tmp_path, "\n\n"))
    with pytest.raises(InputError, match="does not exist"):
        read_run(tmp_path / "nope.run")
    assert read_run(_write(tmp_path, "", "e.run"), allow_empty=True).empty


def test_write_is_atomic(tmp_path):
    p = tmp_path / "x.run"
    p.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(p) as f:
            f.write("half")
            raise RuntimeError("killed")
    assert p.read_text() == "old\n"
    assert [x.name for x in tmp_path.iterdir()] == ["x.run"]  # no temp file left behind
    with pytest.raises(ValueError, match="whitespace"):
        write_run(pd.DataFrame({"qid": ["1"], "docno": ["a b"], "score": [1.0]}), tmp_path / "y.run")
    assert not (tmp_path / "y.run").exists()


def test_cut_and_merge():
    a = pd.DataFrame({"qid": ["1"] * 4, "docno": list("abcd"), "score": [4, 3, 2, 1]})
    b = pd.DataFrame({"qid": ["2"] * 2, "docno": list("ab"), "score": [1, 2]})
    assert cut(a, 2)["docno"].tolist() == ["a", "b"]
    m = merge([b, a])
    assert m["qid"].tolist() == ["1"] * 4 + ["2"] * 2
    assert m.equals(merge([a, b]))
    with pytest.raises(ValueError, match="overlap"):
        merge([a, a])


def test_run_writer_streams_batches_into_write_runs_bytes(tmp_path):
    from rankdistill.runs import RunWriter, query_batches

    run = pd.DataFrame({"qid": ["10", "2", "2", "b", "10", "a"], "docno": ["x", "y", "z", "x", "w", "v"],
                        "score": [1.0, 2.0, 2.0, 0.5, 3.0, 1.0]})
    write_run(run, tmp_path / "whole.run", tag="t")
    topics = pd.DataFrame({"qid": ["b", "10", "a", "2"]})
    with RunWriter(tmp_path / "parts.run", tag="t") as w:
        for batch in query_batches(topics, 1):
            w.add(run[run.qid.isin(batch.qid)])
    assert (tmp_path / "parts.run").read_bytes() == (tmp_path / "whole.run").read_bytes()
    assert (w.queries, w.rows) == (4, 6)
    # batches out of natural order (or a query split over two batches) would not equal write_run: refused,
    # and no file appears
    with pytest.raises(ValueError, match="natural qid order"):
        with RunWriter(tmp_path / "bad.run") as w:
            w.add(run[run.qid == "10"])
            w.add(run[run.qid == "2"])
    assert not (tmp_path / "bad.run").exists()
    with pytest.raises(ValueError, match="tag"):
        RunWriter(tmp_path / "x.run", tag="two words")


def test_read_run_only_some_queries_and_run_queries(tmp_path):
    from rankdistill.runs import run_queries

    p = _write(tmp_path, "10 Q0 a 1 3.0 t\n2 Q0 b 1 2.0 t\n10 Q0 c 2 1.0 t\nx Q0 d 1 1.0 t\n2 Q0 e 2 0.5 t\n")
    assert run_queries(p) == ["2", "10", "x"]  # natural order, each once
    got = read_run(p, only={"10", "x"})
    assert list(zip(got.qid, got.docno)) == [("10", "a"), ("10", "c"), ("x", "d")]
    with pytest.raises(InputError, match="none of the 1 requested queries"):
        read_run(p, only={"99"})
    assert read_run(p, only={"99"}, allow_empty=True).empty
    # lines of queries that are not kept are still validated
    bad = _write(tmp_path, "1 Q0 a 1 1.0 t\n2 Q0 b one 1.0 t\n", name="bad.run")
    with pytest.raises(InputError, match=r"bad.run:2: rank 'one' is not an integer"):
        read_run(bad, only={"1"})
    with pytest.raises(InputError, match="empty"):
        run_queries(_write(tmp_path, "\n", name="e.run"))
