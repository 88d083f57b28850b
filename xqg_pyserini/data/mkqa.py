"""MKQA (Longpre et al., 2021) as cross-lingual retrieval topics: one topics file per query language
and the answers to look for in the corpus.

MKQA has 10,000 Natural Questions queries, each translated into 26 languages, with answers (and
aliases) localised per language and no passages. A run over an English corpus is scored by answer
matching (:mod:`xqg_pyserini.answer_eval`), so the answers kept for every query language are those
of the corpus's language (``answer_language``, English by default), as XOR-Retrieve pairs its
questions with English answers.

Output, per requested language L (the layout of a prepared benchmark, :mod:`xqg_pyserini.data`):

    topics.L.tsv       example_id <TAB> query in L     (Pyserini's topic format)
    answers.L.jsonl    {"id": example_id, "answers": [text, alias, ...]}   (answer_language answers)

Answer types kept: every type with a text (entity, date, number, number_with_unit, short_phrase).
``unanswerable`` and ``long_answer`` carry no text; ``binary`` (yes/no) would match nearly any passage
and the R@kt script drops yes/no anyway: all three are skipped, as XOR-Retrieve skips yes/no answers.
A question left with no answer is dropped from every language.
"""
from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path
from typing import Iterable, Iterator

from xqg_pyserini.data.corpus import clean_text
from xqg_pyserini.data.io import InputError, atomic_dir, atomic_file, claim_output, require_file

__all__ = ["MKQA_LANGUAGES", "SKIPPED_ANSWER_TYPES", "answer_strings", "iter_json_lines", "iter_lines",
           "prepare_mkqa", "read_mkqa", "write_answers", "write_topics"]

#: MKQA's 26 language codes, as its files spell them.
MKQA_LANGUAGES = ("ar", "da", "de", "en", "es", "fi", "fr", "he", "hu", "it", "ja", "km", "ko", "ms", "nl",
                  "no", "pl", "pt", "ru", "sv", "th", "tr", "vi", "zh_cn", "zh_hk", "zh_tw")
#: Answer types that never count: no text (unanswerable, long_answer) or yes/no (binary).
SKIPPED_ANSWER_TYPES = frozenset({"unanswerable", "long_answer", "binary"})


# ----------------------------------------------------------------------------- line readers
def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line) of a text file, gzip-compressed or not (told by its magic bytes, not its
    name); a broken gzip stream or non-UTF-8 bytes end in an InputError naming file and line."""
    p = require_file(path)
    if p.is_dir():
        raise InputError(p, "is a directory, expected a file")
    with open(p, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    number = 0
    try:
        with (gzip.open(p, "rt", encoding="utf-8") if gz else open(p, encoding="utf-8")) as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as err:
        raise InputError(p, f"unreadable ({type(err).__name__}: {err})", line=number + 1) from None


def iter_json_lines(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a jsonl or jsonl.gz file."""
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, f"malformed JSON ({err.msg})", line=number) from None
        if not isinstance(obj, dict):
            raise InputError(path, "expected a JSON object", line=number)
        yield number, obj


# ----------------------------------------------------------------------------- MKQA
def check_mkqa_languages(codes: Iterable[str]) -> list[str]:
    """Validate MKQA language codes (order kept, duplicates removed)."""
    out = list(dict.fromkeys(codes))
    for code in out:
        if code not in MKQA_LANGUAGES:
            raise InputError(None, f"unknown MKQA language code {code!r}; known: {' '.join(MKQA_LANGUAGES)}")
    if not out:
        raise InputError(None, "no MKQA language requested")
    return out


def answer_strings(items: list, path: str | os.PathLike, line: int) -> list[str]:
    """Texts and aliases of one language's answers, skipping :data:`SKIPPED_ANSWER_TYPES`; order
    kept, duplicates and empty strings removed."""
    if not isinstance(items, list):
        raise InputError(path, "answers of a language must be a list", line=line)
    out: list[str] = []
    for item in items:
        if not isinstance(item, dict) or "type" not in item:
            raise InputError(path, "an answer must be an object with a 'type'", line=line)
        if item["type"] in SKIPPED_ANSWER_TYPES or item.get("text") is None:
            continue
        aliases = item.get("aliases") or []
        if not isinstance(aliases, list):
            raise InputError(path, "answer 'aliases' must be a list", line=line)
        for text in [item["text"], *aliases]:
            if not isinstance(text, str):
                raise InputError(path, f"answer text {text!r} is not a string", line=line)
            if text.strip():
                out.append(text)
    return list(dict.fromkeys(out))


def read_mkqa(path: str | os.PathLike, languages: Iterable[str] | None = None,
              answer_language: str = "en") -> tuple[dict[str, dict[str, str]], dict[str, list[str]], dict]:
    """Read an MKQA jsonl(.gz) file: (topics {lang: {id: query}}, answers {id: [strings]}, counts).

    ``answers`` holds only questions with at least one countable ``answer_language`` answer; the
    topics of every language hold exactly those questions (minus any with an empty query in that
    language). ``counts``: examples read, dropped for lack of an answer, and per language the
    questions kept and those without a query. Everything is checked before anything is returned,
    so a bad line never leaves partial output behind.
    """
    langs = check_mkqa_languages(MKQA_LANGUAGES if languages is None else languages)
    check_mkqa_languages([answer_language])
    known = set(MKQA_LANGUAGES)
    topics: dict[str, dict[str, str]] = {lang: {} for lang in langs}
    answers: dict[str, list[str]] = {}
    no_query = {lang: 0 for lang in langs}
    seen: dict[str, int] = {}
    examples = no_answer = 0
    for number, row in iter_json_lines(path):
        for key in ("example_id", "queries", "answers"):
            if key not in row:
                raise InputError(path, f"missing field {key!r} (not an MKQA file?)", line=number)
        qid = str(row["example_id"]).strip()
        if not qid or any(c.isspace() for c in qid):
            raise InputError(path, f"example_id {row['example_id']!r} is empty or holds whitespace", line=number)
        if qid in seen:
            raise InputError(path, f"example_id {qid} appears twice (first on line {seen[qid]})", line=number)
        seen[qid] = number
        queries, localized = row["queries"], row["answers"]
        for field, value in (("queries", queries), ("answers", localized)):
            if not isinstance(value, dict):
                raise InputError(path, f"{field!r} must be an object keyed by language", line=number)
            unknown = sorted(set(value) - known)
            if unknown:
                raise InputError(path, f"unknown language code {unknown[0]!r} in {field!r}", line=number)
        if answer_language not in localized:
            raise InputError(path, f"no answers in language {answer_language!r}", line=number)
        examples += 1
        strings = answer_strings(localized[answer_language], path, number)
        if not strings:
            no_answer += 1
            continue
        kept = False
        for lang in langs:
            text = queries.get(lang)
            if text is not None and not isinstance(text, str):
                raise InputError(path, f"query in {lang!r} is not a string", line=number)
            text = clean_text(text or "")
            if text:
                topics[lang][qid] = text
                kept = True
            else:
                no_query[lang] += 1
        if kept:
            answers[qid] = strings
    if examples == 0:
        raise InputError(path, "no MKQA examples found")
    counts = {"examples": examples, "no_answer": no_answer,
              "languages": {lang: {"questions": len(topics[lang]), "no_query": no_query[lang]} for lang in langs}}
    return topics, answers, counts


# ----------------------------------------------------------------------------- writers
def write_topics(topics: dict[str, str], path: str | os.PathLike) -> Path:
    """Pyserini topics TSV (qid <TAB> text), written atomically."""
    with atomic_file(path) as out:
        for qid, text in topics.items():
            out.write(f"{qid}\t{clean_text(text)}\n")
    return Path(path)


def write_answers(answers: dict[str, list[str]], path: str | os.PathLike) -> Path:
    """answers.<lang>.jsonl as prepared benchmarks store them ({"id", "answers"}), atomically."""
    with atomic_file(path) as out:
        for qid, strings in answers.items():
            out.write(json.dumps({"id": qid, "answers": list(strings)}, ensure_ascii=False) + "\n")
    return Path(path)


def prepare_mkqa(file: str | os.PathLike, out_dir: str | os.PathLike, languages: Iterable[str] | None = None,
                 answer_language: str = "en", overwrite: bool = True) -> dict:
    """MKQA jsonl(.gz) -> ``topics.<lang>.tsv`` and ``answers.<lang>.jsonl`` in ``out_dir`` per language.

    ``languages``: MKQA codes (default all 26). ``answer_language``: the corpus's language, whose
    answers (text + aliases; unanswerable, long_answer and binary skipped) are kept for every query
    language. ``out_dir`` is written whole into a temporary directory swapped into place: it must be
    new, empty or an earlier ``xqg mkqa`` output (replaced only if ``overwrite``), never the input's
    folder; nothing is written when the input is bad (InputError naming file and line). Returns
    {"source", "out_dir", "answer_language", "examples", "no_answer", "languages": {lang: {"questions",
    "no_query", "topics", "answers"}}}.
    """
    out = Path(out_dir)
    claim_output(out, "mkqa", overwrite=overwrite, inputs=[file])
    topics, answers, counts = read_mkqa(file, languages, answer_language)
    with atomic_dir(out, overwrite, command="mkqa", inputs=[file]) as tmp:
        for lang, info in counts["languages"].items():
            write_topics(topics[lang], tmp / f"topics.{lang}.tsv")
            write_answers({q: answers[q] for q in topics[lang]}, tmp / f"answers.{lang}.jsonl")
            info["topics"], info["answers"] = str(out / f"topics.{lang}.tsv"), str(out / f"answers.{lang}.jsonl")
    return {"source": str(file), "out_dir": str(out), "answer_language": answer_language, **counts}
