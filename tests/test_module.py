"""The workflow used from another folder as a Snakemake module, the way `snakedeploy deploy-workflow` sets
it up: the project's own Snakefile declares `module rankdistill: snakefile: ...workflow/Snakefile,
config: config` and `use rule * from rankdistill`, and its config/ is a copy of ours. The module here is
this checkout (a local path; snakedeploy writes `github("<owner>/rankdistill", path="workflow/Snakefile",
tag=...)` instead, see docs/howto/module.md)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from conftest import ROOT, Workflow, tiny_config

# what snakedeploy's template (templates/use_module.smk.jinja) writes, with a local snakefile path
DEPLOY_SNAKEFILE = """\
configfile: "config/config.yaml"


# declare rankdistill as a module
module rankdistill:
    snakefile:
        "{snakefile}"
    config:
        config


# use all rules from rankdistill
use rule * from rankdistill
"""


class Deployment(Workflow):
    """A project folder that uses the workflow as a module (no copy of workflow/ or src/ in it)."""

    def __init__(self, root, config: dict | None = None):
        self.root = root
        root.mkdir(parents=True)
        shutil.copytree(ROOT / "config", root / "config")  # snakedeploy copies config/
        (root / "Snakefile").write_text(DEPLOY_SNAKEFILE.format(snakefile=ROOT / "workflow" / "Snakefile"))
        if config is not None:
            self.write_config(config)


def test_module_dry_run_of_the_default_is_the_workflows_own(tmp_path):
    dep = Deployment(tmp_path / "project")
    assert not (dep.root / "workflow").exists() and not (dep.root / "src").exists()
    deployed = dep.jobs()  # the default target: the module's rule all
    own = Workflow(tmp_path / "checkout", yaml.safe_load((ROOT / "config" / "config.yaml").read_text())).jobs()
    assert deployed == own and deployed["all"] == 1 and deployed["train_student"] >= 1


@pytest.mark.slow  # a real run of the tiny config (BM25 only, ~9 jobs): ~1 min on 2 cores
def test_module_runs_a_tiny_default(tmp_path):
    dep = Deployment(tmp_path / "project", tiny_config())
    dep.snakemake("results/table.tex")
    long = pd.read_csv(dep.root / "results" / "table.csv")
    assert set(long.system) == {"bm25"} and set(long.query_set) == {"test-a", "test-b"}
    assert ((long.value > 0.2) & (long.value < 0.95)).all()
    assert (dep.root / "results" / "logs" / "table.log").exists()
    # the rules' code versions are read from the module's scripts: nothing to do on a second look
    assert "Nothing to be done" in dep.snakemake("-n", "results/table.tex").stdout
    assert not (ROOT / "config" / "results").exists()


def test_the_catalogs_standardized_usage_files():
    """The Snakemake workflow catalog's "standardized usage": workflow/Snakefile (found from the root, so no root
    Snakefile shadows it), config/README.md, .snakemake-workflow-catalog.yml with its keys, and a LICENSE."""
    assert (ROOT / "workflow" / "Snakefile").exists() and not (ROOT / "Snakefile").exists()
    assert "snakemake" in (ROOT / "README.md").read_text().lower() and "workflow" in (ROOT / "README.md").read_text()
    assert (ROOT / "config" / "README.md").exists()
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage["mandatory-flags"]) == {"desc", "flags"}
    assert set(usage["software-stack-deployment"]) == {"conda", "apptainer", "apptainer+conda"}
    assert usage["report"] is True
    assert "Apache License" in (ROOT / "LICENSE").read_text()
