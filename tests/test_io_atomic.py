"""Atomic outputs honour the umask, stale temporaries are removed, and a rule script's failure is one line."""

from __future__ import annotations

import contextlib
import os
import stat
import types
from pathlib import Path

import pytest

from rankdistill.errors import InputError
from rankdistill.io import atomic_dir, atomic_open, atomic_path, remove_stale_temps, umask, write_json


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def _modes_under(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): _mode(p) for p in [folder, *folder.rglob("*")]}


def test_umask_is_read_without_changing_it():
    with _umask(0o027):
        assert umask() == 0o027 and umask() == 0o027


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775),
                                                      (0o077, 0o600, 0o700)])
def test_atomic_files_and_folders_honour_the_umask(tmp_path, mask, file_mode, dir_mode):
    with _umask(mask):
        with atomic_open(tmp_path / "a.txt") as f:
            f.write("x")
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"y")
        write_json(tmp_path / "c.json", {"k": 1})
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "plain.txt").write_text("z")
            write_json(tmp / "inner.json", {})
            (tmp / "sub").mkdir()
        with atomic_dir(tmp_path / "folder") as tmp:  # replacing an existing folder
            write_json(tmp / "inner.json", {"again": True})
    for name in ("a.txt", "b.bin", "c.json"):
        assert _mode(tmp_path / name) == file_mode, name
    assert _modes_under(tmp_path / "folder") == {".": dir_mode, "inner.json": file_mode}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.json", "folder"]


def test_a_real_index_and_model_folder_are_world_readable_under_umask_022(tmp_path, bert_tiny):
    from transformers import AutoModel

    from rankdistill.datasets import build_docstore
    from rankdistill.retrieval.bm25 import build_index
    from rankdistill.runs import write_run

    import pandas as pd

    with _umask(0o022):
        build_docstore([{"docno": f"d{i}", "text": f"word{i} common text"} for i in range(20)], tmp_path / "docs.sqlite")
        build_index(tmp_path / "docs.sqlite", tmp_path / "index", backend="pisa", threads=1)
        write_run(pd.DataFrame({"qid": ["1"], "docno": ["d1"], "score": [1.0]}), tmp_path / "x.run")
        with atomic_dir(tmp_path / "model") as tmp:
            AutoModel.from_pretrained(bert_tiny).save_pretrained(tmp)
    assert _mode(tmp_path / "docs.sqlite") == 0o644 and _mode(tmp_path / "x.run") == 0o644
    for folder in ("index", "model"):
        modes = _modes_under(tmp_path / folder)
        assert len(modes) > 2
        for name, m in modes.items():
            is_dir = (tmp_path / folder / name).is_dir()
            assert m == (0o755 if is_dir else 0o644), (folder, name, oct(m))


def test_stale_temporaries_of_a_killed_write_are_removed_by_the_next_write(tmp_path):
    out = tmp_path / "index"
    (tmp_path / ".index.k1ll3d_x.tmp").mkdir()  # a killed atomic_dir
    (tmp_path / ".index.k1ll3d_x.tmp" / "shard.npy").write_bytes(b"0" * 10)
    (tmp_path / ".index.abcdefgh.old").mkdir()  # killed while replacing the old folder
    (tmp_path / ".index.zz9_zz9z.tmp").write_text("half")
    keep = [".index.lock", ".index2.abcdefgh.tmp", "index.abcdefgh.tmp", ".index.abc.tmp", ".other.abcdefgh.tmp"]
    for name in keep:
        (tmp_path / name).write_text("not ours")
    with atomic_dir(out) as tmp:
        (tmp / "f").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + ["index"])
    (tmp_path / ".x.json.abcdefgh.tmp").write_text("{")
    write_json(tmp_path / "x.json", {})
    assert not (tmp_path / ".x.json.abcdefgh.tmp").exists()
    assert remove_stale_temps(tmp_path / "missing-folder" / "y") == []


# ------------------------------------------------------------------ rule scripts: workflow.run


class _Files(list):
    pass


def _job(tmp_path, outputs=("out.txt",)):
    inp = tmp_path / "input.tsv"
    inp.write_text("q\tx\n")
    return types.SimpleNamespace(rule="my_rule", input=_Files([str(inp)]),
                                 output=_Files([str(tmp_path / o) for o in outputs]),
                                 log=_Files([str(tmp_path / "logs" / "my_rule.log")]))


def _boom_value_error(path):
    return {"a": 1}["missing"] if path else None


def test_any_exception_in_a_rule_is_one_line_naming_rule_and_input(tmp_path, capsys):
    from rankdistill.workflow import run

    smk = _job(tmp_path)

    def broken(path):
        raise ValueError("could not convert string to float: 'abc'\n  at some deep place")

    with pytest.raises(SystemExit) as e:
        run(smk, broken, smk.input[0])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    line = err[-1]
    assert len([x for x in err if "rankdistill error" in x]) == 1 and "Traceback" not in "\n".join(err)
    assert "rule my_rule" in line and str(tmp_path / "input.tsv") in line
    assert "unexpected ValueError: could not convert string to float: 'abc' at some deep place" in line
    assert str(tmp_path / "logs" / "my_rule.log") in line
    log = (tmp_path / "logs" / "my_rule.log").read_text()
    assert "Traceback (most recent call last)" in log and "in broken" in log

    with pytest.raises(SystemExit):
        run(smk, _boom_value_error, "x")  # a KeyError
    assert "unexpected KeyError: 'missing'" in capsys.readouterr().err

    def bad_input(path):
        raise InputError(path, "line 3: a score is not a number", )

    with pytest.raises(SystemExit):
        run(smk, bad_input, smk.input[0])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("rankdistill error in rule my_rule (input ") and "line 3: a score is not a number" in line
    assert "unexpected" not in line


def test_a_rule_run_removes_its_outputs_stale_temporaries(tmp_path):
    from rankdistill.workflow import run

    smk = _job(tmp_path, outputs=("out.txt", "idx"))
    stale = [tmp_path / ".out.txt.abcdefgh.tmp", tmp_path / ".idx.a1b2c3d4.tmp"]
    stale[0].write_text("half")
    stale[1].mkdir()
    (tmp_path / ".input.tsv.abcdefgh.tmp").write_text("not an output's")
    seen = []
    run(smk, lambda: seen.append([p.exists() for p in stale]))
    assert seen == [[False, False]]  # removed before the job's function ran
    assert (tmp_path / ".input.tsv.abcdefgh.tmp").exists()
