"""Measures: ir_measures scores of runs, one language or a table of languages with the macro average.

Measures are ir_measures objects (``nDCG@10``, ``RR@10`` ...), so any ir_measures measure works.
Ranking order follows trec_eval (:func:`xqg_pyserini.data.trec.ranked`). Runs are re-scored by rank
before ir_measures sees them, because its providers break ties differently (pytrec_eval like
trec_eval, the msmarco provider behind RR@k not), so that every measure, and Pyserini's trec_eval on
a file from :func:`~xqg_pyserini.data.trec.write_run`, judge the same ranking. Tables add R@kt
(:mod:`xqg_pyserini.evaluation.rkt`) when given the answers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import ir_measures
from ir_measures import RR, R, nDCG

from xqg_pyserini.data.io import InputError, write_json
from xqg_pyserini.data.trec import Qrels, Run, ranked
from xqg_pyserini.evaluation.rkt import KT, xor_recall

__all__ = ["DEFAULT_MEASURES", "LABELS", "Table", "evaluate_languages", "evaluate_run", "per_query"]

DEFAULT_MEASURES = [nDCG @ 10, R @ 1, R @ 10, R @ 100, RR @ 10]
#: Table labels that differ from ir_measures' names.
LABELS = {"RR@10": "MRR@10"}


# --------------------------------------------------------------------------- ir_measures
def _rank_scored(run: Mapping[str, Mapping[str, float]]) -> Run:
    """Replace scores by n - rank so no provider can order ties its own way."""
    out: Run = {}
    for qid, docs in run.items():
        n = len(docs)
        out[qid] = {docid: float(n - i) for i, (docid, _) in enumerate(ranked(docs))}
    return out


def evaluate_run(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
                 measures: Sequence = DEFAULT_MEASURES) -> dict[str, float]:
    """Mean of each measure over the queries in ``qrels``; a query missing from the run scores 0."""
    if not qrels:
        raise InputError(None, "qrels are empty: nothing to evaluate")
    result = ir_measures.calc_aggregate(list(measures), dict(qrels), _rank_scored(run))
    return {str(m): float(result[m]) for m in measures}


def per_query(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
              measures: Sequence = DEFAULT_MEASURES) -> dict[str, dict[str, float]]:
    """{measure name: {qid: value}} for every query in ``qrels`` (0 when absent from the run)."""
    out: dict[str, dict[str, float]] = {str(m): {} for m in measures}
    for metric in ir_measures.iter_calc(list(measures), dict(qrels), _rank_scored(run)):
        out[str(metric.measure)][metric.query_id] = float(metric.value)
    return out


# --------------------------------------------------------------------------- tables
@dataclass
class Table:
    """Scores per language plus a "macro" row (plain mean over languages that have a value)."""

    columns: list[str]
    rows: dict[str, dict[str, float | None]]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self, path: str | os.PathLike) -> None:
        write_json(path, {"columns": self.columns, "rows": self.rows, "counts": self.counts})

    def format(self) -> str:
        """Fixed-width text: one line per language, then macro. ir_measures values are in [0, 1],
        R@kt in percent (as the official script prints them)."""
        width = max([8] + [len(c) for c in self.columns])
        names = [name for name in self.rows if name != "macro"] + ["macro"]
        lines = ["lang".ljust(8) + "".join(c.rjust(width + 2) for c in self.columns)]
        for name in names:
            if name == "macro":
                lines.append("-" * len(lines[0]))
            cells = []
            for c in self.columns:
                v = self.rows[name].get(c)
                cells.append("-" if v is None else f"{v:.2f}" if c.endswith("kt") else f"{v:.4f}")
            lines.append(name.ljust(8) + "".join(cell.rjust(width + 2) for cell in cells))
        return "\n".join(lines)


def evaluate_languages(runs: Mapping[str, Run], qrels: Mapping[str, Qrels], measures: Sequence = DEFAULT_MEASURES,
                       answers: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
                       passages: Mapping[str, str] | None = None, kt: Sequence[int] = KT) -> Table:
    """Evaluate one run per language against that language's qrels (and answers, for R@kt).

    ``answers`` is {lang: {qid: [answer, ...]}}, ``passages`` {docid: passage text without title}.
    """
    if answers is not None and passages is None:
        raise ValueError("R@kt needs the passage texts: pass passages= along with answers=")
    columns = [LABELS.get(str(m), str(m)) for m in measures]
    if answers is not None:
        columns += [f"R@{k // 1000}kt" if k % 1000 == 0 else f"R@{k}t" for k in kt]
    rows: dict[str, dict[str, float | None]] = {}
    counts: dict[str, dict[str, int]] = {}
    for lang in sorted(runs):
        if lang not in qrels or not qrels[lang]:
            raise InputError(None, f"no qrels for language {lang!r}")
        scores = evaluate_run(runs[lang], qrels[lang], measures)
        rows[lang] = {LABELS.get(name, name): value for name, value in scores.items()}
        counts[lang] = {"queries": len(qrels[lang])}
        if answers is not None:
            if lang not in answers:
                raise InputError(None, f"no answers for language {lang!r}")
            for k, column in zip(kt, columns[len(measures):]):
                result = xor_recall(runs[lang], passages, answers[lang], k)
                rows[lang][column] = result["score"]
                counts[lang][f"{column} counted"] = result["counted"]
    rows["macro"] = {}
    for c in columns:
        values = [row[c] for row in rows.values() if row.get(c) is not None]
        rows["macro"][c] = sum(values) / len(values) if values else None
    return Table(columns, rows, counts)
