"""Hybrid search: Pyserini's interpolation of a sparse and a dense searcher, under a name of our own.

:class:`GuardedHybridSearcher` is Pyserini's ``HybridSearcher`` with one guard (a flat score list no
longer divides by zero); ``HybridSearcher`` stays as an alias for one release. Importing this module
starts the JVM.
"""
from __future__ import annotations

from xqg_pyserini._jvm import prepare_jvm

prepare_jvm()  # before any pyserini.search import

from pyserini.search.faiss import DenseSearchResult  # noqa: E402
from pyserini.search.hybrid import HybridSearcher as PyseriniHybridSearcher  # noqa: E402

from xqg_pyserini.search.config import HybridSettings  # noqa: E402,F401  (its settings, for callers)


class GuardedHybridSearcher(PyseriniHybridSearcher):
    """Pyserini's HybridSearcher with one fix: with ``normalization`` a side whose hits all score
    the same (a cross-lingual question with a single BM25 hit, say) divided by zero there; such a
    side now contributes 0 for every document. Otherwise the interpolation is Pyserini's, unchanged.
    """

    @staticmethod
    def _hybrid_results(dense_results, sparse_results, alpha, k, normalization=False, weight_on_dense=False):
        flat = lambda hits: len(hits) > 0 and len({h.score for h in hits}) == 1
        if not (normalization and (flat(dense_results) or flat(sparse_results))):
            return PyseriniHybridSearcher._hybrid_results(dense_results, sparse_results, alpha, k,
                                                          normalization, weight_on_dense)
        # Shift a flat side to all zeros and skip normalisation of it: (s - mid) / range := 0.
        def normalized(hits):
            scores = [h.score for h in hits]
            lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
            return {h.docid: 0.0 if hi == lo else (h.score - (lo + hi) / 2) / (hi - lo) for h in hits}, \
                (0.0 if hi == lo else -0.5)
        dense, dense_floor = normalized(dense_results)
        sparse, sparse_floor = normalized(sparse_results)
        fused = []
        for doc in set(dense) | set(sparse):
            d, s = dense.get(doc, dense_floor), sparse.get(doc, sparse_floor)
            fused.append(DenseSearchResult(doc, s + alpha * d if weight_on_dense else alpha * s + d))
        return sorted(fused, key=lambda x: x.score, reverse=True)[:k]


#: The old name (it shadowed Pyserini's class of the same name); kept for one release.
HybridSearcher = GuardedHybridSearcher
