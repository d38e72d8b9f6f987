"""The typed settings of every stage: frozen dataclasses holding exactly the fields that change a
stage's result (:class:`rankdistill.config.plan.Plan` builds them from the validated config; rule
scripts rebuild them from the rule's ``settings`` param). No field has a default: defaults live in
the schema alone. Light (dataclasses only): every rule script imports this module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


def _canonical(value: Any) -> Any:
    """Nested mappings with sorted keys (a param's value must not depend on the key order in the YAML)."""
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


@dataclass(frozen=True)
class Settings:
    """Base of every stage's settings: built from a config entry, passed to a rule as a plain dict."""

    section: ClassVar[str] = ""  # the config section the fields come from
    kinds: ClassVar[tuple[str, ...]] = ()  # the kinds of that section these settings are for (() = all)
    from_keys: ClassVar[dict[str, str]] = {}  # field -> the config key it is read from, where they differ

    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_entry(cls, entry: dict, where: str = "", **derived) -> "Settings":
        """The settings of a validated config entry (every schema default filled); ``derived`` gives the
        fields that are not plain keys of the entry (a resolved depth, a model reference, ...)."""
        values = {}
        for name in cls.fields():
            values[name] = derived[name] if name in derived else entry.get(cls.from_keys.get(name, name))
        return cls(**values)

    def asdict(self) -> dict:
        return {k: _canonical(v) for k, v in dataclasses.asdict(self).items()}

    kwargs = asdict  # the keyword arguments of the stage's library function


# --- collection and query sets --------------------------------------------------------------------

@dataclass(frozen=True)
class CollectionSettings(Settings):
    """The collection's spec (every key of it changes the document store)."""

    section: ClassVar[str] = "collection"
    spec: dict


@dataclass(frozen=True)
class QuerySetSettings(Settings):
    """A query set's spec, and the collection's spec for synthetic query sets (generated from it)."""

    section: ClassVar[str] = "query_sets"
    spec: dict
    collection: dict | None


# --- first stages ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FirstStageSettings(Settings):
    """Base of the first stages' settings (one class per kind and rule: an index and its retrieval)."""

    section: ClassVar[str] = "first_stages"


@dataclass(frozen=True)
class Bm25IndexSettings(FirstStageSettings):
    kinds: ClassVar[tuple[str, ...]] = ("bm25",)
    backend: str
    stemmer: str


@dataclass(frozen=True)
class Bm25RetrieveSettings(FirstStageSettings):
    kinds: ClassVar[tuple[str, ...]] = ("bm25",)
    backend: str
    k1: float
    b: float
    depth: int


@dataclass(frozen=True)
class DenseIndexSettings(FirstStageSettings):
    kinds: ClassVar[tuple[str, ...]] = ("dense",)
    model: str
    pooling: str
    similarity: str
    doc_length: int
    doc_prefix: str
    batch_size: int
    shard_size: int


@dataclass(frozen=True)
class DenseRetrieveSettings(FirstStageSettings):
    kinds: ClassVar[tuple[str, ...]] = ("dense",)
    model: str
    pooling: str
    similarity: str
    query_length: int
    query_prefix: str
    depth: int
    batch_size: int


@dataclass(frozen=True)
class ColbertIndexSettings(FirstStageSettings):
    kinds: ClassVar[tuple[str, ...]] = ("colbert",)
    model: str
    doc_length: int | None
    batch_size: int | None  # None: chosen for the device (retrieval.colbert.AUTO_BATCH)
    shard_size: int


@dataclass(frozen=True)
class PlaidSettings(FirstStageSettings):
    kinds: ClassVar[tuple[str, ...]] = ("colbert",)
    nbits: int
    kmeans_niters: int
    seed: int


@dataclass(frozen=True)
class ColbertRetrieveSettings(FirstStageSettings):
    kinds: ClassVar[tuple[str, ...]] = ("colbert",)
    from_keys: ClassVar[dict[str, str]] = {"index_kind": "index"}
    model: str
    index_kind: str
    plaid: dict
    query_length: int | None
    depth: int
    batch_size: int | None  # None: chosen for the device (retrieval.colbert.AUTO_BATCH)


@dataclass(frozen=True)
class ImportSettings(FirstStageSettings):
    """An imported run (a first stage's or an import teacher's) for one query set."""

    kinds: ClassVar[tuple[str, ...]] = ("import",)
    source: Any
    depth: int
    unknown_docnos: str


# --- teacher, distillation, training, re-ranking --------------------------------------------------

@dataclass(frozen=True)
class TeacherSettings(Settings):
    """An LLM teacher's run of one (first stage, query set): everything that changes its ranking."""

    section: ClassVar[str] = "teachers"
    kinds: ClassVar[tuple[str, ...]] = ("llm",)
    model: str
    prompt: str
    backend: str
    window: int
    step: int
    depth: int
    batch_size: int
    max_passage_words: int | None
    context_size: int | None
    max_new_tokens: int | None
    stop_at_eos: bool
    dtype: str
    device: str | None
    seed: int
    tokenizer: str | None
    openai: dict | None
    limit_queries: int | None  # derived: how many queries of the query set it ranks (views.limit_queries)


@dataclass(frozen=True)
class DistillSettings(Settings):
    section: ClassVar[str] = "distill_sets"
    queries: int | None
    depth: int
    mode: str | None  # teacher sets only (a first stage's own ranking has no mode)
    seed: int
    min_candidates: int
    unanswered: str

    def kwargs(self) -> dict:
        d = self.asdict()
        d["num_queries"] = d.pop("queries")
        if d["mode"] is None:
            d["mode"] = "projection"  # kind first_stage: the ranking is the first stage's own, nothing to rerun
        return d


@dataclass(frozen=True)
class _TrainSettings(Settings):
    """The optimisation settings stage 1 and stage 2 share (rankdistill.students.loop.TrainSettings)."""

    query_length: int | None
    doc_length: int | None
    batch_queries: int
    accumulation: int | str  # an integer or auto (students.memory)
    lr: float
    weight_decay: float
    max_grad_norm: float | None
    schedule: str
    warmup: float
    dropout: float | None
    precision: str
    gradient_checkpointing: bool
    seed: int
    save_every: int
    validation: dict  # its metric goes to metrics.csv / loss.png (outputs), so it is a setting

    def train_kwargs(self) -> dict:
        """Keyword arguments of train_stage1 / train_stage2 except validation (see train.validation_kwargs)."""
        d = self.asdict()
        d.pop("validation")
        return d


@dataclass(frozen=True)
class Stage1Settings(_TrainSettings):
    section: ClassVar[str] = "stage1"
    backbone: str
    negatives: int
    depth: int
    min_relevance: int
    steps: int

    def train_kwargs(self) -> dict:
        d = super().train_kwargs()
        d.pop("backbone")
        return d


@dataclass(frozen=True)
class StudentSettings(_TrainSettings):
    """A trained student's stage 2 (``start``: its stage-1 folder or backbone, what it is trained from)."""

    section: ClassVar[str] = "students"
    kinds: ClassVar[tuple[str, ...]] = ("trained",)
    start: str
    loss: str
    epochs: int

    def train_kwargs(self) -> dict:
        d = super().train_kwargs()
        d.pop("start")
        return d


@dataclass(frozen=True)
class CrossEncoderRerankSettings(Settings):
    """A cross-encoder re-ranking one run: a student, a ``cross-encoder`` or ``stage1`` re-ranker."""

    model: str  # a trained folder of this workflow, or a released checkpoint
    depth: int
    query_length: int | None  # None: the model's own (a trained model's lengths are in its folder)
    doc_length: int | None
    precision: str
    batch_size: int | None
    max_tokens: int | None
    compile: bool
    engine: str


@dataclass(frozen=True)
class CpuConversionSettings(Settings):
    """A cross-encoder converted for a CPU runtime (the convert_cpu rule, rankdistill.students.cpu.convert)."""

    model: str
    engine: str  # onnx | onnx-int8 | openvino | openvino-int8
    query_length: int | None
    doc_length: int | None
    conversion: dict  # rankdistill.students.cpu.conversion_settings(engine): what changes the files

    def kwargs(self) -> dict:
        d = self.asdict()
        d.pop("conversion")
        return d


@dataclass(frozen=True)
class DenseRerankSettings(Settings):
    section: ClassVar[str] = "rerankers"
    kinds: ClassVar[tuple[str, ...]] = ("dense",)
    model: str
    pooling: str
    similarity: str
    query_length: int
    doc_length: int
    query_prefix: str
    doc_prefix: str
    batch_size: int
    depth: int


@dataclass(frozen=True)
class ColbertRerankSettings(Settings):
    section: ClassVar[str] = "rerankers"
    kinds: ClassVar[tuple[str, ...]] = ("colbert",)
    model: str
    query_length: int | None
    doc_length: int | None
    batch_size: int
    depth: int


@dataclass(frozen=True)
class FusionRerankSettings(Settings):
    section: ClassVar[str] = "rerankers"
    kinds: ClassVar[tuple[str, ...]] = ("fusion",)
    components: dict  # first stage -> weight (the component runs are the rule's inputs, in this order)
    normalization: str
    rrf_k: float
    depth: int


# re-ranker kind -> the settings of its rule (a new kind adds a class here and a rule)
RERANKER_SETTINGS = {"dense": DenseRerankSettings, "colbert": ColbertRerankSettings, "fusion": FusionRerankSettings}


@dataclass(frozen=True)
class EvaluationSettings(Settings):
    section: ClassVar[str] = "evaluation"
    measures: list
    depth: dict  # measure -> the depth each run is cut at (None: the full run)


# schema keys that are deliberately no stage's settings: display (label), routing to inputs (names of other
# entries, whose files are the rule's inputs), which cells exist (evaluate, queries: Plan's views), job layout
NOT_SETTINGS = {
    "first_stages": {"kind", "label", "runs"},
    "teachers": {"kind", "label", "shards", "queries", "evaluate", "runs"},
    "distill_sets": {"kind", "teacher", "ranker", "first_stage", "query_set", "sets"},
    "stage1": {"first_stage", "query_set"},
    "students": {"kind", "label", "stage1", "backbone", "distill_set", "inference", "model"},
    "rerankers": {"kind", "label", "evaluate", "stage1", "inference"},
}
