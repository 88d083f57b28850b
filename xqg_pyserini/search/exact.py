"""Exact inner-product search with numpy: the ranking of a FAISS flat index, for small corpora
searched many times over (weight sweeps, per-epoch validation) where writing an index each time
would cost more than the search. Starts no JVM."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from xqg_pyserini.data.trec import Run


def search_vectors(passages: np.ndarray, docids: Sequence[str], queries: np.ndarray, qids: Sequence[str],
                   k: int = 100) -> Run:
    """Exact inner-product top-k (what a FAISS IndexFlatIP returns), for sweeps over many indexes."""
    scores = queries @ passages.T
    k = min(k, len(docids))
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return {qid: {docids[j]: float(scores[r, j]) for j in top[r]} for r, qid in enumerate(qids)}
