"""Retriever training data in Tevatron's JSONL layout: read (with validation), build from XQuAD, write.

One line per query::

    {"query_id": "56be4db0acb8001400a502ec-de", "query": "...", "lang": "de", "pivot_query": "...",
     "positive_passages": [{"docid": "...", "title": "...", "text": "..."}],
     "negative_passages": [{"docid": "...", "title": "...", "text": "..."}, ...]}

``lang`` and ``pivot_query`` (the parallel English question) are our additions; Tevatron ignores them,
and cross-lingual distillation needs them. Files built here carry passage text, so they stand alone;
a file whose passages have only a docid needs the corpus to fill the text in.

Hard negatives are mined with this project's indexes (BM25 or dense), from TRAIN-article questions
only, and by default only TRAIN-article passages are kept as negatives, so nothing of the test
articles is seen in training.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from xqg_pyserini.data.benchmarks import PIVOT, Benchmark, Passage, Question, load_squad_dir
from xqg_pyserini.data.io import InputError, atomic_file, read_jsonl

MINERS = ("dense", "bm25", "none")


@dataclass(frozen=True)
class PassageRef:
    docid: str
    title: str
    text: str


@dataclass
class TrainingExample:
    query_id: str
    query: str
    positives: list[PassageRef]
    negatives: list[PassageRef] = field(default_factory=list)
    lang: str | None = None
    pivot_query: str | None = None  # the parallel English question, for distillation

    def to_json(self) -> dict:
        row = {"query_id": self.query_id, "query": self.query,
               "positive_passages": [vars(p) for p in self.positives],
               "negative_passages": [vars(p) for p in self.negatives]}
        if self.lang:
            row["lang"] = self.lang
        if self.pivot_query:
            row["pivot_query"] = self.pivot_query
        return row


def _passages(path: Path, number: int, row: dict, key: str, corpus: Mapping[str, Passage] | None) -> list[PassageRef]:
    value = row.get(key, [])
    if not isinstance(value, list):
        raise InputError(path, f"{key} must be a list", line=number)
    out = []
    for item in value:
        if not isinstance(item, dict) or item.get("docid") in (None, ""):
            raise InputError(path, f"every entry of {key} needs a docid", line=number)
        docid = str(item["docid"])
        known = corpus.get(docid) if corpus is not None else None
        if corpus is not None and known is None:
            raise InputError(path, f"unknown passage id {docid!r} in {key} (not in the corpus)", line=number)
        text = item.get("text", known.text if known else None)
        if not isinstance(text, str) or not text.strip():
            raise InputError(path, f"passage {docid!r} in {key} has no text (give the corpus to look it up)",
                             line=number)
        title = item.get("title", known.title if known else "")
        out.append(PassageRef(docid, str(title or ""), text))
    return out


def read_training_file(path: str | Path, corpus: Mapping[str, Passage] | None = None) -> list[TrainingExample]:
    """Parse and validate a Tevatron-layout training file.

    With ``corpus`` ({docid: Passage}) every docid must be in it and missing texts are filled in;
    without it every passage must carry its text. Errors name the file and line.
    """
    p = Path(path)
    examples, seen = [], set()
    for number, row in read_jsonl(p):
        query = row.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InputError(p, "missing or empty query", line=number)
        positives = _passages(p, number, row, "positive_passages", corpus)
        if not positives:
            raise InputError(p, "query has no positive passages", line=number)
        query_id = str(row.get("query_id", number))
        if query_id in seen:
            raise InputError(p, f"duplicate query_id {query_id!r}", line=number)
        seen.add(query_id)
        pivot = row.get("pivot_query")
        examples.append(TrainingExample(query_id, query, positives, _passages(p, number, row, "negative_passages", corpus),
                                        row.get("lang"), pivot if isinstance(pivot, str) and pivot.strip() else None))
    if not examples:
        raise InputError(p, "training file is empty (no queries)")
    return examples


def is_training_file(path: Path) -> bool:
    """Whether ``path`` starts like a Tevatron training file (what build-training-data may replace)."""
    try:
        with open(path, encoding="utf-8") as f:
            row = json.loads(f.readline())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(row, dict) and "query" in row and "positive_passages" in row


def write_training_file(examples: Iterable[TrainingExample], path: str | Path, overwrite: bool = True) -> Path:
    """Write the Tevatron JSONL atomically; an existing file is replaced only if it is one (and ``overwrite``)."""
    with atomic_file(path, command="build-training-data", overwrite=overwrite, recognise=is_training_file) as out:
        for ex in examples:
            out.write(json.dumps(ex.to_json(), ensure_ascii=False) + "\n")
    return Path(path)


def english_questions(data_dir: str | Path | None = None) -> dict[str, str]:
    """qid -> the English (pivot) question, read from xquad.en.json."""
    return {q.qid: q.text for q in load_squad_dir(data_dir, [PIVOT]).questions[PIVOT]}


# ----------------------------------------------------------------------------- mining

def _ref(p: Passage) -> PassageRef:
    return PassageRef(p.docid, p.title, p.text)


def _searcher(miner: str, index: str | Path | None, encoder):
    from xqg_pyserini.search.searchers import bm25_searcher, dense_searcher

    default = Path("indexes/xquad") / ("bm25" if miner == "bm25" else "e5-small")
    return bm25_searcher(index or default) if miner == "bm25" else dense_searcher(index or default, encoder)


def mine_negatives(questions: Sequence[Question], bench: Benchmark, miner: str = "dense",
                   index: str | Path | None = None, encoder="multilingual-e5-small",
                   pivot: Mapping[str, str] | None = None, depth: int = 30, pool: str = "train",
                   drop_answer_matches: bool = True) -> dict[tuple[str, str], list[str]]:
    """(qid, lang) -> hard-negative docids, best first.

    Each question searches ``index`` (BM25 over the English passages, or the dense index) with its own
    text, or with its English version when ``pivot`` is given. The positive, passages outside ``pool``
    ("train": train-article passages; "all": the whole corpus) and, when ``drop_answer_matches``,
    passages containing one of the (English) answers are dropped: they may well be relevant.
    """
    if miner not in MINERS or miner == "none":
        raise InputError(None, f"miner must be 'dense' or 'bm25', not {miner!r}")
    if pool not in ("train", "all"):
        raise InputError(None, f"pool must be 'train' or 'all', not {pool!r}")
    from xqg_pyserini.search.searchers import search

    texts = {f"{q.qid}|{q.lang}": (pivot[q.qid] if pivot else q.text) for q in questions}
    run = search(_searcher(miner, index, encoder), texts, k=depth)
    out = {}
    for q in questions:
        hits = sorted(run.get(f"{q.qid}|{q.lang}", {}).items(), key=lambda kv: -kv[1])
        keep = []
        for docid, _ in hits:
            p = bench.passages.get(docid)
            if p is None or docid == q.docid or (pool == "train" and p.split != "train"):
                continue
            if drop_answer_matches and any(len(a) > 1 and a in p.text for a in q.answers):
                continue
            keep.append(docid)
        out[(q.qid, q.lang)] = keep
    return out


def build_training_data(out: str | Path, data_dir: str | Path | None = None, languages: Sequence[str] | None = None,
                        split: str = "train", miner: str = "dense", index: str | Path | None = None,
                        encoder="multilingual-e5-small", negatives: int = 8, depth: int = 30,
                        mine_with: str = "question", pool: str = "train", seed: int = 0) -> dict:
    """Write a Tevatron-layout file of XQuAD ``split`` questions against their English paragraphs.

    ``miner`` "none" writes random ``pool`` passages as negatives instead of mined ones. Returns counts.
    """
    if split != "train":
        raise InputError(None, f"training data must come from the train articles, not split {split!r}")
    if mine_with not in ("question", "pivot"):
        raise InputError(None, f"mine_with must be 'question' or 'pivot', not {mine_with!r}")
    if miner not in MINERS:
        raise InputError(None, f"miner must be one of {MINERS}, not {miner!r}")
    if pool not in ("train", "all"):
        raise InputError(None, f"pool must be 'train' or 'all', not {pool!r}")
    if negatives < 0 or depth < 1:
        raise InputError(None, f"negatives must not be negative and depth must be at least 1, not {negatives}, {depth}")
    bench = load_squad_dir(data_dir, languages)
    pivot = english_questions(data_dir)
    questions = [q for lang in bench.languages for q in bench._select(lang, split)]
    if miner == "none":
        rng = random.Random(seed)
        candidates = sorted(d for d, p in bench.passages.items() if pool == "all" or p.split == "train")
        mined = {(q.qid, q.lang): rng.sample([d for d in candidates if d != q.docid], negatives) for q in questions}
    else:
        mined = mine_negatives(questions, bench, miner, index, encoder,
                               pivot if mine_with == "pivot" else None, depth, pool)
    examples = [TrainingExample(f"{q.qid}-{q.lang}", q.text, [_ref(bench.passages[q.docid])],
                                [_ref(bench.passages[d]) for d in mined[(q.qid, q.lang)][:negatives]],
                                q.lang, pivot.get(q.qid))
                for q in questions]
    write_training_file(examples, out)
    n_neg = [len(e.negatives) for e in examples]
    return {"out": str(out), "queries": len(examples), "languages": bench.languages, "miner": miner,
            "mine_with": mine_with, "pool": pool, "negatives_min": min(n_neg), "negatives_max": max(n_neg),
            "passages": len({e.positives[0].docid for e in examples})}
