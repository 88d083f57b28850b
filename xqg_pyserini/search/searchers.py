"""Batch search with Pyserini's searchers into runs and TREC run files.

A *run* in memory is ``{qid: {docid: score}}`` (ir_measures' dict form). Searchers are Pyserini's
own: ``LuceneSearcher`` (BM25), ``FaissSearcher`` with :class:`~xqg_pyserini.encode.adapters.XqgQueryEncoder`
(dense), and :class:`~xqg_pyserini.search.hybrid.GuardedHybridSearcher` (Pyserini's interpolation,
guarded against flat score lists). Importing this module starts the JVM.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

from xqg_pyserini._jvm import prepare_jvm

prepare_jvm()  # before any pyserini.search import

from pyserini.search.faiss import FaissSearcher  # noqa: E402
from pyserini.search.lucene import LuceneSearcher  # noqa: E402

from xqg_pyserini.data.io import InputError, require_file  # noqa: E402
from xqg_pyserini.data.trec import Run, read_topics, run_path, write_run  # noqa: E402
from xqg_pyserini.search.config import HybridSettings, SearchSettings  # noqa: E402
from xqg_pyserini.search.hybrid import GuardedHybridSearcher  # noqa: E402

__all__ = ["Run", "Searcher", "bm25_searcher", "dense_searcher", "read_topics", "run_path", "search", "search_to_file"]


def bm25_searcher(index_dir: str | Path, k1: float = 0.9, b: float = 0.4) -> LuceneSearcher:
    # absolute: the JVM resolves relative paths against the directory it started in, not today's cwd
    searcher = LuceneSearcher(str(require_file(index_dir, "Lucene index").resolve()))
    searcher.set_bm25(k1, b)
    return searcher


def dense_searcher(index_dir: str | Path, encoder) -> FaissSearcher:
    """``encoder``: an XqgQueryEncoder, a TransformerEncoder, or a model name/path."""
    from xqg_pyserini.encode.adapters import XqgQueryEncoder
    from xqg_pyserini.encode.encoders import TransformerEncoder

    require_file(Path(index_dir) / "index", "FAISS index")
    if not isinstance(encoder, XqgQueryEncoder):
        encoder = XqgQueryEncoder(encoder) if isinstance(encoder, (str, TransformerEncoder)) else encoder
    return FaissSearcher(str(index_dir), encoder)


Searcher = Union[LuceneSearcher, FaissSearcher, GuardedHybridSearcher]


def search(searcher: Searcher, topics: dict[str, str], k: int = SearchSettings.k, threads: int = SearchSettings.threads,
           hybrid: HybridSettings | None = None) -> Run:
    """Top-``k`` for every topic, through the searcher's own ``batch_search``."""
    if k < 1 or threads < 1:
        raise InputError(None, f"k and threads must be at least 1, not {k} and {threads}")
    qids, queries = list(topics), list(topics.values())
    if not qids:
        return {}
    if isinstance(searcher, GuardedHybridSearcher):
        h = hybrid or HybridSettings()
        hits = searcher.batch_search(queries, qids, k0=max(h.depth, k), k=k, threads=threads, alpha=h.alpha,
                                     normalization=h.normalization, weight_on_dense=h.weight_on_dense)
    else:
        hits = searcher.batch_search(queries, qids, k=k, threads=threads)
    return {qid: {hit.docid: float(hit.score) for hit in hits.get(qid, [])} for qid in qids}


def search_to_file(searcher: Searcher, topics: dict[str, str], out: str | Path, tag: str, k: int = SearchSettings.k,
                   threads: int = SearchSettings.threads, hybrid: HybridSettings | None = None) -> Run:
    """Search and write the TREC run file (atomically); returns the run too."""
    run = search(searcher, topics, k=k, threads=threads, hybrid=hybrid)
    write_run(run, out, tag)
    return run
