"""Stage 4, index: indexes in Pyserini's own layouts.

``lucene`` (BM25 through Anserini; the JVM starts when one is built), ``faiss`` (flat inner-product
indexes: built with an encoder, or read and written block by block by their file layout),
``augment`` (xQG: generated-query embeddings fused into a flat index; the output of any FAISS kind),
``augment_parts`` (the same, part by part, for indexes and queries made in parts), ``factory`` (any FAISS index from a stream of vector blocks, in bounded memory), ``encoded`` (a corpus
encoded in parts, on Ray or here, and indexes from precomputed embeddings) and ``expand`` (the
sparse twin of ``augment``, doc2query: passages expanded with their generated queries, for BM25). ``ensure_*`` reuse an
index whose manifest says it was built from the same corpus (and encoder).
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".lucene": "build_bm25_index ensure_bm25 read_manifest",
    ".faiss": "FlatIndex build_faiss_index check_model docid_rows ensure_faiss write_faiss_index write_flat_index",
    ".augment": "AugmentationPlan FUSIONS MIXTURE Mixture augment_index augment_per_language "
                "check_options check_selection fuse_block mix_block",
    ".roundtrip": "check_roundtrip keep_roundtrip own_passage_ranks plan_ranks",
    ".augment_parts": "augment_parts is_parts_dir",
    ".expand": "expand_corpus",
    ".factory": "DEFAULT_FACTORY check_factory write_index",
    ".encoded": "EncodingActor embedding_parts encode_corpus index_from_embeddings",
})
