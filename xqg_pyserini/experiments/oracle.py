"""The count-balanced oracle: the xQG ceiling with REAL questions in the generator's place.

A fair ceiling must differ from xQG in one thing only, the quality of the questions. So each passage
gets, per language, exactly as many real questions as the generator wrote for it (repeating real
questions in a seeded order when a passage has fewer, which weights them but keeps the count), and
no evaluated question is ever fused into the index it is searched on: each TEST paragraph's question
ids are split into two halves by a seeded hash; fold 0 evaluates half 0 against passages augmented
with half 1, fold 1 the reverse, and the two folds' runs are pooled. Halves are drawn over ids, which
XQuAD shares across languages, so no translation of an evaluated question is fused either. TRAIN
paragraphs (never evaluated) use all their questions.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Collection, Mapping, Sequence

import numpy as np

from xqg_pyserini.index.augment import fuse_block


@dataclass(frozen=True)
class OracleFold:
    """Which question ids this fold evaluates, and the real questions fused into each (docid, lang)."""

    searched: frozenset[str]
    augmentation: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def _order(seed: int, docid: str, qids: Collection[str]) -> list[str]:
    """A seeded, platform-stable order of a paragraph's question ids."""
    return sorted(qids, key=lambda q: hashlib.sha1(f"{seed}\x1f{docid}\x1f{q}".encode()).hexdigest())


def split_halves(owner: Mapping[str, Mapping[str, str]], test_docids: Collection[str],
                 seed: int = 0) -> tuple[frozenset[str], frozenset[str]]:
    """The question ids of every TEST paragraph in two halves (the larger half first), the same in every
    language. ``owner``: language -> question id -> the docid of its paragraph."""
    by_docid: dict[str, set[str]] = {}
    for questions in owner.values():
        for qid, docid in questions.items():
            if docid in test_docids:
                by_docid.setdefault(docid, set()).add(qid)
    halves: tuple[set[str], set[str]] = (set(), set())
    for docid, qids in by_docid.items():
        ordered = _order(seed, docid, qids)
        cut = (len(ordered) + 1) // 2
        halves[0].update(ordered[:cut])
        halves[1].update(ordered[cut:])
    return frozenset(halves[0]), frozenset(halves[1])


def oracle_folds(owner: Mapping[str, Mapping[str, str]], counts: Mapping[tuple[str, str], int],
                 test_docids: Collection[str], seed: int = 0) -> list[OracleFold]:
    """The two folds. ``counts``: (docid, lang) -> how many generated queries that passage has in that
    language; the oracle fuses as many real questions there (none where no real question is left)."""
    test_docids = set(test_docids)
    pools: dict[tuple[str, str], set[str]] = {}
    for lang, questions in owner.items():
        for qid, docid in questions.items():
            pools.setdefault((docid, lang), set()).add(qid)
    folds = []
    for searched in split_halves(owner, test_docids, seed):
        augmentation = {}
        for (docid, lang), count in counts.items():
            pool = _order(seed, docid, pools.get((docid, lang), set()) - searched)
            if pool and count > 0:
                augmentation[(docid, lang)] = [pool[i % len(pool)] for i in range(count)]
        folds.append(OracleFold(searched, augmentation))
    return folds


def oracle_vectors(base: np.ndarray, docids: Sequence[str], fold: OracleFold,
                   questions: Mapping[str, tuple[Sequence[str], np.ndarray]], fusion: str = "mean",
                   weight: float = 0.3, normalize: bool = True) -> np.ndarray:
    """The passage vectors with the fold's real questions fused in, exactly as xQG fuses generated
    ones (:func:`~xqg_pyserini.index.augment.fuse_block`). ``questions``: language -> (question ids,
    their embeddings), covering every question the fold fuses."""
    row_of = {d: i for i, d in enumerate(docids)}
    offsets, start = {}, 0
    for lang, (qids, _) in questions.items():
        offsets[lang] = {q: start + i for i, q in enumerate(qids)}
        start += len(qids)
    pairs = sorted((row_of[docid], offsets[lang][qid]) for (docid, lang), qids in fold.augmentation.items()
                   for qid in qids)
    if not pairs:
        return base
    rows, sources = (np.array(column, dtype=np.int64) for column in zip(*pairs))
    stacked = np.concatenate([np.asarray(matrix) for _, matrix in questions.values()])
    return fuse_block(base, 0, rows, sources, stacked, fusion, weight, normalize)


def balance_summary(folds: Sequence[OracleFold], counts: Mapping[tuple[str, str], int]) -> dict:
    """How well the count balance held, per fold: groups with the generated count met by distinct real
    questions, met only by repeating some, or left unaugmented (no real question outside the fold)."""
    out = []
    for fold in folds:
        used = fold.augmentation
        out.append({"searched_ids": len(fold.searched),
                    "distinct": sum(len(set(q)) == counts[k] for k, q in used.items()),
                    "repeated": sum(len(set(q)) < counts[k] for k, q in used.items()),
                    "unaugmented": sum(1 for k, c in counts.items() if c > 0 and k not in used)})
    return {"folds": out}
