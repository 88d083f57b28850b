"""Issue 9, part 3: a validation split inside TRAIN, per-epoch evaluation that exports the best epoch
(and resumes without duplicate rows), and generated queries as extra training pairs of TRAIN
passages only. Tiny XQuAD-shaped files (48 articles, so the article split applies) and a tiny BERT."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import SAMPLE_PASSAGES
from tests.test_training import examples, quiet, tiny_config
from xqg_pyserini.data import Benchmark, Passage, Question
from xqg_pyserini.errors import InputError
from xqg_pyserini.train import epochs
from xqg_pyserini.train.data import (GENERATED, VALIDATION, build_training_data, default_validation_dir, hold_out,
                                     read_training_file)
from xqg_pyserini.train.retriever import train_retriever

LANGS = ("de", "es")


def write_xquad(root: Path, articles: int = 48, paragraphs: int = 2) -> Path:
    """xquad.<lang>.json for en, de, es: ``articles`` articles of ``paragraphs`` paragraphs, two questions each."""
    root.mkdir(parents=True, exist_ok=True)
    for lang in ("en", *LANGS):
        data = []
        for a in range(articles):
            paras = []
            for p in range(paragraphs):
                qas = [{"id": f"a{a}p{p}q{j}", "question": f"{lang} question {j} about topic{a} part{p}",
                        "answers": [{"text": f"answer{a}x{p}", "answer_start": 0}]} for j in range(2)]
                paras.append({"context": f"answer{a}x{p} is what topic{a} part{p} says.", "qas": qas})
            data.append({"title": f"Art_{a}", "paragraphs": paras})
        (root / f"xquad.{lang}.json").write_text(json.dumps({"data": data}), encoding="utf-8")
    return root


def article_of(docid: str) -> int:
    return int(docid.split("_")[1])


# ----------------------------------------------------------------------------- hold-out

def test_holdout_is_the_last_train_articles_disjoint_from_training_and_deterministic(tmp_path):
    data = write_xquad(tmp_path / "xquad")
    out = tmp_path / "t.jsonl"
    summary = build_training_data(out, data, miner="none", negatives=3, holdout_articles=6)
    assert summary["validation"]["held_out_articles"] == [f"Art {a}" for a in range(30, 36)]
    assert summary["train_articles"] == 30 and summary["queries"] == 30 * 2 * 2 * len(LANGS)
    rows = read_training_file(out)
    for ex in rows:  # positives and negatives: TRAIN articles 0-29 only
        assert all(article_of(p.docid) < 30 for p in ex.positives + ex.negatives)
    validation = Benchmark.load(default_validation_dir(out))
    assert len(validation.passages) == 48 * 2  # the whole corpus is searched
    held = {q.qid for qs in validation.questions.values() for q in qs}
    assert held and all(30 <= article_of(q.docid) < 36 for qs in validation.questions.values() for q in qs)
    assert not held & {ex.query_id.rsplit("-", 1)[0] for ex in rows}
    assert {p.split for p in validation.passages.values()} == {"train", VALIDATION, "test"}
    epochs.load_validation(default_validation_dir(out))  # accepted as a validation set

    again = build_training_data(tmp_path / "t2.jsonl", data, miner="none", negatives=3, holdout_articles=6)
    assert (tmp_path / "t2.jsonl").read_text() == out.read_text() and again["validation"]["questions"] == \
        summary["validation"]["questions"]
    assert (default_validation_dir(out) / "topics.de.tsv").read_text() == \
        (default_validation_dir(tmp_path / "t2.jsonl") / "topics.de.tsv").read_text()

    none = build_training_data(tmp_path / "all.jsonl", data, miner="none", negatives=3, holdout_articles=0)
    assert none["queries"] == 36 * 2 * 2 * len(LANGS) and "validation" not in none
    assert not default_validation_dir(tmp_path / "all.jsonl").exists()


def test_holdout_refusals(tmp_path):
    data = write_xquad(tmp_path / "xquad")
    from xqg_pyserini.data import load_squad_dir

    bench = load_squad_dir(data)
    with pytest.raises(InputError, match="36 TRAIN articles"):
        hold_out(bench, 36)
    with pytest.raises(InputError, match="must not be negative"):
        hold_out(bench, -1)
    bench.save(tmp_path / "collection")  # an ordinary benchmark (xqg prepare) is never overwritten
    with pytest.raises(InputError, match="not a validation set"):
        build_training_data(tmp_path / "t.jsonl", data, miner="none", negatives=1,
                            validation_out=tmp_path / "collection")
    with pytest.raises(InputError, match="TEST passage"):  # choosing epochs on TEST questions is refused
        epochs.load_validation(tmp_path / "collection")


# ----------------------------------------------------------------------------- generated queries

def write_generated(path: Path, rows: list[tuple[str, str, int, str]]) -> Path:
    path.write_text("".join(json.dumps({"docid": d, "lang": l, "i": i, "query": q, "generator": "t"}) + "\n"
                            for d, l, i, q in rows), encoding="utf-8")
    return path


def test_generated_queries_become_pairs_only_for_train_passages(tmp_path):
    data = write_xquad(tmp_path / "xquad")
    rows = [("Art_0_0", "de", 0, "gen de zero"), ("Art_0_0", "de", 1, "gen de one"), ("Art_5_1", "es", 0, "gen es"),
            ("Art_32_0", "de", 0, "held-out passage"), ("Art_40_1", "es", 0, "test passage"),
            ("Art_47_0", "de", 3, "test passage"), ("Art_1_0", "en", 0, "english"), ("Art_2_0", "de", 0, "  ")]
    gen = write_generated(tmp_path / "gen.jsonl", rows)
    out = tmp_path / "t.jsonl"
    summary = build_training_data(out, data, miner="none", negatives=2, holdout_articles=6, generated_queries=gen)
    assert summary["queries_generated"] == 3 and summary["queries_real"] == 30 * 2 * 2 * len(LANGS)
    assert summary["generated_skipped"] == {"test": 2, VALIDATION: 1, "other_language": 1, "empty": 1}
    made = [ex for ex in read_training_file(out) if ex.source == GENERATED]
    assert sorted(ex.query_id for ex in made) == ["Art_0_0-de-gen-0", "Art_0_0-de-gen-1", "Art_5_1-es-gen-0"]
    for ex in made:
        assert article_of(ex.positives[0].docid) < 30 and ex.pivot_query is None and len(ex.negatives) == 2
        assert all(article_of(n.docid) < 30 and n.docid != ex.positives[0].docid for n in ex.negatives)
    assert json.loads(out.read_text().splitlines()[-1])["source"] == "generated"

    bad = write_generated(tmp_path / "bad.jsonl", rows[:1] + [("Nowhere_0", "de", 0, "x")])
    with pytest.raises(InputError, match=f"^{bad}:2: docid 'Nowhere_0' is not in the corpus"):
        build_training_data(tmp_path / "b.jsonl", data, miner="none", negatives=1, generated_queries=bad)
    Path(f"{gen}.meta.json").write_text(json.dumps({"complete": False}))
    with pytest.raises(InputError, match="did not finish"):
        build_training_data(tmp_path / "c.jsonl", data, miner="none", negatives=1, generated_queries=gen)


def test_cli_build_training_data_with_holdout_and_generated(tmp_path, capsys):
    from xqg_pyserini.cli import main

    data = write_xquad(tmp_path / "xquad")
    gen = write_generated(tmp_path / "gen.jsonl", [("Art_3_0", "de", 0, "gen"), ("Art_44_0", "de", 0, "test")])
    out = tmp_path / "train.jsonl"
    argv = ["build-training-data", "--data", str(data), "--out", str(out), "--miner", "none", "--negatives", "1",
            "--holdout-articles", "4", "--validation-out", str(tmp_path / "val"), "--generated-queries", str(gen)]
    assert main(argv) == 0
    assert "'queries_generated': 1" in capsys.readouterr().out
    assert Benchmark.load(tmp_path / "val").topics("de") and all(
        32 <= article_of(q.docid) < 36 for q in Benchmark.load(tmp_path / "val").questions["de"])


# ----------------------------------------------------------------------------- per-epoch selection

def validation_set() -> Benchmark:
    """The four sample passages; questions (two languages) about two of them, held out."""
    held = {"Paris_0", "Jupiter_0"}
    passages = {d: Passage(d, t, x, VALIDATION if d in held else "train") for d, t, x in SAMPLE_PASSAGES}
    texts = {"Paris_0": "capital city of france", "Jupiter_0": "the biggest planet"}
    questions = {lang: [Question(f"v{k}", lang, f"{t} {lang}", (), d) for k, (d, t) in enumerate(texts.items())]
                 for lang in ("xx", "yy")}
    return Benchmark(passages, questions)


def test_epoch_ends():
    assert epochs.epoch_ends(10, 2, 3, 4) == {2: 1.0, 4: 2.0}
    assert epochs.epoch_ends(10, 2, 3, 3) == {2: 1.0, 3: 1.8}  # max_steps: the last weights are a candidate
    assert epochs.epoch_ends(12, 3, 1, 12) == {4: 1.0, 8: 2.0, 12: 3.0}


def test_the_best_validation_epoch_is_exported_not_the_last(tmp_path, tiny_bert, monkeypatch):
    from safetensors.torch import load_file

    scores = iter([0.5, 0.9, 0.7])  # epochs 1, 2, 3: the second is best

    def scripted(encoder, validation, settings=None):
        value = next(scores)
        return {"nDCG@10": value, "R@1": value / 2, "per_language": {"xx": {"nDCG@10": value, "R@1": value / 2}}}

    monkeypatch.setattr(epochs, "evaluate_encoder", scripted)
    cfg = tiny_config(tiny_bert, epochs=3, checkpoint_every=100)
    out = train_retriever(examples(), tmp_path / "m", cfg, tmp_path / "w", log=quiet, validation=validation_set())
    chosen = json.loads((out / "xqg_model.json").read_text())["epoch_selection"]
    assert chosen["chosen_epoch"] == 2 and chosen["chosen_step"] == 8 and chosen["chosen"] == {"nDCG@10": 0.9,
                                                                                                "R@1": 0.45}
    assert [r["epoch"] for r in chosen["epochs"]] == [1, 2, 3] and chosen["criterion"] == "validation nDCG@10"
    table = json.loads((tmp_path / "w" / "epochs.json").read_text())
    assert [(r["epoch"], r["step"]) for r in table["epochs"]] == [(1, 4), (2, 8), (3, 12)]
    exported = load_file(str(out / "model.safetensors"))
    for epoch, same in ((2, True), (3, False)):
        saved = load_file(str(tmp_path / "w" / "epochs" / f"epoch-{epoch}.safetensors"))
        assert all(torch.equal(exported[k], v) for k, v in saved.items()) is same


def test_killed_run_resumes_its_epoch_table_without_duplicates(tmp_path, tiny_bert):
    from safetensors.torch import load_file

    cfg = tiny_config(tiny_bert, epochs=3, checkpoint_every=100)  # checkpoints only at epoch ends
    whole = train_retriever(examples(), tmp_path / "whole", cfg, tmp_path / "w1", log=quiet, validation=validation_set())

    def killer(message: str) -> None:
        if message.startswith("[train-retriever] epoch 2 "):  # epoch 2 is in the table, its checkpoint is not
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_retriever(examples(), tmp_path / "resumed", cfg, tmp_path / "w2", log=killer, validation=validation_set())
    assert [r["epoch"] for r in json.loads((tmp_path / "w2" / "epochs.json").read_text())["epochs"]] == [1, 2]
    messages: list[str] = []
    resumed = train_retriever(examples(), tmp_path / "resumed", cfg, tmp_path / "w2", log=messages.append,
                              validation=validation_set())
    assert messages[0].startswith("[train-retriever] resuming at step 4 of 12")
    a, b = (json.loads((tmp_path / w / "epochs.json").read_text())["epochs"] for w in ("w1", "w2"))
    assert [r["epoch"] for r in b] == [1, 2, 3]
    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rows]
    assert strip(a) == strip(b)
    assert all(0 <= r["nDCG@10"] <= 1 and set(r["per_language"]) == {"xx", "yy"} for r in b)
    x, y = load_file(str(whole / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert all(torch.allclose(x[k], y[k], atol=1e-6) for k in x)
    with pytest.raises(InputError, match="another validation set"):
        other = validation_set()
        other.questions["xx"] = other.questions["xx"][:1]
        train_retriever(examples(), tmp_path / "resumed", cfg, tmp_path / "w2", log=quiet, validation=other)


def test_cli_train_retriever_with_validation(tmp_path, tiny_bert):
    from xqg_pyserini.cli import main
    from xqg_pyserini.train.data import write_training_file

    validation_set().save(tmp_path / "val")
    train = write_training_file(examples(), tmp_path / "t.jsonl")
    argv = ["train-retriever", "--train", str(train), "--base", str(tiny_bert), "--out", str(tmp_path / "m"),
            "--work-dir", str(tmp_path / "w"), "--batch-size", "4", "--queries-per-passage", "2", "--epochs", "2",
            "--lr", "1e-3", "--validation", str(tmp_path / "val")]
    assert main(argv) == 0
    chosen = json.loads((tmp_path / "m" / "xqg_model.json").read_text())["epoch_selection"]
    assert chosen["chosen_epoch"] in (1, 2) and chosen["validation"]["questions"] == {"xx": 2, "yy": 2}
