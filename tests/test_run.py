"""Any SQuAD-format data set with one command (`xqg run --data DIR`), and the article-split rule."""
from __future__ import annotations

import json
from pathlib import Path

from xqg_pyserini.cli import main
from xqg_pyserini.data import load_squad_dir
from xqg_pyserini.generation import read_queries

PARAGRAPHS = [
    ("Paris is the capital of France and its largest city, on the river Seine.",
     [("q1", "What is the capital of France?", "Paris"), ("q2", "Which river flows through Paris?", "Seine")]),
    ("The Nile is a major river in north-eastern Africa flowing into the Mediterranean Sea.",
     [("q3", "Where does the Nile flow into?", "Mediterranean Sea")]),
    ("Jupiter is the fifth planet from the Sun and the largest in the Solar System.",
     [("q4", "Which is the largest planet?", "Jupiter"), ("q5", "What place has Jupiter from the Sun?", "fifth")]),
]
TRANSLATED = {"de": "Frage", "es": "Pregunta"}


def write_squad(root: Path, languages=("de", "es"), prefix: str = "", articles: int = 1) -> Path:
    """English plus ``languages`` (questions "<word> <n>: <english>"), ``articles`` copies of PARAGRAPHS."""
    root.mkdir(parents=True, exist_ok=True)
    for lang in ("en", *languages):
        data = [{"title": f"Article_{a}", "paragraphs": [
            {"context": context, "qas": [
                {"id": f"{a}-{qid}", "question": q if lang == "en" else f"{TRANSLATED[lang]} {qid}: {q}",
                 "answers": [{"text": answer, "answer_start": context.find(answer)}]} for qid, q, answer in qas]}
            for context, qas in PARAGRAPHS]} for a in range(articles)]
        (root / f"{prefix}{lang}.json").write_text(json.dumps({"version": "1.1", "data": data}), encoding="utf-8")
    return root


def test_article_split_only_for_xquad_or_on_request(tmp_path):
    other = load_squad_dir(write_squad(tmp_path / "other", articles=2))
    assert {p.split for p in other.passages.values()} == {"test"}
    named_like_xquad = load_squad_dir(write_squad(tmp_path / "named", prefix="xquad.", articles=2))
    assert {p.split for p in named_like_xquad.passages.values()} == {"test"}  # 2 articles, not XQuAD's 48
    shaped_like_xquad = load_squad_dir(write_squad(tmp_path / "shaped", prefix="xquad.", articles=48), ["de"])
    assert sum(p.split == "train" for p in shaped_like_xquad.passages.values()) == 36 * len(PARAGRAPHS)
    asked = load_squad_dir(tmp_path / "other", split_articles=True)
    assert {p.split for p in asked.passages.values()} == {"train"}  # both articles are among XQuAD's 0-35
    refused = load_squad_dir(tmp_path / "shaped", ["de"], split_articles=False)
    assert {p.split for p in refused.passages.values()} == {"test"}


def test_prepare_marks_nothing_train_on_another_data_set(tmp_path, capsys):
    assert main(["prepare", "--data", str(write_squad(tmp_path / "squad")), "--out", str(tmp_path / "b")]) == 0
    assert "(0 train)" in capsys.readouterr().out
    assert set((tmp_path / "b" / "split.tsv").read_text().split()) == {"Article_0_0", "Article_0_1", "Article_0_2",
                                                                       "test"}


def test_one_command_on_a_new_data_set(tmp_path, tiny_bert, tiny_causal, monkeypatch, capsys):
    """Prepare, index, generate in the data set's languages only, augment, search, evaluate, tables."""
    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))
    data = write_squad(tmp_path / "mydata")
    work = tmp_path / "work"
    argv = ["run", "--data", str(data), "--encoder", str(tiny_bert), "--generator", str(tiny_causal),
            "--work", str(work), "--k", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    results = json.loads((work / "runs" / "mydata" / "results.json").read_text())
    assert results["languages"] == ["de", "es"] and results["split"] == "test" and results["train_passages"] == 0
    assert set(results["tables"]) == {"bm25", "dense", "hybrid", "dense+xqg", "hybrid+xqg"}
    for table in results["tables"].values():
        assert {lang: c["queries"] for lang, c in table["counts"].items()} == {"de": 5, "es": 5}  # none hidden
    tables = (work / "runs" / "mydata" / "tables.txt").read_text()
    assert "== dense+xqg ==" in tables and "macro average by method" in tables and "hybrid+xqg" in out
    queries_file = Path(results["xqg"]["queries"])
    assert queries_file.parent == tmp_path / "cache" / "queries" and queries_file.name.startswith("mydata.")
    queries = read_queries(queries_file)
    assert {lang for _, lang in queries} == {"de", "es"}  # only the data set's question languages
    assert {docid for docid, _ in queries} == {"Article_0_0", "Article_0_1", "Article_0_2"}
