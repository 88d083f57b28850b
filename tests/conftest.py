"""Shared fixtures: a tiny BERT built from a config (seconds, no download) and a small real corpus."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from xqg_pyserini._jvm import prepare_jvm

prepare_jvm()  # tests import pyserini directly: the JVM must run first




def build_tiny_bert(out: Path, texts: list[str], hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A BertModel with a WordPiece tokenizer trained on ``texts``: a stand-in for a real checkpoint."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=128)
    out.mkdir(parents=True, exist_ok=True)
    BertModel(config).eval().save_pretrained(out)
    fast.save_pretrained(out)
    return out


SAMPLE_PASSAGES = [
    ("Paris_0", "Paris", "Paris is the capital of France and its largest city, on the river Seine."),
    ("Nile_0", "Nile", "The Nile is a major river in north-eastern Africa flowing into the Mediterranean Sea."),
    ("Jupiter_0", "Jupiter", "Jupiter is the fifth planet from the Sun and the largest in the Solar System."),
    ("Piano_0", "Piano", "The piano is a keyboard instrument in which hammers strike strings."),
]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    texts = [f"{t} {x}" for _, t, x in SAMPLE_PASSAGES] * 3 + ["query: passage: what is where who when"]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), texts)


@pytest.fixture()
def sample_corpus(tmp_path) -> Path:
    """A JsonCollection directory with four short English passages."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with open(corpus / "docs.jsonl", "w", encoding="utf-8") as f:
        for docid, title, text in SAMPLE_PASSAGES:
            f.write(json.dumps({"id": docid, "contents": f"{title} {text}", "title": title, "text": text}) + "\n")
    return corpus


# ----------------------------------------------------------------------------- tiny generators (test_generation*)

GEN_TEXTS = [f"{t} {x}" for _, t, x in SAMPLE_PASSAGES] + [
    "Generate a German question for this passage: Question: Wann wurde die Stadt gegründet? Was ist das?",
    "Generate a Russian question for this passage: Что такое река? Где находится город?",
    "Generate a Chinese question for this passage: 巴黎是法国的首都吗？河流在哪里？",
    "Generate a Spanish question for this passage: ¿Cuál es la capital de Francia? ¿Dónde está el río?",
    "Generate a Arabic Greek Hindi Thai Turkish Vietnamese Romanian question: ما هو النهر؟ Ποιος είναι; क्या है? อะไร Nedir? Là gì? Ce este?",
]


def build_tiny_tokenizer(texts: list[str], template: str):
    """A byte-level BPE tokenizer trained on ``texts`` in well under a second.

    ``template`` says which special tokens frame a sequence: "<bos> $A" for a causal LM,
    "$A </s>" for a T5-style encoder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<bos>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts * 3, trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    ids = {s: tok.token_to_id(s) for s in specials}
    used = [s for s in specials if s in template]
    tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[(s, ids[s]) for s in used])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", bos_token="<bos>",
                                   unk_token="<unk>", model_max_length=512)


def build_tiny_causal(out: Path, seed: int = 0) -> Path:
    """A 2-layer Gemma 3 text model (hidden 32) and its tokenizer, saved as a checkpoint."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tok = build_tiny_tokenizer(GEN_TEXTS, "<bos> $A")
    config = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024,
                              pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                              sliding_window=64)
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    Gemma3ForCausalLM(config).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_tiny_seq2seq(out: Path, seed: int = 0) -> Path:
    """A 2-layer mT5 (d_model 32) and its tokenizer, saved as a checkpoint."""
    import torch
    from transformers import MT5Config, MT5ForConditionalGeneration

    tok = build_tiny_tokenizer(GEN_TEXTS, "$A </s>")
    config = MT5Config(vocab_size=len(tok), d_model=32, d_ff=64, d_kv=16, num_layers=2, num_decoder_layers=2,
                       num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                       decoder_start_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    MT5ForConditionalGeneration(config).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory) -> Path:
    return build_tiny_causal(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory) -> Path:
    return build_tiny_seq2seq(tmp_path_factory.mktemp("tiny-mt5"))


@pytest.fixture(autouse=True)
def _float32_machine(monkeypatch):
    """Unit tests see the same CPU everywhere: one without bf16 units, so ``--dtype auto`` is float32
    (the dtype whose output does not depend on the batch). Tests of the dtype choice pass flags."""
    monkeypatch.setattr("xqg_pyserini.models.cpu.cpu_flags", lambda: {"avx2", "fma"})
