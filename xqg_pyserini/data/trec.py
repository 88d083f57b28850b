"""TREC run and qrels files: read with validation, written atomically in trec_eval's ranking order.

Ranking order everywhere follows trec_eval: score descending, ties broken by docid DEScending
(trec_eval's own rule), so a run file written here ranks exactly as Pyserini's trec_eval and
ir_measures (see :mod:`xqg_pyserini.evaluation`) judge it.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Mapping

from xqg_pyserini.data.io import InputError, atomic_file, require_file

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """(docid, score) best first, ties by docid descending, as trec_eval orders them."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def is_run_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts with a 6-column TREC run line (what ``xqg search`` may replace)."""
    try:
        with open(path, encoding="utf-8") as f:
            parts = f.readline().split()
        int(parts[3]), float(parts[4])
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return False
    return len(parts) == 6


def write_run(run: Mapping[str, Mapping[str, float]], path: str | os.PathLike, tag: str) -> Path:
    """Write a 6-column TREC run atomically; scores use repr so reading back is lossless."""
    if not tag or any(c.isspace() for c in tag):
        raise InputError(None, f"run tag must be one non-empty word, got {tag!r}")
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


def read_topics(path: str | os.PathLike) -> dict[str, str]:
    """A TSV topics file (qid<TAB>question), as Pyserini reads them."""
    from xqg_pyserini.data.io import read_tsv

    return dict(read_tsv(require_file(path, "topics file"), 2))


def run_path(runs_dir: str | os.PathLike, method: str, lang: str) -> Path:
    """Where a method's run for one language lives: ``<runs_dir>/<method>.<lang>.trec``."""
    return Path(runs_dir) / f"{method}.{lang}.trec"
