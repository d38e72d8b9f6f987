# Shared set-up: the package on the path, the validated config, and name → file helpers.
import os
import re
import sys

# this workflow's folder (workflow/), from this file's own location: workflow.basedir is the folder of the
# *main* Snakefile, which is another project's when rankdistill is used as a module (`use rule * from`)
WORKFLOW_DIR = os.path.dirname(os.path.abspath(str(workflow.current_basedir)))
_SRC = os.path.join(os.path.dirname(WORKFLOW_DIR), "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
# (job scripts import the installed package, see the README install step)

from rankdistill.codegraph import (
    save_cache as save_code_cache,
    script_code,
    use_cache_file as use_code_cache,
)  # noqa: E402
from rankdistill.config.plan import Plan  # noqa: E402
from rankdistill.config.loading import validate  # noqa: E402
from rankdistill.config.views import (
    OWN_RUN,
    SYSTEM_SECTIONS,
    distill_first_stages,
    distill_query_sets,
    system_kind,
)  # noqa: E402
from rankdistill.workflow import cap_local_cores, per_attempt, stop_jobs_on_signals  # noqa: E402

validate(config)
# every path the workflow writes is under config["results"] (default results/; one folder per experiment)
RESULTS = os.path.join(os.path.normpath(config["results"]), "")
# the typed settings of every stage, the paths and the table cells (rankdistill.config.plan): rules pass
# settings=PLAN.<stage>(wildcards), exactly the fields that change the rule's result
PLAN = Plan(config, RESULTS)


def R(path):
    """``path`` inside the results folder: every output, log, benchmark and scratch path of the rules."""
    return RESULTS + path


cap_local_cores(workflow)  # --cores never above the CPUs this machine gives the run (no oversubscription)

EVAL = config["evaluation"]
SYSTEMS = PLAN.systems
SYSTEM_NAMES = [n for _, key in SYSTEM_SECTIONS for n in config.get(key, {})]


use_code_cache(R("cache/codegraph.json"))  # per-file hashes across dry runs (rankdistill.codegraph)


def CODE(script, *harness_modules):
    """A rule's code= param: the hash of the package modules its script imports, transitively
    (rankdistill.codegraph; ``harness_modules``: those the job harness runs for it, e.g. provenance pages)."""
    code = script_code(os.path.join(WORKFLOW_DIR, "scripts", script), *harness_modules)
    save_code_cache()
    return code


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "^$"


# --- collections: the default `collection` and the named `collections` (out-of-domain, issue 13) ---
# A query set names its collection (default: the default one), so every (first stage, query set) cell
# implies its collection: its document store and each first stage's index over it.


def query_collection(query_set):
    from rankdistill.ood import collection_of

    return collection_of(config, query_set)


def docstore_path(collection=None):
    return R("collection/docs.sqlite") if collection is None else R(f"collection/{collection}/docs.sqlite")


def docstore_of(query_set):
    """The document store of a query set's collection."""
    return docstore_path(query_collection(query_set))


def query_docstore(wildcards):
    return docstore_of(wildcards.query_set)


def index_of(first_stage, query_set, kind="index"):
    """A first stage's index (kind: index or plaid) over the query set's collection."""
    c = query_collection(query_set)
    return R(f"{kind}/{first_stage}") if c is None else R(f"collection/{c}/{kind}/{first_stage}")


def query_index(wildcards):
    return index_of(wildcards.first_stage, wildcards.query_set)


query_file = PLAN.query_file
first_stage_run = PLAN.first_stage_run
system_run = PLAN.system_run
eval_file = PLAN.eval_file
table_cells = PLAN.table_cells


def names_of_kind(section, *kinds):
    return [n for n, s in config.get(section, {}).items() if s["kind"] in kinds]


def config_citation():
    files = [os.path.relpath(f) for f in workflow.configfiles] if workflow.configfiles else ["config/config.yaml"]
    return "Configuration: " + ", ".join(files) + "."


def preflight_check():
    """Before the first job (not in dry runs): stop with one clear message if downloads are impossible."""
    from rankdistill.preflight import check, needed_from_jobs
    from rankdistill.errors import UnavailableError

    try:  # only what the jobs about to run use (all of the config if the DAG cannot be read)
        needed = needed_from_jobs(workflow.dag.needrun_jobs())
    except Exception:  # noqa: BLE001
        needed = None
    try:
        check(config, needed=needed)
    except UnavailableError as e:
        raise WorkflowError(str(e)) from None


# --- neural first stages and imported runs (workflow/rules/first_stage.smk) ---


def colbert_search_index(wildcards):
    """Exact search reads the embedding shards; PLAID search reads the PLAID index built from them."""
    if config["first_stages"][wildcards.first_stage]["index"] == "plaid":
        return index_of(wildcards.first_stage, wildcards.query_set, "plaid")
    return index_of(wildcards.first_stage, wildcards.query_set)


# --- the LLM teacher (workflow/rules/teacher.smk) ---


def teacher_shards(wildcards):
    return config["teachers"][wildcards.teacher]["shards"]


def teacher_gpu(wildcards):
    t = config["teachers"][wildcards.teacher]
    return 0 if t["backend"] == "openai" or t.get("device") == "cpu" else 1


def teacher_mem(wildcards, attempt):
    t = config["teachers"][wildcards.teacher]
    small = t["backend"] == "openai" or t["model"].startswith("package:")
    return (4000 if small else 32000) * attempt


def teacher_convert_dir(wildcards):
    """Where a .gguf teacher's de-quantised copy is cached (shared by all jobs of the model)."""
    return gguf_convert_dir(config["teachers"][wildcards.teacher]["model"])


def gguf_convert_dir(model):
    """Where a .gguf model's de-quantised copy is cached (shared by all jobs of the model: teachers, generated
    query sets)."""
    if not model or not model.endswith(".gguf"):
        return None
    # keyed by the file's fingerprint too: an edited .gguf must not reuse the old de-quantised copy
    import hashlib

    fp = model_files(model)
    fp = hashlib.sha256(fp.encode()).hexdigest()[:12] if fp else ""
    return R(f"scratch/models/{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}") + (f"-{fp}" if fp else "")


def llm_teachers(sharded):
    return [n for n, t in config.get("teachers", {}).items() if t["kind"] == "llm" and (t["shards"] > 1) == sharded]


TEACHER_INPUT = dict(
    run=lambda wc: first_stage_run(wc.first_stage, wc.query_set),
    queries=query_file("{query_set}"),
    docstore=query_docstore,
)


def teacher_shard_files(what):
    def files(wildcards):
        n = teacher_shards(wildcards)
        base = R(f"teacher/{wildcards.teacher}/{wildcards.first_stage}/{wildcards.query_set}")
        return [f"{base}.shard-{i}.{what}" for i in range(n)]

    files.__name__ = f"teacher_shard_{what}"
    return files


# --- local input files and model fingerprints (every file a rule reads is an input or a param) ---


def _as_list(x):
    return [x] if isinstance(x, str) else list(x or [])


def collection_files(wildcards=None):
    """A local corpus's files (inputs of the collection rule: editing one rebuilds the store)."""
    name = getattr(wildcards, "collection", None) if wildcards is not None else None
    spec = config["collections"][name] if name else config["collection"]
    return _as_list(spec["path"]) if spec["kind"] == "local" else []


def query_set_files(wildcards):
    """A local query set's queries and qrels files (inputs of its query_set job)."""
    spec = config["query_sets"][wildcards.query_set]
    return {"queries_file": spec["queries"], "qrels_file": spec["qrels"]} if spec["kind"] == "local" else {}


def _generated_exclude_files(spec):
    """(label, file, depth) of each ``exclude`` entry of a generated query set: a first stage's run of a query set,
    or the query set's qrels."""
    out = []
    for ex in spec.get("exclude") or []:
        fs, qs = ex.get("first_stage"), ex["query_set"]
        if fs is None:
            out.append((f"{qs} qrels", query_file(qs, "qrels.txt"), None))
        else:
            out.append((f"{fs} top {ex.get('depth') or 'all'} of {qs}", first_stage_run(fs, qs), ex.get("depth")))
    return out


def generated_query_inputs(wildcards):
    """A generated query set's collection, the files of its ``exclude`` entries and its ``openings`` query set."""
    spec = config["query_sets"][wildcards.query_set]
    inputs = {
        "docstore": docstore_of(wildcards.query_set),
        "exclude": [f for _, f, _ in _generated_exclude_files(spec)],
    }
    if spec.get("openings"):
        inputs["openings"] = query_file(spec["openings"])
    if spec["method"] == "llm" and spec.get("examples"):
        ex = spec["examples"]
        inputs |= {
            "examples_queries": query_file(ex),
            "examples_qrels": query_file(ex, "qrels.txt"),
            "examples_docstore": docstore_of(ex),
        }
    if spec["method"] == "llm" and spec.get("filter"):  # InPars' filter searches the first stage's index
        inputs["filter_index"] = index_of(spec["filter"]["first_stage"], wildcards.query_set)
    return inputs


def _generated_llm(wildcards):
    spec = config["query_sets"][wildcards.query_set]
    return spec if spec["method"] == "llm" else None


def generated_prompt(wildcards):
    """A param: the llm method's prompt wording and packaged examples (None for spans; with ``examples:`` the
    examples are input files)."""
    from rankdistill.datasets import llm_queries

    spec = _generated_llm(wildcards)
    if spec is None:
        return None
    t = llm_queries.template()
    return t | {"examples": f"query set {spec['examples']}"} if spec.get("examples") else t


def generated_model_files(wildcards):
    spec = _generated_llm(wildcards)
    return model_files(spec["model"]) if spec else ""


def generated_convert_dir(wildcards):
    spec = _generated_llm(wildcards)
    return gguf_convert_dir(spec["model"]) if spec and spec["backend"] == "hf" else None


def generated_filter_bm25(wildcards):
    """A param: the BM25 settings of the llm method's ``filter`` first stage (they change which queries pass)."""
    spec = _generated_llm(wildcards)
    if not spec or not spec.get("filter"):
        return None
    fs = config["first_stages"][spec["filter"]["first_stage"]]
    return {k: fs[k] for k in ("backend", "k1", "b", "stemmer")}


def generated_threads(wildcards):
    return 4 if _generated_llm(wildcards) else 1


def generated_gpu(wildcards):
    spec = _generated_llm(wildcards)
    if spec is None or spec["backend"] == "openai" or spec.get("device") == "cpu":
        return 0
    return 1


def generated_mem(wildcards, attempt):
    spec = _generated_llm(wildcards)
    small = spec is None or spec["backend"] == "openai" or spec["model"].startswith("package:")
    return (4000 if small else 32000) * attempt


def generated_runtime(wildcards, attempt):
    return (1440 if _generated_llm(wildcards) else 60) * attempt


def generated_exclude(wildcards):
    """The ``exclude`` entries as (label, depth) per input file, in the order of input.exclude."""
    return [[label, depth] for label, _, depth in _generated_exclude_files(config["query_sets"][wildcards.query_set])]


def _local_run_file(source):
    """The local file of an imported run's source (a path); URLs are keyed by their checksum, irds by its id."""
    from rankdistill.config.sources import normalise_source

    src = normalise_source(source)
    return [src["path"]] if src["kind"] == "path" else []


def imported_run_file(wildcards):
    return _local_run_file(PLAN.imported_run(wildcards)["source"])


def imported_teacher_file(wildcards):
    return _local_run_file(PLAN.imported_teacher_run(wildcards)["source"])


def model_files(*refs):
    """A param: fingerprint of the local model files a rule loads (rankdistill.fingerprint)."""
    from rankdistill.fingerprint import fingerprints

    return fingerprints(*refs, cache_file=R("cache/digests.json"))


def first_stage_model_files(wildcards):
    return model_files(config["first_stages"][wildcards.first_stage].get("model"))


def teacher_model_files(wildcards):
    t = config["teachers"][wildcards.teacher]
    return model_files(t.get("model"), t.get("tokenizer"))
