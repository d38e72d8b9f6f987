"""LLM backends for the listwise teacher: Hugging Face transformers, vLLM, OpenAI-compatible chat.

All three take a batch of window prompts and return one :class:`Generation` per prompt, in
order, with greedy decoding (temperature 0: a teacher must be deterministic; rank_llm lost ~0.02
nDCG@10 when its default silently became sampling, castorini/rank_llm#412). As in rank_llm, a
window of ``n`` passages generates up to the token length of ``"[1] > ... > [n]"``, and by
default exactly that many tokens (rank_llm sets ``min_tokens = max_tokens``; ``stop_at_eos``
lets a model stop early instead).

* :class:`HFBackend` — transformers ``generate`` on left-padded batches; the batch holds the
  current windows of *different* queries (a query's own windows are sequential). Loads hub ids,
  local folders and ``.gguf`` files (de-quantised by transformers; a converted safetensors copy
  can be cached so later loads are instant).
* :class:`VLLMBackend` — the fast path on GPUs (optional extra ``rankdistill[vllm]``).
* :class:`OpenAIBackend` — any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, a
  vLLM or llama.cpp server), with retries, exponential backoff, ``Retry-After`` and a rate limit.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError, RankDistillError, UnavailableError
from . import prompts as P

log = logging.getLogger(__name__)

BACKENDS = ("hf", "vllm", "openai")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Generation:
    text: str
    tokens: int  # generated tokens (EOS included, padding excluded)


class Backend:
    """Interface: ``tokenizer`` (renders prompts; None = chat messages are sent as they are),
    ``model_key`` (identity of the model for the cache), ``generate(prompts, max_new_tokens)``."""

    name = "base"
    tokenizer = None
    model_key = ""
    stop_at_eos = False

    def max_new_tokens(self, n: int, configured: int | None = None) -> int:
        """Output budget of a window of ``n`` passages (rank_llm's estimate unless configured)."""
        if configured:
            return int(configured)
        if self.tokenizer is not None:
            return P.num_output_tokens(self.tokenizer, n)
        return 4 * n + 2  # no tokenizer (remote model): "[k] > " is at most ~4 tokens per id

    def gen_key(self, max_new_tokens: int) -> str:
        return json.dumps({"greedy": True, "max_new_tokens": max_new_tokens, "stop_at_eos": self.stop_at_eos})

    def generate(self, prompts: Sequence[P.Prompt], max_new_tokens: int) -> list[Generation]:
        raise NotImplementedError

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- Hugging Face transformers


def _torch_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":  # bfloat16 where the device computes it natively (rankdistill.hardware), else float32
        from ..hardware import resolve_precision

        value = resolve_precision("auto", "cuda" if device.startswith("cuda") else "cpu", what="teacher.dtype",
                                  bf16="bfloat16").value
        return torch.bfloat16 if value == "bfloat16" else torch.float32
    if dtype not in DTYPES:
        raise ConfigError(f"teachers.*.dtype: {dtype!r} is not one of {DTYPES}")
    return getattr(torch, dtype)


def _resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnavailableError(f"teacher device {device!r} requested but no CUDA GPU is available here")
    return device


def load_hf(model_ref: str, dtype: str = "auto", device: str | None = None, convert_dir: str | None = None):
    """(model, tokenizer) for a model reference (see :mod:`rankdistill.assets`).

    A ``.gguf`` file is de-quantised by transformers on every load (~15 s for SmolLM2-135M);
    with ``convert_dir`` the de-quantised model is saved there once as safetensors and later
    loads read that copy.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .. import assets

    device = _resolve_device(device)
    torch_dtype = _torch_dtype(dtype, device)
    path, kw = assets.hf_kwargs(model_ref)
    try:
        if kw.get("gguf_file") and convert_dir:
            conv = Path(convert_dir)
            conv.parent.mkdir(parents=True, exist_ok=True)
            lock = open(conv.parent / f".{conv.name}.lock", "w")
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel jobs: one converts, the others wait and reuse
            if not (conv / "config.json").exists():
                from ..io import atomic_dir

                log.info("converting %s to safetensors in %s (once)", model_ref, conv)
                tok = AutoTokenizer.from_pretrained(path, **kw)
                m = AutoModelForCausalLM.from_pretrained(path, **kw)
                # transformers refuses to serialise a GGUF-loaded model; its weights are plain tensors now
                m.hf_quantizer = None
                m.config.__dict__.pop("quantization_config", None)
                with atomic_dir(conv) as tmp:
                    m.save_pretrained(tmp)
                    tok.save_pretrained(tmp)
                del m
            lock.close()
            path, kw = str(conv), {}
        tok = AutoTokenizer.from_pretrained(path, **kw)
        if device.startswith("cuda"):  # straight onto the GPU (no full host copy of a 7B model)
            kw = {**kw, "device_map": device}
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **kw)
    except OSError as e:
        if assets.is_local(model_ref):
            raise
        raise UnavailableError(f"teacher model {model_ref!r} could not be loaded (no network or HF hub access?): {e}") from None
    model.to(device).eval()
    return model, tok


class HFBackend(Backend):
    """Greedy ``generate`` with left-padded batches; pass ``model``/``tokenizer`` objects or a reference."""

    name = "hf"

    def __init__(self, model_ref: str | None = None, *, model=None, tokenizer=None, dtype: str = "auto",
                 device: str | None = None, convert_dir: str | None = None, threads: int | None = None,
                 stop_at_eos: bool = False):
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        if model is None:
            if model_ref is None:
                raise ValueError("HFBackend needs model_ref or model")
            model, tokenizer = load_hf(model_ref, dtype, device, convert_dir)
        elif tokenizer is None:
            raise ValueError("HFBackend: pass the tokenizer with the model")
        self.model, self.tokenizer = model, tokenizer
        self.device = next(model.parameters()).device
        self.stop_at_eos = bool(stop_at_eos)
        self.tokenizer.padding_side = "left"
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if self.pad_id is None:
            raise ConfigError("the teacher tokenizer has neither a pad nor an EOS token")
        self.eos_id = tokenizer.eos_token_id
        self.model_key = json.dumps({"backend": "hf", "model": model_ref or type(model).__name__,
                                     "dtype": str(next(model.parameters()).dtype)})

    def generate(self, prompts: Sequence[P.Prompt], max_new_tokens: int) -> list[Generation]:
        import torch
        from transformers import GenerationConfig

        if not prompts:
            return []
        ids = [P.encode(self.tokenizer, p.text) for p in prompts]
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, x in enumerate(ids):  # left padding: every prompt ends where generation starts
            input_ids[i, width - len(x):] = torch.tensor(x, dtype=torch.long)
            mask[i, width - len(x):] = 1
        cfg = GenerationConfig(
            do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
            min_new_tokens=0 if self.stop_at_eos else max_new_tokens,
            pad_token_id=self.pad_id, eos_token_id=self.eos_id, bos_token_id=self.tokenizer.bos_token_id,
        )
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                      generation_config=cfg)
        gens = []
        for row in out[:, width:].tolist():
            n = len(row)
            if self.eos_id is not None and self.eos_id in row:
                n = row.index(self.eos_id) + 1
            gens.append(Generation(self.tokenizer.decode(row[:n], skip_special_tokens=True), n))
        return gens


# ---------------------------------------------------------------- vLLM


class VLLMBackend(Backend):
    """vLLM offline inference (``LLM.generate`` on token ids): continuous batching on a GPU."""

    name = "vllm"

    def __init__(self, model_ref: str, *, dtype: str = "auto", context_size: int = 4096, max_new_tokens: int = 256,
                 tensor_parallel_size: int | None = None, gpu_memory_utilization: float = 0.9,
                 stop_at_eos: bool = False, tokenizer=None, llm=None):
        from .. import assets

        self.stop_at_eos = bool(stop_at_eos)
        self.model_key = json.dumps({"backend": "vllm", "model": model_ref, "dtype": dtype})
        path, kw = assets.hf_kwargs(model_ref)
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(path, **kw)
        self.tokenizer = tokenizer
        self.engine_kwargs = dict(
            model=os.path.join(path, kw["gguf_file"]) if kw.get("gguf_file") else path,
            tokenizer=path, dtype=dtype, max_model_len=context_size + max_new_tokens,
            tensor_parallel_size=tensor_parallel_size or 1, gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=False, seed=0,
        )
        if llm is None:
            llm = self._start()
        self.llm = llm

    def _start(self):
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise UnavailableError(
                "the vllm teacher backend needs the optional vLLM package and a CUDA GPU: "
                "pip install 'rankdistill[vllm]' (or use backend: hf)"
            ) from None
        import torch

        if not torch.cuda.is_available():
            raise UnavailableError("the vllm teacher backend needs a CUDA GPU; none is available here (use backend: hf)")
        if self.engine_kwargs["tensor_parallel_size"] == 1 and torch.cuda.device_count() > 1:
            self.engine_kwargs["tensor_parallel_size"] = torch.cuda.device_count()
        from vllm import LLM

        return LLM(**self.engine_kwargs)

    def sampling_kwargs(self, max_new_tokens: int) -> dict:
        """Greedy, fixed length unless ``stop_at_eos`` (rank_llm's min_tokens = max_tokens)."""
        return {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_new_tokens,
                "min_tokens": 0 if self.stop_at_eos else max_new_tokens, "seed": 0}

    def requests(self, prompts: Sequence[P.Prompt]) -> list[dict]:
        """Token-id prompts (tokenised exactly as the HF backend does: no double BOS)."""
        return [{"prompt_token_ids": P.encode(self.tokenizer, p.text)} for p in prompts]

    def generate(self, prompts: Sequence[P.Prompt], max_new_tokens: int) -> list[Generation]:
        from vllm import SamplingParams

        outs = self.llm.generate(self.requests(prompts), SamplingParams(**self.sampling_kwargs(max_new_tokens)),
                                 use_tqdm=False)
        return [Generation(o.outputs[0].text, len(o.outputs[0].token_ids)) for o in outs]


# ---------------------------------------------------------------- OpenAI-compatible chat endpoint


class RateLimiter:
    """At most ``per_minute`` request starts per minute, spaced evenly (thread-safe)."""

    def __init__(self, per_minute: float | None, clock=time.monotonic, sleep=time.sleep):
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIBackend(Backend):
    """POST ``{base_url}/chat/completions`` with temperature 0; retries transient failures."""

    name = "openai"

    def __init__(self, model: str, *, base_url: str = "https://api.openai.com/v1", api_key_env: str | None = "OPENAI_API_KEY",
                 max_retries: int = 6, backoff: float = 1.0, max_backoff: float = 60.0,
                 requests_per_minute: float | None = None, concurrency: int = 4, timeout: float = 120.0,
                 tokenizer=None, stop_at_eos: bool = True, sleep=time.sleep, window: int | None = None,
                 token_counter=None):
        self.model, self.base_url = model, base_url.rstrip("/")
        self.api_key = os.environ.get(api_key_env) if api_key_env else None
        self.max_retries, self.backoff, self.max_backoff = int(max_retries), float(backoff), float(max_backoff)
        self.limiter = RateLimiter(requests_per_minute, sleep=sleep)
        self.concurrency, self.timeout = max(1, int(concurrency)), float(timeout)
        self.tokenizer = tokenizer
        # no HF tokenizer: fit the messages to the context with rank_llm SafeOpenai's tiktoken counts
        if token_counter is None and tokenizer is None and window:
            from .tiktoken_count import MessageTokenCounter

            token_counter = MessageTokenCounter(model, window)
        self.token_counter = token_counter
        self.stop_at_eos = stop_at_eos  # chat APIs stop at the end of the answer; no min_tokens there
        self._sleep = sleep
        self.model_key = json.dumps({"backend": "openai", "model": model, "base_url": self.base_url})
        self.requests_made = 0
        self.retries = 0
        self._count_lock = threading.Lock()

    def body(self, prompt: P.Prompt, max_new_tokens: int) -> dict:
        return {"model": self.model, "messages": [dict(m) for m in prompt.messages], "temperature": 0,
                "max_tokens": max_new_tokens}

    def _post(self, body: dict) -> dict:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = f"{self.base_url}/chat/completions"
        last = ""
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            with self._count_lock:
                self.requests_made += 1
            retry_after = None
            try:
                req = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    return json.loads(r.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                text = e.read().decode("utf-8", "replace")[:300]
                if e.code not in _RETRY_STATUS:
                    raise RankDistillError(f"{url}: HTTP {e.code} (not retried): {text}") from None
                last = f"HTTP {e.code}: {text}"
                ra = e.headers.get("Retry-After") if e.headers else None
                try:
                    retry_after = float(ra) if ra is not None else None
                except ValueError:
                    retry_after = None
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as e:
                last = f"{type(e).__name__}: {e}"
            if attempt == self.max_retries:
                break
            with self._count_lock:
                self.retries += 1
            delay = retry_after if retry_after is not None else min(self.max_backoff, self.backoff * 2**attempt)
            delay *= 1.0 if retry_after is not None else (0.5 + random.random() / 2)  # jitter
            log.warning("%s: %s; retry %d/%d in %.1fs", url, last, attempt + 1, self.max_retries, delay)
            self._sleep(delay)
        raise UnavailableError(f"{url}: giving up after {self.max_retries + 1} attempts ({last})")

    def _one(self, prompt: P.Prompt, max_new_tokens: int) -> Generation:
        resp = self._post(self.body(prompt, max_new_tokens))
        try:
            text = resp["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise RankDistillError(f"{self.base_url}: unexpected response {str(resp)[:300]}") from None
        tokens = int((resp.get("usage") or {}).get("completion_tokens") or 0)
        return Generation(text, tokens)

    def generate(self, prompts: Sequence[P.Prompt], max_new_tokens: int) -> list[Generation]:
        if len(prompts) <= 1 or self.concurrency == 1:
            return [self._one(p, max_new_tokens) for p in prompts]
        with ThreadPoolExecutor(min(self.concurrency, len(prompts))) as ex:
            return list(ex.map(lambda p: self._one(p, max_new_tokens), prompts))


def make_backend(backend: str, model: str, *, dtype: str = "auto", device: str | None = None,
                 context_size: int = 4096, max_new_tokens: int | None = None, stop_at_eos: bool = False,
                 convert_dir: str | None = None, threads: int | None = None, openai: dict | None = None,
                 tokenizer: str | None = None, window: int = 20) -> Backend:
    """A backend from config settings (see the ``teachers`` section of the config schema)."""
    if backend == "hf":
        return HFBackend(model, dtype=dtype, device=device, convert_dir=convert_dir, threads=threads,
                         stop_at_eos=stop_at_eos)
    if backend == "vllm":
        est = max_new_tokens or 4 * window + 8
        return VLLMBackend(model, dtype=dtype, context_size=context_size, max_new_tokens=est, stop_at_eos=stop_at_eos)
    if backend == "openai":
        tok = None
        if tokenizer:
            from transformers import AutoTokenizer

            from .. import assets

            path, kw = assets.hf_kwargs(tokenizer)
            tok = AutoTokenizer.from_pretrained(path, **kw)
        return OpenAIBackend(model, tokenizer=tok, window=window, **(openai or {}))
    raise ConfigError(f"unknown teacher backend {backend!r} (choose from {', '.join(BACKENDS)})")
