"""Stage 3b, encode: dense vectors for passages and queries.

``encoders`` (:class:`TransformerEncoder`: any Hugging Face checkpoint with its family's pooling,
prefixes and normalisation), ``adapters`` (Pyserini ``QueryEncoder`` / ``DocumentEncoder`` around it;
importing them starts the JVM) and ``queries`` (generated queries embedded once per (file, encoder)
into a mapped ``.npy`` cache). Nothing heavy at import: torch loads with ``encoders``.
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".encoders": "EncoderSettings PRESETS TransformerEncoder load_encoder settings_for",
    ".adapters": "ENCODER_CLASS XqgDocumentEncoder XqgQueryEncoder register_encoders",
    ".queries": "QueryEmbeddings QueryKeys embed_queries",
})
