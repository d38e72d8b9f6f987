# Shared set-up: the package on the path, the validated config, and name → file helpers.
import os
import re
import sys

_SRC = os.path.join(workflow.basedir, "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
# rule scripts run in their own interpreter: let them import the package from this checkout too
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)

from rankdistill import config as rdconfig  # noqa: E402
from rankdistill.workflow import code_version, per_attempt  # noqa: E402

rdconfig.validate(config)

EVAL = config["evaluation"]
SYSTEMS = rdconfig.systems(config)


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "^$"


wildcard_constraints:
    query_set=_alternatives(config["query_sets"]),
    first_stage=_alternatives(config["first_stages"]),
    system=_alternatives(
        list(config["first_stages"])
        + list(config.get("teachers", {}))
        + list(config.get("students", {}))
    ),


def query_file(query_set, what="queries.tsv"):
    return f"results/queries/{query_set}/{what}"


def first_stage_run(first_stage, query_set):
    return f"results/first_stage/{first_stage}/{query_set}.run"


def system_run(system, first_stage, query_set):
    """The run file a system produces for (first stage, query set)."""
    kind = rdconfig.system_kind(config, system)
    if kind == "first_stage":
        return first_stage_run(system, query_set)
    if kind == "teacher":
        return f"results/teacher/{system}/{first_stage}/{query_set}.run"
    return f"results/rerank/{system}/{first_stage}/{query_set}.run"


def table_cells():
    """(system, first stage, query set) cells of the table: first stages only in their own column."""
    cells = []
    for s in SYSTEMS:
        is_fs = rdconfig.system_kind(config, s) == "first_stage"
        for fs in EVAL["first_stages"]:
            if is_fs and s != fs:
                continue
            for qs in EVAL["query_sets"]:
                cells.append((s, fs, qs))
    return cells


def eval_file(system, first_stage, query_set):
    return f"results/eval/{system}/{first_stage}/{query_set}.tsv"


def setting(section, name):
    """A named thing's settings as a plain dict (a param, so changing any of them reruns the rule)."""
    return dict(config[section][name])


def synthetic_collection(wildcards):
    """Synthetic query sets are generated from the collection's spec; other kinds do not depend on it."""
    if config["query_sets"][wildcards.query_set]["kind"] == "synthetic":
        return config["collection"]
    return None


def names_of_kind(section, *kinds):
    return [n for n, s in config.get(section, {}).items() if s["kind"] in kinds]


def table_spec():
    """Everything the table rule renders with (a param: changing a label or the baseline reruns it)."""
    tab = config.get("table", {})
    return dict(
        systems=SYSTEMS,
        first_stages=EVAL["first_stages"],
        query_sets=EVAL["query_sets"],
        measure=tab.get("measure") or EVAL["measures"][0],
        baseline=EVAL["baseline"],
        alpha=EVAL["alpha"],
        correction=EVAL["correction"],
        decimals=tab.get("decimals", 3),
        labels=dict(tab.get("labels", {})),
        caption=tab.get("caption"),
        provenance=config_citation(),
    )


def config_citation():
    files = [os.path.relpath(f) for f in workflow.configfiles] if workflow.configfiles else ["config/config.yaml"]
    return "Configuration: " + ", ".join(f"\\texttt{{{f}}}" for f in files) + "."
