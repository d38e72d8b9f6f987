"""precision: auto resolves from what the device computes natively (rankdistill.hardware), is logged and recorded,
and a config gives the same model wherever auto resolves the same way."""

import json
import logging
import re
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _train_data  # noqa: E402

from rankdistill import hardware  # noqa: E402
from rankdistill.errors import ConfigError  # noqa: E402


@pytest.fixture
def cpu_without_bf16(monkeypatch):
    """A CPU like an AVX2-only Zen 3: every PyTorch probe says no native bf16."""
    monkeypatch.delenv(hardware.PRECISION_ENV, raising=False)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_bf16": False, "amx_bf16": False},
                        raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)


@pytest.fixture
def cpu_with_bf16(monkeypatch):
    """A CPU with AVX512-BF16 (as PyTorch 2.x reports it through get_capabilities)."""
    monkeypatch.delenv(hardware.PRECISION_ENV, raising=False)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True, "amx_bf16": False}, raising=False)


def test_auto_is_fp32_on_a_cpu_without_native_bf16(cpu_without_bf16, caplog):
    with caplog.at_level(logging.INFO, logger="rankdistill.hardware"):
        r = hardware.resolve_precision("auto", "cpu", what="train.precision")
    assert r.value == "fp32" and "no native bf16" in r.reason and "avx512_bf16" in r.reason
    assert "auto -> fp32" in caplog.text
    assert hardware.RUNTIME_CHOICES["train.precision"] == r.asdict()


def test_auto_is_bf16_on_a_cpu_with_native_bf16(cpu_with_bf16):
    assert hardware.resolve_precision("auto", "cpu").value == "bf16"
    # the scorer's spelling of bf16 is passed through
    assert hardware.resolve_precision("auto", "cpu", bf16="bfloat16").value == "bfloat16"


def test_older_probes_answer_when_get_capabilities_is_missing(monkeypatch):
    monkeypatch.delenv(hardware.PRECISION_ENV, raising=False)
    monkeypatch.delattr(torch.cpu, "get_capabilities", raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    native, why = hardware.cpu_bf16_support()
    assert native and "_is_amx_tile_supported" in why


def test_probes_that_moved_or_fail_mean_no_native_bf16(monkeypatch):
    def broken():
        raise RuntimeError("moved")

    monkeypatch.setattr(torch.cpu, "get_capabilities", broken, raising=False)
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, name, raising=False)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert hardware.cpu_bf16_support() == (False, "no PyTorch probe reports native bf16 on this CPU")


@pytest.mark.parametrize("gpu_bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_follows_the_gpu(monkeypatch, gpu_bf16, expected):
    monkeypatch.delenv(hardware.PRECISION_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: gpu_bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "NVIDIA H100")
    r = hardware.resolve_precision("auto", "cuda")
    assert r.value == expected and "NVIDIA H100" in r.reason


def test_the_environment_forces_what_auto_becomes(cpu_with_bf16, monkeypatch):
    monkeypatch.setenv(hardware.PRECISION_ENV, "fp32")
    r = hardware.resolve_precision("auto", "cpu")
    assert r.value == "fp32" and hardware.PRECISION_ENV in r.reason
    # an explicit setting is not overridden
    assert hardware.resolve_precision("bf16", "cpu").value == "bf16"
    monkeypatch.setenv(hardware.PRECISION_ENV, "fp16")
    with pytest.raises(ConfigError, match="RANKDISTILL_PRECISION='fp16'"):
        hardware.resolve_precision("auto", "cpu")


def test_explicit_bf16_without_native_support_runs_with_a_warning(cpu_without_bf16, caplog):
    with caplog.at_level(logging.WARNING, logger="rankdistill.hardware"):
        r = hardware.resolve_precision("bf16", "cpu", what="train.precision")
    assert r.value == "bf16"
    assert "no native bf16" in caplog.text and "slower than fp32" in caplog.text


def test_describe_names_the_cpu_and_its_bf16():
    d = hardware.describe()
    assert d["cpu"] and d["cpus"] >= 1 and isinstance(d["cpu_bf16"], bool) and "cpu_bf16_flags" in d


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hw")
    return _train_data.make_with_distill_set(folder)


def _train(bert_tiny, d, out, precision):
    from rankdistill.students.train import train_stage2

    return train_stage2(bert_tiny, d["distill_parquet"], d["queries"], d["docstore"], str(out), str(out) + ".scratch",
                        start_is_checkpoint=False, query_length=8, doc_length=16, epochs=2, batch_queries=4,
                        loss="ranknet", lr=1e-3, dropout=0.0, threads=1, precision=precision)


def test_auto_gives_the_same_model_wherever_it_resolves_the_same_way(bert_tiny, tiny_data, tmp_path, monkeypatch):
    """A config with precision: auto trains the same weights as one naming the precision auto resolved to, and
    train.json records the resolution with its reason."""
    from safetensors.torch import load_file

    torch.set_num_threads(1)
    monkeypatch.setenv(hardware.PRECISION_ENV, "fp32")  # as on a CPU without native bf16
    _train(bert_tiny, tiny_data, tmp_path / "auto", "auto")
    _train(bert_tiny, tiny_data, tmp_path / "fp32", "fp32")
    a, b = load_file(str(tmp_path / "auto" / "model.safetensors")), load_file(str(tmp_path / "fp32" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    meta = json.loads((tmp_path / "auto" / "train.json").read_text())
    assert meta["precision"] == "fp32" and meta["settings"]["precision"] == "auto"
    assert hardware.PRECISION_ENV in meta["precision_reason"]
    assert meta["runtime"]["train.precision"]["value"] == "fp32"


def test_narrow_backbones_train_on_one_thread_each(bert_tiny, minilm):
    """BERT-tiny (hidden 128) trains on one thread and Snakemake runs such jobs side by side; wider models and
    models that cannot be inspected offline (a hub id not in the cache) ask for the rule's default."""
    from rankdistill.config.models import hidden_size

    assert hidden_size(bert_tiny) == 128 and hidden_size(minilm) == 384
    assert hardware.training_threads(hidden_size(bert_tiny), 8) == 1
    assert hardware.training_threads(hidden_size(minilm), 8) == 8
    assert hidden_size("no-such-org/no-such-model") is None
    assert hardware.training_threads(None, 8) == 8


def test_the_default_trains_its_bert_tiny_students_one_thread_each(tmp_path):
    """The workflow asks for one thread per BERT-tiny training job (a dry run of the embedded default)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "results/table.tex",
                          "--directory", str(tmp_path), "--snakefile", str(root / "workflow" / "Snakefile"),
                          "--configfile", str(root / "config" / "config.yaml")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    blocks = re.findall(r"rule train_(?:student|stage1):\n(?:    .*\n)+", text)
    assert len(blocks) == 5
    assert not any("threads:" in b for b in blocks)  # Snakemake prints threads only when > 1
    assert "threads: 2" in text  # other rules still take both cores
