"""Stage-1 data from an on-disk candidate index: the same samples as the old in-memory version, any line order,
errors that name the file, an index reused only for the same inputs."""

import json
import os
import random
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _stage1_reference import OldStage1Data  # noqa: E402

from rankdistill.errors import InputError  # noqa: E402
from rankdistill.runs import read_run  # noqa: E402
from rankdistill.students.data import Stage1Data  # noqa: E402


def _messy_inputs(folder, seed=3, queries=60):
    """A run with what real ones have: score ties (broken by docno, descending), a rank column that disagrees
    with the scores, string and numeric docnos and qids, relevant passages inside and outside the top
    depth, queries without judgments, judged queries without a ranking or text, too few candidates."""
    rng = random.Random(seed)
    qids = [str(rng.choice([i, 1000 + i])) if i % 7 else f"q-{i}" for i in range(queries)]
    qids += ["007", "7"]  # natural_key ties: '007' and '7' are both 7
    lines, qrels = [], []
    for q in qids:
        n = rng.choice([0, 2, 5, 12, 25, 40])
        docs = rng.sample([f"d{j}" if j % 3 else str(j) for j in range(80)], n)
        for r, d in enumerate(docs, start=1):
            score = float(rng.randint(0, 6)) if rng.random() < 0.6 else rng.uniform(-3, 9)
            lines.append(f"{q} Q0 {d} {rng.randint(1, 99) if r % 5 == 0 else r} {score!r} run\n")
        if rng.random() < 0.85:
            judged = rng.sample(docs, min(len(docs), rng.randint(0, 3))) + [f"extra-{q}-{j}" for j in range(rng.randint(0, 2))]
            qrels += [(q, d, rng.choice([0, 1, 2, 3])) for d in judged]
    qtext = {q: f"text {q}" for q in qids if rng.random() < 0.9}
    grouped = folder / "grouped.run"
    grouped.write_text("".join(lines))
    shuffled = folder / "shuffled.run"
    lines = lines[:]
    rng.shuffle(lines)
    shuffled.write_text("".join(lines))
    qrels = pd.DataFrame(qrels, columns=["qid", "docno", "label"]).drop_duplicates(["qid", "docno"])
    return grouped, shuffled, qrels, qtext


def _same(old, new, steps=12, batch=7):
    assert list(new.qids) == old.qids and new.too_few == old.too_few and new.no_run == old.no_run
    for step in range(steps):
        a, b = old.step_groups(step, batch), new.step_groups(step, batch)
        assert [(g.qid, g.docnos, g.targets) for g in a] == [(g.qid, g.docnos, g.targets) for g in b], step
        assert all(type(g.qid) is str and all(type(d) is str for d in g.docnos) for g in b)


@pytest.mark.parametrize("depth,negatives,min_relevance", [(10, 3, 1), (200, 1, 2), (4, 2, 0)])
def test_samples_identical_to_the_in_memory_version(tmp_path, depth, negatives, min_relevance):
    grouped, shuffled, qrels, qtext = _messy_inputs(tmp_path)
    old = OldStage1Data(read_run(grouped), qrels, qtext, negatives, depth, min_relevance, seed=11)
    assert old.no_run and len(old.qids) > 10 and (old.too_few or negatives == 1)  # every branch is exercised
    new = Stage1Data(grouped, qrels, qtext, negatives, depth, min_relevance, seed=11, index_dir=tmp_path / "i1")
    _same(old, new)
    # lines in any order: bucketed by query on disk (tiny buckets: several of them), same samples
    un = Stage1Data(shuffled, qrels, qtext, negatives, depth, min_relevance, seed=11, index_dir=tmp_path / "i2",
                    bucket_bytes=200)
    _same(old, un)
    assert json.loads((tmp_path / "i2" / "index.json").read_text())["layout"] == "bucketed"
    assert json.loads((tmp_path / "i1" / "index.json").read_text())["layout"] == "grouped"
    assert not list((tmp_path / "i2").glob("bucket*")) and not list(tmp_path.glob(".i2.tmp-*"))


def test_index_holds_only_the_cut_and_filtered_candidates(tmp_path):
    run = tmp_path / "r.run"
    # ties on score 1.0: docno descending decides (c > b > a); the rank column (reversed) is not used
    run.write_text("1 Q0 a 1 1.0 x\n1 Q0 b 2 1.0 x\n1 Q0 c 3 1.0 x\n1 Q0 z 4 5.0 x\n2 Q0 y 1 3.0 x\n")
    qrels = pd.DataFrame({"qid": ["1", "1", "2", "3"], "docno": ["c", "q", "k", "m"], "label": [1, 1, 1, 1]})
    data = Stage1Data(run, qrels, {"1": "one", "2": "two", "3": "three"}, negatives=1, depth=3, min_relevance=1,
                      seed=0, index_dir=tmp_path / "idx")
    idx = data.index
    assert list(idx.qids) == ["1", "2"] and list(idx.counts) == [2, 1]  # top 3 of query 1 = z c b, minus c
    assert idx.docnos(range(3)) == ["z", "b", "y"]
    assert data.no_run == ["3"] and data.too_few == []
    assert os.path.getsize(tmp_path / "idx" / "docnos.bin") == 3  # 'z', 'b', 'y': nothing else is stored


def test_index_is_reused_only_for_the_same_inputs(tmp_path, caplog):
    grouped, _, qrels, qtext = _messy_inputs(tmp_path)
    Stage1Data(grouped, qrels, qtext, 3, 10, 1, seed=1, index_dir=tmp_path / "idx")
    first = (tmp_path / "idx" / "index.json").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level("INFO", logger="rankdistill.students.data"):
        Stage1Data(grouped, qrels, qtext, 5, 10, 1, seed=2, index_dir=tmp_path / "idx")  # sampling settings only
    assert "reusing the candidate index" in caplog.text
    assert (tmp_path / "idx" / "index.json").stat().st_mtime_ns == first
    other_depth = Stage1Data(grouped, qrels, qtext, 3, 4, 1, seed=1, index_dir=tmp_path / "idx")
    _same(OldStage1Data(read_run(grouped), qrels, qtext, 3, 4, 1, seed=1), other_depth, steps=3)
    # a changed run file (a resumed job after its input was rebuilt) is re-indexed
    lines = grouped.read_text().splitlines(keepends=True)
    grouped.write_text("".join(lines[: len(lines) // 2]))
    changed = Stage1Data(grouped, qrels, qtext, 3, 4, 1, seed=1, index_dir=tmp_path / "idx")
    _same(OldStage1Data(read_run(grouped), qrels, qtext, 3, 4, 1, seed=1), changed, steps=3)


def test_bad_runs_name_the_file_and_line(tmp_path):
    qrels = pd.DataFrame({"qid": ["1"], "docno": ["a"], "label": [1]})
    bad = tmp_path / "dup.run"
    bad.write_text("1 Q0 a 1 2.0 x\n1 Q0 b 2 1.0 x\n1 Q0 a 3 0.5 x\n")
    with pytest.raises(InputError, match=r"dup.run:3: duplicate \(qid, docno\) = \(1, a\); first seen on line 1"):
        Stage1Data(bad, qrels, {"1": "q"}, 1, 10, 1, seed=0, index_dir=tmp_path / "i1")
    # the same duplicate in a run that is not grouped by query (found in its bucket)
    bad.write_text("1 Q0 a 1 2.0 x\n2 Q0 b 2 1.0 x\n1 Q0 c 1 1.0 x\n1 Q0 a 3 0.5 x\n")
    with pytest.raises(InputError, match=r"dup.run:4: duplicate .* first seen on line 1"):
        Stage1Data(bad, qrels, {"1": "q"}, 1, 10, 1, seed=0, index_dir=tmp_path / "i2")
    (tmp_path / "empty.run").write_text("\n")
    with pytest.raises(InputError, match="empty.run: run file is empty"):
        Stage1Data(tmp_path / "empty.run", qrels, {"1": "q"}, 1, 10, 1, seed=0, index_dir=tmp_path / "i3")
    (tmp_path / "cols.run").write_text("1 Q0 a 1 2.0 x\n1 Q0 b 2\n")
    with pytest.raises(InputError, match="cols.run:2: expected 6 columns"):
        Stage1Data(tmp_path / "cols.run", qrels, {"1": "q"}, 1, 10, 1, seed=0, index_dir=tmp_path / "i4")
    with pytest.raises(InputError, match="missing.run: run file does not exist"):
        Stage1Data(tmp_path / "missing.run", qrels, {"1": "q"}, 1, 10, 1, seed=0, index_dir=tmp_path / "i5")
    (tmp_path / "few.run").write_text("1 Q0 a 1 2.0 x\n")  # only the relevant passage: no negatives
    with pytest.raises(InputError, match="no training query has a relevant passage"):
        Stage1Data(tmp_path / "few.run", qrels, {"1": "q"}, 1, 10, 1, seed=0, index_dir=tmp_path / "i6")
    other = pd.DataFrame({"qid": ["2"], "docno": ["a"], "label": [1]})  # judged queries the run does not have
    with pytest.raises(InputError, match="no training query has a relevant passage"):
        Stage1Data(tmp_path / "few.run", other, {"1": "q", "2": "r"}, 1, 10, 1, seed=0, index_dir=tmp_path / "i7")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".i") and ".tmp-" in p.name]  # no half-built index


_CHILD = """
import json, resource, sys
from pathlib import Path
import pandas as pd
from rankdistill.students.data import Stage1Data
folder, layout, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
qrels = pd.DataFrame({"qid": [str(q) for q in range(n)], "docno": [str(q * 1000 + 3) for q in range(n)], "label": 1})
qtext = {str(q): "query" for q in range(n)}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
data = Stage1Data(folder / f"{layout}.run", qrels, qtext, 7, 200, 1, 42, index_dir=folder / f"index-{layout}",
                  bucket_bytes=1 << 20)
data.step_groups(0, 32)
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024))
"""


@pytest.mark.slow
def test_building_memory_does_not_grow_with_the_run(tmp_path):
    """10x the queries (450k more run lines, about 200 MiB as the old pandas frame): the build's extra peak RSS
    stays flat, for a grouped run (one pass) and an interleaved one (bucketed on disk, 1 MiB buckets here)."""
    import subprocess

    extra = {}
    for n in (1000, 10000):
        folder = tmp_path / str(n)
        folder.mkdir()
        with open(folder / "grouped.run", "w") as g, open(folder / "interleaved.run", "w") as i:
            g.writelines(f"{q} Q0 {q * 1000 + r} {r + 1} {50.0 - r} x\n" for q in range(n) for r in range(50))
            i.writelines(f"{q} Q0 {q * 1000 + r} {r + 1} {50.0 - r} x\n" for r in range(50) for q in range(n))
        for layout in ("grouped", "interleaved"):
            out = subprocess.run([sys.executable, "-c", _CHILD, str(folder), layout, str(n)], capture_output=True,
                                 text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
            assert out.returncode == 0, out.stderr[-2000:]
            extra[layout, n] = json.loads(out.stdout.strip().splitlines()[-1])
    for layout in ("grouped", "interleaved"):
        assert extra[layout, 10000] - extra[layout, 1000] < 12, extra  # MiB: O(queries) arrays and one bucket


def test_concurrent_processes_build_the_index_once(tmp_path):
    """DDP: every process constructs Stage1Data; a file lock lets one build and the others reuse it."""
    import subprocess

    grouped, _, qrels, qtext = _messy_inputs(tmp_path)
    with open(grouped, "a") as f:  # 300k more lines: a build long enough for the two processes to overlap
        f.writelines(f"x{q} Q0 d{r} {r + 1} {r * -0.5} x\n" for q in range(3000) for r in range(100))
    qrels.to_csv(tmp_path / "qrels.csv", index=False)
    code = (
        "import json, logging, sys, pandas as pd\n"
        "from rankdistill.students.data import Stage1Data\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "q = pd.read_csv(sys.argv[2], dtype={'qid': str, 'docno': str})\n"
        "d = Stage1Data(sys.argv[1], q, json.loads(sys.argv[3]), 3, 10, 1, seed=4, index_dir=sys.argv[4])\n"
        "print(json.dumps([(g.qid, g.docnos) for s in range(3) for g in d.step_groups(s, 5)]))\n"
    )
    args = [str(grouped), str(tmp_path / "qrels.csv"), json.dumps(qtext), str(tmp_path / "idx")]
    procs = [subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    logs = [e for _, e in outs]
    assert sum("candidate index of" in e for e in logs) == 1 and sum("reusing the candidate index" in e for e in logs) == 1
    assert outs[0][0] == outs[1][0]
    old = OldStage1Data(read_run(grouped), qrels, qtext, 3, 10, 1, seed=4)
    assert json.loads(outs[0][0]) == [[g.qid, g.docnos] for s in range(3) for g in old.step_groups(s, 5)]
