"""The study's dense+xQG variants and their knobs, every knob chosen on TRAIN questions only.

* pooled (``dense+xQG``): one index, each passage fused with the mean of its queries in every language;
* routed (``dense+xQG per language``): one index per query language, fused with that language's
  queries only (:func:`~xqg_pyserini.index.augment.augment_per_language`), each question searched in
  its own language's index;
* mixture (``dense+xQG mixture``): one index per query language, its own queries weighted w against
  the other languages' (:func:`~xqg_pyserini.index.augment.mix_block`), routed the same way.

Each variant's grid is swept with exact numpy search (:func:`search_vectors`, the ranking of a FAISS
flat index) on TRAIN and, for the record only, TEST questions; :func:`choose` takes the TRAIN optimum
and keeps the TRAIN measurements that chose it; :func:`best_variant` picks among the variants by
those TRAIN measurements too, so nothing is tuned on TEST. :func:`headline` states the issue's
target (macro R@1 at least +5 points over dense, p < 0.05 by question id, better in at least 9 of
11 languages) for one row, from the TEST tables and tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from ir_measures import R, nDCG

from xqg_pyserini.data.io import InputError
from xqg_pyserini.evaluation.measures import Table, per_query
from xqg_pyserini.index.augment import MIXTURE, AugmentationPlan, Mixture
from xqg_pyserini.index.roundtrip import keep_roundtrip, plan_ranks
from xqg_pyserini.search.exact import search_vectors

#: The measures every sweep, choice and significance test reports (the first is the default criterion).
MEASURES = ("nDCG@10", "R@1")
POOLED, ROUTED, MIXED = "dense+xQG", "dense+xQG per language", "dense+xQG mixture"
PAPER, PAPER_WEIGHT = "dense+xQG (paper: sum, a=0.01)", 0.01
#: Variant -> the key of its sweeps (``<key>-train``, ``<key>-test``).
SWEEPS = {POOLED: "mean", PAPER: "sum", ROUTED: "per-language", MIXED: "mixture"}
#: The variants whose knobs are tuned, among which the best is chosen (on TRAIN).
TUNED = (POOLED, ROUTED, MIXED)
#: The issue's target for the best variant against dense, on TEST questions.
TARGET = {"R@1 delta": 0.05, "p by id": 0.05, "languages better": 9}


@dataclass
class TopicVectors:
    """Each language's questions of one split, embedded once and reused by every dense condition."""

    qids: dict[str, list[str]]
    vectors: dict[str, np.ndarray]


@dataclass(frozen=True)
class Grids:
    """The values swept: fusion weights of the pooled and routed mean fusion, the paper's sum fusion,
    and the mixture's (a, w) grid."""

    weights: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7)
    paper_weights: Sequence[float] = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05)
    mixture_weights: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    own_weights: Sequence[float] = (0.25, 0.5, 0.75, 1.0)
    #: Round-trip filter of the tuned variants (None: every query; K: only those ranking their own
    #: passage in the top K, :mod:`xqg_pyserini.index.roundtrip`); None first, so ties keep every query.
    roundtrips: Sequence[int | None] = (None, 1, 3, 10)

    def values(self, variant: str) -> list:
        if variant == PAPER:
            return list(self.paper_weights)
        knobs = [{"weight": a, "own_weight": w} for a in self.mixture_weights for w in self.own_weights] \
            if variant == MIXED else list(self.weights)
        if tuple(self.roundtrips) == (None,):
            return knobs
        return [{**(k if isinstance(k, dict) else {"weight": k}), "roundtrip": r} for r in self.roundtrips for k in knobs]


Passages = np.ndarray | Mapping[str, np.ndarray]


def sweep(vectors_for: Callable[..., Passages], docids: Sequence[str], topics: TopicVectors,
          qrels: Mapping[str, Mapping], values: Sequence, knob: str = "weight") -> list[dict]:
    """Macro nDCG@10 and R@1 (over the languages of ``topics``) for each setting of the knobs.

    A value is a number (the knob ``knob``) or a dict of knobs; ``vectors_for(**knobs)`` gives one
    passage matrix for every language, or a mapping language -> matrix (routed variants: each
    language's questions search their own). Rows: ``{**knobs, "nDCG@10": ..., "R@1": ...}``.
    """
    rows = []
    for value in values:
        knobs = dict(value) if isinstance(value, Mapping) else {knob: value}
        passages = vectors_for(**knobs)
        means: dict[str, list[float]] = {m: [] for m in MEASURES}
        for lang, qids in topics.qids.items():
            index = passages[lang] if isinstance(passages, Mapping) else passages
            scores = per_query(search_vectors(index, docids, topics.vectors[lang], qids, 10), qrels[lang],
                               [nDCG @ 10, R @ 1])
            for m in MEASURES:
                means[m].append(float(np.mean(list(scores[m].values()))))
        rows.append({**knobs, **{m: float(np.mean(v)) for m, v in means.items()}})
    return rows


def choose(rows: Sequence[dict], criterion: str = MEASURES[0]) -> dict:
    """The knobs of the best row by ``criterion`` (the first of equals, so the grid's order breaks
    ties), with that row's measurements as ``train_<measure>`` (rows must come from TRAIN questions)."""
    if criterion not in MEASURES:
        raise InputError(None, f"the criterion must be one of {', '.join(MEASURES)}, not {criterion!r}")
    if not rows:
        raise InputError(None, "nothing to choose from: the sweep is empty")
    best = max(rows, key=lambda r: r[criterion])
    return {**{k: v for k, v in best.items() if k not in MEASURES},
            **{f"train_{m}": best[m] for m in MEASURES}, "chosen_by": f"train {criterion}"}


def variant_vectors(plan: AugmentationPlan, routed: Mapping[str, AugmentationPlan], languages: Sequence[str],
                    roundtrips: Sequence[int | None] = (None,)) -> dict[str, Callable[..., Passages]]:
    """Each variant's passage vectors for given knobs: ``plan`` holds every language's queries,
    ``routed`` one plan per language with that language's only; the tuned variants also take
    ``roundtrip`` (one of ``roundtrips``). Exactly the vectors the study's indexes are written with
    (``AugmentationPlan.write`` and ``augment_per_language`` stream the same blocks)."""
    missing = sorted(set(languages) - set(routed))
    if missing:
        raise InputError(plan.embeddings.keys.path, f"no generated queries in language(s) {', '.join(missing)}: "
                                                    "the routed and mixture rows need every question language")
    ranks = {id(p): plan_ranks(p) for p in (plan, *routed.values())} if set(roundtrips) - {None} else {}
    kept = {r: (keep_roundtrip(plan, r, ranks.get(id(plan))),
                {l: keep_roundtrip(routed[l], r, ranks.get(id(routed[l]))) for l in languages}) for r in roundtrips}
    return {
        POOLED: lambda weight, roundtrip=None: kept[roundtrip][0].vectors("mean", weight, normalize=True),
        PAPER: lambda weight: plan.vectors("sum", weight),
        ROUTED: lambda weight, roundtrip=None: {l: kept[roundtrip][1][l].vectors("mean", weight, normalize=True)
                                                for l in languages},
        MIXED: lambda weight, own_weight, roundtrip=None: {
            l: kept[roundtrip][0].vectors(MIXTURE, weight, True, Mixture(l, own_weight)) for l in languages},
    }


def tune_variants(vectors: Mapping[str, Callable[..., Passages]], docids: Sequence[str],
                  topics: Mapping[str, TopicVectors], qrels: Mapping[str, Mapping], grids: Grids = Grids(),
                  criterion: str = MEASURES[0]) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Sweep every variant on TRAIN and TEST questions (``topics``/``qrels`` by split); choose each tuned
    variant's knobs on TRAIN. Returns (sweeps by ``<key>-<split>``, chosen knobs by variant); the
    paper's row is not tuned: its fixed weight is recorded with its TRAIN measurements."""
    sweeps, chosen = {}, {}
    for variant, key in SWEEPS.items():
        for split in ("train", "test"):
            sweeps[f"{key}-{split}"] = sweep(vectors[variant], docids, topics[split], qrels[split],
                                             grids.values(variant))
        if variant in TUNED:
            chosen[variant] = choose(sweeps[f"{key}-train"], criterion)
    fixed = [r for r in sweeps["sum-train"] if r["weight"] == PAPER_WEIGHT]
    chosen[PAPER] = {"weight": PAPER_WEIGHT, **{f"train_{m}": fixed[0][m] for m in MEASURES if fixed},
                     "chosen_by": "fixed: the paper's value"}
    return sweeps, chosen


def best_variant(chosen: Mapping[str, dict], criterion: str = MEASURES[0]) -> str:
    """The tuned variant with the best TRAIN ``criterion`` at its chosen knobs (never a TEST number)."""
    return max((v for v in TUNED if v in chosen), key=lambda v: chosen[v][f"train_{criterion}"])


def headline(row: str, tables: Mapping[str, Table], significance: Mapping[str, dict], base: str = "dense") -> dict:
    """``row`` against ``base`` on TEST questions: macro R@1 and nDCG@10 deltas, their by-id p-values,
    and the languages where R@1 is higher; ``target_met`` against :data:`TARGET`."""
    mine, theirs = tables[row].rows, tables[base].rows
    langs = [l for l in mine if l != "macro"]
    better = [l for l in langs if mine[l]["R@1"] > theirs[l]["R@1"]]
    sig = significance[row]
    out = {"row": row, "macro R@1": mine["macro"]["R@1"], f"{base} macro R@1": theirs["macro"]["R@1"],
           "R@1 delta": mine["macro"]["R@1"] - theirs["macro"]["R@1"],
           "R@1 p by id": sig["R@1"]["by_id"]["p"], "R@1 p by id (randomization)": sig["R@1"]["by_id"]["p_randomization"],
           "languages better (R@1)": len(better), "languages": len(langs), "better in": better,
           "nDCG@10 delta": mine["macro"]["nDCG@10"] - theirs["macro"]["nDCG@10"],
           "nDCG@10 p by id": sig["nDCG@10"]["by_id"]["p"]}
    out["target_met"] = (out["R@1 delta"] >= TARGET["R@1 delta"] and out["R@1 p by id"] < TARGET["p by id"]
                         and len(better) >= TARGET["languages better"])
    return out
