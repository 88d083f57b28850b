"""Data preparation: SQuAD files -> benchmark directory, XOR-TyDi reader, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from xqg_pyserini.data import Benchmark, default_data_dir, load_squad_dir, read_xor_retrieve, xquad_training_pairs
from xqg_pyserini.errors import InputError


def _squad(path: Path, qas_by_para: list[list[tuple[str, str, str]]], title="Some_Title", contexts=None):
    paragraphs = []
    for i, qas in enumerate(qas_by_para):
        ctx = (contexts or [f"Context number {i}\nwith a newline."] * len(qas_by_para))[i]
        paragraphs.append({"context": ctx, "qas": [
            {"id": qid, "question": q, "answers": [{"text": a, "answer_start": 0}, {"text": a, "answer_start": 0}]}
            for qid, q, a in qas]})
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": title, "paragraphs": paragraphs}]}, indent=1))


def test_squad_dir_to_benchmark_round_trip(tmp_path):
    _squad(tmp_path / "xquad.en.json", [[("q1", "Who?", "Ann")], [("q2", "When?", "1990"), ("q3", "Where?", "Rome")]])
    _squad(tmp_path / "de.json", [[("q1", "Wer?", "Ann")], [("q2", "Wann?", "1990"), ("q3", "Wo?", "Rom")]])
    bench = load_squad_dir(tmp_path, train_articles=range(0))
    assert bench.languages == ["de"]
    assert list(bench.passages) == ["Some_Title_0", "Some_Title_1"]
    p = bench.passages["Some_Title_1"]
    assert (p.title, p.text, p.contents) == ("Some Title", "Context number 1 with a newline.",
                                             "Some Title Context number 1 with a newline.")
    assert bench.topics("de") == {"q1": "Wer?", "q2": "Wann?", "q3": "Wo?"}
    assert bench.qrels("de") == {"q1": {"Some_Title_0": 1}, "q2": {"Some_Title_1": 1}, "q3": {"Some_Title_1": 1}}
    assert bench.answers("de")["q3"] == ["Rome"]  # English answers (matched in English passages), deduplicated
    out = bench.save(tmp_path / "bench")
    assert (out / "qrels.de.txt").read_text().splitlines()[0] == "q1 0 Some_Title_0 1"
    docs = [json.loads(l) for l in (out / "corpus" / "docs.jsonl").read_text().splitlines()]
    assert "\n" not in docs[0]["contents"] and docs[0]["id"] == "Some_Title_0"
    again = Benchmark.load(out)
    assert again.passages == bench.passages and again.questions == bench.questions


def test_question_without_english_counterpart_names_file_and_line(tmp_path):
    _squad(tmp_path / "xquad.en.json", [[("q1", "Who?", "Ann")]])
    _squad(tmp_path / "xquad.ru.json", [[("q1", "Кто?", "Анна"), ("zz9", "Что?", "x")]])
    with pytest.raises(InputError) as err:
        load_squad_dir(tmp_path)
    msg = str(err.value)
    assert "xquad.ru.json:" in msg and "'zz9'" in msg and "no English counterpart" in msg
    assert err.value.line == next(i for i, l in enumerate((tmp_path / "xquad.ru.json").read_text().splitlines(), 1)
                                  if '"zz9"' in l)


def test_missing_directory_and_malformed_json(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_squad_dir(tmp_path / "nowhere")
    (tmp_path / "xquad.en.json").write_text('{"data": [\n{"title": }')
    with pytest.raises(InputError, match=r"xquad.en.json:2: malformed JSON"):
        load_squad_dir(tmp_path)


def test_xor_retrieve_reader(tmp_path):
    f = tmp_path / "xor.jsonl"
    f.write_text('{"id": "1", "question": "ما هو", "answers": ["a"], "lang": " ar"}\n\n'
                 '{"id": "2", "question": "何", "answers": ["yes"], "lang": "ja"}\n')
    qs = read_xor_retrieve(f)
    assert sorted(qs) == ["ar", "ja"] and qs["ar"][0].answers == ("a",)
    f.write_text('{"id": "1", "question": "q", "answers": []}\n{"id": 2,\n')
    with pytest.raises(InputError, match=r"xor.jsonl:1: missing field 'lang'"):
        read_xor_retrieve(f)
    f.write_text('{"id": "1", "question": "q", "lang": "ar"}\n{"id": 2,\n')
    with pytest.raises(InputError, match=r"xor.jsonl:2: malformed JSON"):
        read_xor_retrieve(f)


xquad = pytest.mark.skipif(not (default_data_dir() / "xquad").exists(), reason="needs ../shared/data")


@xquad
def test_real_xquad_counts_and_split():
    bench = load_squad_dir()
    assert len(bench.passages) == 240 and len(bench.languages) == 11
    assert all(len(qs) == 1190 for qs in bench.questions.values())
    assert sum(p.split == "train" for p in bench.passages.values()) == 180
    assert len(bench.topics("ru", "test")) == 265
    pairs = xquad_training_pairs(bench, "train", ["de"])
    assert len(pairs) == 1190 - 265 and all(p.split == "train" for p, _ in pairs)


@xquad
def test_real_xor_retrieve_dev_counts():
    qs = read_xor_retrieve(default_data_dir() / "xor_tydi" / "xor_dev_retrieve_eng_span_v1_1.jsonl")
    assert {l: len(v) for l, v in qs.items()} == {"fi": 360, "ar": 350, "bn": 312, "ko": 299, "ja": 296,
                                                  "ru": 255, "te": 238}
