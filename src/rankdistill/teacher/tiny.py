"""Offline test/benchmark models: a chat tokenizer trained on the spot and a Llama built from a config.

No download: the tokenizer is a byte-level BPE trained (in well under a second) on the prompt
text it will see, with a Zephyr-style chat template; the model is a randomly initialised
``LlamaForCausalLM`` of any size (``layers``, ``hidden``). Its rankings are noise, but every
mechanism (chat templates, left padding, batching, caching, repair) runs for real; the
benchmark scales it up to 7B-like shapes on a GPU.
"""

from __future__ import annotations

from typing import Iterable

from . import prompts as P

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]


def _default_corpus() -> list[str]:
    words = ("the of and to in is for on that by with as are from was at this be passage query relevance "
             "rank search ranking identifier numerical intelligent assistant provide passages above output "
             "format included listed descending order answer concisely directly respond results explain").split()
    texts = [P.RANKZEPHYR_SYSTEM, P.RANKZEPHYR_PREFIX, P.RANKZEPHYR_SUFFIX, P.RANKGPT_SYSTEM,
             P.RANKGPT_PREFIX_USER, P.RANKGPT_SUFFIX_USER, P.expected_output(40)]
    texts += [" ".join(words[(i * 7 + j) % len(words)] for j in range(30)) for i in range(50)]
    return texts


def build_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 400):
    """A ``PreTrainedTokenizerFast`` (byte-level BPE, BOS/EOS/PAD, chat template) trained on ``corpus``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(corpus) if corpus is not None else _default_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer, layers: int = 2, hidden: int = 64, heads: int | None = None, seed: int = 0,
                init_range: float = 0.2, dtype=None, device: str = "cpu", max_positions: int = 8192,
                favour_ids: float = 4.0):
    """A randomly initialised ``LlamaForCausalLM`` (``layers`` x ``hidden``) for ``tokenizer``.

    ``favour_ids`` scales the output-embedding rows of the tokens of ``"[1] > [2] > ..."``, so the
    random model emits digit-rich, prompt-dependent garbage (which exercises parsing and repair)
    rather than mostly unusable text.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    heads = heads or max(1, hidden // 64)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 8 // 3 // 8 * 8 or 8,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=max_positions, initializer_range=init_range,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    if favour_ids and favour_ids != 1.0:
        ids = sorted(set(tokenizer.encode(P.expected_output(20), add_special_tokens=False)))
        with torch.no_grad():
            model.lm_head.weight[ids] *= favour_ids
    if dtype is not None:
        model = model.to(dtype)
    return model.to(device).eval()
