"""A trimmed output vocabulary for the generator: the output layer restricted to the token ids the
target languages need.

gemma-3-270m ties a 262,144 x 640 output layer: over 60% of a decode step's FLOPs, although
XQuAD's passages and questions use about 35k ids. The kept set is built from the training
questions and passages, plus every single-character token of each target language's script (so a
word never seen in training can still be spelled) plus the byte-fallback and special tokens. The
same ids serve training (softmax over the kept ids) and generation (sampling among them), and are
stored beside the adapter. Restricting the layer changes nothing for the kept ids' logits: it is a
row slice of the same matrix (tested).
"""
from __future__ import annotations

import copy
import json
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

import torch

from xqg_pyserini.data.io import InputError, atomic_file

VOCAB_FILE = "vocab.json"
# Unicode script names (first word of a character's name) each language is written in; Latin-script
# languages need their letters with diacritics, which are "LATIN".
_SCRIPTS = {"ar": {"ARABIC"}, "bn": {"BENGALI"}, "el": {"GREEK"}, "hi": {"DEVANAGARI"}, "ja": {"CJK", "HIRAGANA", "KATAKANA"},
            "ko": {"HANGUL"}, "ru": {"CYRILLIC"}, "te": {"TELUGU"}, "th": {"THAI"}, "zh": {"CJK"},
            "zh_cn": {"CJK"}, "zh_hk": {"CJK"}, "zh_tw": {"CJK"}, "he": {"HEBREW"}, "km": {"KHMER"}}


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else ""


def script_token_ids(tokenizer, languages: Sequence[str]) -> set[int]:
    """Ids a target language may need beyond the training text: every token written wholly in a
    non-Latin target script (on XQuAD TEST this lifts the token coverage of ar/hi/ru/zh questions
    from 80-92% to over 99%), every single-character token that is ASCII, Latin (de/es/ro/tr/vi need
    diacritics), a digit or punctuation, and the byte-fallback tokens like ``<0xE3>``; so any word
    can still be spelled."""
    scripts: set[str] = set()
    for lang in languages:
        scripts |= _SCRIPTS.get(lang, set())
    keep = set()
    for token, idx in tokenizer.get_vocab().items():
        if token.startswith("<0x") and token.endswith(">") and len(token) == 6:
            keep.add(idx)
            continue
        text = token.replace("\u2581", "")
        if not text:
            continue
        if scripts and all(_script(ch) in scripts for ch in text):
            keep.add(idx)
        elif len(text) == 1 and (text.isascii() or _script(text) == "LATIN" or unicodedata.category(text)[0] in "NPSZ"):
            keep.add(idx)
    return keep


def is_latin_script(lang: str) -> bool:
    """Whether ``lang`` is written in the Latin script (every language without a script of its own above)."""
    return lang.lower() not in _SCRIPTS


def token_texts(tokenizer) -> list[str]:
    """Each id's text as the tokenizer writes it (a SentencePiece ``\u2581`` is a space, a byte-level
    BPE's mapped bytes are the characters they stand for; a lone byte of a longer character is U+FFFD),
    without surrounding spaces: what the script of a token is read from."""
    return [t.strip() for t in tokenizer.batch_decode([[i] for i in range(len(tokenizer))])]


def latin_token_ids(tokenizer, texts: Sequence[str] | None = None) -> set[int]:
    """Every token written wholly in Latin letters (about 152k of gemma-3's 262k)."""
    texts = token_texts(tokenizer) if texts is None else texts
    return {i for i, text in enumerate(texts) if text and all(_script(ch) == "LATIN" for ch in text)}


def language_token_ids(tokenizer, stored: Sequence[int], lang: str, texts: Sequence[str] | None = None) -> list[int]:
    """The ids a row of ``lang`` samples from with ``--vocabulary language``: the stored ids less
    the tokens written wholly in another target script (an Arabic question needs no Thai or Chinese
    token), and for a Latin-script language every Latin-script token as well. The stored vocabulary
    keeps each non-Latin target script whole but of the Latin script only the training text's words:
    82% of German TEST questions' tokens (benchmarks/vocabulary_coverage.py). ``texts``: the
    tokenizer's :func:`token_texts`, when the caller has them."""
    texts = token_texts(tokenizer) if texts is None else texts
    own = _SCRIPTS.get(lang.lower(), set())
    other = set().union(*_SCRIPTS.values()) - own
    ids = {i for i in stored if not (i < len(texts) and texts[i] and all(_script(ch) in other for ch in texts[i]))}
    if not own:
        ids |= latin_token_ids(tokenizer, texts)
    return sorted(ids)


def script_key(lang: str) -> tuple[str, ...]:
    """Languages written in the same script(s) share a per-language head."""
    return tuple(sorted(_SCRIPTS.get(lang.lower(), {"LATIN"})))


def build_vocabulary(tokenizer, texts: Iterable[str], languages: Sequence[str]) -> list[int]:
    """Sorted kept ids: every id the tokenizer produces for ``texts`` (as passages and as
    questions are tokenized: with and without a leading space), the script tokens of
    ``languages``, and the special tokens."""
    keep = set(script_token_ids(tokenizer, languages))
    keep |= {int(i) for i in tokenizer.all_special_ids}
    batch: list[str] = []
    for text in texts:
        batch += [text, " " + text]
        if len(batch) >= 2048:
            keep |= {i for ids in tokenizer(batch, add_special_tokens=False)["input_ids"] for i in ids}
            batch = []
    if batch:
        keep |= {i for ids in tokenizer(batch, add_special_tokens=False)["input_ids"] for i in ids}
    return sorted(keep)


def coverage(tokenizer, ids: Sequence[int], texts: Sequence[str]) -> dict:
    """Share of the tokens of ``texts`` (as targets: leading space) that are kept, and share of
    texts whose every token is kept (a question the trimmed head can write exactly)."""
    kept = set(ids)
    total = hit = whole = 0
    for row in tokenizer([" " + t for t in texts], add_special_tokens=False)["input_ids"]:
        inside = sum(1 for i in row if i in kept)
        total, hit, whole = total + len(row), hit + inside, whole + (inside == len(row))
    return {"tokens": total, "token_coverage": hit / max(total, 1), "texts": len(texts),
            "text_coverage": whole / max(len(texts), 1)}


def save_vocabulary(directory: str | Path, ids: Sequence[int], info: dict | None = None) -> Path:
    """``vocab.json`` beside the adapter: the kept ids on one line (about 0.5 MB for 79k ids)."""
    path = Path(directory) / VOCAB_FILE
    with atomic_file(path) as handle:
        json.dump({**(info or {}), "count": len(ids), "ids": [int(i) for i in ids]}, handle, separators=(",", ":"))
        handle.write("\n")
    return path


def load_vocabulary(directory: str | Path, vocab_size: int) -> list[int] | None:
    """Kept ids stored beside a generator, or None when it has none (full vocabulary)."""
    path = Path(directory) / VOCAB_FILE
    if not path.exists():
        return None
    try:
        ids = [int(i) for i in json.loads(path.read_text(encoding="utf-8"))["ids"]]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(path, f"not a vocabulary file: {err}") from None
    if not ids or min(ids) < 0 or max(ids) >= vocab_size or ids != sorted(set(ids)):
        raise InputError(path, f"ids must be sorted, unique and within the model's {vocab_size} tokens")
    return ids


class OutputHead:
    """The model's output layer, optionally restricted to ``ids``: ``logits(hidden)`` has one
    column per kept id (in ``ids`` order), ``to_full``/``to_kept`` map between id spaces.

    The weight is a detached row slice of the (frozen, tied) output matrix, so gradients reach the
    hidden states but never the embedding; kept ids keep exactly their logits. Gemma's final logit
    soft-capping is applied when set. ``quantize`` stores the slice as dynamic int8 (a decode step
    reads the whole slice, and on these CPUs that read, not the arithmetic, is what costs).
    ``extended(ids)`` appends a few more ids (a batch's passage tokens) without copying the slice.
    """

    def __init__(self, model, ids: Sequence[int] | None = None, quantize: bool = False):
        lm_head = model.get_output_embeddings()
        self._full = lm_head.weight.detach()
        self._full_bias = lm_head.bias.detach() if getattr(lm_head, "bias", None) is not None else None
        self.vocab_size = self._full.shape[0]
        self.softcap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)
        self.ids = None if ids is None else torch.as_tensor(list(ids), dtype=torch.long)
        self.weight = self._full if self.ids is None else self._full.index_select(0, self.ids).contiguous()
        self.bias = None if self._full_bias is None or self.ids is None else self._full_bias.index_select(0, self.ids)
        if self.ids is None:
            self.bias = self._full_bias
        self._quantized = _int8_linear(self.weight) if quantize else None
        self._extra: torch.Tensor | None = None  # rows appended by extended()
        self._shared: dict = {}  # the weight in oneDNN's layout ("packed"), made on first inference use
        self._index()

    def _index(self) -> None:
        if self.ids is not None:
            self._position = torch.full((self.vocab_size,), -1, dtype=torch.long)
            self._position[self.ids] = torch.arange(len(self.ids))

    def extended(self, extra_ids) -> "OutputHead":
        """This head plus ``extra_ids`` not yet kept (appended at the end, in float32)."""
        if self.ids is None:
            return self
        extra = sorted({int(i) for i in extra_ids if self._position[int(i)] < 0})
        if not extra:
            return self
        head = copy.copy(self)
        add = torch.tensor(extra, dtype=torch.long)
        head._extra = add if self._extra is None else torch.cat([self._extra, add])
        head._extra_weight = self._full.index_select(0, head._extra)  # once per batch, not per step
        head.ids = torch.cat([self.ids, add])
        head._index()
        return head

    @property
    def size(self) -> int:
        return self.vocab_size if self.ids is None else len(self.ids)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        if self._quantized is not None:
            out = self._quantized(hidden.float()).to(hidden.dtype)
        elif hidden.dtype == torch.float32 and hidden.dim() == 2 and not torch.is_grad_enabled() \
                and torch.backends.mkldnn.is_available():
            # oneDNN's packed weight: about 1.5-2x MKL's sgemm for this tall, thin product (262k or 79k x
            # 640); the reordered-weight op takes and returns dense tensors (converting a 110 x 79k output
            # back from oneDNN's layout cost another 40 ms per step on the AVX2 EPYC)
            if "packed" not in self._shared:  # heads made by extended() share it
                self._shared["packed"] = torch.ops.mkldnn._reorder_linear_weight(self.weight, 128)
            out = torch.ops.mkldnn._linear_pointwise(hidden.contiguous(), self._shared["packed"], None, "none", [], "")
        else:
            out = F.linear(hidden, self.weight.to(hidden.dtype))
        if self._extra is not None:
            out = torch.cat([out, F.linear(hidden, self._extra_weight.to(hidden.dtype))], dim=-1)
        if self._full_bias is not None:
            out = out + (self._full_bias if self.ids is None else self._full_bias.index_select(0, self.ids)).to(out.dtype)
        if self.softcap:
            out = torch.tanh(out / self.softcap) * self.softcap
        return out

    def logits_at(self, hidden: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        """Logits of ``hidden`` (B, d) at kept positions ``kept`` (B, k) only: (B, k)."""
        full = self.to_full(kept)
        out = torch.einsum("bd,bkd->bk", hidden, self._full[full].to(hidden.dtype))
        if self._full_bias is not None:
            out = out + self._full_bias[full].to(out.dtype)
        if self.softcap:
            out = torch.tanh(out / self.softcap) * self.softcap
        return out

    def to_kept(self, full_ids: torch.Tensor) -> torch.Tensor:
        """Positions of full-vocabulary ids among the kept ones (-1 where not kept)."""
        return full_ids if self.ids is None else self._position[full_ids]

    def to_full(self, kept: torch.Tensor) -> torch.Tensor:
        return kept if self.ids is None else self.ids[kept]


def _int8_linear(weight: torch.Tensor):
    """A dynamic-int8 linear layer (fbgemm) computing ``x @ weight.T``."""
    import warnings

    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.quantization import default_dynamic_qconfig

    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    layer.weight = torch.nn.Parameter(weight.float(), requires_grad=False)
    layer.qconfig = default_dynamic_qconfig
    with warnings.catch_warnings():  # torch deprecates quantized tensors; the kernels still run
        warnings.simplefilter("ignore")
        return DynamicLinear.from_float(layer)


class LanguageHeads:
    """The heads rows sample from: the one ``shared`` head (the stored ids, or all with no ``vocab``),
    or with ``per_language`` one per script (:func:`language_token_ids`), made on first use."""

    def __init__(self, model, tokenizer, vocab: Sequence[int] | None, quantize: bool = False,
                 per_language: bool = False):
        self.model, self.tokenizer, self.vocab, self.quantize = model, tokenizer, vocab, quantize
        self.shared = OutputHead(model, vocab, quantize=quantize)
        self.per_language = per_language and vocab is not None
        self._by_script: dict[tuple[str, ...], OutputHead] = {}
        self._texts: list[str] | None = None

    def base(self, lang: str) -> OutputHead:
        """The head a row of ``lang`` samples from (before its passage's tokens are added)."""
        if not self.per_language:
            return self.shared
        key = script_key(lang)
        if key not in self._by_script:
            if self._texts is None:
                self._texts = token_texts(self.tokenizer)
            ids = language_token_ids(self.tokenizer, self.vocab, lang, self._texts)
            self._by_script[key] = OutputHead(self.model, ids, quantize=self.quantize)
        return self._by_script[key]
