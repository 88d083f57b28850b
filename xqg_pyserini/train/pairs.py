"""Training pairs for the query generator: (English passage -> question in language L).

Three sources: XQuAD's TRAIN articles (the default), a JSONL file of pairs, and generated questions
of a corpus's passages (to distil a decoding into the adapter).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from xqg_pyserini.data.io import InputError, read_jsonl
from xqg_pyserini.data.languages import XQUAD_LANGUAGES, check_languages


@dataclass(frozen=True)
class Pair:
    """One training example: a passage and a question about it in ``lang``."""
    title: str
    passage: str
    lang: str
    question: str


def xquad_pairs(split: str = "train", languages: Sequence[str] = XQUAD_LANGUAGES,
                data_dir: str | Path | None = None) -> list[Pair]:
    """XQuAD (passage, question) pairs of one split (TRAIN = articles 0-35)."""
    from xqg_pyserini.data.benchmarks import load_squad_dir, xquad_training_pairs

    bench = load_squad_dir(data_dir, check_languages(list(languages)))
    return [Pair(p.title, p.text, q.lang, q.text) for p, q in xquad_training_pairs(bench, split, languages)]


def read_pairs(path: str | Path) -> list[Pair]:
    """Training pairs from JSONL: {"title", "passage", "lang", "question"} per line."""
    pairs = []
    for number, row in read_jsonl(path):
        for key in ("passage", "lang", "question"):
            if not str(row.get(key, "")).strip():
                raise InputError(path, f"missing or empty field {key!r}", line=number)
        try:
            check_languages([row["lang"]])
        except InputError as err:
            raise InputError(path, err.problem, line=number) from None
        pairs.append(Pair(str(row.get("title", "")), str(row["passage"]), row["lang"], str(row["question"])))
    return pairs


def generated_pairs(queries: str | Path, corpus: str | Path, split: str = "train",
                    languages: Sequence[str] = XQUAD_LANGUAGES, allow_incomplete: bool = False) -> list[Pair]:
    """The generated questions of one split's passages (``split.tsv`` beside ``corpus``) as training
    pairs. Why: a decoding the adapter does not do by itself (the contrast) can be distilled into it
    by training on its outputs, so that plain sampling writes such questions at plain sampling's cost.
    A docid missing from the corpus is an error at its line; other splits, other languages and
    empty questions are skipped."""
    from xqg_pyserini.data.corpus import read_corpus
    from xqg_pyserini.generation.queries import check_complete, iter_query_rows
    from xqg_pyserini.generation.runner import split_docids

    check_complete(queries, allow_incomplete)
    passages = {p.docid: p for p in read_corpus(corpus)}
    wanted = set(passages) if split == "all" else split_docids(corpus, split)
    pairs = []
    for number, docid, lang, _, query in iter_query_rows(queries):
        passage = passages.get(docid)
        if passage is None:
            raise InputError(queries, f"docid {docid!r} is not in the corpus {corpus}", line=number)
        if docid in wanted and lang in languages and query.strip():
            pairs.append(Pair(passage.title, passage.text, lang, query.strip()))
    if not pairs:
        raise InputError(queries, f"no generated questions of {split!r} passages in {', '.join(languages)}")
    return pairs
