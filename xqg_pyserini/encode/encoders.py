"""Dense encoders for Hugging Face checkpoints, usable alone and inside Pyserini.

One class does the work (:class:`TransformerEncoder`, with ``encode_queries`` and
``encode_passages`` that batch, show progress and return float32 arrays); two thin adapters in
:mod:`xqg_pyserini.encode.adapters` make it a Pyserini ``QueryEncoder`` (for ``FaissSearcher`` and
``HybridSearcher``) and ``DocumentEncoder``.
Presets carry the conventions of known model families so that the right settings are the default:

- ``e5``: mean pooling over the attention mask, "query: " / "passage: " prefixes, L2-normalised;
- ``dpr``: [CLS] vector, no prefixes, no normalisation, dot product (DPR/Tevatron checkpoints such
  as the paper's ielabgroup/bert-base-multilingual-cased-xor-tydi).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np

from xqg_pyserini.errors import InputError
from xqg_pyserini.models.e5 import model_family, resolve_model


@dataclass(frozen=True)
class EncoderSettings:
    pooling: str = "cls"  # "cls" or "mean" (attention-masked)
    l2_norm: bool = False
    query_prefix: str = ""
    passage_prefix: str = ""
    query_max_length: int = 64
    passage_max_length: int = 256


PRESETS: dict[str, EncoderSettings] = {
    "e5": EncoderSettings("mean", True, "query: ", "passage: ", 64, 256),
    "dpr": EncoderSettings("cls", False, "", "", 32, 128),
}


def settings_for(model: str, preset: str | None = None, **overrides) -> EncoderSettings:
    """The preset named, else the one the model's family implies, else DPR's; then overrides."""
    name = preset or model_family(model) or "dpr"
    if name not in PRESETS:
        raise InputError(None, f"unknown encoder preset {name!r}; choose from {sorted(PRESETS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("pooling") not in (None, "cls", "mean"):
        raise InputError(None, f"pooling must be 'cls' or 'mean', not {given['pooling']!r}")
    return replace(PRESETS[name], **given)


class TransformerEncoder:
    """A shared bi-encoder: the same network embeds queries and passages, only prefixes differ."""

    def __init__(self, model: str = "multilingual-e5-small", preset: str | None = None, *,
                 device: str = "cpu", batch_size: int = 32, show_progress: bool = True, **overrides):
        if batch_size < 1:
            raise InputError(None, f"batch size must be at least 1, not {batch_size}")
        self.model_name = model
        self.path = resolve_model(model)
        self.settings = settings_for(model if model_family(model) else self.path, preset, **overrides)
        from transformers import AutoModel, AutoTokenizer  # here, so that the module imports light (the CLI's defaults)

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            self.model = AutoModel.from_pretrained(self.path).to(device).eval()
        except OSError as err:  # an unknown hub id offline, or a directory that is not a checkpoint
            raise InputError(model, f"cannot load the model: {str(err).splitlines()[0]}") from None
        self.device, self.batch_size, self.show_progress = device, batch_size, show_progress

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def describe(self) -> dict:
        """What a manifest needs to tell which vectors these are."""
        return {"model": self.model_name, "path": str(self.path), "dimension": self.dimension, **asdict(self.settings)}

    def encode_queries(self, queries: Sequence[str], batch_size: int | None = None,
                       show_progress: bool | None = None) -> np.ndarray:
        s = self.settings
        texts = [s.query_prefix + q for q in queries]
        return self._encode(texts, s.query_max_length, batch_size, show_progress, "query")

    def encode_passages(self, passages: Sequence[str], titles: Sequence[str] | None = None,
                        batch_size: int | None = None, show_progress: bool | None = None) -> np.ndarray:
        """Passage input is "title text" as in the paper (DPR/Tevatron), with the family's prefix."""
        s = self.settings
        if titles is not None:
            passages = [f"{t} {p}" if t else p for t, p in zip(titles, passages)]
        texts = [s.passage_prefix + p for p in passages]
        return self._encode(texts, s.passage_max_length, batch_size, show_progress, "passage")

    def embed(self, batch: dict) -> torch.Tensor:
        """Pooled (and optionally normalised) vectors of a tokenized batch; differentiable, for training."""
        import torch

        hidden = self.model(**batch).last_hidden_state
        if self.settings.pooling == "mean":
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            vectors = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        else:
            vectors = hidden[:, 0]
        if self.settings.l2_norm:
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        return vectors

    def tokenize(self, texts: Sequence[str], max_length: int) -> dict:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                               return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items()}

    def _encode(self, texts: list[str], max_length: int, batch_size: int | None,
                show_progress: bool | None, unit: str) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        size = batch_size or self.batch_size
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Length bucketing: batches of similar length waste less compute on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        progress = self.show_progress if show_progress is None else show_progress
        bar = tqdm(total=len(texts), unit=unit, desc=f"encode {unit} texts", disable=not progress or len(texts) <= size)
        with torch.inference_mode():
            for start in range(0, len(order), size):
                idx = order[start:start + size]
                batch = self.tokenize([texts[i] for i in idx], max_length)
                out[idx] = self.embed(batch).float().cpu().numpy()
                bar.update(len(idx))
        bar.close()
        return out


def load_encoder(encoder, preset: str | None = None):
    """A model name/path becomes a TransformerEncoder; an object with ``encode_queries`` and
    ``describe`` (or a Pyserini adapter holding one as ``.encoder``) is used as is."""
    if isinstance(encoder, (str, os.PathLike)):
        return TransformerEncoder(str(encoder), preset)
    inner = getattr(encoder, "encoder", None)
    if not hasattr(encoder, "encode_queries") and hasattr(inner, "encode_queries"):
        encoder = inner
    if not (hasattr(encoder, "encode_queries") and hasattr(encoder, "describe")):
        raise TypeError(f"{type(encoder).__name__} has no encode_queries()/describe()")
    return encoder
