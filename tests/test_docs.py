"""The documentation: the site builds strictly, the configuration reference is complete and current,
the API's examples run, and every command the docs show is exercised.

* ``mkdocs build --strict`` (warnings are errors: broken internal links and anchors, a nav entry without
  its page, a docstring mkdocstrings cannot render) into a temp folder, with the pages generated at
  build time (tools/docs_hooks.py: the configuration reference, the rule graphs).
* Every schema key has a description, and config/README.md's generated parameter table is current.
* The doctests of the API modules (rankdistill.api, rankdistill.config.reference) pass.
* Every command line in a ```bash block of README.md and docs/ is either dry-run here (snakemake
  commands on the repository's own configs), checked against the script's --help (benchmarks), or named
  with the test that runs it (COVERED below); a new command without one of these fails the test.
"""

from __future__ import annotations

import doctest
import importlib
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, Workflow

DOCS = ROOT / "docs"


def _mkdocs_missing() -> bool:
    return importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None


needs_mkdocs = pytest.mark.skipif(_mkdocs_missing(), reason='mkdocs not installed: pip install -e ".[docs]" (install.sh does)')


# --- the site ----------------------------------------------------------------------------------------

@needs_mkdocs
@pytest.mark.slow  # ~15-30 s: two `snakemake --rulegraph` and mkdocstrings
def test_site_builds_strictly_with_the_generated_pages(tmp_path):
    site = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    conf = (site / "reference" / "configuration" / "index.html").read_text(encoding="utf-8")
    # the generated reference: a nested key with its default, allowed values and kind
    assert "first_stages.&lt;name&gt;.k1" in conf and "BM25 term-frequency saturation" in conf
    assert "porter2, krovetz, none" in conf
    concepts = (site / "concepts" / "index.html").read_text(encoding="utf-8")
    assert concepts.count('class="mermaid"') == 2 and "train_student" in concepts and "teacher_gather" in concepts
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert 'id="rankdistill.api.BM25"' in api and 'id="rankdistill.api.Teacher"' in api
    assert (site / "changelog" / "index.html").read_text(encoding="utf-8").count("Unreleased") >= 1
    for stub in ("howto/own-collection", "guide/real-text-check", "guide/cpu-serving", "guide/scale",
                 "guide/bad-input", "guide/hardware"):
        assert (site / stub / "index.html").exists(), stub


@needs_mkdocs
def test_the_build_fails_on_a_key_without_description(monkeypatch):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import docs_hooks
    finally:
        sys.path.remove(str(ROOT / "tools"))
    from mkdocs.exceptions import PluginError

    from rankdistill.config import reference
    from rankdistill.config.schema import schema

    broken = schema()
    del broken["properties"]["first_stages"]["additionalProperties"]["allOf"][0]["then"]["properties"]["k1"]["description"]
    monkeypatch.setattr(reference, "_schema", lambda: broken)
    with pytest.raises(PluginError, match=r"first_stages\.<name>\.k1 \(kind: bm25\)"):
        docs_hooks.on_config({})


def test_rulegraph_dot_becomes_mermaid():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from docs_hooks import dot_to_mermaid
    finally:
        sys.path.remove(str(ROOT / "tools"))
    dot = 'digraph snakemake_dag {\n  0[label = "all", color = "0.1 0.6 0.85"];\n  1[label = "table"];\n  1 -> 0\n}'
    assert dot_to_mermaid(dot) == 'flowchart TD\n    r0["all"]\n    r1["table"]\n    r1 --> r0'


# --- the configuration reference ------------------------------------------------------------------

def test_every_schema_key_has_a_description():
    from rankdistill.config import reference

    assert reference.undocumented() == [], "add a `description` to these keys of workflow/schemas/config.schema.yaml"


def test_config_readme_parameter_table_is_current():
    from rankdistill.config import reference

    text = (ROOT / "config" / "README.md").read_text(encoding="utf-8")
    assert reference.replace_generated(text, reference.parameter_table()) == text, \
        "config/README.md is stale: python -m rankdistill.config.reference --write config/README.md"


def test_reference_lists_every_key_with_its_default():
    from rankdistill.config import reference
    from rankdistill.config.schema import schema

    md = reference.markdown()
    entries = reference.entries()
    for e in entries:
        assert f"`{e.path}`" in md or f"### `{e.path}`" in md, e.path
    by = {(e.path, e.when): e for e in entries}
    k1 = by[("first_stages.<name>.k1", "kind: bm25")]
    assert (k1.default, k1.type, k1.allowed) == (0.9, "number", "> 0")
    s = schema()
    assert by[("results", "")].default == s["properties"]["results"]["default"]
    assert by[("first_stages.<name>.stemmer", "kind: bm25")].allowed == "porter2, krovetz, none"
    # every top-level section is documented
    assert {e.path.split(".")[0] for e in entries} == set(s["properties"])


# --- doctests of the API ------------------------------------------------------------------------------

@pytest.mark.parametrize("module", ["rankdistill.api", "rankdistill.config.reference"])
def test_api_doctests(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mod = importlib.import_module(module)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0, res


# --- every command shown in the docs is exercised ---------------------------------------------------

def doc_commands() -> list[tuple[str, str]]:
    """(page, command) for every command line of a ```bash block in README.md and docs/ (``&&`` parts apart)."""
    out = []
    for f in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for block in re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", f.read_text(encoding="utf-8"), re.S):
            for line in block.splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                if line and not line.startswith("#"):
                    out += [(str(f.relative_to(ROOT)), part.strip()) for part in line.split("&&")]
    return out


# command (regex, whole part) -> where it is exercised: "tests/<file>.py::<test>" (the test must exist)
# or "<file>: <text>" (the file must contain the text)
COVERED = {
    r"\./install\.sh": ".ci/run: ./install.sh",
    r"\. \.venv/bin/activate": ".ci/run: . .venv/bin/activate",
    r"python -m pytest": ".ci/run: python -m pytest",
    r"pip install -e '\.\[slurm\]'": "install.sh: slurm",
    r"tmux new -s rankdistill": "(tmux itself, not ours: keeps the SLURM controller alive on the login node)",
    r"snakemake --profile profiles/slurm .*": "tests/test_slurm.py::test_tiny_workflow_on_slurm_matches_local",
    r"snakemake( --cores 8)? --report report\.(html|zip)( all)?": "tests/test_workflow.py::test_tiny_dag_end_to_end",
    r"snakemake --cores 8 results/(dl-minilm|vaswani)/table\.tex --configfile config/(dl-minilm|vaswani)\.yaml":
        "tests/test_results_folder.py::test_two_results_folders_do_not_touch_each_other",
    r"bash benchmarks/gpu_check\.sh gpu-check": "(GPU only; `bash -n` checked below)",
    r"lscpu \| grep -o -E 'avx512_bf16\|amx_bf16' \| sort -u": "(lscpu itself, not ours: the CPU's flags, as hardware.cpu_flags reads them)",
    r"python -c \"from rankdistill import hardware; import torch; print\(hardware\.describe\(\)\)\"":
        "tests/test_hardware.py::test_describe_names_the_cpu_and_its_bf16",
    r"RANKDISTILL_PRECISION=fp32 python -m pytest": ".ci/run: RANKDISTILL_PRECISION=fp32 python -m pytest",
    r"snakemake (-n|--cores 2) --configfile my-corpus\.yaml":  # the tutorial's own config, a user's file
        "tests/test_generated_queries.py::test_generated_queries_train_a_pooled_student_end_to_end",
    r"pip install rankdistill": "(not exercised: the package is not on PyPI; install.sh installs it from a clone)",
    r"snakedeploy deploy-workflow https://github\.com/<owner>/rankdistill my-project --tag <release>":
        "tests/test_module.py::test_module_runs_a_tiny_default",  # what it writes, with a local snakefile path
}


def _covered_by(cmd: str) -> str | None:
    for pattern, where in COVERED.items():
        if re.fullmatch(pattern, cmd):
            return where
    return None


def _dry_run_args(cmd: str) -> list[str] | None:
    """A snakemake command's arguments for a dry run (``--cores``/``-cN`` dropped), or None when the command
    is not a snakemake command on this repository's own configs."""
    args = shlex.split(cmd)
    if args[0] != "snakemake" or any(a.startswith("--report") or a == "profiles/slurm" for a in args):
        return None
    for i, a in enumerate(args):
        if a == "--configfile" and not (ROOT / args[i + 1]).exists():
            return None
    out, skip = [], False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a == "--cores":
            skip = True
            continue
        if re.fullmatch(r"-c\d*", a):
            continue
        out.append(a)
    return [x for x in out if x != "-n"]


def test_every_command_in_the_docs_is_exercised():
    commands = doc_commands()
    assert any(c.startswith("snakemake -n --configfile config/paper.yaml") for _, c in commands)
    unexercised = []
    for page, cmd in commands:
        if _covered_by(cmd) or _dry_run_args(cmd) is not None or cmd.startswith("python benchmarks/"):
            continue
        unexercised.append(f"{page}: {cmd}")
    assert not unexercised, "commands the docs show that no test exercises (add them to COVERED or a test):\n" + \
        "\n".join(unexercised)
    for where in set(COVERED.values()):
        if where.startswith("tests/"):
            file, name = where.split("::")
            assert re.search(rf"^def {name}\(", (ROOT / file).read_text(), re.M), where
        elif not where.startswith("("):
            file, text = where.split(": ", 1)
            assert text in (ROOT / file).read_text(), where
    p = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_benchmark_commands_use_flags_the_scripts_have():
    cmds = {c for _, c in doc_commands() if c.startswith("python benchmarks/")}
    assert cmds
    for cmd in sorted(cmds):
        args = shlex.split(cmd)
        p = subprocess.run([sys.executable, args[1], "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        for flag in (a for a in args[2:] if a.startswith("--")):
            assert re.search(rf"{re.escape(flag)}\b", p.stdout), f"{cmd}: {args[1]} has no {flag}"


@pytest.mark.slow  # one dry run per distinct command, the paper's included (~5 s each)
def test_snakemake_commands_in_the_docs_dry_run(tmp_path):
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    wf = Workflow(tmp_path / "wf", default)
    shutil.copytree(ROOT / "profiles", wf.root / "profiles")
    runs = sorted({tuple(a) for _, c in doc_commands() if (a := _dry_run_args(c)) is not None})
    assert len(runs) >= 8, runs
    shared = ROOT.parent / "shared"
    if shared.is_dir():  # the examples read ../shared/data beside the checkout
        (tmp_path / "shared").symlink_to(shared)
    for args in runs:
        if not shared.is_dir() and any("../shared" in (ROOT / a).read_text() for a in args
                                       if a.endswith(".yaml") and (ROOT / a).is_file()):
            continue  # an example on the shared data, which this machine does not have
        p = wf.snakemake("-n", *args, check=False, timeout=600)
        assert p.returncode == 0, f"snakemake -n {' '.join(args)}:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
        assert "Job stats:" in p.stdout or "Nothing to be done" in p.stdout, (args, p.stdout[-2000:])


def test_readme_is_a_front_page_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    head = "\n".join(text.splitlines()[:13])
    assert "./install.sh && . .venv/bin/activate && snakemake --cores 8 results/table.tex" in head
    assert "./install.sh && . .venv/bin/activate && python -m pytest" in head
    # every relative link (into the site, LICENSE, CHANGELOG.md, config/README.md) points at a file that exists
    targets = [t for t in re.findall(r"\]\(([^)#]+)", text) if not t.startswith(("http://", "https://"))]
    assert any(t.startswith("docs/") for t in targets) and "LICENSE" in targets
    for target in targets:
        assert (ROOT / target).exists(), target
