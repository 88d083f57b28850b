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

Validation (:func:`hold_out`): the last K TRAIN articles (default 6 of 36) are held out: their
questions are not training queries, and their passages are neither positives nor (with the default
``pool="train"``) negatives, so they are as unseen as the TEST articles. Their questions become a
benchmark directory (all 240 passages, only the held-out questions) on which epochs and fusion
weights are chosen; TEST questions never choose anything.

Generated queries as training pairs (``generated_queries``): one example per generated query of a
passage that is still TRAIN after the hold-out; queries of TEST or held-out passages (the file has
them, for index augmentation) are skipped and counted. They are marked ``"source": "generated"``.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from xqg_pyserini.data.benchmarks import PIVOT, Benchmark, Passage, Question, load_squad_dir
from xqg_pyserini.data.io import InputError, atomic_file, read_jsonl

MINERS = ("dense", "bm25", "none")
#: The split name of the held-out TRAIN articles' passages (in split.tsv of the validation directory).
VALIDATION = "validation"
#: The ``source`` of an example built from a generated query.
GENERATED = "generated"


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
    source: str | None = None  # "generated" for a generated query; None for a real question

    def to_json(self) -> dict:
        row = {"query_id": self.query_id, "query": self.query,
               "positive_passages": [vars(p) for p in self.positives],
               "negative_passages": [vars(p) for p in self.negatives]}
        if self.lang:
            row["lang"] = self.lang
        if self.pivot_query:
            row["pivot_query"] = self.pivot_query
        if self.source:
            row["source"] = self.source
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
        pivot, source = row.get("pivot_query"), row.get("source")
        if source is not None and not isinstance(source, str):
            raise InputError(p, f"source must be a string, not {source!r}", line=number)
        examples.append(TrainingExample(query_id, query, positives, _passages(p, number, row, "negative_passages", corpus),
                                        row.get("lang"), pivot if isinstance(pivot, str) and pivot.strip() else None,
                                        source))
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
    text, or with its English version when ``pivot`` is given (a question without one, such as a
    generated query, searches with its own text). The positive, passages outside ``pool``
    ("train": train-article passages; "all": the whole corpus) and, when ``drop_answer_matches``,
    passages containing one of the (English) answers are dropped: they may well be relevant.
    """
    if miner not in MINERS or miner == "none":
        raise InputError(None, f"miner must be 'dense' or 'bm25', not {miner!r}")
    if pool not in ("train", "all"):
        raise InputError(None, f"pool must be 'train' or 'all', not {pool!r}")
    from xqg_pyserini.search.searchers import search

    texts = {f"{q.qid}|{q.lang}": (pivot.get(q.qid, q.text) if pivot else q.text) for q in questions}
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


# ----------------------------------------------------------------------------- validation and generated queries

def train_articles(bench: Benchmark) -> list[tuple[str, list[str]]]:
    """(title, docids) of each TRAIN article in corpus order (the order of xquad.en.json)."""
    articles: dict[str, list[str]] = {}
    for docid, p in bench.passages.items():
        if p.split == "train":
            articles.setdefault(p.title, []).append(docid)
    return list(articles.items())


def hold_out(bench: Benchmark, articles: int) -> tuple[Benchmark, list[str]]:
    """A copy of ``bench`` whose last ``articles`` TRAIN articles are relabelled ``validation``, and
    their titles. Deterministic (the corpus order); 0 returns ``bench`` itself."""
    if articles < 0:
        raise InputError(None, f"holdout_articles must not be negative, not {articles}")
    if not articles:
        return bench, []
    train = train_articles(bench)
    if articles >= len(train):
        raise InputError(None, f"cannot hold out {articles} articles: there are {len(train)} TRAIN articles "
                               "and at least one must stay for training")
    held = train[-articles:]
    moved = {d for _, docids in held for d in docids}
    passages = {d: replace(p, split=VALIDATION) if d in moved else p for d, p in bench.passages.items()}
    return Benchmark(passages, bench.questions, bench.sources), [title for title, _ in held]


def validation_benchmark(bench: Benchmark) -> Benchmark:
    """Every passage (the retrieval corpus stays whole), but only the questions about held-out passages."""
    questions = {lang: bench._select(lang, VALIDATION) for lang in bench.languages}
    return Benchmark(bench.passages, questions, bench.sources)


def generated_questions(path: str | Path, bench: Benchmark, allow_incomplete: bool = False
                        ) -> tuple[list[Question], dict[str, int]]:
    """Generated queries of TRAIN passages as questions (qid ``<docid>-<lang>-gen-<i>``), and what was skipped.

    Only passages whose split is ``train`` (after :func:`hold_out`) yield training pairs: queries of
    TEST and held-out passages are skipped (counted), so nothing derived from them is trained on; so
    are languages outside ``bench.languages`` and empty queries. A docid missing from the corpus is an
    error at its line (the file was generated for another corpus).
    """
    from xqg_pyserini.generation.queries import check_complete, iter_query_rows

    check_complete(path, allow_incomplete)
    skipped = {"test": 0, VALIDATION: 0, "other_language": 0, "empty": 0}
    out = []
    for number, docid, lang, i, query in iter_query_rows(path):
        passage = bench.passages.get(docid)
        if passage is None:
            raise InputError(path, f"docid {docid!r} is not in the corpus", line=number)
        if passage.split != "train":
            skipped[passage.split if passage.split in skipped else "test"] += 1
        elif lang not in bench.questions:
            skipped["other_language"] += 1
        elif not query.strip():
            skipped["empty"] += 1
        else:
            out.append(Question(f"{docid}-{lang}-gen-{i}", lang, query.strip(), (), docid))
    return out, skipped


def _examples(questions: Sequence[Question], bench: Benchmark, pivot: Mapping[str, str], mined: Mapping,
              negatives: int, source: str | None) -> list[TrainingExample]:
    """Real questions are ``<qid>-<lang>``; generated ones keep their qid (it names docid, language and i)."""
    return [TrainingExample(f"{q.qid}-{q.lang}" if source is None else q.qid, q.text, [_ref(bench.passages[q.docid])],
                            [_ref(bench.passages[d]) for d in mined[(q.qid, q.lang)][:negatives]],
                            q.lang, pivot.get(q.qid), source)
            for q in questions]


def default_validation_dir(out: str | Path) -> Path:
    """``<out without .jsonl>.validation``, beside the training file."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".validation")


def _validation_target(out: str | Path, validation_out: str | Path | None) -> Path:
    """Where the validation set goes; a benchmark directory that is not one (say collections/xquad,
    also written by ``xqg prepare``) is refused before any work."""
    target = Path(validation_out) if validation_out else default_validation_dir(out)
    split = target / "split.tsv"
    if split.is_file() and not any(line.endswith(f"\t{VALIDATION}")
                                   for line in split.read_text(encoding="utf-8").splitlines()):
        raise InputError(target, "is a benchmark directory without held-out passages, not a validation set; "
                                 "refusing to replace it (choose another --validation-out)")
    return target


def build_training_data(out: str | Path, data_dir: str | Path | None = None, languages: Sequence[str] | None = None,
                        split: str = "train", miner: str = "dense", index: str | Path | None = None,
                        encoder="multilingual-e5-small", negatives: int = 8, depth: int = 30,
                        mine_with: str = "question", pool: str = "train", seed: int = 0,
                        holdout_articles: int = 6, validation_out: str | Path | None = None,
                        generated_queries: str | Path | None = None, allow_incomplete: bool = False) -> dict:
    """Write a Tevatron-layout file of XQuAD ``split`` questions against their English paragraphs.

    ``miner`` "none" writes random ``pool`` passages as negatives instead of mined ones. The last
    ``holdout_articles`` TRAIN articles are held out (:func:`hold_out`); their questions are written
    as a benchmark directory, ``validation_out`` (default :func:`default_validation_dir`). With
    ``generated_queries``, one more example per generated query of a TRAIN passage. Returns counts.
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
    target = _validation_target(out, validation_out) if holdout_articles else None
    bench, held = hold_out(load_squad_dir(data_dir, languages), holdout_articles)
    pivot = english_questions(data_dir)
    questions = [q for lang in bench.languages for q in bench._select(lang, split)]
    generated, skipped = generated_questions(generated_queries, bench, allow_incomplete) if generated_queries else ([], {})
    everything = questions + generated
    if not questions:
        raise InputError(data_dir, "no TRAIN-article questions: is this XQuAD (xquad.<lang>.json, 48 articles)?")
    if miner == "none":
        rng = random.Random(seed)
        candidates = sorted(d for d, p in bench.passages.items() if pool == "all" or p.split == "train")
        mined = {(q.qid, q.lang): rng.sample([d for d in candidates if d != q.docid], negatives) for q in everything}
    else:
        mined = mine_negatives(everything, bench, miner, index, encoder,
                               pivot if mine_with == "pivot" else None, depth, pool)
    examples = _examples(questions, bench, pivot, mined, negatives, None)
    examples += _examples(generated, bench, {}, mined, negatives, GENERATED)
    write_training_file(examples, out)
    summary = {"out": str(out)}
    if held:
        validation = validation_benchmark(bench)
        validation.save(target)
        summary["validation"] = {"dir": str(target), "held_out_articles": held,
                                 "questions": {l: len(qs) for l, qs in validation.questions.items()}}
    n_neg = [len(e.negatives) for e in examples]
    return {**summary, "queries": len(examples), "queries_real": len(questions), "queries_generated": len(generated),
            "generated_skipped": skipped, "languages": bench.languages, "miner": miner, "mine_with": mine_with,
            "pool": pool, "negatives_min": min(n_neg), "negatives_max": max(n_neg),
            "passages": len({e.positives[0].docid for e in examples}),
            "train_articles": len(train_articles(bench)), "holdout_articles": len(held)}
