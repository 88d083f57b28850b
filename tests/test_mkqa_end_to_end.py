"""MKQA end to end: the official-format sample -> topics and answers -> BM25 (Lucene) and dense (FAISS)
search in Swedish and Japanese -> xqg eval --answers, against values worked out by hand; then
xqg robustness on the same indexes.

The corpus (written here) is built so that every ranking can be worked out by hand:

* BM25 sees only the passages sharing a term with the query. The sample's three answerable questions:
  E1 "help me help you" (answer 2017), E2 The Mountain (answer Hafþór Júlíus Björnsson, present only as
  its alias "Hafthor Julius Bjornsson"), E3 Gladiator (Ridley Scott). sv: E1 -> [p1]; E2 -> [p2];
  E3 (gladiator, 2000) -> [p4, p3] (p4 repeats both terms 300 times: 3,300 tokens, no answer). ja keeps
  "help me help you" and "2000" in Latin letters and digits: E1 -> [p1], E3 -> [p4, p3], and E2 (all
  katakana and kanji) matches nothing in an English corpus: no line in the run, so `xqg eval` leaves it
  out (as the XOR-Retrieve script does) and `xqg robustness` counts it as a miss.
* Dense: every passage starts with the same title and preamble, and the encoder reads only the first 16
  tokens of a passage, so all passage vectors are identical, every score ties, and the run is in
  trec_eval's tie order, docid descending: p5 (a census note that happens to hold "2017"), p4, p3, p2, p1.
  E1 is hit at rank 1, E3 at rank 3, E2 at rank 4 behind p4's 3,300 tokens.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from xqg_pyserini.cli import main
from xqg_pyserini.data.benchmarks import default_data_dir
from xqg_pyserini.data.trec import read_run

SAMPLE = default_data_dir() / "mkqa_sample" / "test_mkqa.jsonl.gz"
PREAMBLE = ("Archive card from the county record office filed under general reference shelf seven drawer four "
            "catalogue entry.")
PASSAGES = {
    "p1": "Help Me Help You is a song released in 2017 by Logan Paul.",
    "p2": "The Mountain in Game of Thrones is played by Hafthor Julius Bjornsson, a strongman.",
    "p3": "Gladiator is a 2000 epic film directed by Ridley Scott.",
    "p4": "The gladiator fought in the arena in the year 2000 . " * 300,
    "p5": "Records of the 2017 county census.",
}
E1, E2, E3 = "36228854473990432", "-7449157003522518870", "7631360939705650347"
THIRD, HALF, TWO_THIRDS = 100 / 3, 50.0, 200 / 3
EXPECTED = {
    # questions, R@2kt, R@5kt, Acc@1, Acc@5, Acc@20, Acc@100
    ("bm25", "sv"): (3, TWO_THIRDS, 100.0, TWO_THIRDS, 100.0, 100.0, 100.0),  # E3: p3 after p4's 3,300 tokens
    ("bm25", "ja"): (2, HALF, 100.0, HALF, 100.0, 100.0, 100.0),              # E2 retrieves nothing: not counted
    ("dense", "sv"): (3, THIRD, 100.0, THIRD, 100.0, 100.0, 100.0),           # only E1 (p5) before token 2,000
    ("dense", "ja"): (3, THIRD, 100.0, THIRD, 100.0, 100.0, 100.0),
}
COLUMNS = ("questions", "R@2kt", "R@5kt", "Acc@1", "Acc@5", "Acc@20", "Acc@100")


@pytest.fixture(scope="module")
def mkqa_setup(tmp_path_factory, tiny_bert):
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.index.faiss import build_faiss_index
    from xqg_pyserini.index.lucene import build_bm25_index

    root = tmp_path_factory.mktemp("mkqa-e2e")
    assert main(["mkqa", str(SAMPLE), "--out", str(root / "mkqa"), "--languages", "sv", "ja"]) == 0
    corpus = root / "corpus"
    corpus.mkdir()
    with open(corpus / "docs.jsonl", "w", encoding="utf-8") as f:
        for docid, text in PASSAGES.items():
            full = f"{PREAMBLE} {text}"
            f.write(json.dumps({"id": docid, "title": "Archive", "text": full, "contents": f"Archive {full}"}) + "\n")
    encoder = TransformerEncoder(str(tiny_bert), "e5", passage_max_length=16, batch_size=1, show_progress=False)
    return {"root": root, "mkqa": root / "mkqa", "corpus": corpus,
            "bm25": build_bm25_index(corpus, root / "bm25"),
            "dense": build_faiss_index(corpus, encoder, root / "dense", batch_size=1),
            "encoder": ["--encoder", str(tiny_bert), "--preset", "e5"]}


def test_search_then_answer_eval_in_two_languages(mkqa_setup):
    s = mkqa_setup
    for method in ("bm25", "dense"):
        for lang in ("sv", "ja"):
            run = s["root"] / f"{method}.{lang}.trec"
            index = ["--bm25", str(s["bm25"])] if method == "bm25" else ["--dense", str(s["dense"]), *s["encoder"]]
            assert main(["search", *index, "--topics", str(s["mkqa"] / f"topics.{lang}.tsv"),
                         "--output", str(run)]) == 0
            ranking = read_run(run)
            if method == "dense":
                assert all(len(set(docs.values())) == 1 and len(docs) == 5 for docs in ranking.values()), \
                    "identical passage vectors must tie"
            else:
                assert {q: sorted(docs, key=docs.get, reverse=True) for q, docs in ranking.items()} == {
                    E1: ["p1"], E3: ["p4", "p3"], **({E2: ["p2"]} if lang == "sv" else {})}
            out = s["root"] / f"{method}.{lang}.json"
            assert main(["eval", "--run", str(run), "--answers", str(s["mkqa"] / f"answers.{lang}.jsonl"),
                         "--corpus", str(s["corpus"]), "--json", str(out)]) == 0
            row = json.loads(out.read_text())["languages"][lang]
            assert tuple(row[c] for c in COLUMNS) == pytest.approx(EXPECTED[(method, lang)], abs=1e-9), (method, lang)


def test_robustness_table_from_one_command(mkqa_setup, capsys):
    s = mkqa_setup
    base = ["robustness", "--benchmark", str(s["mkqa"]), "--corpus", str(s["corpus"]), "--measure", "Acc@1"]
    assert main([*base, "--bm25", str(s["bm25"]), "--rate", "0", "--output-dir", str(s["root"] / "r0")]) == 0
    result = json.loads((s["root"] / "r0" / "robustness.json").read_text())
    # Every question counts here, E2 in ja as a miss: sv 2/3, ja 1/3 at rank 1; nothing misspelled at rate 0.
    assert {lang: (r["questions"], r["clean"], r["misspelled"], r["p"]) for lang, r in result["languages"].items()} \
        == {"sv": (3, pytest.approx(TWO_THIRDS), pytest.approx(TWO_THIRDS), 1.0),
            "ja": (3, pytest.approx(THIRD), pytest.approx(THIRD), 1.0)}
    assert result["all"]["questions"] == 6 and result["all"]["clean"] == pytest.approx(HALF)
    assert (s["root"] / "r0" / "bm25.ja.trec").exists() and (s["root"] / "r0" / "bm25-misspelled.sv.trec").exists()
    table = capsys.readouterr().out
    assert "Acc@1 clean" in table and "paired randomization" in table

    assert main([*base, "--dense", str(s["dense"]), *s["encoder"], "--rate", "1", "--seed", "0",
                 "--output-dir", str(s["root"] / "r1")]) == 0
    result = json.loads((s["root"] / "r1" / "robustness.json").read_text())
    for lang, row in result["languages"].items():
        assert row["changed"] == row["words"] > 0  # rate 1: every word misspelled
        # All dense scores tie whatever the query: the misspelled ranking is the clean one.
        assert (row["clean"], row["misspelled"], row["diff"], row["p"]) == (pytest.approx(THIRD),) * 2 + (0.0, 1.0)
    noisy = (s["root"] / "r1" / "topics.ja.misspelled.tsv").read_text(encoding="utf-8")
    assert noisy != (s["mkqa"] / "topics.ja.tsv").read_text(encoding="utf-8")


def test_bad_input_is_one_line_naming_file_and_problem(mkqa_setup, tmp_path, capsys):
    s = mkqa_setup
    not_mkqa = tmp_path / "squad.jsonl"
    not_mkqa.write_text(json.dumps({"id": "1", "question": "q"}) + "\n")
    run = tmp_path / "run.trec"
    run.write_text(f"{E1} Q0 p1 1 2.0 x\n{E1} Q0 ghost 2 1.0 x\n")
    cases = [
        (["mkqa", str(not_mkqa), "--out", str(tmp_path / "o")], f"{not_mkqa}:1: missing field 'example_id'"),
        (["generate", "--corpus", str(s["corpus"]), "--languages", "ja", "xx"], "unknown language code 'xx'"),
        (["eval", "--run", str(run), "--answers", str(s["mkqa"] / "answers.sv.jsonl"), "--corpus", str(s["corpus"])],
         f"{run}:2: docid ghost (query {E1}) is not in the corpus"),
        (["robustness", "--benchmark", str(s["mkqa"]), "--bm25", str(s["bm25"]), "--output-dir", str(tmp_path / "r"),
          "--languages", "fi"], f"{s['mkqa']}: no topics in language(s) fi"),
        (["robustness", "--benchmark", str(s["mkqa"]), "--bm25", str(s["bm25"]), "--output-dir", str(tmp_path / "r")],
         "R@5kt matches answers in passages: give --corpus"),
    ]
    for argv, problem in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and problem in err, (argv, err)
