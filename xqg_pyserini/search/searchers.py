"""Batch search with Pyserini's searchers, writing TREC run files; hybrid and rank fusion.

A *run* in memory is ``{qid: {docid: score}}`` (ir_measures' dict form). Searchers are Pyserini's
own: ``LuceneSearcher`` (BM25), ``FaissSearcher`` with :class:`~xqg_pyserini.encoders.XqgQueryEncoder`
(dense), ``HybridSearcher`` (their interpolation); reciprocal-rank fusion of run files is
``pyserini.fusion``'s.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import xqg_pyserini  # noqa: F401  (JVM before any pyserini.search import)
from pyserini.search.faiss import FaissSearcher
from pyserini.search.faiss import DenseSearchResult
from pyserini.search.hybrid import HybridSearcher as PyseriniHybridSearcher
from pyserini.search.lucene import LuceneSearcher

from xqg_pyserini.evaluation import write_run
from xqg_pyserini.io import require_file

Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class HybridSettings:
    """Pyserini's interpolation: per query, ``alpha * sparse + dense`` over each side's top ``depth``
    (both min-max normalised first when ``normalization``). The default weight was chosen on XQuAD
    TRAIN questions with benchmarks/hybrid_alpha.py (macro nDCG@10: 0.8521 dense alone, 0.8586 at
    0.2 normalised, 0.8418 at 0.5; unnormalised interpolation only hurt)."""

    alpha: float = 0.2
    normalization: bool = True
    depth: int = 1000
    weight_on_dense: bool = False


class HybridSearcher(PyseriniHybridSearcher):
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


def bm25_searcher(index_dir: str | Path, k1: float = 0.9, b: float = 0.4) -> LuceneSearcher:
    searcher = LuceneSearcher(str(require_file(index_dir, "Lucene index")))
    searcher.set_bm25(k1, b)
    return searcher


def dense_searcher(index_dir: str | Path, encoder) -> FaissSearcher:
    """``encoder``: an XqgQueryEncoder, a TransformerEncoder, or a model name/path."""
    from xqg_pyserini.encoders import TransformerEncoder, XqgQueryEncoder

    require_file(Path(index_dir) / "index", "FAISS index")
    if not isinstance(encoder, XqgQueryEncoder):
        encoder = XqgQueryEncoder(encoder) if isinstance(encoder, (str, TransformerEncoder)) else encoder
    return FaissSearcher(str(index_dir), encoder)


Searcher = Union[LuceneSearcher, FaissSearcher, HybridSearcher]


def search(searcher: Searcher, topics: dict[str, str], k: int = 100, threads: int = 1,
           hybrid: HybridSettings | None = None) -> Run:
    """Top-``k`` for every topic, through the searcher's own ``batch_search``."""
    qids, queries = list(topics), list(topics.values())
    if not qids:
        return {}
    if isinstance(searcher, HybridSearcher):
        h = hybrid or HybridSettings()
        hits = searcher.batch_search(queries, qids, k0=max(h.depth, k), k=k, threads=threads, alpha=h.alpha,
                                     normalization=h.normalization, weight_on_dense=h.weight_on_dense)
    else:
        hits = searcher.batch_search(queries, qids, k=k, threads=threads)
    return {qid: {hit.docid: float(hit.score) for hit in hits.get(qid, [])} for qid in qids}


def run_path(runs_dir: str | Path, method: str, lang: str) -> Path:
    return Path(runs_dir) / f"{method}.{lang}.trec"


def search_to_file(searcher: Searcher, topics: dict[str, str], out: str | Path, tag: str, k: int = 100,
                   threads: int = 1, hybrid: HybridSettings | None = None) -> Run:
    """Search and write the TREC run file (atomically); returns the run too."""
    run = search(searcher, topics, k=k, threads=threads, hybrid=hybrid)
    write_run(run, out, tag)
    return run


def reciprocal_rank_fusion(run_files: list[str | Path], out: str | Path, rrf_k: int = 60, depth: int = 1000,
                           k: int = 1000, tag: str = "rrf") -> Run:
    """RRF of TREC run files with ``pyserini.fusion``; writes ``out`` and returns the fused run."""
    from pyserini.fusion import reciprocal_rank_fusion as pyserini_rrf
    from pyserini.trectools import TrecRun

    runs = [TrecRun(str(require_file(p, "run file"))) for p in run_files]
    fused = pyserini_rrf(runs, rrf_k=rrf_k, depth=depth, k=k)
    table = fused.to_numpy()
    run: Run = {}
    for row in table:
        run.setdefault(str(row[0]), {})[str(row[2])] = float(row[4])
    write_run(run, out, tag)
    return run



def read_topics(path: str | Path) -> dict[str, str]:
    """A TSV topics file (qid<TAB>question), as Pyserini reads them."""
    from xqg_pyserini.data import read_tsv

    return dict(read_tsv(require_file(path, "topics file"), 2))
