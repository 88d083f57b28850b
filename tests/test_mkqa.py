"""MKQA topics/answers and answer-based evaluation: hand-computed golden values, no models."""
from __future__ import annotations

import gzip
import json
import types
from pathlib import Path

import pytest

from xqg_pyserini.data import mkqa
from xqg_pyserini.evaluation import answers as answer_eval
from xqg_pyserini.evaluation.answers import (
    evaluate_answers, format_answer_table, load_passages, read_answers, score_answers,
)
from xqg_pyserini.data.benchmarks import default_data_dir
from xqg_pyserini.data.io import read_tsv
from xqg_pyserini.evaluation.rkt import xor_recall
from xqg_pyserini.data.io import InputError
from xqg_pyserini.data.languages import LANGUAGE_NAMES, is_language
from xqg_pyserini.data.mkqa import MKQA_LANGUAGES, prepare_mkqa, read_mkqa

SAMPLE = default_data_dir() / "mkqa_sample" / "test_mkqa.jsonl.gz"


# ----------------------------------------------------------------------------- helpers
def mkqa_row(example_id, en_answers, queries=None, ja_answers=None):
    """One MKQA line: queries in all 26 languages unless given, answers in en (and ja)."""
    queries = queries if queries is not None else {l: f"question {example_id} in {l}" for l in MKQA_LANGUAGES}
    answers = {l: [] for l in MKQA_LANGUAGES}
    answers["en"] = en_answers
    if ja_answers is not None:
        answers["ja"] = ja_answers
    return {"example_id": example_id, "query": queries.get("en", ""), "queries": queries, "answers": answers}


def write_lines(path: Path, rows, gz: bool = False) -> Path:
    text = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_run(path: Path, run: dict[str, list[str]]) -> Path:
    """A TREC run from ranked docid lists (scores descending)."""
    lines = [f"{qid} Q0 {d} {r} {100 - r} t" for qid, docs in run.items() for r, d in enumerate(docs, 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


ENTITY = {"type": "entity", "text": "Ridley Scott", "aliases": ["Sir Ridley Scott"]}
DATE = {"type": "date", "text": "2017-05-18", "aliases": ["18 May 2017", "2017-05-18"]}


# ----------------------------------------------------------------------------- MKQA reader
@pytest.mark.parametrize("gz", [False, True])
def test_reader_skip_rules_aliases_and_counts(tmp_path, gz):
    rows = [
        mkqa_row(1, [ENTITY], ja_answers=[{"type": "entity", "text": "リドリー・スコット", "aliases": []}]),
        mkqa_row(2, [{"type": "unanswerable", "text": None}]),
        mkqa_row(3, [{"type": "long_answer", "text": None}]),
        mkqa_row(4, [{"type": "binary", "text": "yes"}]),
        mkqa_row(5, [{"type": "unanswerable", "text": None}, DATE]),   # the usable answer counts
        mkqa_row(-6, [ENTITY], queries={**{l: "q" for l in MKQA_LANGUAGES}, "ko": "  ", "fi": None}),
    ]
    src = write_lines(tmp_path / ("mkqa.jsonl.gz" if gz else "mkqa.jsonl"), rows, gz=gz)
    out = tmp_path / "out"
    result = prepare_mkqa(src, out, languages=["ja", "ko", "fi", "zh_cn"])
    assert result["examples"] == 6 and result["no_answer"] == 3
    counts = {l: (v["questions"], v["no_query"]) for l, v in result["languages"].items()}
    assert counts == {"ja": (3, 0), "ko": (2, 1), "fi": (2, 1), "zh_cn": (3, 0)}
    assert sorted(p.name for p in out.iterdir()) == sorted([".xqg-output.json", *(
        f"{kind}.{l}.{ext}" for l in ("ja", "ko", "fi", "zh_cn") for kind, ext in (("topics", "tsv"), ("answers", "jsonl")))])
    assert list(read_tsv(out / "topics.ja.tsv", 2)) == [["1", "question 1 in ja"], ["5", "question 5 in ja"], ["-6", "q"]]
    assert [r[0] for r in read_tsv(out / "topics.ko.tsv", 2)] == ["1", "5"]
    answers = [json.loads(l) for l in (out / "answers.ko.jsonl").read_text().splitlines()]
    # text + aliases, duplicates removed; English answers for the Korean questions
    assert answers == [{"id": "1", "answers": ["Ridley Scott", "Sir Ridley Scott"]},
                       {"id": "5", "answers": ["2017-05-18", "18 May 2017"]}]
    assert read_answers(out / "answers.ko.jsonl") == {"ko": {"1": ["Ridley Scott", "Sir Ridley Scott"],
                                                            "5": ["2017-05-18", "18 May 2017"]}}
    # another corpus language: only example 1 has a Japanese answer
    _, ja, counts = read_mkqa(src, ["de"], answer_language="ja")
    assert ja == {"1": ["リドリー・スコット"]} and counts["no_answer"] == 5


def test_default_languages_are_the_26(tmp_path):
    topics, _, counts = read_mkqa(write_lines(tmp_path / "m.jsonl", [mkqa_row(1, [ENTITY])]))
    assert list(topics) == list(MKQA_LANGUAGES) and len(MKQA_LANGUAGES) == 26
    assert all(v["questions"] == 1 for v in counts["languages"].values())


@pytest.mark.parametrize("line2, problem", [
    ('{"example_id": 2, "queries": {', "malformed JSON"),
    ('[1, 2]', "expected a JSON object"),
    (json.dumps({"queries": {}, "answers": {"en": []}}), "missing field 'example_id'"),
    (json.dumps({"example_id": 2, "answers": {"en": []}}), "missing field 'queries'"),
    (json.dumps({"example_id": 2, "queries": {"en": "q"}}), "missing field 'answers'"),
    (json.dumps({"example_id": 2, "queries": {"xx": "q"}, "answers": {"en": []}}), "unknown language code 'xx'"),
    (json.dumps({"example_id": 2, "queries": {"en": "q"}, "answers": {"de": []}}), "no answers in language 'en'"),
    (json.dumps(mkqa_row(1, [ENTITY])), "example_id 1 appears twice"),
])
def test_reader_bad_input_names_file_and_line(tmp_path, line2, problem):
    src = write_lines(tmp_path / "bad.jsonl", [mkqa_row(1, [ENTITY]), line2])
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        prepare_mkqa(src, out)
    assert str(err.value).startswith(f"{src}:2: ") and problem in str(err.value)
    assert not out.exists()  # nothing written when the input is bad


def test_reader_bad_arguments_and_not_gzip(tmp_path):
    src = write_lines(tmp_path / "m.jsonl", [mkqa_row(1, [ENTITY])])
    with pytest.raises(InputError, match="unknown MKQA language code 'zh'"):
        prepare_mkqa(src, tmp_path / "o", languages=["ja", "zh"])
    with pytest.raises(InputError, match="unknown MKQA language code 'xx'"):
        read_mkqa(src, answer_language="xx")
    broken = tmp_path / "broken.jsonl.gz"
    rows = "".join(json.dumps(mkqa_row(i, [ENTITY]), ensure_ascii=False) + "\n" for i in range(200)).encode()
    packed = gzip.compress(rows)
    broken.write_bytes(packed[: len(packed) // 2])     # a truncated download
    with pytest.raises(InputError, match=rf"^{broken}:\d+: unreadable \(EOFError"):
        read_mkqa(broken)


def test_outputs_are_atomic(tmp_path, monkeypatch):
    src = write_lines(tmp_path / "m.jsonl", [mkqa_row(1, [ENTITY])])
    out = tmp_path / "out"
    prepare_mkqa(src, out, languages=["ja"])
    before = {p.name: p.read_text() for p in out.iterdir()}

    def boom(*args, **kwargs):
        raise RuntimeError("killed")
    fake_json = types.SimpleNamespace(loads=json.loads, JSONDecodeError=json.JSONDecodeError, dumps=boom)
    monkeypatch.setattr(mkqa, "json", fake_json)       # dies while writing the answers file
    with pytest.raises(RuntimeError):
        prepare_mkqa(src, out, languages=["ja"])
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    assert sorted(before) == [".xqg-output.json", "answers.ja.jsonl", "topics.ja.tsv"]  # and no temporary file left


def test_languages_named_and_script_checked():
    for code in MKQA_LANGUAGES:
        assert code in LANGUAGE_NAMES
    assert is_language("מי ביים את גלדיאטור", "he")
    assert is_language("អ្នកណាជាអ្នកដឹកនាំរឿង", "km")
    assert is_language("谁执导了角斗士", "zh_cn") and not is_language("グラディエーターの監督は誰", "zh_tw")
    assert is_language("グラディエーターの監督は誰", "ja")


# ----------------------------------------------------------------------------- answer evaluation
FILLER = " ".join(["lorem"] * 499) + " end."          # 501 nltk tokens
DOCS = {
    "d1": ("Gladiator", "Gladiator was directed by Ridley Scott in 2000."),
    "d2": ("Help", "The film was released on 18 May 2017 in cinemas."),
    "d3": ("Strongman", "The strongest man is Hafthor Julius Bjornsson from Iceland."),
    "d4": ("Lower", "ridley scott in lower case only."),
    "d5": ("Nothing", "Nothing relevant here."),
    **{f"f{i}": ("Filler", FILLER) for i in range(6)},
    "unused": ("Sir Ridley Scott", "Sir Ridley Scott and 2017 and Hafthor Julius Bjornsson."),
}
ANSWERS = {
    "q1": ["Ridley Scott", "Sir Ridley Scott"],
    "q2": ["2017-05-18", "18 May 2017"],               # only the alias is in d2
    "q3": ["Hafþór Júlíus Björnsson", "Hafthor Julius Bjornsson"],
    "q4": ["yes"],                                     # yes/no only: not counted anywhere
    "q5": ["Ridley Scott"],                            # not in the run: not counted
}
RUN = {
    "q1": ["d4", "d5", "d1"],                          # d4 matches only case-insensitively; d1 at rank 3
    "q2": ["d2", "d5"],                                # hit at rank 1
    "q3": [f"f{i}" for i in range(6)] + ["d3"],        # rank 7, after 3,006 tokens: R@2kt miss, R@5kt hit
    "q4": ["d1"],
}
# Counted: q1, q2, q3.  Acc@1 = {q2} = 1/3; Acc@5 = {q1, q2} = 2/3; Acc@20 = Acc@100 = 3/3.
# R@2kt = {q1, q2} = 2/3 (q3's answer lies beyond token 2,000); R@5kt = 3/3.
GOLD = {"R@2kt": 200 / 3, "R@5kt": 100.0, "Acc@1": 100 / 3, "Acc@5": 200 / 3, "Acc@20": 100.0, "Acc@100": 100.0}


def write_corpus(path: Path, docs=DOCS) -> Path:
    return write_lines(path, [{"id": d, "title": t, "text": x, "contents": f"{t} {x}"} for d, (t, x) in docs.items()])


def test_golden_answer_scores(tmp_path):
    corpus = write_corpus(tmp_path / "docs.jsonl")
    run = write_run(tmp_path / "run.ja.trec", RUN)
    answers = write_lines(tmp_path / "answers.ja.jsonl", [{"id": q, "answers": a} for q, a in ANSWERS.items()])
    result = evaluate_answers(run, answers, corpus)
    assert result["columns"] == list(GOLD)
    row = result["languages"]["ja"]
    for column, value in GOLD.items():
        assert row[column] == pytest.approx(value), column
        assert result["macro"][column] == pytest.approx(value), column
    assert (row["questions"], row["not_in_run"], row["no_span_answer"]) == (3, 1, 1)
    assert result["passages"] == 11                    # the retrieved docs only, not "unused"
    json.dumps(result)                                  # ready for --json
    table = format_answer_table(result)
    assert table.splitlines()[1].split() == ["ja", "66.67", "100.00", "33.33", "66.67", "100.00", "100.00", "3"]
    assert table.splitlines()[-1].startswith("macro")
    # casefolded matching: q1's rank-1 "ridley scott" now counts; R@kt stays the official, case-sensitive one
    folded = evaluate_answers(run, answers, corpus, case_sensitive=False)["languages"]["ja"]
    assert folded["Acc@1"] == pytest.approx(200 / 3) and folded["R@2kt"] == pytest.approx(200 / 3)


def test_rkt_is_the_official_implementation(tmp_path):
    passages = {d: x for d, (_, x) in DOCS.items()}
    run = {q: {d: float(-r) for r, d in enumerate(docs)} for q, docs in RUN.items()}
    scores = score_answers(run, ANSWERS, passages, ks=(1, 5), kt=(2000, 5000))
    for k, column in ((2000, "R@2kt"), (5000, "R@5kt")):
        official = xor_recall(run, passages, ANSWERS, k)
        assert scores[column] == official["score"] and scores["per_query"][column] == official["per_query"]
    assert set(scores["per_query"]["Acc@1"]) == set(scores["per_query"]["R@2kt"]) == {"q1", "q2", "q3"}


def test_per_language_macro_and_xor_retrieve_files(tmp_path):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    items = list(DOCS.items())
    write_corpus(corpus_dir / "a.jsonl", dict(items[:5]))
    with gzip.open(corpus_dir / "b.jsonl.gz", "wt", encoding="utf-8") as f:   # a directory, one part gzipped
        for d, (t, x) in items[5:]:
            f.write(json.dumps({"id": d, "contents": x}) + "\n")
    (corpus_dir / "README.md").write_text("not a corpus file")
    # XOR-Retrieve: one file, language per question, one run spanning the languages
    xor = write_lines(tmp_path / "xor_dev.jsonl", [
        {"id": "ja1", "question": "グラディエーターの監督は", "answers": ["Ridley Scott"], "lang": "ja"},
        {"id": "ja2", "question": "これはいつ", "answers": ["18 May 2017"], "lang": "ja"},
        {"id": "fi1", "question": "kuka", "answers": ["Ridley Scott"], "lang": " fi"},
        {"id": "fi2", "question": "onko", "answers": ["no"], "lang": "fi"},
    ])
    run = write_run(tmp_path / "run.trec", {"ja1": ["d5", "d1"], "ja2": ["d2"], "fi1": ["d4", "d5"], "fi2": ["d1"]})
    result = evaluate_answers(run, xor, corpus_dir, ks=(1, 2))
    ja, fi = result["languages"]["ja"], result["languages"]["fi"]
    assert (ja["Acc@1"], ja["Acc@2"], ja["R@2kt"], ja["questions"]) == (50.0, 100.0, 100.0, 2)
    assert (fi["Acc@1"], fi["Acc@2"], fi["R@2kt"], fi["questions"], fi["no_span_answer"]) == (0.0, 0.0, 0.0, 1, 1)
    assert result["macro"]["Acc@1"] == 25.0 and result["macro"]["questions"] == 3
    # MKQA style: one run and one answers file per language, paired by position
    a_ja = write_lines(tmp_path / "answers.ja.jsonl", [{"id": "q1", "answers": ["Ridley Scott"]}])
    a_ko = write_lines(tmp_path / "answers.ko.jsonl", [{"id": "q1", "answers": ["Ridley Scott"]}])
    r_ja = write_run(tmp_path / "ja.trec", {"q1": ["d1"]})
    r_ko = write_run(tmp_path / "ko.trec", {"q1": ["d5", "d4"]})
    both = evaluate_answers([r_ja, r_ko], [a_ja, a_ko], corpus_dir, ks=(1,), kt=())
    assert {l: v["Acc@1"] for l, v in both["languages"].items()} == {"ja": 100.0, "ko": 0.0}
    assert both["macro"]["Acc@1"] == 50.0 and both["passages"] == 3
    with pytest.raises(InputError, match="already scored"):
        evaluate_answers([r_ja, r_ko], [a_ja], corpus_dir)
    with pytest.raises(InputError, match="no query of this run"):
        evaluate_answers(r_ja, xor, corpus_dir)


def test_real_xor_retrieve_dev_answers_read():
    path = default_data_dir() / "xor_tydi" / "xor_dev_retrieve_eng_span_v1_1.jsonl"
    if not path.exists():
        pytest.skip("XOR-Retrieve dev file not available")
    answers = read_answers(path)
    assert {l: len(a) for l, a in answers.items()} == {"ar": 350, "bn": 312, "fi": 360, "ja": 296, "ko": 299,
                                                        "ru": 255, "te": 238}


def test_corpus_is_streamed_keeping_only_retrieved(tmp_path, monkeypatch):
    lines = [json.dumps({"id": d, "text": x}) for d, (_, x) in DOCS.items()]
    lines += ['{"text": "id last", "id": "late"}',                     # id not first: parsed, then dropped
              json.dumps({"id": "esc\"aped", "text": "x"}),           # escaped id: parsed, then dropped
              json.dumps({"id": "no_text_not_needed"}),               # would be an error if it were wanted
              json.dumps({"id": "big", "text": "x" * 1_000_000})]
    corpus = write_lines(tmp_path / "docs.jsonl", lines)
    seen: list[str] = []
    real = answer_eval._passage_text

    def spy(row, path, line):
        seen.append(row["id"])
        return real(row, path, line)
    monkeypatch.setattr(answer_eval, "_passage_text", spy)
    kept = load_passages(corpus, {"d1", "d3", "late"})
    assert set(kept) == {"d1", "d3", "late"} and sorted(seen) == ["d1", "d3", "late"]
    seen.clear()
    run = write_run(tmp_path / "run.trec", {"q1": ["d5", "d1"]})
    answers = write_lines(tmp_path / "answers.en.jsonl", [{"id": "q1", "answers": ["Ridley Scott"]}])
    result = evaluate_answers(run, answers, corpus)
    assert sorted(seen) == ["d1", "d5"] and result["passages"] == 2


def test_eval_bad_input(tmp_path):
    corpus = write_corpus(tmp_path / "docs.jsonl")
    answers = write_lines(tmp_path / "answers.en.jsonl", [{"id": "q1", "answers": ["Ridley Scott"]}])
    run = write_run(tmp_path / "run.trec", {"q1": ["d1", "ghost"]})
    with pytest.raises(InputError) as err:
        evaluate_answers(run, answers, corpus)
    assert str(err.value).startswith(f"{run}:2: docid ghost (query q1) is not in the corpus")
    bad_corpus = write_lines(tmp_path / "bad.jsonl", [json.dumps({"id": "d1", "text": "x"}), '{"id": "d2", "te'])
    with pytest.raises(InputError, match=f"^{bad_corpus}:2: malformed JSON"):
        evaluate_answers(write_run(tmp_path / "r2.trec", {"q1": ["d2"]}), answers, bad_corpus)
    dup = write_lines(tmp_path / "dup.jsonl", [json.dumps({"id": "d1", "text": "x"})] * 2)
    with pytest.raises(InputError, match=f"^{dup}:2: docid d1 appears twice"):
        evaluate_answers(write_run(tmp_path / "r3.trec", {"q1": ["d1"]}), answers, dup)
    bad_answers = write_lines(tmp_path / "answers.de.jsonl", [{"id": "q1", "answers": ["a"]}, {"id": "q2"}])
    with pytest.raises(InputError, match=f"^{bad_answers}:2: "):
        evaluate_answers(run, bad_answers, corpus)
    with pytest.raises(InputError, match="2 runs but 3 answers files"):
        evaluate_answers([run, run], [answers] * 3, corpus)


# ----------------------------------------------------------------------------- the official sample
def test_mkqa_sample_round_trip(tmp_path):
    if not SAMPLE.exists():
        pytest.skip("MKQA sample not available")
    out = tmp_path / "mkqa"
    result = prepare_mkqa(SAMPLE, out)
    # 6 examples: 2 unanswerable and 1 long_answer are dropped, 3 remain in each of the 26 languages
    assert result["examples"] == 6 and result["no_answer"] == 3
    assert {l: v["questions"] for l, v in result["languages"].items()} == {l: 3 for l in MKQA_LANGUAGES}
    ids = ["36228854473990432", "-7449157003522518870", "7631360939705650347"]
    for lang in MKQA_LANGUAGES:
        assert [r[0] for r in read_tsv(out / f"topics.{lang}.tsv", 2)] == ids
    en = dict(read_tsv(out / "topics.en.tsv", 2))
    assert en["36228854473990432"] == "when did help me help you come out"
    answers = read_answers(out / "answers.ko.jsonl")["ko"]
    assert answers["7631360939705650347"] == ["Ridley Scott", "Sir Ridley Scott"]
    assert "18 May 2017" in answers["36228854473990432"] and len(answers["36228854473990432"]) == 12
    # a tiny English corpus holding some answers, and hand-written runs for two languages
    corpus = write_lines(tmp_path / "docs.jsonl", [
        {"id": "gladiator", "contents": "Gladiator (2000) is a film directed by Sir Ridley Scott."},
        {"id": "mountain", "contents": "Hafthor Julius Bjornsson plays the Mountain."},
        {"id": "song", "contents": "The single came out on 18 May 2017."},
        {"id": "other", "contents": "An unrelated passage."},
    ])
    r_ja = write_run(tmp_path / "ja.trec", {ids[0]: ["other", "song"], ids[1]: ["mountain"], ids[2]: ["gladiator"]})
    r_ko = write_run(tmp_path / "ko.trec", {ids[0]: ["song"], ids[1]: ["other"], ids[2]: ["other", "gladiator"]})
    scores = evaluate_answers([r_ja, r_ko], [out / "answers.ja.jsonl", out / "answers.ko.jsonl"], corpus)
    ja, ko = scores["languages"]["ja"], scores["languages"]["ko"]
    assert ja["Acc@1"] == pytest.approx(200 / 3) and ja["Acc@5"] == 100.0 and ja["R@2kt"] == 100.0
    assert ko["Acc@1"] == pytest.approx(100 / 3) and ko["Acc@5"] == pytest.approx(200 / 3)
    assert ko["R@5kt"] == pytest.approx(200 / 3)
    assert scores["macro"]["Acc@1"] == pytest.approx(50.0)
