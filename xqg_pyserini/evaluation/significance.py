"""Paired significance tests between two systems on the same queries: the t-test and Fisher's
randomization (sign-flip) test."""
from __future__ import annotations

from typing import Mapping

from xqg_pyserini.data.io import InputError


def _paired(a: Mapping[str, float], b: Mapping[str, float]):
    import numpy as np

    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        raise InputError(None, f"a paired test needs at least 2 shared queries, got {len(shared)}")
    return np.array([a[q] for q in shared], dtype=float), np.array([b[q] for q in shared], dtype=float)


def paired_test(per_query_a: Mapping[str, float], per_query_b: Mapping[str, float]) -> tuple[float, float]:
    """Two-sided paired t-test over the shared qids: (mean of a - b, p).

    Used for graded per-query scores (nDCG@10, MRR@10, R@k) between two systems on the same
    queries, the usual TREC-style convention. For 0/1 outcomes such as R@kt hits, where the
    t-test's normality assumption is weakest, use :func:`paired_randomization_test` (also a
    distribution-free cross-check for the others). Identical systems give p = 1.
    """
    from scipy.stats import ttest_rel

    a, b = _paired(per_query_a, per_query_b)
    diff = a - b
    if not diff.any():
        return 0.0, 1.0
    return float(diff.mean()), float(ttest_rel(a, b).pvalue)


def paired_randomization_test(per_query_a: Mapping[str, float], per_query_b: Mapping[str, float],
                              trials: int = 10000, seed: int = 0) -> tuple[float, float]:
    """Fisher's two-sided paired randomization (sign-flip) test: (mean of a - b, p).

    p = (1 + #trials with |mean of sign-flipped differences| >= |observed|) / (1 + trials).
    """
    import numpy as np

    a, b = _paired(per_query_a, per_query_b)
    diff = a - b
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    extreme, done = 0, 0
    while done < trials:
        batch = min(1000, trials - done)
        signs = rng.choice([-1.0, 1.0], size=(batch, len(diff)))
        extreme += int((np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12).sum())
        done += batch
    return float(diff.mean()), (extreme + 1) / (trials + 1)
