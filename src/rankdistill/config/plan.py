"""One typed plan from the validated config to the code: ``Plan(config)`` gives each rule the settings
that change its result, as a frozen dataclass per stage, plus the file paths and table cells.

A rule passes ``settings=PLAN.<stage>(wildcards)`` (a plain, key-ordered dict of exactly those fields:
Snakemake's params trigger reruns the job when one changes, and nothing else does); its script builds
the stage's settings class from it (``TeacherSettings(**snakemake.params.settings)``: a missing or
unknown field is an error, not a silent default) and calls the library with them. Defaults come from
the schema alone: no field has a default here, and the validated config holds every schema default.

Display-only keys (``label``, captions) and keys that only route files (``first_stage``,
``query_set``, ``distill_set``, ``stage1``: they change a rule's inputs, which Snakemake tracks) are
in no stage's settings; labels reach the table and figure rules only (:meth:`Plan.table`).
:data:`NOT_SETTINGS` lists, per section, the schema keys that deliberately are not settings
(the test suite checks that every other schema key is a field of its stage's settings).

A per-collection dimension (several collections, query sets naming their collection) would add a
``collection`` field to :class:`QuerySetSettings` and a collection wildcard to the paths below.
"""

from __future__ import annotations

from ..errors import ConfigError
from .measures import measure_depths, table_measures
from .settings import (  # noqa: F401  (re-exported: the settings of each stage)
    NOT_SETTINGS,
    RERANKER_SETTINGS,
    Bm25IndexSettings,
    Bm25RetrieveSettings,
    CollectionSettings,
    ColbertIndexSettings,
    ColbertRerankSettings,
    ColbertRetrieveSettings,
    CpuConversionSettings,
    CrossEncoderRerankSettings,
    DenseIndexSettings,
    DenseRerankSettings,
    DenseRetrieveSettings,
    DistillSettings,
    EvaluationSettings,
    FirstStageSettings,
    ImportSettings,
    PlaidSettings,
    QuerySetSettings,
    Settings,
    Stage1Settings,
    StudentSettings,
    TeacherSettings,
    _canonical,
)
from .views import OWN_RUN, SYSTEM_SECTIONS, evaluates, figure_view, limit_queries, system_kind, systems, table_view, teacher_cells


def _name(wildcards, attr: str) -> str:
    return wildcards if isinstance(wildcards, str) else getattr(wildcards, attr)


class Plan:
    """The validated config as typed per-stage settings, file paths and table cells.

    ``results`` is the folder prefix of every path (``config["results"]``, with a trailing separator).
    Methods taking ``wildcards`` accept a Snakemake wildcards object or the name itself.
    """

    def __init__(self, config: dict, results: str | None = None):
        import os

        self.config = config
        self.results = results if results is not None else os.path.join(os.path.normpath(config["results"]), "")
        self.evaluation_spec = config["evaluation"]
        self.systems = systems(config)

    # --- paths --------------------------------------------------------------------------------------

    def path(self, rel: str) -> str:
        return self.results + rel

    def query_file(self, query_set: str, what: str = "queries.tsv") -> str:
        return self.path(f"queries/{query_set}/{what}")

    def first_stage_run(self, first_stage: str, query_set: str) -> str:
        return self.path(f"first_stage/{first_stage}/{query_set}.run")

    def teacher_run(self, teacher: str, first_stage: str, query_set: str) -> str:
        return self.path(f"teacher/{teacher}/{first_stage}/{query_set}.run")

    def system_run(self, system: str, first_stage: str, query_set: str) -> str:
        """The run a system produces for (first stage, query set) (re-rankers and students: rerank/)."""
        kind = system_kind(self.config, system)
        if kind == "first_stage":
            return self.first_stage_run(system, query_set)
        if kind == "teacher":
            return self.teacher_run(system, first_stage, query_set)
        return self.path(f"rerank/{system}/{first_stage}/{query_set}.run")

    def eval_file(self, system: str, first_stage: str, query_set: str) -> str:
        if first_stage == OWN_RUN:  # a table of first stages on their own runs (tables.<name>.first_stages: own)
            first_stage = system
        return self.path(f"eval/{system}/{first_stage}/{query_set}.tsv")

    def table_cells(self, systems=None, first_stages=None, query_sets=None) -> list[tuple[str, str, str]]:
        """(system, first stage, query set) cells of a table (default: the main one); first stages only in
        their own column, teachers and re-rankers only in the cells they are evaluated on."""
        ev = self.evaluation_spec
        cells = []
        for s in systems or self.systems:
            kind = system_kind(self.config, s)
            for fs in first_stages or ev["first_stages"]:
                if kind == "first_stage" and s != fs and fs != OWN_RUN:
                    continue
                for qs in query_sets or ev["query_sets"]:
                    if kind == "teacher" and (fs, qs) not in teacher_cells(self.config, s):
                        continue  # a teacher evaluated on some cells only (the table shows "--")
                    if kind == "reranker" and not evaluates(self.config, s, fs, qs):
                        continue  # likewise a re-ranker with `evaluate`
                    cells.append((s, fs, qs))
        return cells

    # --- settings per stage (plain dicts: the rules' `settings` params) ----------------------------

    def _entry(self, section: str, name: str) -> dict:
        try:
            return self.config[section][name]
        except KeyError:
            raise ConfigError(f"{section}.{name}: no such entry") from None

    def collection(self, wildcards=None) -> dict:
        return CollectionSettings(spec=dict(self.config["collection"])).asdict()

    def collection_named(self, wildcards) -> dict:
        """A named collection of ``collections:`` (out-of-domain evaluation)."""
        return CollectionSettings(spec=dict(self._entry("collections", _name(wildcards, "collection")))).asdict()

    def query_set(self, wildcards) -> dict:
        from ..ood import collection_of, collection_spec

        spec = self._entry("query_sets", _name(wildcards, "query_set"))
        # synthetic query sets are generated from their collection's spec (the default or a named one)
        coll = dict(collection_spec(self.config, collection_of(self.config, _name(wildcards, "query_set")))) \
            if spec["kind"] == "synthetic" else None
        return QuerySetSettings(spec=dict(spec), collection=coll).asdict()

    def _first_stage(self, cls, wildcards, **derived) -> dict:
        name = _name(wildcards, "first_stage")
        return cls.from_entry(self._entry("first_stages", name), f"first_stages.{name}", **derived).asdict()

    def bm25_index(self, wildcards) -> dict:
        return self._first_stage(Bm25IndexSettings, wildcards)

    def bm25_retrieve(self, wildcards) -> dict:
        return self._first_stage(Bm25RetrieveSettings, wildcards)

    def dense_index(self, wildcards) -> dict:
        return self._first_stage(DenseIndexSettings, wildcards)

    def dense_retrieve(self, wildcards) -> dict:
        return self._first_stage(DenseRetrieveSettings, wildcards)

    def colbert_index(self, wildcards) -> dict:
        return self._first_stage(ColbertIndexSettings, wildcards)

    def plaid(self, wildcards) -> dict:
        entry = self._entry("first_stages", _name(wildcards, "first_stage"))
        return PlaidSettings.from_entry(entry["plaid"]).asdict()

    def colbert_retrieve(self, wildcards) -> dict:
        return self._first_stage(ColbertRetrieveSettings, wildcards)

    def imported_run(self, wildcards) -> dict:
        """An ``import`` first stage's run of one query set."""
        name, qs = wildcards.first_stage, wildcards.query_set
        fs = self._entry("first_stages", name)
        if qs not in fs["runs"]:
            raise ConfigError(f"first stage {name!r} (kind import) has no run for query set {qs!r}; add "
                              f"first_stages.{name}.runs.{qs}")
        return ImportSettings(source=_canonical(fs["runs"][qs]), depth=fs["depth"], unknown_docnos=fs["unknown_docnos"]).asdict()

    def imported_teacher_run(self, wildcards) -> dict:
        """An ``import`` teacher's run of one (first stage, query set)."""
        name, fs, qs = wildcards.teacher, wildcards.first_stage, wildcards.query_set
        t = self._entry("teachers", name)
        src = t["runs"].get(fs, {}).get(qs)
        if src is None:
            raise ConfigError(f"teacher {name!r} (kind import) has no run for first stage {fs!r} and query set "
                              f"{qs!r}; add teachers.{name}.runs.{fs}.{qs}")
        return ImportSettings(source=_canonical(src), depth=t["depth"], unknown_docnos=t["unknown_docnos"]).asdict()

    def teacher(self, wildcards) -> dict:
        name = wildcards.teacher
        limit = limit_queries(self.config, name, wildcards.first_stage, wildcards.query_set)
        return TeacherSettings.from_entry(self._entry("teachers", name), limit_queries=limit).asdict()

    def distill(self, wildcards) -> dict:
        return DistillSettings.from_entry(self._entry("distill_sets", _name(wildcards, "distill_set"))).asdict()

    def stage1(self, wildcards) -> dict:
        return Stage1Settings.from_entry(self._entry("stage1", _name(wildcards, "stage1"))).asdict()

    def student_start(self, student: str) -> tuple[str | None, str]:
        """(input folder or None, start reference): a dual student starts from its stage-1 model."""
        st = self._entry("students", student)
        if st.get("stage1"):
            path = self.path(f"models/stage1/{st['stage1']}")
            return path, path
        return None, st["backbone"]

    def student(self, wildcards) -> dict:
        name = _name(wildcards, "student")
        return StudentSettings.from_entry(self._entry("students", name), start=self.student_start(name)[1]).asdict()

    # cross-encoders that re-rank: students and `cross-encoder` / `stage1` re-rankers
    def cross_encoder_entry(self, name: str) -> tuple[str, dict]:
        if name in self.config.get("students", {}):
            return "students", self.config["students"][name]
        return "rerankers", self._entry("rerankers", name)

    def cross_encoder_folder(self, name: str) -> str | None:
        """The results/ folder of a model this workflow trains (None: a released checkpoint)."""
        section, st = self.cross_encoder_entry(name)
        if section == "students":
            return self.path(f"models/students/{name}") if st["kind"] == "trained" else None
        return self.path(f"models/stage1/{st['stage1']}") if st["kind"] == "stage1" else None

    def cross_encoder_rerank(self, wildcards) -> dict:
        name = _name(wildcards, "student")
        section, st = self.cross_encoder_entry(name)
        folder = self.cross_encoder_folder(name)
        inference = dict(st["inference"])
        depth = inference.pop("depth")  # students: inference.depth; re-rankers: depth (inference.depth is rejected)
        if section == "rerankers":
            depth = st["depth"]
        if folder is None:  # a released checkpoint: its own lengths unless the config sets them
            lengths = {"query_length": st.get("query_length"), "doc_length": st.get("doc_length")}
        else:  # a trained model's lengths are in its folder
            lengths = {"query_length": None, "doc_length": None}
        inference["engine"] = self.cross_encoder_engine(name)
        return CrossEncoderRerankSettings(model=folder or st["model"], depth=depth or self.evaluation_spec["depth"],
                                          **lengths, **inference).asdict()

    def cross_encoder_engine(self, name: str) -> str:
        """The engine a cross-encoder's `inference.engine` means here (`auto`: onnx on a CPU with ONNX Runtime)."""
        from ..students.cpu import resolve_engine

        return resolve_engine(self.cross_encoder_entry(name)[1]["inference"]["engine"])

    def cpu_model(self, name: str) -> str | None:
        """The convert_cpu rule's folder a cross-encoder re-ranks with (None: a torch engine)."""
        from ..students.cpu import CPU_ENGINES

        engine = self.cross_encoder_engine(name)
        return self.path(f"cpu/{name}/{engine}") if engine in CPU_ENGINES else None

    def export_info(self, wildcards) -> dict:
        """What a trained student's model card says about its training (the export rule)."""
        name = _name(wildcards, "student")
        st = self._entry("students", name)
        ds = self._entry("distill_sets", st["distill_set"])
        return {"student": name, "distill_set": st["distill_set"], "teacher": ds.get("teacher") or ds.get("ranker"),
                "query_set": ds.get("query_set"), "first_stage": ds.get("first_stage"),
                "backbone": self.student_start(name)[1], "stage1": st.get("stage1"), "settings": self.student(wildcards)}

    def cpu_conversion(self, wildcards) -> dict:
        """The convert_cpu rule's settings: the model, its lengths and what changes the converted files."""
        from ..students.cpu import conversion_settings

        s = self.cross_encoder_rerank(wildcards)
        return CpuConversionSettings(model=s["model"], engine=wildcards.engine, query_length=s["query_length"],
                                     doc_length=s["doc_length"], conversion=conversion_settings(wildcards.engine)
                                     ).asdict()

    def reranker(self, wildcards) -> dict:
        """A bi-encoder / ColBERT re-ranker's settings (its kind's class in :data:`RERANKER_SETTINGS`)."""
        name = _name(wildcards, "reranker")
        r = self._entry("rerankers", name)
        cls = RERANKER_SETTINGS[r["kind"]]
        return cls.from_entry(r, depth=r["depth"] or self.evaluation_spec["depth"]).asdict()

    def evaluation(self) -> dict:
        ev = self.evaluation_spec
        return EvaluationSettings(measures=list(ev["measures"]),
                                  depth=measure_depths(ev["measures"], ev["depth"], ev.get("measure_depths"))).asdict()

    # --- tables and figures (the only rules display settings reach) --------------------------------

    def labels(self) -> dict[str, str]:
        """Display names: each named thing's own ``label`` key, if it has one."""
        return {name: spec["label"] for _, section in SYSTEM_SECTIONS
                for name, spec in self.config.get(section, {}).items()
                if isinstance(spec, dict) and spec.get("label")}

    def table_labels(self) -> dict[str, str]:
        """The main table's display names: each entry's own ``label``, overridden by ``table.labels``
        (the extra and out-of-domain tables add theirs on top)."""
        return self.labels() | dict(self.config.get("table", {}).get("labels", {}))

    def table(self, provenance: str) -> dict:
        """Everything the main table renders with (changing a label or the baseline reruns only the table)."""
        tab, ev = self.config.get("table", {}), self.evaluation_spec
        return dict(
            systems=self.systems,
            first_stages=ev["first_stages"],
            query_sets=ev["query_sets"],
            measures=table_measures(self.config),
            layout=tab["layout"],
            significance=tab["significance"],
            depths=self.evaluation()["depth"],
            baseline=ev["baseline"],
            alpha=ev["alpha"],
            correction=ev["correction"],
            decimals=tab["decimals"],
            labels=self.table_labels(),
            caption=tab.get("caption"),
            provenance=provenance,
        )

    # --- the out-of-domain table (the paper's TIREx table; ``ood:``, :mod:`rankdistill.ood`) -------------

    def ood_cells(self) -> list[tuple[str, str, str]]:
        """(system, first stage, query set) of every out-of-domain cell (none without ``ood:``)."""
        from ..ood import ood_cells

        return ood_cells(self.config)

    def ood_eval_file(self, system: str, first_stage: str, query_set: str) -> str:
        return self.path(f"eval_ood/{system}/{first_stage}/{query_set}.tsv")

    def ood_evaluation(self) -> dict:
        """What an out-of-domain cell's evaluation depends on: the measures, their depths and how many of the
        first stage's candidates a system's run is restricted to (``ood.depth``)."""
        return dict(measures=list(self.evaluation_spec["measures"]), depth=self.evaluation()["depth"],
                    candidates=(self.config.get("ood") or {}).get("depth"))

    def ood(self, provenance: str) -> dict:
        """Everything the out-of-domain table renders with (a label or the baseline reruns only the table)."""
        from ..ood import ood_baseline

        ood, ev = self.config["ood"], self.evaluation_spec
        measure = ood.get("measure") or table_measures(self.config)[0]
        labels = self.table_labels() | dict(ood.get("labels", {}))
        fs = ood["first_stage"]
        return dict(
            systems=list(ood["systems"]),
            groups={g: list(q) for g, q in ood["groups"].items()},
            measure=measure,
            first_stage=fs,
            first_stage_label=labels.get(fs, fs),
            depth=ood["depth"],
            eval_depth=self.evaluation()["depth"].get(measure),
            baseline=ood_baseline(self.config),
            alpha=ev["alpha"],
            correction=ev["correction"],
            decimals=ood["decimals"],
            labels=labels,
            caption=ood.get("caption"),
            provenance=provenance,
        )

    def ablation_view(self, name: str) -> dict:
        return table_view(self.config, name)

    def ablation_cells(self, wildcards) -> list:
        v = self.ablation_view(_name(wildcards, "ablation"))
        return self.table_cells(v["systems"], v["first_stages"], v["query_sets"])

    def ablation(self, wildcards, provenance: str) -> dict:
        """The main table's spec with the ablation's rows, columns, baseline, labels and caption."""
        v = self.ablation_view(_name(wildcards, "ablation"))
        spec = self.table(provenance)
        spec.update({k: v[k] for k in ("systems", "first_stages", "query_sets", "measures", "baseline", "decimals",
                                       "caption", "tex_label", "significance", "layout")})
        spec["labels"] = spec["labels"] | v["labels"]
        return spec

    def figure(self, wildcards) -> dict:
        return figure_view(self.config, _name(wildcards, "figure"))

    def figure_cells(self, wildcards) -> list:
        v = self.figure(wildcards)
        systems_ = list(dict.fromkeys(p["system"] for panel in v["panels"] for p in panel["points"]))
        return self.table_cells(systems_, v["first_stages"], v["query_sets"])
