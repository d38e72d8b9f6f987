"""mkdocs hooks (mkdocs.yml `hooks:`): the pages generated at build time.

* ``<!-- config-reference -->`` (docs/reference/configuration.md): every key of
  workflow/schemas/config.schema.yaml (rankdistill.config.reference.markdown); the build fails when a
  key has no description or config/README.md's parameter table is stale.
* ``<!-- rulegraph: <configfile or default> -->`` (docs/concepts.md): the workflow's rules and their
  dependencies, from ``snakemake --rulegraph`` on that config, as a Mermaid graph (no Graphviz needed).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]
_RULEGRAPH = re.compile(r"<!-- rulegraph: (\S+) -->")
_CACHE: dict[str, str] = {}


def on_config(config):
    sys.path.insert(0, str(ROOT / "src"))
    from rankdistill.config import reference

    missing = reference.undocumented()
    if missing:
        raise PluginError("config keys without a description in workflow/schemas/config.schema.yaml: "
                          + ", ".join(missing))
    readme = (ROOT / "config" / "README.md").read_text(encoding="utf-8")
    if reference.replace_generated(readme, reference.parameter_table()) != readme:
        raise PluginError("config/README.md's parameter table is stale: run "
                          "`python -m rankdistill.config.reference --write config/README.md`")
    return config


def dot_to_mermaid(dot: str) -> str:
    """A ``snakemake --rulegraph`` (Graphviz dot) as a Mermaid flowchart: one node per rule, its edges."""
    labels = dict(re.findall(r'^\s*(\d+)\s*\[\s*label\s*=\s*"([^"]+)"', dot, re.M))
    edges = re.findall(r"^\s*(\d+)\s*->\s*(\d+)", dot, re.M)
    if not labels:
        raise PluginError(f"snakemake --rulegraph printed no rules:\n{dot[:2000]}")
    lines = ["flowchart TD"]
    lines += [f'    r{i}["{name}"]' for i, name in sorted(labels.items(), key=lambda kv: int(kv[0]))]
    lines += [f"    r{a} --> r{b}" for a, b in edges]
    return "\n".join(lines)


def rulegraph(configfile: str) -> str:
    if configfile not in _CACHE:
        # in a scratch folder (--directory), so building the site writes nothing into the checkout
        conf = ROOT / ("config/config.yaml" if configfile == "default" else configfile)
        with tempfile.TemporaryDirectory(prefix="rankdistill-docs-") as tmp:
            cmd = [sys.executable, "-m", "snakemake", "--rulegraph", "--quiet", "all", "--nolock",
                   "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory", tmp, "--configfile", str(conf)]
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise PluginError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
        dot = p.stdout[p.stdout.find("digraph"):]
        _CACHE[configfile] = "```mermaid\n" + dot_to_mermaid(dot) + "\n```"
    return _CACHE[configfile]


def on_page_markdown(markdown, page, config, files):
    if "<!-- config-reference -->" in markdown:
        from rankdistill.config import reference

        markdown = markdown.replace("<!-- config-reference -->", reference.markdown())
    return _RULEGRAPH.sub(lambda m: rulegraph(m.group(1)), markdown)
