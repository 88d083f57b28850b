"""R@kt, the XOR-Retrieve measure: does an answer occur in the first k word tokens of the ranking?

It follows the official XOR-Retrieve script (see ``shared/data/SOURCES.md``), quirks included:
NLTK's word tokenizer (punkt_tab, shipped in the package), yes/no answers dropped, and a raw
case-sensitive substring test on the joined tokens.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from xqg_pyserini.data.benchmarks import default_data_dir
from xqg_pyserini.data.io import InputError, resources_dir
from xqg_pyserini.data.trec import ranked

KT = (2000, 5000)


def _nltk_data_dirs() -> list[Path]:
    """Where punkt_tab is looked for: $NLTK_DATA, <data dir>/nltk_data, the copy in this package."""
    dirs = [Path(d) for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d]
    return dirs + [default_data_dir() / "nltk_data", resources_dir() / "nltk_data"]


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
