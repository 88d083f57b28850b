"""Evaluation: TREC run/qrels files, ir_measures scores, XOR-Retrieve R@kt, significance tests.

Measures are ir_measures objects (``nDCG@10``, ``RR@10`` ...), so any ir_measures measure works.
Ranking order everywhere follows trec_eval: score descending, ties broken by docid DEScending
(trec_eval's own rule). Runs are re-scored by rank before ir_measures sees them, because its
providers break ties differently (pytrec_eval like trec_eval, the msmarco provider behind RR@k
not), so that every measure, and Pyserini's trec_eval on a file from :func:`write_run`, judge the
same ranking.

R@kt follows the official XOR-Retrieve script (see ``shared/data/SOURCES.md``), quirks included.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import ir_measures
from ir_measures import RR, R, nDCG

from xqg_pyserini.data import default_data_dir
from xqg_pyserini.io import InputError, atomic_file, require_file, write_json

__all__ = ["DEFAULT_MEASURES", "Table", "evaluate_languages", "evaluate_run", "paired_randomization_test",
           "paired_test", "per_query", "ranked", "read_qrels", "read_run", "recall_at_k_tokens", "write_run",
           "xor_recall"]

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]

DEFAULT_MEASURES = [nDCG @ 10, R @ 1, R @ 10, R @ 100, RR @ 10]
#: Table labels that differ from ir_measures' names.
LABELS = {"RR@10": "MRR@10"}
KT = (2000, 5000)
_PACKAGE_NLTK_DATA = Path(__file__).resolve().parent / "resources" / "nltk_data"


# --------------------------------------------------------------------------- TREC files
def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """(docid, score) best first, ties by docid descending, as trec_eval orders them."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def write_run(run: Mapping[str, Mapping[str, float]], path: str | os.PathLike, tag: str) -> Path:
    """Write a 6-column TREC run atomically; scores use repr so reading back is lossless."""
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"run tag must be one non-empty word, got {tag!r}")
    with atomic_file(path) as out:
        for qid in sorted(run):
            for rank, (docid, score) in enumerate(ranked(run[qid]), start=1):
                if not math.isfinite(score):
                    raise ValueError(f"query {qid}, docid {docid}: score {score!r} is not finite")
                out.write(f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n")
    return Path(path)


def _read_table(path: str | os.PathLike, columns: int, what: str) -> Iterable[tuple[Path, int, list[str]]]:
    p = require_file(path, what)
    with open(p, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != columns:
                raise InputError(p, f"expected {columns} columns in a {what}, found {len(fields)}", line=number)
            yield p, number, fields


def read_run(path: str | os.PathLike) -> Run:
    """Read a TREC run (qid Q0 docid rank score tag) into {qid: {docid: score}}."""
    run: Run = {}
    for p, number, (qid, _q0, docid, rank, score, _tag) in _read_table(path, 6, "TREC run file"):
        try:
            int(rank)
            value = float(score)
        except ValueError:
            raise InputError(p, f"rank {rank!r} / score {score!r} is not a number", line=number) from None
        if not math.isfinite(value):
            raise InputError(p, f"score {score!r} is not finite", line=number)
        docs = run.setdefault(qid, {})
        if docid in docs:
            raise InputError(p, f"docid {docid} appears twice for query {qid}", line=number)
        docs[docid] = value
    return run


def read_qrels(path: str | os.PathLike) -> Qrels:
    """Read TREC qrels (qid iter docid relevance) into {qid: {docid: relevance}}."""
    qrels: Qrels = {}
    for p, number, (qid, _iter, docid, rel) in _read_table(path, 4, "TREC qrels file"):
        try:
            value = int(rel)
        except ValueError:
            raise InputError(p, f"relevance {rel!r} is not an integer", line=number) from None
        judged = qrels.setdefault(qid, {})
        if docid in judged:
            raise InputError(p, f"docid {docid} is judged twice for query {qid}", line=number)
        judged[docid] = value
    return qrels


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
        raise ValueError("qrels are empty: nothing to evaluate")
    result = ir_measures.calc_aggregate(list(measures), dict(qrels), _rank_scored(run))
    return {str(m): float(result[m]) for m in measures}


def per_query(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
              measures: Sequence = DEFAULT_MEASURES) -> dict[str, dict[str, float]]:
    """{measure name: {qid: value}} for every query in ``qrels`` (0 when absent from the run)."""
    out: dict[str, dict[str, float]] = {str(m): {} for m in measures}
    for metric in ir_measures.iter_calc(list(measures), dict(qrels), _rank_scored(run)):
        out[str(metric.measure)][metric.query_id] = float(metric.value)
    return out


# --------------------------------------------------------------------------- XOR-Retrieve R@kt
def _nltk_data_dirs() -> list[Path]:
    """Where punkt_tab is looked for: $NLTK_DATA, <data dir>/nltk_data, the copy in this package."""
    dirs = [Path(d) for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d]
    return dirs + [default_data_dir() / "nltk_data", _PACKAGE_NLTK_DATA]


@functools.cache
def _word_tokenize():
    import nltk

    wanted = [str(d) for d in _nltk_data_dirs() if d.is_dir()]
    nltk.data.path[:] = wanted + [p for p in nltk.data.path if p not in wanted]
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        raise RuntimeError(f"NLTK punkt_tab (english) not found in {nltk.data.path}") from None
    return nltk.word_tokenize


@functools.lru_cache(maxsize=32768)
def _tokenize(text: str) -> tuple[str, ...]:
    """nltk.word_tokenize, cached: the same passages come back for many questions."""
    return tuple(_word_tokenize()(text))


def _span_answers(answers: Iterable[str]) -> list[str]:
    """Answers the official script keeps: everything except the strings "yes" and "no"."""
    return [a for a in answers if a not in ("yes", "no")]


def recall_at_k_tokens(ranked_texts: Iterable[str], answers: Sequence[str], k: int) -> bool | None:
    """XOR-Retrieve hit: does an answer occur in the first ``k`` word tokens of the ranked texts?

    None when no answer is left after dropping yes/no (the question is not counted). Matching is
    a raw, case-sensitive substring test on the tokens joined by spaces, exactly as the official
    script does, so answers that tokenization splits ("Maharashtra, India") never match.
    """
    kept = _span_answers(answers)
    if not kept:
        return None
    tokens: list[str] = []
    for text in ranked_texts:
        tokens.extend(_tokenize(text))
        if len(tokens) >= k:
            break
    joined = " ".join(tokens[:k])
    return any(answer in joined for answer in kept)


def xor_recall(run: Mapping[str, Mapping[str, float]], passages: Mapping[str, str],
               answers: Mapping[str, Sequence[str]], k: int) -> dict:
    """R@kt for one language: only questions in the run with a non-yes/no answer are counted.

    Returns hits, counted, score (hits / counted x 100, None if nothing counted) and the 0/1
    hit of each counted question (per_query, for paired tests).
    """
    hits, hit_of = 0, {}
    for qid in sorted(run):
        if qid not in answers:
            continue
        try:
            texts = (passages[docid] for docid, _ in ranked(run[qid]))
            hit = recall_at_k_tokens(texts, answers[qid], k)
        except KeyError as err:
            raise InputError(None, f"run for query {qid} retrieves docid {err.args[0]}, which has no passage text") from None
        if hit is None:
            continue
        hit_of[qid] = float(hit)
        hits += int(hit)
    counted = len(hit_of)
    return {"hits": hits, "counted": counted, "score": 100.0 * hits / counted if counted else None,
            "per_query": hit_of}


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


# --------------------------------------------------------------------------- significance
def _paired(a: Mapping[str, float], b: Mapping[str, float]):
    import numpy as np

    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        raise ValueError(f"a paired test needs at least 2 shared queries, got {len(shared)}")
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
