"""Stage 5, search: Pyserini's searchers into runs and TREC run files.

``config`` (settings and defaults), ``searchers`` (BM25 and dense searchers, batch ``search``, run files), ``hybrid``
(:class:`GuardedHybridSearcher`, Pyserini's interpolation with a guard), ``routing``
(:class:`PerLanguageSearcher`: each question to its own language's augmented index), ``fusion``
(reciprocal-rank fusion of run files) and ``exact`` (numpy inner-product search, the
ranking of a flat index, for sweeps). The JVM starts when a searcher module is first used, not when
this package is imported.
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".searchers": "Searcher bm25_searcher dense_searcher search search_to_file",
    ".config": "HybridSettings SearchSettings",
    ".hybrid": "GuardedHybridSearcher HybridSearcher",
    ".routing": "PerLanguageSearcher topics_language",
    ".fusion": "reciprocal_rank_fusion",
    ".exact": "search_vectors",
    "xqg_pyserini.data.trec": "Run read_topics run_path write_run",
})
