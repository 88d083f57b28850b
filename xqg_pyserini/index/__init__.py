"""Stage 4, index: indexes in Pyserini's own layouts.

``lucene`` (BM25 through Anserini; the JVM starts when one is built), ``faiss`` (flat inner-product
indexes: built with an encoder, or read and written block by block by their file layout),
``augment`` (xQG: generated-query embeddings fused into a flat index) and ``expand`` (its sparse
twin, doc2query: passages expanded with their generated queries, for BM25). ``ensure_*`` reuse an
index whose manifest says it was built from the same corpus (and encoder).
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".lucene": "build_bm25_index ensure_bm25 read_manifest",
    ".faiss": "FlatIndex build_faiss_index ensure_faiss write_faiss_index write_flat_index",
    ".augment": "AugmentationPlan FUSIONS MIXTURE Mixture augment_index augment_per_language check_options "
                "check_selection fuse_block mix_block",
    ".expand": "expand_corpus",
})
