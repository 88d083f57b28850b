"""Paired significance tests between two systems on the same queries: the t-test and Fisher's
randomization (sign-flip) test; and, for parallel multilingual benchmarks, the same tests with the
question id as the unit (:func:`paired_report` gives per language, pooled and by id side by side)."""
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


def mean_by_id(per_language_a: Mapping[str, Mapping[str, float]], per_language_b: Mapping[str, Mapping[str, float]]
               ) -> tuple[dict[str, float], dict[str, float]]:
    """Each question id's score averaged over the languages in which BOTH systems have it.

    In a parallel benchmark (XQuAD) the languages' questions are translations of the same questions,
    sharing ids: their scores are not independent, so the id, not the (language, id) pair, is the
    unit a test may treat as independent.
    """
    sums: dict[str, list[float]] = {}
    for lang, a in per_language_a.items():
        b = per_language_b.get(lang, {})
        for qid in a.keys() & b.keys():
            entry = sums.setdefault(qid, [0.0, 0.0, 0])
            entry[0] += a[qid]
            entry[1] += b[qid]
            entry[2] += 1
    return ({q: s[0] / s[2] for q, s in sums.items()}, {q: s[1] / s[2] for q, s in sums.items()})


def paired_report(per_language_a: Mapping[str, Mapping[str, float]], per_language_b: Mapping[str, Mapping[str, float]],
                  trials: int = 10000, seed: int = 0) -> dict:
    """``a - b`` tested three ways, so that a reader sees how much pooling overstates significance.

    ``per_language``: a paired t-test in each language; pooled (the top-level ``diff``, ``p``,
    ``p_randomization``, ``queries``): every (language, question) as a unit, which treats
    translations of one question as independent; ``by_id``: each id's score averaged over
    languages (:func:`mean_by_id`), then the paired t-test and randomization test over ids.
    """
    per_language = {}
    for lang in sorted(per_language_a):
        diff, p = paired_test(per_language_a[lang], per_language_b[lang])
        per_language[lang] = {"diff": diff, "p": p}
    pooled_a, pooled_b = ({f"{lang}\t{q}": v for lang, scores in side.items() for q, v in scores.items()}
                          for side in (per_language_a, per_language_b))
    diff, p = paired_test(pooled_a, pooled_b)
    _, p_rand = paired_randomization_test(pooled_a, pooled_b, trials, seed)
    ids_a, ids_b = mean_by_id(per_language_a, per_language_b)
    id_diff, id_p = paired_test(ids_a, ids_b)
    _, id_rand = paired_randomization_test(ids_a, ids_b, trials, seed)
    return {"diff": diff, "p": p, "p_randomization": p_rand, "queries": len(set(pooled_a) & set(pooled_b)),
            "per_language": per_language,
            "by_id": {"diff": id_diff, "p": id_p, "p_randomization": id_rand, "ids": len(ids_a)}}
