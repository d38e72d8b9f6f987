"""Write tiny cross-encoders with lightning-ir's OWN code, and the scores lightning-ir gives them.

Used by ``tests/test_lightning_ir_fixture.py``: our ``rankdistill.students.model.CrossEncoder.load`` must read
these folders and score every pair exactly as lightning-ir does. Nothing here is hand-written in
"lightning-ir's layout": the folders are what ``lightning_ir.CrossEncoderModule.save_pretrained``
writes, and the scores are what ``CrossEncoderModule.score`` (the call a lightning-ir user
re-ranks with) returns after loading the folder back with ``CrossEncoderModule(model_name_or_path=...)``.

Run it in a side venv, NOT the project venv (lightning-ir 0.0.6 needs transformers 4.x; the project
uses 5.x)::

    python3 -m venv /tmp/lirvenv
    /tmp/lirvenv/bin/pip install torch==2.13.0            # the local CPU wheel, first
    echo "torch==2.13.0" > /tmp/lir-constraints.txt
    /tmp/lirvenv/bin/pip install -c /tmp/lir-constraints.txt lightning-ir==0.0.6 'transformers<5'
    /tmp/lirvenv/bin/python tests/data/lightning_ir/make_fixture.py   # rewrites tests/data/lightning_ir/

Generated with: lightning-ir 0.0.6, transformers 4.57.6, tokenizers 0.22.2, torch 2.13.0+cpu
(the versions used are also recorded in scores.json).

Four models (random weights, fixed seeds, hidden size 32, 2 layers, a WordPiece vocabulary of
~200 built here from a few sentences, so every folder stays ~100-150 kB):

* ``electra``: monoELECTRA's setup (``MonoConfig()`` defaults: rank scoring, first-token pooling,
  linear head without bias), ``query_length=8``, ``doc_length=24``; ``embedding_size`` (16) differs
  from ``hidden_size`` (32), so ELECTRA's ``embeddings_project`` is part of the weights; the
  tokenizer cleans up tokenization spaces when decoding (BERT/ELECTRA tokenizers' default).
* ``electra_pairlimit``: mean pooling, a linear head *with* bias, ``query_length=8``,
  ``doc_length=48`` and a tokenizer ``model_max_length`` of 40, so long pairs are additionally cut
  by the tokenizer's own ``longest_first`` pair truncation (as monoelectra's 32 + 512 > 512 does).
* ``bert``: BERT backbone, a biased head and ``scoring_strategy="mono"`` (two logits,
  log-softmax of the second).
* ``bert_pool``: BERT backbone with ``pooling_strategy="bert_pool"`` (lightning-ir's own dense +
  tanh after the first token; saved as ``pooling_strategy="first"`` + ``"_bert_pool": true``).
  lightning-ir 0.0.6 cannot load this folder back itself (see ``main``); its scores are those of
  the model that wrote it.

The texts include queries/passages longer than the limits (cuts inside words split into several
word pieces), a batch of very different lengths (padding), upper case, accents, punctuation and a
symbol outside the vocabulary; the script asserts that the per-side limits and, for
``electra_pairlimit``, the pair limit actually cut some inputs. It also counts the truncated texts
whose truncate → decode → re-encode ids (lightning-ir) differ from the cut ids (a shortcut a
re-implementation may take): greedy WordPiece is prefix-stable, so with these tokenizers the count
is 0 (``resegmented_texts`` in scores.json).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

TRAIN_TEXT = [
    "the quick brown fox jumps over the lazy dog",
    "information retrieval ranks documents for a query by estimated relevance",
    "a cross encoder reads the query and the passage together and outputs one score",
    "neural re-rankers distill the ranking of a large language model into a small student",
    "the capital of france is paris and the capital of germany is berlin",
    "photosynthesis converts light energy into chemical energy in plants",
    "the ranking loss compares pairs of passages with different teacher ranks",
    "what is the boiling point of water at sea level? it is 100 degrees celsius.",
    "electra is pre-trained as a discriminator that detects replaced tokens",
    "bm25 is a strong lexical baseline for first stage retrieval",
    "how many people live in new york city? about eight million people.",
    "the transformer architecture uses self attention over all tokens of the sequence",
]

QUERIES = [
    "what is the capital of france",
    # longer than query_length=8 tokens; the cut at 8 falls inside a word split into pieces
    "how do unbelievably overparameterised transformer rerankers distil listwise teachers",
    "boiling point of water",
    "Photosynthesis?",
]
DOCS = [
    [
        "Paris is the capital of France.",
        "Berlin is the capital of Germany, and Paris is the capital of France; both are large cities with "
        "many museums, universities, theatres, rivers, bridges, parks and a long, complicated history.",
        "the quick brown fox",
        "capital",
    ],
    [
        "Neural re-rankers distill the ranking of a large language model into a small student model.",
        "A cross-encoder reads the query and the passage together; overparameterisation helps distillation "
        "of listwise teachers into pointwise students, which rerank candidates from bm25 or dense retrieval "
        "quickly and robustly across domains.",
        "transformers",
        "The ranking loss compares pairs of passages with different teacher ranks (RankNet).",
        "Unbelievably, the lazy dog did not jump.",
        "ELECTRA is pre-trained as a discriminator that detects replaced tokens.",
    ],
    [
        "What is the boiling point of water at sea level? It is 100 degrees Celsius.",
        "Water boils at 100 °C (212 °F) at sea level, and at lower temperatures at higher altitudes because "
        "the atmospheric pressure is lower there; mountaineers therefore need longer to cook pasta and eggs.",
        "How many people live in New York City? About eight million people.",
        "point",
        "sea level",
    ],
    [
        "Photosynthesis converts light energy into chemical energy in plants.",
        "plants",
        "Chlorophyllous photoautotrophs photosynthesise: they convert light energy into chemical energy, "
        "releasing oxygen as a by-product of splitting water molecules in their chloroplasts.",
        "The transformer architecture uses self attention over all tokens of the sequence.",
        "energy energy energy energy energy energy energy energy energy energy energy energy energy energy",
    ],
]

MODELS = {
    "electra": dict(
        backbone="electra", seed=1, embedding_size=16, model_max_length=512, clean_up_tokenization_spaces=True,
        mono=dict(query_length=8, doc_length=24),  # MonoConfig defaults otherwise: rank, first, no bias
    ),
    "electra_pairlimit": dict(
        backbone="electra", seed=2, embedding_size=32, model_max_length=40,
        mono=dict(query_length=8, doc_length=48, pooling_strategy="mean", linear_bias=True),
    ),
    "bert": dict(
        backbone="bert", seed=3, model_max_length=512,
        mono=dict(query_length=8, doc_length=24, linear_bias=True, scoring_strategy="mono"),
    ),
    "bert_pool": dict(
        backbone="bert", seed=4, model_max_length=512,
        mono=dict(query_length=8, doc_length=24, pooling_strategy="bert_pool"),
    ),
}


AFFIXES = ["un", "re", "over", "photo", "chloro", "auto", "##s", "##es", "##ed", "##ing", "##ly", "##er", "##ers",
           "##able", "##ation", "##ise", "##ised", "##ize", "##param", "##eter", "##eris", "##synth", "##esis", "##phyll",
           "##ous", "##troph", "##believ", "##list", "##wise", "##rank", "##til", "##ment", "##ity"]


def _wordpiece_vocab() -> dict[str, int]:
    """A small, deterministic WordPiece vocabulary (the tokenizers trainer breaks ties differently per run):
    special tokens, every character of the training text alone and as ``##`` piece, its whole words, and
    common affixes, so unseen words split into several pieces."""
    from tokenizers import normalizers, pre_tokenizers

    norm, pre = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = sorted({w for t in TRAIN_TEXT for w, _ in pre.pre_tokenize_str(norm.normalize_str(t))})
    chars = sorted({c for w in words for c in w})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars if c.isalnum()]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens + words + AFFIXES))}


def _train_wordpiece():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordPiece(_wordpiece_vocab(), unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def _backbone_folder(name: str, spec: dict, raw_tok, folder: Path) -> None:
    """A random-weight backbone checkpoint with its tokenizer (what a user would pass as the backbone)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast, ElectraConfig, ElectraModel, ElectraTokenizerFast

    common = dict(vocab_size=raw_tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=64, initializer_range=0.2)
    torch.manual_seed(spec["seed"])
    if spec["backbone"] == "electra":
        cfg, Model, Tok = ElectraConfig(embedding_size=spec["embedding_size"], **common), ElectraModel, ElectraTokenizerFast
    else:
        cfg, Model, Tok = BertConfig(**common), BertModel, BertTokenizerFast
    Model(cfg).save_pretrained(str(folder))
    hf_tok = Tok(tokenizer_object=raw_tok.__class__.from_str(raw_tok.to_str()), unk_token="[UNK]", sep_token="[SEP]",
                 pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=spec["model_max_length"],
                 clean_up_tokenization_spaces=spec.get("clean_up_tokenization_spaces", False))
    hf_tok.save_pretrained(str(folder))


def main(out: Path = HERE) -> None:
    import lightning_ir
    import tokenizers
    import transformers
    from lightning_ir import CrossEncoderModule
    from lightning_ir.models import MonoConfig

    raw_tok = _train_wordpiece()
    results: dict = {
        "versions": {"lightning_ir": lightning_ir.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "torch": torch.__version__},
        "queries": QUERIES,
        "docs": DOCS,
        "models": {},
    }
    resegmented = 0
    cut_by_side = cut_by_pair = 0
    for name, spec in MODELS.items():
        target = out / name
        with tempfile.TemporaryDirectory() as tmp:
            backbone = Path(tmp) / "backbone"
            _backbone_folder(name, spec, raw_tok, backbone)
            torch.manual_seed(spec["seed"] + 100)  # the new head (linear, bert_pool) is drawn here
            module = CrossEncoderModule(model_name_or_path=str(backbone), config=MonoConfig(**spec["mono"]))
            if target.exists():
                shutil.rmtree(target)
            module.save_pretrained(str(target))
        fresh = module.eval().score(QUERIES, DOCS).scores
        # what a lightning-ir user does with a released checkpoint: load the folder, score
        loaded = CrossEncoderModule(model_name_or_path=str(target)).eval()
        assert type(loaded.model).__name__ == type(module.model).__name__, (type(loaded.model), type(module.model))
        reloaded = loaded.score(QUERIES, DOCS).scores
        # lightning-ir 0.0.6 + transformers 4.57 cannot reload a BERT model with bert_pool: transformers sees the
        # key "bert_pool.*" start with the base-model prefix "bert", takes the file for a task model's and drops
        # every backbone key (random weights, no error). The folder itself is right: the scores of record are
        # those of the model that wrote it.
        reload_ok = torch.equal(reloaded, fresh)
        assert reload_ok or name == "bert_pool", f"{name}: lightning-ir does not reload its own folder identically"
        # the exact input lightning-ir built (its tokenizer, its truncation), unpadded, per pair
        num_docs = [len(d) for d in DOCS]
        flat_docs = [d for ds in DOCS for d in ds]
        enc = loaded.prepare_input(QUERIES, flat_docs, num_docs)["encoding"]
        ids = [row[m.bool()].tolist() for row, m in zip(enc["input_ids"], enc["attention_mask"])]
        types = ([row[m.bool()].tolist() for row, m in zip(enc["token_type_ids"], enc["attention_mask"])]
                 if "token_type_ids" in enc else None)
        qlen, dlen = spec["mono"]["query_length"], spec["mono"]["doc_length"]
        resegmented += _count_resegmented(loaded.tokenizer, qlen, dlen)
        full = [len(x) for x in loaded.tokenizer(flat_queries(num_docs), flat_docs).input_ids]
        cut_by_side += sum(len(i) < n for i, n in zip(ids, full))
        cut_by_pair += sum(len(i) == loaded.tokenizer.model_max_length for i in ids)
        results["models"][name] = {
            "class": type(loaded.model).__name__,
            "config": {k: getattr(loaded.config, k, None) for k in
                       ("query_length", "doc_length", "pooling_strategy", "linear_bias", "scoring_strategy", "_bert_pool")},
            "model_max_length": loaded.tokenizer.model_max_length,
            "scores": fresh.tolist(),
            "lightning_ir_reloads_identically": reload_ok,
            "input_ids": ids,
            "token_type_ids": types,
        }
        print(f"{name}: {type(loaded.model).__name__}, reload ok {reload_ok}, scores {[round(s, 4) for s in fresh.tolist()]}")
    assert cut_by_side > 0 and cut_by_pair > 0, (cut_by_side, cut_by_pair)
    results["resegmented_texts"] = resegmented
    with open(out / "scores.json", "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{cut_by_side} pairs cut, {cut_by_pair} by the pair limit; {resegmented} truncated texts re-segment "
          f"differently after decode; wrote {out}")


def flat_queries(num_docs: list[int]) -> list[str]:
    return [q for q, n in zip(QUERIES, num_docs) for _ in range(n)]


def _count_resegmented(tok, qlen: int, dlen: int) -> int:
    """Texts whose truncate → decode → encode ids differ from the truncated ids (what lightning-ir's decode changes)."""
    n = 0
    for texts, limit in ((QUERIES, qlen), ([d for ds in DOCS for d in ds], dlen)):
        for t in texts:
            cut = tok(t, add_special_tokens=False, truncation=True, max_length=limit).input_ids
            again = tok(tok.decode(cut), add_special_tokens=False).input_ids
            n += cut != again
    return n


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
