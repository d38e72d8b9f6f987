"""Token accounting of rank_llm's ``SafeOpenai`` (RankGPT through an OpenAI-compatible API), with tiktoken.

Without a Hugging Face tokenizer, rank_llm 0.25.7 still fits every window's prompt to the context
(``src/rank_llm/rerank/listwise/rank_gpt.py``, ``SafeOpenai``):

* ``get_num_tokens(messages)``: for every message ``tokens_per_message`` (4 for ``gpt-3.5-turbo`` and
  ``gpt-3.5-turbo-0301``, 3 for ``gpt-4`` and ``gpt-4-0314``, else 0) plus the tokens of *each value*
  (the role as well as the content; a ``name`` adds ``tokens_per_name``), plus 3 for the reply primer;
* ``num_output_tokens()``: tokens of ``"[1] > [2] > ... > [w]"`` minus 1, for the *configured* window
  size ``w`` (not the current window's);
* ``create_prompt``: start at ``300 * (window_size // n)`` words per passage (``n`` = passages in this
  window) and lower it by ``max(1, (tokens - context + output) // (n * 4))`` until
  ``tokens <= context - output``.

The encoding is always ``cl100k_base``: rank_llm calls ``tiktoken.get_encoding(model_name)``, which
fails for every model name, and falls back to it. tiktoken downloads its BPE file on first use; offline,
set ``RANKDISTILL_TIKTOKEN_FILE`` to either the ``cl100k_base.tiktoken`` file itself or to
``encoders/cl100k_base.json`` of the npm package ``tiktoken`` (``npm pack tiktoken``; the same ranks, in
js-tiktoken's compressed form; ``.gz``/``.xz`` compressed copies are read too). Either way the ranks
are checked against tiktoken's own SHA-256 of the official file, so a wrong file is an error, never a
silently different count. (Equivalently, put the ``.tiktoken`` file into ``TIKTOKEN_CACHE_DIR`` under
tiktoken's cache name.)
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from ..errors import UnavailableError

ENCODING = "cl100k_base"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"  # tiktoken_ext.openai_public
FILE_ENV = "RANKDISTILL_TIKTOKEN_FILE"

_LOCK = threading.Lock()
_CACHE: dict[str, object] = {}


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".xz":
        import lzma

        return lzma.decompress(data)
    if path.suffix == ".gz":
        import gzip

        return gzip.decompress(data)
    return data


def tiktoken_text_from_npm_json(raw: bytes) -> bytes:
    """js-tiktoken's ``{"bpe_ranks": "<first> <offset> tok tok ...\\n..."}`` as the ``.tiktoken`` file
    (``<base64 token> <rank>`` per line, by rank)."""
    import json

    ranks: list[tuple[int, str]] = []
    for line in json.loads(raw)["bpe_ranks"].split("\n"):
        parts = line.split(" ")
        if len(parts) < 2:
            continue
        offset = int(parts[1])
        ranks += [(offset + i, tok) for i, tok in enumerate(parts[2:])]
    ranks.sort()
    return "".join(f"{tok} {rank}\n" for rank, tok in ranks).encode("ascii")


def _ranks_from_file(path: Path) -> dict[bytes, int]:
    import base64

    raw = _read(path)
    name = path.name.removesuffix(".xz").removesuffix(".gz")
    text = tiktoken_text_from_npm_json(raw) if name.endswith(".json") else raw
    digest = hashlib.sha256(text).hexdigest()
    if digest != CL100K_SHA256:
        raise UnavailableError(f"{path}: not the cl100k_base BPE ranks (sha256 {digest[:12]}..., expected "
                               f"{CL100K_SHA256[:12]}...)")
    return {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in text.splitlines() if line)}


def _encoding_from_ranks(ranks: dict[bytes, int]):
    import tiktoken
    import tiktoken_ext.openai_public as op

    orig = op.load_tiktoken_bpe
    op.load_tiktoken_bpe = lambda *a, **k: ranks  # pat_str and special tokens exactly as tiktoken defines them
    try:
        spec = op.cl100k_base()
    finally:
        op.load_tiktoken_bpe = orig
    return tiktoken.Encoding(**spec)


def cl100k_base():
    """The ``cl100k_base`` encoding: from ``RANKDISTILL_TIKTOKEN_FILE`` if set, else tiktoken's own cache or
    download. Raises :class:`UnavailableError` (with what to do) when neither works."""
    src = os.environ.get(FILE_ENV) or ""
    with _LOCK:
        if src in _CACHE:
            return _CACHE[src]
        try:
            import tiktoken
        except ImportError:
            raise UnavailableError("RankGPT prompts for an API model are fitted to the context with tiktoken "
                                   "counts (as rank_llm does): pip install tiktoken") from None
        if src:
            path = Path(src).expanduser()
            if not path.is_file():
                raise UnavailableError(f"{FILE_ENV}={src}: no such file")
            enc = _encoding_from_ranks(_ranks_from_file(path))
        else:
            try:
                enc = tiktoken.get_encoding(ENCODING)
            except Exception as e:  # noqa: BLE001 - network or cache failures of many kinds
                raise UnavailableError(
                    f"tiktoken could not load {ENCODING} ({type(e).__name__}: {str(e)[:150]}); offline, set "
                    f"{FILE_ENV} to cl100k_base.tiktoken or to encoders/cl100k_base.json of the npm package "
                    "'tiktoken' (npm pack tiktoken), or pre-fill TIKTOKEN_CACHE_DIR") from None
        _CACHE[src] = enc
        return enc


def _per_message(model: str) -> tuple[int, int]:
    if model in ("gpt-3.5-turbo-0301", "gpt-3.5-turbo"):
        return 4, -1
    if model in ("gpt-4-0314", "gpt-4"):
        return 3, 1
    return 0, 0


class MessageTokenCounter:
    """rank_llm ``SafeOpenai.get_num_tokens`` / ``num_output_tokens`` for ``model`` and window size ``window``."""

    def __init__(self, model: str, window: int, encoding=None):
        self.model, self.window = str(model), int(window)
        self._enc = encoding

    @property
    def encoding(self):
        if self._enc is None:
            self._enc = cl100k_base()
        return self._enc

    def count(self, messages) -> int:
        per_message, per_name = _per_message(self.model)
        n = 0
        for m in messages:
            n += per_message
            for key, value in m.items():
                n += len(self.encoding.encode(value, disallowed_special=()))
                if key == "name":
                    n += per_name
        return n + 3

    def output_tokens(self) -> int:
        return len(self.encoding.encode(" > ".join(f"[{i + 1}]" for i in range(self.window)))) - 1
