"""Data preparation: turn QA data sets into cross-lingual retrieval benchmarks.

A benchmark is a directory a Pyserini user recognises:

    corpus/docs.jsonl        Pyserini JsonCollection of the English passages (id, contents, title, text)
    topics.<lang>.tsv        qid <TAB> question, one file per question language
    qrels.<lang>.txt         TREC qrels (qid 0 docid 1)
    answers.<lang>.jsonl     {"id", "answers"}: the English answers, for the answer-based R@kt metrics
    split.tsv                docid <TAB> train|test  (XQuAD: articles 0-35 train, 36-47 test)
    benchmark.json           manifest: source files, languages, counts

Sources: a directory of SQuAD-format files, one per language (``xquad.<lang>.json`` or
``<lang>.json``) whose non-English question ids match the English file's; and XOR-TyDi's
XOR-Retrieve jsonl (questions and answers only: its 18M-passage corpus is not available offline).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from xqg_pyserini.data.corpus import clean_text, read_corpus
from xqg_pyserini.data.io import InputError, atomic_dir, read_jsonl, read_tsv, require_file

#: XQuAD articles (by position in xquad.en.json) that a generator or retriever may learn from.
TRAIN_ARTICLES = range(0, 36)
#: How many articles XQuAD has: with its file names, how :func:`is_xquad` recognises it.
XQUAD_ARTICLES = 48
PIVOT = "en"


def default_data_dir() -> Path:
    """``../shared/data`` seen from the project root (``$XQG_DATA`` overrides it)."""
    import os

    if os.environ.get("XQG_DATA"):
        return Path(os.environ["XQG_DATA"])
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass(frozen=True)
class Passage:
    docid: str
    title: str
    text: str
    split: str = "test"

    @property
    def contents(self) -> str:
        return f"{self.title} {self.text}" if self.title else self.text


@dataclass(frozen=True)
class Question:
    qid: str
    lang: str
    text: str
    answers: tuple[str, ...] = ()
    docid: str | None = None


@dataclass
class Benchmark:
    """English passages plus questions per language, with qrels derived from question -> docid."""

    passages: dict[str, Passage]
    questions: dict[str, list[Question]]
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        return sorted(self.questions)

    def split_of(self, docid: str) -> str:
        return self.passages[docid].split

    def topics(self, lang: str, split: str | None = None) -> dict[str, str]:
        """qid -> question text, optionally only questions about passages of one split."""
        return {q.qid: q.text for q in self._select(lang, split)}

    def qrels(self, lang: str, split: str | None = None) -> dict[str, dict[str, int]]:
        return {q.qid: {q.docid: 1} for q in self._select(lang, split) if q.docid}

    def answers(self, lang: str, split: str | None = None) -> dict[str, list[str]]:
        return {q.qid: list(q.answers) for q in self._select(lang, split)}

    def _select(self, lang: str, split: str | None) -> list[Question]:
        if lang not in self.questions:
            raise InputError(None, f"no questions in language {lang!r}; have {' '.join(self.languages)}")
        qs = self.questions[lang]
        if split in (None, "all"):
            return qs
        return [q for q in qs if q.docid and self.passages[q.docid].split == split]

    def save(self, out_dir: str | Path, overwrite: bool = True) -> Path:
        """Write the benchmark directory atomically (see module docstring for the layout); an existing
        directory is replaced only if it is an earlier benchmark directory (and ``overwrite``)."""
        out = Path(out_dir)
        with atomic_dir(out, overwrite, command="prepare", legacy=("benchmark.json",)) as tmp:
            (tmp / "corpus").mkdir()
            with open(tmp / "corpus" / "docs.jsonl", "w", encoding="utf-8") as f:
                for p in self.passages.values():
                    row = {"id": p.docid, "contents": p.contents, "title": p.title, "text": p.text}
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            with open(tmp / "split.tsv", "w", encoding="utf-8") as f:
                f.writelines(f"{p.docid}\t{p.split}\n" for p in self.passages.values())
            for lang, qs in self.questions.items():
                with open(tmp / f"topics.{lang}.tsv", "w", encoding="utf-8") as f:
                    f.writelines(f"{q.qid}\t{q.text}\n" for q in qs)
                with open(tmp / f"qrels.{lang}.txt", "w", encoding="utf-8") as f:
                    f.writelines(f"{q.qid} 0 {q.docid} 1\n" for q in qs if q.docid)
                with open(tmp / f"answers.{lang}.jsonl", "w", encoding="utf-8") as f:
                    for q in qs:
                        f.write(json.dumps({"id": q.qid, "answers": list(q.answers)}, ensure_ascii=False) + "\n")
            manifest = {
                "languages": self.languages,
                "passages": len(self.passages),
                "questions": {lang: len(qs) for lang, qs in self.questions.items()},
                "sources": self.sources,
            }
            (tmp / "benchmark.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        return out

    @classmethod
    def load(cls, bench_dir: str | Path) -> "Benchmark":
        """Read a directory written by :meth:`save`."""
        root = require_file(bench_dir, "benchmark directory")
        manifest = json.loads(require_file(root / "benchmark.json").read_text())
        splits = dict(read_tsv(root / "split.tsv", 2)) if (root / "split.tsv").exists() else {}
        passages = {p.docid: Passage(p.docid, p.title, p.text, splits.get(p.docid, "test"))
                    for p in read_corpus(root / "corpus" / "docs.jsonl")}
        questions = {}
        for lang in manifest["languages"]:
            answers = {str(o["id"]): tuple(o.get("answers", ())) for _, o in read_jsonl(root / f"answers.{lang}.jsonl")}
            qrels = {}
            if (root / f"qrels.{lang}.txt").exists():
                for qid, _, docid, _rel in read_tsv(root / f"qrels.{lang}.txt", 4, sep=None):
                    qrels[qid] = docid
            questions[lang] = [Question(qid, lang, text, answers.get(qid, ()), qrels.get(qid))
                               for qid, text in read_tsv(root / f"topics.{lang}.tsv", 2)]
        return cls(passages, questions, manifest.get("sources", {}))


# ----------------------------------------------------------------------------- SQuAD / XQuAD

def find_squad_files(data_dir: str | Path) -> dict[str, Path]:
    """Language -> file for ``xquad.<lang>.json`` or ``<lang>.json`` in ``data_dir``."""
    root = require_file(data_dir, "data directory")
    files: dict[str, Path] = {}
    for path in sorted(root.glob("*.json")):
        m = re.fullmatch(r"(?:xquad\.)?([a-z]{2,3}(?:[-_][A-Za-z]+)?)\.json", path.name)
        if m:
            files[m.group(1)] = path
    if PIVOT not in files:
        raise InputError(root, f"no English file (xquad.{PIVOT}.json or {PIVOT}.json) found")
    return files


def _load_squad(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(path, f"malformed JSON ({err.msg})", line=err.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError(path, 'not SQuAD format (no top-level "data" list)')
    return data["data"]


def _line_of(path: Path, needle: str) -> int | None:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if needle in line:
                return number
    return None


def _answer_texts(qa: dict) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a["text"] for a in qa.get("answers", [])))


def is_xquad(english_file: Path, articles: int) -> bool:
    """XQuAD itself: its file name (``xquad.en.json``) and its 48 articles. Only XQuAD has the article
    split (``TRAIN_ARTICLES``); applying it to another data set would hide questions as ``train``."""
    return english_file.name == f"xquad.{PIVOT}.json" and articles == XQUAD_ARTICLES


def load_squad_dir(data_dir: str | Path | None = None, languages: Iterable[str] | None = None,
                   train_articles: range = TRAIN_ARTICLES, split_articles: bool | None = None) -> Benchmark:
    """Build a benchmark from per-language SQuAD files whose question ids match the English file's.

    Passages are the English paragraphs, docid ``<title>_<paragraph index>``; each non-English
    question is relevant to the English paragraph holding the question with the same id. A
    question's answers are the ENGLISH answers of that id: they are matched against English
    passages (R@kt), as XOR-Retrieve matches English answers. Articles in ``train_articles`` are
    ``train`` if ``split_articles`` is true, or if it is None and the data set :func:`is_xquad`;
    otherwise every passage is ``test``.
    """
    root = Path(data_dir) if data_dir else default_data_dir() / "xquad"
    files = find_squad_files(root)
    english = _load_squad(files[PIVOT])
    if split_articles is None:
        split_articles = is_xquad(files[PIVOT], len(english))
    train_articles = train_articles if split_articles else range(0)
    wanted = set(languages) if languages else set(files) - {PIVOT}
    missing = wanted - set(files)
    if missing:
        raise InputError(root, f"no SQuAD file for language(s) {sorted(missing)}")
    passages: dict[str, Passage] = {}
    owner: dict[str, str] = {}  # English question id -> docid
    english_answers: dict[str, tuple[str, ...]] = {}
    for a, article in enumerate(english):
        title = str(article.get("title", f"article{a}"))
        split = "train" if a in train_articles else "test"
        for p, para in enumerate(article.get("paragraphs", [])):
            docid = f"{re.sub(r'[^0-9A-Za-z_.-]+', '_', title)}_{p}"
            if docid in passages:
                raise InputError(files[PIVOT], f"duplicate paragraph id {docid}")
            passages[docid] = Passage(docid, clean_text(title.replace("_", " ")), clean_text(para["context"]), split)
            for qa in para.get("qas", []):
                owner[str(qa["id"])] = docid
                english_answers[str(qa["id"])] = _answer_texts(qa)
    questions: dict[str, list[Question]] = {}
    for lang in sorted(wanted):
        path = files[lang]
        qs = []
        for article in _load_squad(path):
            for para in article.get("paragraphs", []):
                for qa in para.get("qas", []):
                    qid = str(qa.get("id", ""))
                    if qid not in owner:
                        raise InputError(path, f"question id {qid!r} has no English counterpart in {files[PIVOT].name}",
                                         line=_line_of(path, f'"{qid}"'))
                    qs.append(Question(qid, lang, clean_text(qa["question"]), english_answers[qid], owner[qid]))
        questions[lang] = qs
    return Benchmark(passages, questions, {lang: str(files[lang]) for lang in sorted(wanted | {PIVOT})})


# ----------------------------------------------------------------------------- XOR-TyDi

def read_xor_retrieve(path: str | Path) -> dict[str, list[Question]]:
    """XOR-Retrieve jsonl (id, question, answers, lang) -> questions per language.

    The official train file spells Arabic ``" ar"``; language codes are stripped.
    """
    p = require_file(path)
    out: dict[str, list[Question]] = {}
    for number, row in read_jsonl(p):
        for key in ("id", "question", "lang"):
            if key not in row:
                raise InputError(p, f"missing field {key!r}", line=number)
        lang = str(row["lang"]).strip()
        answers = tuple(str(a) for a in row.get("answers", []))
        out.setdefault(lang, []).append(Question(str(row["id"]), lang, clean_text(row["question"]), answers))
    if not out:
        raise InputError(p, "no questions found")
    return out


def xquad_training_pairs(bench: Benchmark, split: str = "train",
                         languages: Iterable[str] | None = None) -> list[tuple[Passage, Question]]:
    """(English passage, question in language L) pairs of one split, for generator/retriever training."""
    langs = list(languages) if languages else bench.languages
    pairs = []
    for lang in langs:
        for q in bench._select(lang, split):
            pairs.append((bench.passages[q.docid], q))
    return pairs
