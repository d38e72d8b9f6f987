# Shared set-up: the package on the path, the validated config, and name → file helpers.
import os
import re
import sys

_SRC = os.path.join(workflow.basedir, "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
# (job scripts import the installed package, see the README install step)

from rankdistill import config as rdconfig  # noqa: E402
from rankdistill.grid import OWN_RUN  # noqa: E402
from rankdistill.workflow import cap_local_cores, code_version, per_attempt, stop_jobs_on_signals  # noqa: E402

rdconfig.validate(config)
# every path the workflow writes is under config["results"] (default results/; one folder per experiment)
RESULTS = os.path.join(os.path.normpath(config["results"]), "")


def R(path):
    """``path`` inside the results folder: every output, log, benchmark and scratch path of the rules."""
    return RESULTS + path
cap_local_cores(workflow)  # --cores never above the CPUs this machine gives the run (no oversubscription)

EVAL = config["evaluation"]
SYSTEMS = rdconfig.systems(config)
SYSTEM_NAMES = [n for _, key in rdconfig.SYSTEM_SECTIONS for n in config.get(key, {})]


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


def query_file(query_set, what="queries.tsv"):
    return R(f"queries/{query_set}/{what}")


def first_stage_run(first_stage, query_set):
    return R(f"first_stage/{first_stage}/{query_set}.run")


def system_run(system, first_stage, query_set):
    """The run file a system produces for (first stage, query set) (re-rankers and students: results/rerank/)."""
    kind = rdconfig.system_kind(config, system)
    if kind == "first_stage":
        return first_stage_run(system, query_set)
    if kind == "teacher":
        return R(f"teacher/{system}/{first_stage}/{query_set}.run")
    return R(f"rerank/{system}/{first_stage}/{query_set}.run")


def table_cells(systems=None, first_stages=None, query_sets=None):
    """(system, first stage, query set) cells of the table (default: the main one): first stages only in their own column."""
    from rankdistill.reranker_config import evaluates
    from rankdistill.teacher_config import teacher_cells

    cells = []
    for s in systems or SYSTEMS:
        kind = rdconfig.system_kind(config, s)
        for fs in first_stages or EVAL["first_stages"]:
            if kind == "first_stage" and s != fs and fs != OWN_RUN:
                continue
            for qs in query_sets or EVAL["query_sets"]:
                if kind == "teacher" and (fs, qs) not in teacher_cells(config, s):
                    continue  # a teacher evaluated on some cells only (the table shows "--")
                if kind == "reranker" and not evaluates(config, s, fs, qs):
                    continue  # likewise a re-ranker with `evaluate`
                cells.append((s, fs, qs))
    return cells


def eval_file(system, first_stage, query_set):
    if first_stage == OWN_RUN:  # a table of first stages on their own runs (tables.<name>.first_stages: own)
        first_stage = system
    return R(f"eval/{system}/{first_stage}/{query_set}.tsv")


def setting(section, name):
    """A named thing's settings as a plain dict (a param, so changing any of them reruns the rule)."""
    return dict(config[section][name])


def synthetic_collection(wildcards):
    """Synthetic query sets are generated from their collection's spec; other kinds do not depend on it."""
    if config["query_sets"][wildcards.query_set]["kind"] == "synthetic":
        from rankdistill.ood import collection_spec

        return collection_spec(config, query_collection(wildcards.query_set))
    return None


def names_of_kind(section, *kinds):
    return [n for n, s in config.get(section, {}).items() if s["kind"] in kinds]


def table_spec():
    """Everything the table renders with (a param: changing a label or the baseline reruns it)."""
    from rankdistill.table import table_measures

    tab = config.get("table", {})
    return dict(
        systems=SYSTEMS,
        first_stages=EVAL["first_stages"],
        query_sets=EVAL["query_sets"],
        measures=table_measures(config),
        layout=tab.get("layout", "columns"),
        significance=tab.get("significance", "baseline"),
        depths=eval_depths(),
        baseline=EVAL["baseline"],
        alpha=EVAL["alpha"],
        correction=EVAL["correction"],
        decimals=tab.get("decimals", 3),
        labels=system_labels() | dict(tab.get("labels", {})),
        caption=tab.get("caption"),
        provenance=config_citation(),
    )


def eval_depths():
    """measure -> the depth each run is cut at before it is computed (None: the full run)."""
    from rankdistill.evaluate import measure_depths

    return measure_depths(EVAL["measures"], EVAL["depth"], EVAL.get("measure_depths"))


def system_labels():
    """Display names: each named thing's own ``label`` key, if it has one."""
    return {
        name: spec["label"]
        for _, section in rdconfig.SYSTEM_SECTIONS
        for name, spec in config.get(section, {}).items()
        if isinstance(spec, dict) and spec.get("label")
    }


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

def first_stage_param(key):
    """A param reading one setting of the wildcard's first stage (defaults filled by the schema)."""

    def get(wildcards):
        return config["first_stages"][wildcards.first_stage].get(key)

    get.__name__ = f"first_stage_{key}"
    return get


def colbert_search_index(wildcards):
    """Exact search reads the embedding shards; PLAID search reads the PLAID index built from them."""
    if config["first_stages"][wildcards.first_stage]["index"] == "plaid":
        return index_of(wildcards.first_stage, wildcards.query_set, "plaid")
    return index_of(wildcards.first_stage, wildcards.query_set)


def imported_run_source(wildcards):
    runs = config["first_stages"][wildcards.first_stage]["runs"]
    if wildcards.query_set not in runs:
        raise ValueError(
            f"first stage {wildcards.first_stage!r} (kind import) has no run for query set "
            f"{wildcards.query_set!r}; add first_stages.{wildcards.first_stage}.runs.{wildcards.query_set}"
        )
    return runs[wildcards.query_set]


# --- the LLM teacher (workflow/rules/teacher.smk) ---

TEACHER_SETTING_KEYS = ("model", "prompt", "backend", "window", "step", "depth", "batch_size", "max_passage_words",
                        "context_size", "max_new_tokens", "stop_at_eos", "dtype", "device", "seed", "tokenizer",
                        "openai")


def teacher_settings(wildcards):
    """Every teacher setting that changes its run (not label or shards: those change no ranking)."""
    t = config["teachers"][wildcards.teacher]
    return {k: t.get(k) for k in TEACHER_SETTING_KEYS}


def teacher_limit(wildcards):
    from rankdistill.teacher_config import limit_queries

    return limit_queries(config, wildcards.teacher, wildcards.first_stage, wildcards.query_set)


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
    model = config["teachers"][wildcards.teacher]["model"]
    if not model.endswith(".gguf"):
        return None
    # keyed by the file's fingerprint too: an edited .gguf must not reuse the old de-quantised copy
    import hashlib

    fp = model_files(model)
    fp = hashlib.sha256(fp.encode()).hexdigest()[:12] if fp else ""
    return R(f"scratch/models/{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}") + (f"-{fp}" if fp else "")


def llm_teachers(sharded):
    return [n for n, t in config.get("teachers", {}).items()
            if t["kind"] == "llm" and (t["shards"] > 1) == sharded]


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


def imported_teacher_source(wildcards):
    runs = config["teachers"][wildcards.teacher]["runs"]
    src = runs.get(wildcards.first_stage, {}).get(wildcards.query_set)
    if src is None:
        raise ValueError(
            f"teacher {wildcards.teacher!r} (kind import) has no run for first stage {wildcards.first_stage!r} and "
            f"query set {wildcards.query_set!r}; add teachers.{wildcards.teacher}.runs.{wildcards.first_stage}."
            f"{wildcards.query_set}"
        )
    return src


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


def _local_run_file(source):
    """The local file of an imported run's source (a path); URLs are keyed by their checksum, irds by its id."""
    from rankdistill.retrieval.imported import normalise_source

    src = normalise_source(source)
    return [src["path"]] if src["kind"] == "path" else []


def imported_run_file(wildcards):
    return _local_run_file(imported_run_source(wildcards))


def imported_teacher_file(wildcards):
    return _local_run_file(imported_teacher_source(wildcards))


def model_files(*refs):
    """A param: fingerprint of the local model files a rule loads (rankdistill.fingerprint)."""
    from rankdistill.fingerprint import fingerprints

    return fingerprints(*refs, cache_file=R("cache/digests.json"))


def first_stage_model_files(wildcards):
    return model_files(config["first_stages"][wildcards.first_stage].get("model"))


def teacher_model_files(wildcards):
    t = config["teachers"][wildcards.teacher]
    return model_files(t.get("model"), t.get("tokenizer"))
