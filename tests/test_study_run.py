"""``run_study`` end to end on a tiny XQuAD-shaped benchmark (a tiny BERT, real Pyserini indexes): every
knob is chosen on TRAIN questions, the indexes searched through Pyserini hold exactly the tuned
vectors, and the page renders from the stored result."""
from __future__ import annotations

import json
import shutil

import pytest

from xqg_pyserini.data import Benchmark, Passage, Question
from xqg_pyserini.experiments.variants import MIXED, PAPER, POOLED, ROUTED, SWEEPS, Grids

LANGS = ("de", "es")
WORDS = ["where", "what", "which", "who", "how", "when"]
TOPICS = [("Paris", "capital city river Seine"), ("Nile", "river Africa sea flowing"), ("Jupiter", "planet Sun largest"),
          ("Piano", "keyboard hammers strings"), ("Rome", "empire city hills"), ("Moon", "orbit tides night"),
          ("Violin", "bow strings wood"), ("Sahara", "desert sand heat")]


def _benchmark(root):
    """Eight passages (four TRAIN, four TEST), three questions each, asked in two languages with shared ids."""
    passages, questions = {}, {lang: [] for lang in LANGS}
    for k, (title, text) in enumerate(TOPICS):
        docid = f"{title}_0"
        passages[docid] = Passage(docid, title, f"{title}: {text}.", "train" if k < 4 else "test")
        for j in range(3):
            for lang in LANGS:
                questions[lang].append(Question(f"q{k}-{j}", lang, f"{lang} {WORDS[(k + j) % 6]} {title} "
                                                f"{text.split()[j]}", (title,), docid))
    Benchmark(passages, questions).save(root / "collections" / "xquad")
    return passages


def test_run_study_chooses_on_train_and_searches_the_tuned_indexes(tmp_path, tiny_bert, monkeypatch):
    from xqg_pyserini.experiments.study import ORACLE, run_study
    from xqg_pyserini.experiments.study_report import write_study_report

    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))
    model = shutil.copytree(tiny_bert, tmp_path / "tiny-e5")  # read as e5: mean pooling, L2-normalised
    passages = _benchmark(tmp_path)
    queries = tmp_path / "queries.jsonl"
    with open(queries, "w", encoding="utf-8") as f:
        for docid, p in passages.items():
            for lang in LANGS:
                for i in range(2):
                    f.write(json.dumps({"docid": docid, "lang": lang, "i": i, "query": f"{lang} {WORDS[i]} {p.title} "
                                        f"{p.text.split()[i + 1]}", "generator": "test"}) + "\n")
    grids = Grids(weights=(0.0, 0.3, 0.6), paper_weights=(0.0, 0.01), mixture_weights=(0.3, 0.6), own_weights=(0.5, 1.0))
    result = run_study(queries, tmp_path, str(model), grids, held_out=("es",), k=8, log=lambda *_: None)

    chosen, tables = result.extra["chosen"], result.tables
    for variant in (POOLED, ROUTED, MIXED):
        train = result.sweeps[f"{SWEEPS[variant]}-train"]
        best = max(train, key=lambda r: r["nDCG@10"])
        assert chosen[variant]["train_nDCG@10"] == best["nDCG@10"] and chosen[variant]["train_R@1"] == best["R@1"]
        knobs = {k: v for k, v in chosen[variant].items() if not k.startswith("train_") and k != "chosen_by"}
        # The TEST sweep at the knobs chosen on TRAIN (numpy) is what Pyserini's FaissSearcher found on the index.
        test_row = next(r for r in result.sweeps[f"{SWEEPS[variant]}-test"] if all(r[k] == v for k, v in knobs.items()))
        assert tables[variant].rows["macro"]["nDCG@10"] == pytest.approx(test_row["nDCG@10"], abs=1e-6)
        assert tables[variant].rows["macro"]["R@1"] == pytest.approx(test_row["R@1"], abs=1e-6)
        assert set(result.significance[variant]) == {"nDCG@10", "R@1"}
    assert chosen[PAPER]["weight"] == 0.01
    # The oracle's weight: the optimum of its own TRAIN sweep (two folds over TRAIN paragraphs), and the
    # TEST row at that weight is the oracle row's score.
    oracle_best = max(result.sweeps["oracle-train"], key=lambda r: r["nDCG@10"])
    assert chosen[ORACLE]["weight"] == oracle_best["weight"] == result.extra["oracle"]["weight"]
    oracle_test = next(r for r in result.sweeps["oracle-test"] if r["weight"] == oracle_best["weight"])
    assert tables[ORACLE].rows["macro"]["R@1"] == pytest.approx(oracle_test["R@1"], abs=1e-6)
    best = result.extra["best"]
    assert best["row"] == max((POOLED, ROUTED, MIXED), key=lambda v: chosen[v]["train_nDCG@10"])
    assert best["R@1 delta"] == pytest.approx(tables[best["row"]].rows["macro"]["R@1"]
                                              - tables["dense"].rows["macro"]["R@1"])
    assert best["ceiling"]["row"] == ORACLE and best["languages"] == 2
    assert result.extra["questions"] == {"train": {"de": 12, "es": 12}, "test": {"de": 12, "es": 12}}

    page = write_study_report(json.loads(json.dumps(result.to_json())), tmp_path / "docs", "xqg study --queries q")
    text = page.read_text()
    assert f"| {MIXED} | " in text and "## Significance against dense: R@1" in text and best["row"] in text
    assert (tmp_path / "indexes" / "xquad" / "study" / "xqg-mixture" / "de" / "index").exists()
