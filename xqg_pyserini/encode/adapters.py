"""Pyserini adapters of :class:`~xqg_pyserini.encode.encoders.TransformerEncoder`: a ``QueryEncoder``
for ``FaissSearcher`` / ``HybridSearcher`` and a ``DocumentEncoder`` for ``pyserini.encode``, plus
their registration under ``--encoder-class xqg``. Importing this module starts the JVM (Pyserini's
imports need it running first).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from xqg_pyserini._jvm import prepare_jvm

prepare_jvm()

from pyserini.encode import DocumentEncoder, QueryEncoder  # noqa: E402  (after the JVM)

from xqg_pyserini.encode.encoders import TransformerEncoder  # noqa: E402

ENCODER_CLASS = "xqg"


class XqgQueryEncoder(QueryEncoder):
    """Pyserini query encoder: ``FaissSearcher(index_dir, XqgQueryEncoder("multilingual-e5-small"))``.

    Its constructor also takes the keyword arguments Pyserini's FAISS search CLI passes
    (``encoder_dir``, ``tokenizer_name``, ``device``, ``prefix``, ``pooling``, ``l2_norm``), so it can be
    chosen there with ``--encoder-class xqg`` through ``xqg pyserini``. Embeddings are memoised by
    text, so a dense run followed by a hybrid run encodes each question once.
    """

    def __init__(self, encoder_dir: str | TransformerEncoder = "multilingual-e5-small", tokenizer_name=None,
                 device: str = "cpu", prefix: str | None = None, preset: str | None = None,
                 pooling: str | None = None, l2_norm: bool | None = None, memoize: bool = True, **_ignored):
        super().__init__()
        if isinstance(encoder_dir, TransformerEncoder):
            self.encoder = encoder_dir
        else:
            self.encoder = TransformerEncoder(encoder_dir, preset, device=device, pooling=pooling,
                                              l2_norm=l2_norm, query_prefix=prefix)
        self.has_model = True
        self._memo: dict[str, np.ndarray] | None = {} if memoize else None

    def encode(self, query: str, **_ignored) -> np.ndarray:
        return self.encode_batch([query])[0]

    def remember(self, queries: Sequence[str], vectors: np.ndarray) -> None:
        """Seed the memo with vectors computed elsewhere (e.g. cached), so searches do not re-encode."""
        if self._memo is not None:
            self._memo.update(zip(queries, np.asarray(vectors, dtype=np.float32)))

    def encode_batch(self, queries: Iterable[str]) -> np.ndarray:
        queries = list(queries)
        if self._memo is None:
            return self.encoder.encode_queries(queries)
        todo = list(dict.fromkeys(q for q in queries if q not in self._memo))
        if todo:
            self._memo.update(zip(todo, self.encoder.encode_queries(todo)))
        return np.stack([self._memo[q] for q in queries]) if queries else np.zeros((0, self.encoder.dimension), np.float32)


class XqgDocumentEncoder(DocumentEncoder):
    """Pyserini document encoder (``encode(texts, titles=None)``) over the same network."""

    def __init__(self, model_name: str | TransformerEncoder = "multilingual-e5-small", tokenizer_name=None,
                 device: str = "cpu", prefix: str | None = None, preset: str | None = None,
                 pooling: str | None = None, l2_norm: bool | None = None, **_ignored):
        if isinstance(model_name, TransformerEncoder):
            self.encoder = model_name
        else:
            self.encoder = TransformerEncoder(model_name, preset, device=device, pooling=pooling,
                                              l2_norm=l2_norm, passage_prefix=prefix)

    def encode(self, texts: Sequence[str], titles: Sequence[str] | None = None, **_ignored) -> np.ndarray:
        return self.encoder.encode_passages(list(texts), list(titles) if titles else None, show_progress=False)


def register_encoders() -> None:
    """Put our classes into Pyserini's encoder maps under ``xqg``."""
    import pyserini.encode as encode

    encode.query_encoder_class_map[ENCODER_CLASS] = XqgQueryEncoder
    encode.document_encoder_class_map[ENCODER_CLASS] = XqgDocumentEncoder
