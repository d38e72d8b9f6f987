"""Code versions from the import graph (rankdistill.codegraph), no import cycles, and a light DAG: the
Snakefile parses the paper config without torch, transformers or pandas."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from conftest import ROOT, Workflow, tiny_config
from rankdistill import codegraph as g

SCRIPTS = ROOT / "workflow" / "scripts"


def _modules(script: str) -> set[str]:
    return set(g.closure(sorted(g.script_imports(SCRIPTS / script)), skip=g.HARNESS))


def test_closure_follows_imports_transitively():
    train = _modules("train_student.py")
    # the training code imports runs, io and errors (the hand-kept TRAIN_CODE list once missed them)
    assert {"rankdistill.students.train", "rankdistill.students.loop", "rankdistill.runs", "rankdistill.io",
            "rankdistill.errors", "rankdistill.students.losses", "rankdistill.students.model",
            "rankdistill.config.settings"} <= train
    # a package's __init__ runs when one of its submodules is imported
    assert {"rankdistill.retrieval", "rankdistill.retrieval.bm25"} <= _modules("retrieve_bm25.py")
    # the harness (rankdistill.workflow) is not followed; the config checks reach no job
    for script in SCRIPTS.glob("*.py"):
        mods = _modules(script.name)
        assert "rankdistill.workflow" not in mods and "rankdistill.config.checks" not in mods, script.name
        assert not {m for m in mods if m.split(".")[0] != "rankdistill"}


def test_every_rule_hashes_its_own_script():
    """Each rule's code=CODE("<script>") names the script its `script:` directive runs."""
    seen = 0
    for f in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule )", f.read_text(), flags=re.M)[1:]:
            script = re.search(r'^\s+"\.\./scripts/(\w+\.py)"', block, re.M)
            code = re.search(r'^\s+code=CODE\("(\w+\.py)"', block, re.M)
            assert script and code, f"{f.name}: {block.split()[1]} has no script or no code=CODE(...)"
            assert script.group(1) == code.group(1), f"{f.name}: {block.split()[1]}"
            seen += 1
    assert seen >= 20


def test_version_depends_on_content_not_paths_or_mtimes(tmp_path):
    """A reinstall (same sources elsewhere, new mtimes) gives the same versions; an edit of a module a
    script imports transitively changes that script's version and only the versions that import it."""
    copy = tmp_path / "rankdistill"
    shutil.copytree(g.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    scripts = sorted(p.name for p in SCRIPTS.glob("*.py"))
    before = {s: g.script_code(SCRIPTS / s) for s in scripts}
    assert {s: g.script_code(SCRIPTS / s, root=copy) for s in scripts} == before
    runs = copy / "runs.py"
    runs.write_text(runs.read_text() + "\n# an edit\n")
    after = {s: g.script_code(SCRIPTS / s, root=copy) for s in scripts}
    changed = {s for s in scripts if after[s] != before[s]}
    uses_runs = {s for s in scripts if "rankdistill.runs" in _modules(s)}
    assert changed == uses_runs and {"train_student.py", "train_stage1.py", "retrieve_bm25.py"} <= changed
    assert "collection.py" not in changed or "rankdistill.runs" in _modules("collection.py")


def test_relative_imports_resolve(tmp_path):
    pkg = tmp_path / "rankdistill"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .sub import b  # lazy, still counted\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .. import c\nfrom ..d import x\nimport os\n")
    (pkg / "c.py").write_text("")
    (pkg / "d.py").write_text("x = 1\n")
    assert set(g.closure(["rankdistill.a"], root=pkg)) == {
        "rankdistill.a", "rankdistill", "rankdistill.sub", "rankdistill.sub.b", "rankdistill.c", "rankdistill.d"}
    (pkg / "d.py").write_text("from .a import f\n")
    assert g.cycles(g.import_graph(pkg)) == [["rankdistill.a", "rankdistill.d", "rankdistill.sub.b"]]


def test_no_import_cycles():
    found = g.cycles(g.import_graph())
    assert found == []


# Snakemake itself imports pandas, so sys.modules cannot tell; record every `import` statement run by the
# workflow's own code (the Snakefile, the rule files, the package) that names a heavy library
_PROBE = """
import builtins, os, sys
root = os.getcwd()
HEAVY = {"torch", "transformers", "pandas", "numpy"}
seen = set()
real_import = builtins.__import__

def probe(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name.split(".")[0] in HEAVY:
        f = sys._getframe(1).f_code.co_filename
        if f.startswith(root) or "rankdistill" in f or f.endswith((".smk", "Snakefile")):
            seen.add(f"{name} from {f}")
    return real_import(name, globals, locals, fromlist, level)

from snakemake.cli import main
builtins.__import__ = probe
try:
    main(["-n", "--cores", "1", "--nolock", "--configfile", "config/paper.yaml"])
finally:
    print("HEAVY:" + "; ".join(sorted(seen)), file=sys.stderr)
"""


def test_dag_of_the_paper_config_imports_no_heavy_library(tmp_path):
    wf = Workflow(tmp_path / "wf", tiny_config())
    p = subprocess.run([sys.executable, "-c", _PROBE], cwd=wf.root, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "rerank" in p.stdout and "train_student" in p.stdout  # the DAG really was built
    line = next(x for x in p.stderr.splitlines() if x.startswith("HEAVY:"))
    assert line == "HEAVY:", f"building the DAG imported {line[6:]}"


def test_plain_import_statements_are_followed(tmp_path):
    """Guard: ``import rankdistill.x`` and ``import rankdistill.x as y`` (also lazily, in a function) put x
    and its parent packages in the closure, so an edit of x changes the code version of what imports it."""
    pkg = tmp_path / "rankdistill"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "x.py").write_text("X = 1\n")
    (pkg / "sub" / "y.py").write_text("Y = 1\n")
    (pkg / "z.py").write_text("Z = 1\n")
    (pkg / "a.py").write_text("import rankdistill.x\nimport rankdistill.sub.y as why\n\n"
                              "def f():\n    import rankdistill.z as zed\n    return zed\n")
    assert set(g.closure(["rankdistill.a"], root=pkg)) == {
        "rankdistill.a", "rankdistill", "rankdistill.x", "rankdistill.sub", "rankdistill.sub.y", "rankdistill.z"}
    before = g.code_version("rankdistill.a", root=pkg)
    for name in ("x.py", "sub/y.py", "z.py"):
        f = pkg / name
        f.write_text(f.read_text() + "# an edit\n")
        after = g.code_version("rankdistill.a", root=pkg)
        assert after != before, name
        before = after
