"""Round-trip filtering of generated queries: keep a query only if the retriever, searching the
unaugmented index with it, ranks the query's own passage within the top K.

Why: a small generator writes many questions that fit any passage of a topic. Fused into a passage
vector they pull it toward a generic "question" direction that every search query resembles, so the
passage starts to attract the questions of other passages (docs/study-notes.md measured this pull
with real questions). A question that does not find its own passage is such a question, or a wrong
one. This is the round-trip consistency check of Alberti et al. (2019) with the retriever itself as
the checker, in the spirit of Doc2Query-- (Gospodinov et al., 2023), which drops expansion queries
that a relevance model scores low. Search cost is unchanged: only which queries are fused changes.

Cost: one exact search of every planned query against the index (queries x passages inner products
in float64, block by block over the mapped index). A rank counts the passages scoring strictly
higher than the own passage, so ties are in the query's favour; the own passage never counts itself.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from xqg_pyserini.data.io import InputError
from xqg_pyserini.index.faiss import FlatIndex

if TYPE_CHECKING:
    from xqg_pyserini.index.augment import AugmentationPlan

__all__ = ["check_roundtrip", "keep_roundtrip", "own_passage_ranks", "plan_ranks"]
BLOCK = 4096  # passage vectors per block
QUERY_CHUNK = 2048  # queries scored at a time


def check_roundtrip(max_rank: int | None) -> None:
    """``None`` (off) or a whole number >= 1."""
    if max_rank is None:
        return
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise InputError(None, f"the round-trip rank must be a whole number of at least 1 (or off), not {max_rank!r}")


def own_passage_ranks(index: FlatIndex, rows: np.ndarray, sources: np.ndarray, queries: np.ndarray,
                      block_size: int = BLOCK, chunk: int = QUERY_CHUNK) -> np.ndarray:
    """For each query ``queries[sources[j]]``, the rank (1 = first) of its passage ``rows[j]`` among all
    rows of ``index`` by the index's own metric (inner product; or L2 distance, smaller first)."""
    rows, sources = np.asarray(rows, np.int64), np.asarray(sources, np.int64)
    ranks = np.ones(len(rows), np.int64)
    l2 = index.metric == 1

    def scores(q: np.ndarray, p: np.ndarray, pairwise: bool) -> np.ndarray:
        # higher is better; for L2, -|q-p|^2 + |q|^2 = 2 q.p - |p|^2 ranks the same for one query
        s = (q * p).sum(1) if pairwise else q @ p.T
        return 2 * s - (p * p).sum(1) if l2 else s

    own = np.empty(len(rows))
    for a in range(0, len(rows), chunk):
        own[a:a + chunk] = scores(np.asarray(queries[sources[a:a + chunk]], np.float64),
                                  np.asarray(index.array[rows[a:a + chunk]], np.float64), True)
    for start, block in index.blocks(block_size):
        passages = np.asarray(block, np.float64)
        for a in range(0, len(rows), chunk):
            s = scores(np.asarray(queries[sources[a:a + chunk]], np.float64), passages, False)
            mine = rows[a:a + chunk] - start
            inside = np.flatnonzero((mine >= 0) & (mine < len(passages)))
            s[inside, mine[inside]] = -np.inf  # the own passage does not outrank itself
            ranks[a:a + chunk] += (s > own[a:a + chunk, None]).sum(1)
    return ranks


def plan_ranks(plan: "AugmentationPlan") -> np.ndarray:
    """The own-passage rank of every query a plan fuses, in the plan's order."""
    with FlatIndex(plan.index_path) as index, plan.embeddings.open() as queries:
        return own_passage_ranks(index, plan.rows, plan.sources, queries.array)


def keep_roundtrip(plan: "AugmentationPlan", max_rank: int | None,
                   ranks: np.ndarray | None = None) -> "AugmentationPlan":
    """The plan with only the queries whose own passage ranks within ``max_rank`` (``None``: the plan
    as is). ``ranks`` (from :func:`plan_ranks`) saves the search when several ranks are tried."""
    check_roundtrip(max_rank)
    if max_rank is None:
        return plan
    ranks = plan_ranks(plan) if ranks is None else ranks
    if len(ranks) != len(plan.rows):
        raise InputError(None, f"{len(ranks)} ranks for a plan of {len(plan.rows)} queries")
    return plan.subset(ranks <= max_rank, roundtrip=int(max_rank))
