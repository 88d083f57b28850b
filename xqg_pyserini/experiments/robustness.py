"""Robustness to misspelled queries: one searcher on the clean and on the misspelled questions of a
benchmark, per language, with a paired test (``xqg robustness``).

A benchmark is a directory of ``topics.<lang>.tsv`` judged by ``answers.<lang>.jsonl`` (``xqg mkqa``;
answer-based measures over a corpus) and/or ``qrels.<lang>.txt`` (ir_measures), or a prepared
benchmark (``xqg prepare``: also a corpus and train/test split). Questions are misspelled with
:func:`xqg_pyserini.data.noise.misspell` (a share of words, seeded); both runs are scored per question
with the evaluation code of ``xqg eval`` and compared with Fisher's paired randomization test over the
questions of each language and over all of them pooled (the "all" row).

Every question of the topics counts, in both conditions: a query that retrieves nothing (BM25 over a
corpus in another script) is a miss, not left out, so the two conditions are always paired on the
same questions. (``xqg eval --answers`` on a run file cannot tell such a query from one not asked and
leaves it out, as the XOR-Retrieve script does.)
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from xqg_pyserini.data.benchmarks import Benchmark
from xqg_pyserini.data.io import InputError, require_file, write_json
from xqg_pyserini.data.mkqa import write_topics
from xqg_pyserini.data.noise import misspell_text
from xqg_pyserini.data.trec import Run, read_qrels, read_topics, run_path, write_run
from xqg_pyserini.evaluation.answers import load_passages, read_answers, score_answers
from xqg_pyserini.evaluation.measures import LABELS, per_query
from xqg_pyserini.evaluation.significance import paired_randomization_test
from xqg_pyserini.search.config import SearchSettings

SIGNIFICANCE = "Fisher's two-sided paired randomization test (10,000 sign flips, seed 0) over the questions"
_ANSWER_MEASURE = re.compile(r"(?:R@(\d+)kt|Acc@(\d+))$")


@dataclass
class Questions:
    """One language's questions and how they are judged (answers, qrels, or both)."""

    topics: dict[str, str]
    answers: dict[str, list[str]] | None = None
    qrels: dict[str, dict[str, int]] | None = None


def load_questions(bench_dir: str | os.PathLike, languages: Sequence[str] | None = None,
                   split: str = "all") -> tuple[dict[str, Questions], Path | None]:
    """({lang: Questions}, the benchmark's own corpus or None) of a benchmark directory."""
    root = require_file(bench_dir, "benchmark directory")
    if (root / "benchmark.json").exists():
        bench = Benchmark.load(root)
        langs = _chosen(root, bench.languages, languages)
        return {lang: Questions(bench.topics(lang, split), bench.answers(lang, split), bench.qrels(lang, split))
                for lang in langs}, root / "corpus"
    if split != "all":
        raise InputError(root, f"has no train/test split (not from xqg prepare): use --split all, not {split}")
    found = sorted(p.name[len("topics."):-len(".tsv")] for p in root.glob("topics.*.tsv"))
    out = {}
    for lang in _chosen(root, found, languages):
        answers, qrels = root / f"answers.{lang}.jsonl", root / f"qrels.{lang}.txt"
        if not (answers.exists() or qrels.exists()):
            raise InputError(root / f"topics.{lang}.tsv", f"nothing to score it by: no answers.{lang}.jsonl "
                                                          f"or qrels.{lang}.txt beside it")
        out[lang] = Questions(read_topics(root / f"topics.{lang}.tsv"),
                              read_answers(answers).get(lang) if answers.exists() else None,
                              read_qrels(qrels) if qrels.exists() else None)
    return out, None


def _chosen(root: Path, found: Sequence[str], wanted: Sequence[str] | None) -> list[str]:
    if not found:
        raise InputError(root, "no topics.<lang>.tsv files (write them with: xqg mkqa or xqg prepare)")
    unknown = [lang for lang in wanted or () if lang not in found]
    if unknown:
        raise InputError(root, f"no topics in language(s) {' '.join(unknown)} (it has {' '.join(found)})")
    return list(wanted or found)


def default_measure(questions: Mapping[str, Questions]) -> str:
    """nDCG@10 when every language has qrels, else R@5kt (answers)."""
    return "nDCG@10" if all(q.qrels for q in questions.values()) else "R@5kt"


def check_measure(measure: str, questions: Mapping[str, Questions]):
    """The ir_measures measure named (None for an answer measure); every language must have what it
    needs (answers, or qrels)."""
    if _ANSWER_MEASURE.match(measure):
        needs, parsed = "answers", None
    else:
        import ir_measures

        needs = "qrels"
        try:
            parsed = ir_measures.parse_measure({label: name for name, label in LABELS.items()}.get(measure, measure))
        except (ValueError, NameError, SyntaxError):
            raise InputError(None, f"unknown measure {measure!r}: R@2kt, R@5kt, Acc@K or an ir_measures name "
                                   "such as nDCG@10") from None
    lacking = [lang for lang, q in questions.items() if getattr(q, needs) is None]
    if lacking:
        what = "answers.<lang>.jsonl" if needs == "answers" else "qrels.<lang>.txt"
        raise InputError(None, f"{measure} needs {what}, which language(s) {' '.join(lacking)} lack "
                               "(answer measures: R@2kt, R@5kt, Acc@K; qrels: ir_measures names)")
    return parsed


def question_scores(run: Run, questions: Questions, measure: str, passages: Mapping[str, str]) -> dict[str, float]:
    """Per-question score of ``measure`` (answer measures 0/1, ir_measures as they are), for every
    judged question of the topics (0 for one the run has nothing for)."""
    match = _ANSWER_MEASURE.match(measure)
    if match:
        kt = (int(match.group(1)) * 1000,) if match.group(1) else ()
        ks = (int(match.group(2)),) if match.group(2) else ()
        full = {qid: dict(run.get(qid, {})) for qid in questions.topics}
        return score_answers(full, questions.answers, passages, ks=ks, kt=kt)["per_query"][measure]
    parsed = check_measure(measure, {"": questions})
    judged = {qid: docs for qid, docs in questions.qrels.items() if qid in questions.topics}
    scores = per_query(run, judged, [parsed])[str(parsed)]
    return {qid: scores.get(qid, 0.0) for qid in judged}


def _compare(clean: Mapping[str, float], noisy: Mapping[str, float], scale: float, trials: int) -> dict:
    n = len(clean)
    row = {"questions": n, "clean": None, "misspelled": None, "diff": None, "p": None}
    if n:
        row["clean"] = scale * sum(clean.values()) / n
        row["misspelled"] = scale * sum(noisy[q] for q in clean) / n
        row["diff"] = row["misspelled"] - row["clean"]
    if n >= 2:
        row["p"] = paired_randomization_test(noisy, clean, trials=trials, seed=0)[1]
    return row


def check_inputs(bench_dir: str | os.PathLike, languages: Sequence[str] | None = None, split: str = "all",
                 corpus: str | os.PathLike | None = None, measure: str | None = None
                 ) -> tuple[dict[str, Questions], str, Path | None]:
    """(questions, measure, corpus) once everything a robustness run reads is known to fit (before any
    search): the benchmark's files, the measure and what it needs, the corpus for answer measures."""
    questions, own_corpus = load_questions(bench_dir, languages, split)
    measure = measure or default_measure(questions)
    check_measure(measure, questions)
    corpus = Path(corpus) if corpus else own_corpus
    if _ANSWER_MEASURE.match(measure):
        if corpus is None:
            raise InputError(bench_dir, f"{measure} matches answers in passages: give --corpus")
        require_file(corpus, "corpus")
    return questions, measure, corpus


def run_robustness(bench_dir: str | os.PathLike, searcher, out_dir: str | os.PathLike, rate: float = 0.1,
                   seed: int = 0, languages: Sequence[str] | None = None, split: str = "all",
                   corpus: str | os.PathLike | None = None, measure: str | None = None, k: int = SearchSettings.k,
                   name: str = "run", hybrid=None, trials: int = 10000) -> dict:
    """Search the clean and the misspelled questions of each language with ``searcher`` (a Pyserini
    searcher, :func:`xqg_pyserini.search.searchers.search`), write both runs and the misspelled topics to
    ``out_dir``, and compare the two per language. ``corpus`` (for answer measures) defaults to the
    benchmark's own. Returns {"measure", "rate", "seed", "languages": {lang: row}, "all": row, ...},
    a row being {"questions", "clean", "misspelled", "diff", "p", "words", "changed"} (answer measures
    in percent)."""
    from xqg_pyserini.search.searchers import search

    questions, measure, corpus = check_inputs(bench_dir, languages, split, corpus, measure)
    answer_measure = bool(_ANSWER_MEASURE.match(measure))
    out = Path(out_dir)
    runs: dict[str, tuple[Run, Run]] = {}
    noise: dict[str, tuple[int, int]] = {}
    for lang, q in questions.items():
        noisy = {qid: misspell_text(text, rate, seed) for qid, text in q.topics.items()}
        write_topics({qid: m.text for qid, m in noisy.items()}, out / f"topics.{lang}.misspelled.tsv")
        noise[lang] = (sum(m.words for m in noisy.values()), sum(m.changed for m in noisy.values()))
        clean_run = search(searcher, q.topics, k=k, hybrid=hybrid)
        noisy_run = search(searcher, {qid: m.text for qid, m in noisy.items()}, k=k, hybrid=hybrid)
        write_run(clean_run, run_path(out, name, lang), name)
        write_run(noisy_run, run_path(out, f"{name}-misspelled", lang), f"{name}-misspelled")
        runs[lang] = (clean_run, noisy_run)
    passages: dict[str, str] = {}
    if answer_measure:
        wanted = {d for pair in runs.values() for run in pair for docs in run.values() for d in docs}
        passages = load_passages(corpus, wanted)
        missing = sorted(wanted - set(passages))
        if missing:
            raise InputError(corpus, f"{len(missing)} retrieved docid(s) are not in this corpus, e.g. {missing[0]} "
                                     "(is it the corpus the index was built from?)")
    scale = 100.0 if answer_measure else 1.0
    rows, pooled_clean, pooled_noisy = {}, {}, {}
    for lang, (clean_run, noisy_run) in runs.items():
        clean = question_scores(clean_run, questions[lang], measure, passages)
        noisy = question_scores(noisy_run, questions[lang], measure, passages)
        words, changed = noise[lang]
        rows[lang] = {**_compare(clean, noisy, scale, trials), "words": words, "changed": changed}
        pooled_clean.update({f"{lang}:{q}": v for q, v in clean.items()})
        pooled_noisy.update({f"{lang}:{q}": v for q, v in noisy.items()})
    total = {"words": sum(r["words"] for r in rows.values()), "changed": sum(r["changed"] for r in rows.values())}
    result = {"measure": measure, "rate": rate, "seed": seed, "split": split, "k": k, "name": name,
              "significance": SIGNIFICANCE, "languages": rows,
              "all": {**_compare(pooled_clean, pooled_noisy, scale, trials), **total}, "out_dir": str(out)}
    write_json(out / "robustness.json", result)
    return result


def format_robustness(result: Mapping) -> str:
    """Fixed-width table: a line per language and the pooled "all", then the test used."""
    measure = result["measure"]
    percent = bool(_ANSWER_MEASURE.match(measure))
    head = ["lang", "questions", "misspelled words", f"{measure} clean", "misspelled", "diff", "p"]
    lines = ["".join(h.rjust(w) for h, w in zip(head, (6, 10, 17, 14, 11, 9, 8)))]

    def cell(v, signed: bool = False) -> str:
        return "-" if v is None else (f"{v:+.2f}" if signed else f"{v:.2f}") if percent else (
            f"{v:+.4f}" if signed else f"{v:.4f}")

    for lang, row in [*result["languages"].items(), ("all", result["all"])]:
        share = f"{row['changed'] / row['words']:.1%}" if row["words"] else "-"
        cells = [lang, str(row["questions"]), share, cell(row["clean"]), cell(row["misspelled"]),
                 cell(row["diff"], signed=True), "-" if row["p"] is None else f"{row['p']:.3f}"]
        lines.append("".join(c.rjust(w) for c, w in zip(cells, (6, 10, 17, 14, 11, 9, 8))))
    lines.append(f"rate {result['rate']}, seed {result['seed']}; p: {result['significance']}")
    return "\n".join(lines)
