"""Answer-based evaluation of any TREC run over any corpus: no qrels needed.

MKQA and XOR-Retrieve come with answers, not relevant passages, so a run is judged by whether the
passages it ranks contain an answer:

* R@2kt / R@5kt: the official XOR-Retrieve definition, computed by
  :func:`xqg_pyserini.evaluation.xor_recall` (nltk tokens of the ranked passages cut at k tokens,
  raw case-sensitive substring, yes/no answers dropped, only questions present in the run counted).
* Acc@k (k = 1, 5, 20, 100 by default): top-k retrieval accuracy of open-domain QA (DPR): a hit
  when an answer or alias occurs in one of the first k passages. Matching is a raw CASE-SENSITIVE
  substring test on the passage text, the same test R@kt applies, so the two differ only in where
  the ranking is cut (k passages vs k tokens). ``case_sensitive=False`` casefolds both sides
  (closer to DPR's lower-cased token match, which is not identical: it also normalises Unicode
  and requires token boundaries). Acc@k counts the same questions as R@kt.

Scores are percentages, as XOR-Retrieve and DPR report them. Passage text is the JsonCollection
row's ``text`` (without the title, as the R@kt script uses it), or ``contents`` when there is none.

The corpus is streamed: the runs are read first, their docids collected, and only those passages
are kept; a line whose leading ``"id"`` is not wanted is not even JSON-parsed (a corpus of
millions of passages costs one pass, not its size in memory).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from xqg_pyserini.data.benchmarks import read_xor_retrieve
from xqg_pyserini.data.corpus import corpus_files as _collection_files
from xqg_pyserini.data.io import InputError, require_file
from xqg_pyserini.data.mkqa import iter_json_lines, iter_lines
from xqg_pyserini.data.trec import ranked, read_run
from xqg_pyserini.evaluation.rkt import KT, _span_answers, xor_recall

__all__ = ["DEFAULT_KS", "corpus_files", "evaluate_answers", "format_answer_table",
           "load_passages", "read_answers", "score_answers"]

Run = dict[str, dict[str, float]]
PathLike = str | os.PathLike

DEFAULT_KS = (1, 5, 20, 100)
_CORPUS_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
# A JsonCollection line that starts with its "id" (the usual layout): the id can be read without
# parsing the line. Escaped ids fall back to a full parse.
_LEADING_ID = re.compile(r'\s*\{\s*"id"\s*:\s*"([^"\\]*)"')
_ANSWERS_NAME = re.compile(r"answers\.(.+?)\.jsonl(?:\.gz)?$")


# ----------------------------------------------------------------------------- answers
def _label_of(path: Path) -> str:
    """Language of ``answers.<lang>.jsonl``; otherwise the file name without its suffixes."""
    m = _ANSWERS_NAME.search(path.name)
    return m.group(1) if m else path.name.split(".")[0]


def read_answers(path: PathLike) -> dict[str, dict[str, list[str]]]:
    """{lang: {qid: [answer, ...]}} from an answers file.

    Two formats: a prepared benchmark's ``answers.<lang>.jsonl`` (``{"id", "answers"}``, language
    from the file name; MKQA's and XQuAD's), or XOR-Retrieve's jsonl (``{"id", "question",
    "answers", "lang"}``, read by :func:`xqg_pyserini.data.read_xor_retrieve`, language per row).
    """
    p = require_file(path, "answers file")
    first = next(iter_json_lines(p), None)
    if first is None:
        raise InputError(p, "no answers found")
    if "lang" in first[1] and "question" in first[1]:
        return {lang: {q.qid: list(q.answers) for q in qs} for lang, qs in read_xor_retrieve(p).items()}
    answers: dict[str, list[str]] = {}
    for number, row in iter_json_lines(p):
        if "id" not in row or "answers" not in row:
            raise InputError(p, "expected {\"id\", \"answers\"} (or an XOR-Retrieve row)", line=number)
        strings = row["answers"]
        if not isinstance(strings, list) or not all(isinstance(a, str) for a in strings):
            raise InputError(p, "'answers' must be a list of strings", line=number)
        qid = str(row["id"])
        if qid in answers:
            raise InputError(p, f"question {qid} appears twice", line=number)
        answers[qid] = strings
    return {_label_of(p): answers}


# ----------------------------------------------------------------------------- corpus
def corpus_files(corpus: PathLike) -> list[Path]:
    """The files of a JsonCollection: the file itself, or a directory's .jsonl/.json(.gz) files."""
    return _collection_files(corpus, _CORPUS_SUFFIXES)


def _passage_text(row: dict, path: Path, line: int) -> str:
    """The text answers are looked for in: ``text`` (no title, as R@kt), else ``contents``."""
    text = row.get("text", row.get("contents"))
    if not isinstance(text, str):
        raise InputError(path, f"passage {row['id']} has no 'text' or 'contents' string", line=line)
    return text


def load_passages(corpus: PathLike, docids: Iterable[str]) -> dict[str, str]:
    """Stream ``corpus`` and keep {docid: text} for the wanted ``docids`` only.

    Docids not found are simply absent (the caller names the run that wanted them); a wanted docid
    found twice is an InputError.
    """
    wanted = set(docids)
    kept: dict[str, str] = {}
    where: dict[str, str] = {}
    for path in corpus_files(corpus):
        for number, line in iter_lines(path):
            m = _LEADING_ID.match(line)
            if m and m.group(1) not in wanted:
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(path, f"malformed JSON ({err.msg})", line=number) from None
            if not isinstance(row, dict) or "id" not in row:
                raise InputError(path, "a corpus line must be a JSON object with an 'id'", line=number)
            docid = str(row["id"])
            if docid not in wanted:
                continue
            if docid in kept:
                raise InputError(path, f"docid {docid} appears twice in the corpus (first at {where[docid]})",
                                 line=number)
            kept[docid] = _passage_text(row, path, number)
            where[docid] = f"{path}:{number}"
    return kept


# ----------------------------------------------------------------------------- scoring
def _prepare(answer: str, case_sensitive: bool) -> str:
    return answer if case_sensitive else answer.casefold()


def _first_hit(texts: Sequence[str], kept: Sequence[str], case_sensitive: bool) -> int | None:
    """1-based rank of the first passage holding an answer (None: none of ``texts`` does)."""
    for rank, text in enumerate(texts, start=1):
        text = _prepare(text, case_sensitive)
        if any(a in text for a in kept):
            return rank
    return None


def _column(k: int) -> str:
    return f"R@{k // 1000}kt" if k % 1000 == 0 else f"R@{k}t"


def score_answers(run: Mapping[str, Mapping[str, float]], answers: Mapping[str, Sequence[str]],
                  passages: Mapping[str, str], ks: Sequence[int] = DEFAULT_KS, kt: Sequence[int] = KT,
                  case_sensitive: bool = True) -> dict:
    """Score one run (one language) in memory: R@kt via :func:`xor_recall`, then Acc@k.

    Counted questions: in the run and in ``answers`` with an answer other than yes/no (R@kt's
    rule, shared by Acc@k). Returns {column: percent or None, "questions", "not_in_run",
    "no_span_answer", "per_query": {column: {qid: 0/1}}} (per_query feeds paired tests).
    """
    out: dict = {}
    per_query: dict[str, dict[str, float]] = {}
    for k in kt:
        result = xor_recall(run, passages, answers, k)
        out[_column(k)] = result["score"]
        per_query[_column(k)] = result["per_query"]
    depth = max(ks, default=0)
    first_hit: dict[str, int | None] = {}
    for qid in sorted(run):
        kept = [_prepare(a, case_sensitive) for a in _span_answers(answers.get(qid, ()))]
        if not kept:  # not in answers, or only yes/no: not counted, as in xor_recall
            continue
        try:
            top = [passages[docid] for docid, _ in ranked(run[qid])[:depth]]
        except KeyError as err:
            raise InputError(None, f"run for query {qid} retrieves docid {err.args[0]}, "
                                   "which has no passage text") from None
        first_hit[qid] = _first_hit(top, kept, case_sensitive)
    n = len(first_hit)
    for k in ks:
        hits = {qid: float(rank is not None and rank <= k) for qid, rank in first_hit.items()}
        out[f"Acc@{k}"] = 100.0 * sum(hits.values()) / n if n else None
        per_query[f"Acc@{k}"] = hits
    out["questions"] = n
    out["not_in_run"] = sum(1 for qid in answers if qid not in run)
    out["no_span_answer"] = sum(1 for qid in answers if qid in run and not _span_answers(answers[qid]))
    out["per_query"] = per_query
    return out


# ----------------------------------------------------------------------------- files
def _as_list(value: PathLike | Sequence[PathLike]) -> list[Path]:
    items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    if not items:
        raise InputError(None, "no file given")
    return [Path(v) for v in items]


def _run_line(path: Path, qid: str, docid: str) -> int | None:
    for number, line in iter_lines(path):
        fields = line.split()
        if len(fields) >= 3 and fields[0] == qid and fields[2] == docid:
            return number
    return None


def evaluate_answers(run: PathLike | Sequence[PathLike], answers: PathLike | Sequence[PathLike],
                     corpus: PathLike, ks: Sequence[int] = DEFAULT_KS, kt: Sequence[int] = KT,
                     case_sensitive: bool = True, per_query: bool = False) -> dict:
    """Score TREC run file(s) by the answers their passages contain: R@2kt, R@5kt, Acc@k per language.

    ``run`` and ``answers``: one file each, or lists paired by position (one answers file may serve
    every run). Answers files are ``answers.<lang>.jsonl`` (language from the name) or
    XOR-Retrieve jsonl (language per question, so one run may span languages). Each language must
    come from one run only. ``corpus``: a JsonCollection jsonl(.gz) file or directory, streamed
    once keeping only the passages the runs retrieve; a retrieved docid missing from it is an
    InputError naming the run file (and line) and the docid. Matching is case-sensitive unless
    ``case_sensitive=False`` (R@kt always is, as the official script).

    Returns a JSON-ready dict: {"columns", "languages": {lang: {column: percent, "questions",
    "not_in_run", "no_span_answer", "run", "answers"}}, "macro": {column: mean over languages},
    "corpus", "passages", "case_sensitive"}; with ``per_query=True`` each language also holds
    {"per_query": {column: {qid: 0/1}}}.
    """
    ks = tuple(sorted(set(int(k) for k in ks)))
    kt = tuple(int(k) for k in kt)
    if any(k < 1 for k in ks + kt):
        raise InputError(None, f"cut-offs must be positive, got ks={ks} kt={kt}")
    runs, answer_files = _as_list(run), _as_list(answers)
    if len(answer_files) not in (1, len(runs)):
        raise InputError(None, f"{len(runs)} runs but {len(answer_files)} answers files: give one answers "
                               "file for all runs or one per run")
    if len(answer_files) == 1:
        answer_files = answer_files * len(runs)
    read = {p: read_answers(p) for p in dict.fromkeys(answer_files)}
    loaded = {p: read_run(p) for p in dict.fromkeys(runs)}

    # (language, run file, answers file, sub-run): the questions of each language each run answers.
    units: dict[str, tuple[Path, Path, Run]] = {}
    for run_path, answers_path in zip(runs, answer_files):
        matched = False
        for lang, lang_answers in read[answers_path].items():
            sub = {qid: docs for qid, docs in loaded[run_path].items() if qid in lang_answers}
            if not sub:
                continue
            matched = True
            if lang in units:
                raise InputError(run_path, f"language {lang!r} is already scored from run {units[lang][0]}: "
                                           "evaluate one system at a time")
            units[lang] = (run_path, answers_path, sub)
        if not matched:
            raise InputError(run_path, f"no query of this run is in the answers file {answers_path}")

    wanted = {docid for r in loaded.values() for docs in r.values() for docid in docs}
    passages = load_passages(corpus, wanted)
    for run_path, r in loaded.items():
        for qid in sorted(r):
            for docid in sorted(r[qid]):
                if docid not in passages:
                    raise InputError(run_path, f"docid {docid} (query {qid}) is not in the corpus {corpus}",
                                     line=_run_line(run_path, qid, docid))

    columns = [_column(k) for k in kt] + [f"Acc@{k}" for k in ks]
    languages: dict[str, dict] = {}
    for lang in sorted(units):
        run_path, answers_path, sub = units[lang]
        scores = score_answers(sub, read[answers_path][lang], passages, ks, kt, case_sensitive)
        pq = scores.pop("per_query")
        row = {**scores, "run": str(run_path), "answers": str(answers_path)}
        if per_query:
            row["per_query"] = pq
        languages[lang] = row
    macro: dict[str, float | None] = {}
    for c in columns:
        values = [row[c] for row in languages.values() if row[c] is not None]
        macro[c] = sum(values) / len(values) if values else None
    macro["questions"] = sum(row["questions"] for row in languages.values())
    return {"columns": columns, "languages": languages, "macro": macro, "corpus": str(corpus),
            "passages": len(passages), "case_sensitive": case_sensitive}


def format_answer_table(result: Mapping) -> str:
    """Fixed-width text of :func:`evaluate_answers`' result: a line per language, then the macro
    average; scores in percent with two decimals, "-" where nothing was counted."""
    columns = list(result["columns"]) + ["questions"]
    width = max([9] + [len(c) for c in columns])
    names = list(result["languages"])
    label = max([8] + [len(n) + 1 for n in names])
    header = "lang".ljust(label) + "".join(c.rjust(width + 1) for c in columns)
    lines = [header]

    def cells(row: Mapping) -> str:
        out = []
        for c in columns:
            v = row.get(c)
            out.append("-" if v is None else str(v) if c == "questions" else f"{v:.2f}")
        return "".join(cell.rjust(width + 1) for cell in out)

    for name in names:
        lines.append(name.ljust(label) + cells(result["languages"][name]))
    lines.append("-" * len(header))
    lines.append("macro".ljust(label) + cells(result["macro"]))
    return "\n".join(lines)
