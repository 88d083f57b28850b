"""benchmarks/retriever_xqg.py's rows on a tiny XQuAD-shaped setup: six systems searched through
Pyserini, each fusion weight chosen on the validation questions (never TEST), tests against FT."""
from __future__ import annotations

import json
import shutil

import pytest

from xqg_pyserini.data import Benchmark, Passage, Question
from xqg_pyserini.errors import InputError
from xqg_pyserini.experiments.variants import Grids

LANGS = ("de", "es")
WORDS = ["where", "what", "which", "who", "how", "when"]
TOPICS = [("Paris", "capital city river Seine"), ("Nile", "river Africa sea flowing"), ("Jupiter", "planet Sun largest"),
          ("Piano", "keyboard hammers strings"), ("Rome", "empire city hills"), ("Moon", "orbit tides night"),
          ("Violin", "bow strings wood"), ("Sahara", "desert sand heat"), ("Alps", "mountains snow peaks")]
#: The first five passages are TRAIN; of them the last two are held out; the rest are TEST.
SPLITS = ["train"] * 3 + ["validation"] * 2 + ["test"] * 4


def _setup(tmp_path):
    passages, questions = {}, {lang: [] for lang in LANGS}
    for k, (title, text) in enumerate(TOPICS):
        docid = f"{title}_0"
        passages[docid] = Passage(docid, title, f"{title}: {text}.", SPLITS[k])
        for j in range(3):
            for lang in LANGS:
                questions[lang].append(Question(f"q{k}-{j}", lang, f"{lang} {WORDS[(k + j) % 6]} {title} "
                                                f"{text.split()[j]}", (title,), docid))
    source = {d: Passage(d, p.title, p.text, "test" if p.split == "test" else "train") for d, p in passages.items()}
    test = Benchmark(source, questions)  # what load_squad_dir gives: TRAIN and TEST articles
    validation = Benchmark(passages, {l: [q for q in qs if passages[q.docid].split == "validation"]
                                      for l, qs in questions.items()})
    test.save(tmp_path / "bench")
    queries = tmp_path / "queries.jsonl"
    with open(queries, "w", encoding="utf-8") as f:
        for docid, p in passages.items():
            for lang in LANGS:
                for i in range(2):
                    f.write(json.dumps({"docid": docid, "lang": lang, "i": i, "query": f"{lang} {WORDS[i]} {p.title} "
                                        f"{p.text.split()[i + 1]}", "generator": "test"}) + "\n")
    return test, validation, queries


def test_rows_tune_on_validation_and_test_against_ft(tmp_path, tiny_bert, monkeypatch):
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.encode.queries import embed_queries
    from xqg_pyserini.experiments.retriever_xqg import render, run_rows
    from xqg_pyserini.experiments.study import embed_topics
    from xqg_pyserini.experiments.variants import sweep
    from xqg_pyserini.index.augment import AugmentationPlan

    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))
    test, validation, queries = _setup(tmp_path)
    models = {}  # copies read as e5 (mean pooling, L2-normalised: fewer near-ties than the tiny model's CLS)
    for label, name in (("e5-small", "tiny-e5"), ("FT", "ft-e5"), ("FT-gen", "ftgen-e5")):
        models[label] = str(shutil.copytree(tiny_bert, tmp_path / "models" / name))
    (tmp_path / "models" / "ft-e5" / "xqg_model.json").write_text(json.dumps({
        "family": "e5", "training": {"epochs": 3}, "training_examples": 10, "steps": 12,
        "epoch_selection": {"chosen_epoch": 2, "chosen_step": 8, "chosen": {"nDCG@10": 0.8, "R@1": 0.7},
                            "epochs": [{"epoch": e, "step": 4 * e, "nDCG@10": v, "R@1": v}
                                       for e, v in ((1, 0.7), (2, 0.8), (3, 0.75))]}}))
    grids = Grids(weights=(0.0, 0.3, 0.6))
    result = run_rows(queries, models, test, tmp_path / "bench" / "corpus", validation, tmp_path / "indexes",
                      tmp_path / "runs", grids, k=9, log=lambda *_: None)

    assert result["systems"] == ["e5-small", "e5-small+xQG", "FT", "FT+xQG", "FT-gen", "FT-gen+xQG"]
    assert set(result["significance"]) == {"e5-small vs FT", "e5-small+xQG vs FT", "FT+xQG vs FT", "FT-gen vs FT",
                                           "FT-gen+xQG vs FT", "e5-small+xQG vs e5-small", "FT-gen+xQG vs FT-gen"}
    for tests in result["significance"].values():
        assert set(tests) == {"nDCG@10", "R@1"} and set(tests["R@1"]["per_language"]) == set(LANGS)
        assert tests["nDCG@10"]["by_id"]["ids"] == 12  # the 4 TEST passages' 3 question ids
    assert result["fusion"]["chosen_on"]["questions"] == {"de": 6, "es": 6}  # validation only, never TEST
    assert result["questions"] == {"de": 12, "es": 12}
    assert (tmp_path / "runs" / "FT-gen+xQG.de.trec").exists()

    # The weight is the validation optimum, and the TEST row is that weight's vectors (numpy = Pyserini).
    encoder = TransformerEncoder(models["FT"], show_progress=False)
    index = tmp_path / "indexes" / "ft-e5"
    plan = AugmentationPlan(index, embed_queries(queries, encoder))
    docids = (index / "docid").read_text().split()
    val_rows = sweep(lambda weight: plan.vectors("mean", weight, normalize=True), docids,
                     embed_topics(encoder, {l: validation.topics(l) for l in LANGS}),
                     {l: validation.qrels(l) for l in LANGS}, grids.weights)
    chosen = result["fusion"]["chosen"]["FT"]
    assert chosen["train_nDCG@10"] == max(r["nDCG@10"] for r in val_rows) == result["fusion"]["sweeps"]["FT"][
        [r["weight"] for r in val_rows].index(chosen["weight"])]["nDCG@10"]
    [on_test] = sweep(lambda weight: plan.vectors("mean", weight, normalize=True), docids,
                      embed_topics(encoder, {l: test.topics(l, "test") for l in LANGS}),
                      {l: test.qrels(l, "test") for l in LANGS}, [chosen["weight"]])
    macro = result["tables"]["FT+xQG"]["rows"]["macro"]
    assert macro["nDCG@10"] == pytest.approx(on_test["nDCG@10"], abs=1e-6) and macro["R@1"] == pytest.approx(
        on_test["R@1"], abs=1e-6)

    page = render(json.loads(json.dumps(result)), "python benchmarks/retriever_xqg.py ...")
    assert "| FT | fine-tuned on real TRAIN questions | 2 of 3 | 0.8000 |" in page
    assert "FT, validation nDCG@10 after each epoch: 1: 0.7000, 2: 0.8000, 3: 0.7500." in page
    assert all(f"| {s} |" in page for s in result["systems"]) and "| FT-gen+xQG vs FT | R@1 |" in page


def test_test_questions_cannot_choose_the_weights(tmp_path, tiny_bert):
    from xqg_pyserini.experiments.retriever_xqg import run_rows

    test, _, queries = _setup(tmp_path)
    with pytest.raises(InputError, match="TEST passage"):
        run_rows(queries, {"FT": str(tiny_bert)}, test, tmp_path / "bench" / "corpus", test, tmp_path / "i")
    with pytest.raises(InputError, match="must include FT"):
        run_rows(queries, {"e5-small": str(tiny_bert)}, test, tmp_path / "bench" / "corpus", test, tmp_path / "i")
