"""Shared fixtures: a tiny BERT built from a config (seconds, no download) and a small real corpus."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import xqg_pyserini  # noqa: F401  (JVM first)




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
