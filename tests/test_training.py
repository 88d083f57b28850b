"""Retriever training: input validation, batching, loss, a tiny end-to-end run searched through
Pyserini's FaissSearcher, resuming, distillation, and the two CLI commands."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import SAMPLE_PASSAGES
from xqg_pyserini.data import Passage
from xqg_pyserini.errors import InputError
from xqg_pyserini.train.config import RetrieverTrainConfig
from xqg_pyserini.train.retriever import (Teacher, batch_passages, contrastive_loss, plan_batches,
                                   train_from_file, train_retriever)
from xqg_pyserini.train.data import PassageRef, TrainingExample, read_training_file, write_training_file

CORPUS = {d: Passage(d, t, x) for d, t, x in SAMPLE_PASSAGES}
QUERIES = {
    "Paris_0": ["what is the capital of france", "which city is on the seine", "largest city of france"],
    "Nile_0": ["which river flows into the mediterranean", "major river in africa", "where is the nile"],
    "Jupiter_0": ["largest planet in the solar system", "fifth planet from the sun", "what is jupiter"],
    "Piano_0": ["keyboard instrument with hammers", "what strikes strings in a piano", "what is a piano"],
}


def ref(docid: str) -> PassageRef:
    p = CORPUS[docid]
    return PassageRef(p.docid, p.title, p.text)


def examples(pivot: bool = False) -> list[TrainingExample]:
    out = []
    for docid, queries in QUERIES.items():
        others = [d for d in CORPUS if d != docid]
        for n, q in enumerate(queries):
            out.append(TrainingExample(f"{docid}-{n}", q, [ref(docid)], [ref(others[n % 3])], "xx",
                                       queries[0] if pivot and n else None))
    return out


def tiny_config(tiny_bert: Path, **overrides) -> RetrieverTrainConfig:
    settings = dict(base=str(tiny_bert), lr=1e-3, batch_size=4, queries_per_passage=2, epochs=3,
                    checkpoint_every=2, warmup_ratio=0.0, seed=0)
    return RetrieverTrainConfig(**{**settings, **overrides})


def quiet(_message: str) -> None:
    pass


# ----------------------------------------------------------------------------- input validation

def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = {"query_id": "q1", "query": "capital of france", "positive_passages": [{"docid": "Paris_0"}],
        "negative_passages": [{"docid": "Nile_0"}]}


@pytest.mark.parametrize("bad, line, problem", [
    ({"query_id": "q2", "query": "x", "positive_passages": [], "negative_passages": []}, 2, "no positive passages"),
    ({"query_id": "q2", "query": "x", "positive_passages": [{"docid": "Nowhere_9"}]}, 2, "unknown passage id 'Nowhere_9'"),
    ({"query_id": "q2", "query": "x", "positive_passages": [{"docid": "Paris_0"}],
      "negative_passages": [{"docid": "Atlantis_1"}]}, 2, "unknown passage id 'Atlantis_1'"),
    ({"query_id": "q2", "query": "", "positive_passages": [{"docid": "Paris_0"}]}, 2, "missing or empty query"),
    ({"query_id": "q1", "query": "y", "positive_passages": [{"docid": "Paris_0"}]}, 2, "duplicate query_id"),
    ("{not json", 2, "malformed JSON"),
])
def test_bad_rows_name_file_and_line(tmp_path, bad, line, problem):
    path = write_lines(tmp_path / "train.jsonl", [GOOD, bad])
    with pytest.raises(InputError) as err:
        read_training_file(path, CORPUS)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert problem in str(err.value)


def test_empty_file_and_missing_text(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match=f"^{empty}: training file is empty"):
        read_training_file(empty, CORPUS)
    no_text = write_lines(tmp_path / "ids.jsonl", [GOOD])
    with pytest.raises(InputError, match=f"^{no_text}:1: passage 'Paris_0' .* has no text"):
        read_training_file(no_text)  # without a corpus, ids alone are not enough


def test_corpus_fills_texts_and_round_trip(tmp_path):
    [ex] = read_training_file(write_lines(tmp_path / "t.jsonl", [GOOD]), CORPUS)
    assert ex.positives == [ref("Paris_0")] and ex.negatives == [ref("Nile_0")]
    written = write_training_file(examples(pivot=True), tmp_path / "full.jsonl")
    assert read_training_file(written) == examples(pivot=True)


# ----------------------------------------------------------------------------- batches and loss

def test_plan_batches_cover_every_query_once_per_epoch_and_group_by_passage():
    exs = examples()
    cfg = RetrieverTrainConfig(batch_size=4, queries_per_passage=2, epochs=2, seed=3)
    batches = plan_batches(exs, cfg)
    assert batches == plan_batches(exs, cfg)  # a function of the seed
    flat = [i for b in batches for i in b]
    assert sorted(flat) == sorted(list(range(len(exs))) * 2)
    assert all(len(b) <= 4 for b in batches)
    # chunks of 2 share a positive: each batch's queries come in same-passage pairs (or a leftover)
    first = batches[0]
    assert exs[first[0]].positives[0] == exs[first[1]].positives[0]
    assert plan_batches(exs, RetrieverTrainConfig(batch_size=4, queries_per_passage=2, epochs=2, seed=4)) != batches


def test_batch_passages_dedupes_and_masks_other_positives():
    a = TrainingExample("a", "qa", [ref("Paris_0"), ref("Nile_0")], [ref("Jupiter_0")])
    b = TrainingExample("b", "qb", [ref("Nile_0")], [ref("Paris_0")])
    c = TrainingExample("c", "qc", [ref("Nile_0")], [ref("Piano_0")])
    passages, targets, mask = batch_passages([a, b, c], [0, 1, 2], negatives=1, rng=random.Random(0))
    ids = [p.docid for p in passages]
    assert len(ids) == len(set(ids)) and {"Paris_0", "Nile_0", "Jupiter_0"} <= set(ids)
    assert [ids[t] for t in targets.tolist()] == ["Paris_0", "Nile_0", "Nile_0"]
    # a's second positive is not a negative for a; b's and c's negatives exclude their group's positives
    assert mask[0, ids.index("Nile_0")] and mask.sum() == 1
    assert "Paris_0" in ids  # as a's positive, and as b's negative (the same column)


def test_contrastive_loss_matches_softmax_and_ignores_masked():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    targets, mask = torch.tensor([0, 1]), torch.zeros(2, 3, dtype=torch.bool)
    scores = q @ p.T
    expected = -(scores.log_softmax(-1)[0, 0] + scores.log_softmax(-1)[1, 1]) / 2
    assert torch.isclose(contrastive_loss(q, p, targets, mask), expected)
    mask[0, 2] = True
    masked = -(scores[0, :2].log_softmax(-1)[0] + scores.log_softmax(-1)[1, 1]) / 2
    assert torch.isclose(contrastive_loss(q, p, targets, mask), masked)
    cos = contrastive_loss(q, p, targets, torch.zeros(2, 3, dtype=torch.bool), "cos", 0.1)
    scaled = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(p, dim=-1).T / 0.1
    assert torch.isclose(cos, torch.nn.functional.cross_entropy(scaled, targets))


# ----------------------------------------------------------------------------- end to end (tiny model)

def test_train_save_and_search_through_faiss_searcher(tmp_path, tiny_bert, sample_corpus):
    """e5 conventions on the tiny model: the checkpoint says so, and Pyserini's own encoder agrees with ours."""
    from pyserini.encode import AutoQueryEncoder
    from pyserini.search.faiss import FaissSearcher

    from xqg_pyserini.encode import TransformerEncoder, XqgQueryEncoder
    from xqg_pyserini.index.faiss import build_faiss_index
    from xqg_pyserini.models import MARKER

    cfg = tiny_config(tiny_bert, preset="e5", epochs=8)
    steps = len(plan_batches(examples(), cfg))  # 4 per epoch: 8 chunks (3 queries a passage, 2 a chunk), 2 a batch
    out = train_retriever(examples(), tmp_path / "model", cfg, tmp_path / "work", log=quiet)
    files = {f.name for f in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", MARKER} <= files
    marker = json.loads((out / MARKER).read_text())
    assert marker["family"] == "e5" and marker["encoder_settings"]["pooling"] == "mean"
    assert marker["similarity"] == "cos" and marker["steps"] == marker["planned_steps"] == steps == 32
    log = [json.loads(line) for line in (tmp_path / "work" / "train.log").read_text().splitlines()]
    assert len(log) == steps and np.mean([e["loss"] for e in log[-4:]]) < np.mean([e["loss"] for e in log[:4]])

    encoder = TransformerEncoder(str(out), show_progress=False)  # the marker picks the e5 settings
    assert encoder.settings.pooling == "mean" and encoder.settings.l2_norm and encoder.settings.query_prefix == "query: "
    index = build_faiss_index(sample_corpus, encoder, tmp_path / "index")
    ours = FaissSearcher(str(index), XqgQueryEncoder(encoder))
    plain = FaissSearcher(str(index), AutoQueryEncoder(str(out), pooling="mean", l2_norm=True, prefix="query:"))
    hits = 0
    for docid, queries in QUERIES.items():
        a, b = ours.search(queries[0], k=4), plain.search(queries[0], k=4)
        assert [h.docid for h in a] == [h.docid for h in b]
        assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-4)
        hits += a[0].docid == docid
    assert hits >= 3  # it learned (most of) its tiny training set


def test_dpr_settings_are_recorded_as_dpr(tmp_path, tiny_bert):
    out = train_retriever(examples(), tmp_path / "m", tiny_config(tiny_bert, max_steps=1), tmp_path / "w", log=quiet)
    marker = json.loads((out / "xqg_model.json").read_text())
    assert marker["family"] == "dpr" and marker["similarity"] == "dot"  # the tiny BERT's default: CLS, dot product


def test_killed_run_resumes_to_the_same_model(tmp_path, tiny_bert):
    from safetensors.torch import load_file

    cfg = tiny_config(tiny_bert, accumulation_steps=2, epochs=4)
    whole = train_retriever(examples(), tmp_path / "whole", cfg, tmp_path / "w1", log=quiet)

    def killer(message: str) -> None:
        if "step 3/" in message:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_retriever(examples(), tmp_path / "resumed", cfg, tmp_path / "w2", log=killer)
    assert json.loads((tmp_path / "w2" / "checkpoint" / "state.json").read_text())["step"] == 2
    assert not (tmp_path / "resumed").exists()
    messages = []
    resumed = train_retriever(examples(), tmp_path / "resumed", cfg, tmp_path / "w2", log=messages.append)
    assert messages[0].startswith("[train-retriever] resuming at step 2 of")
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(InputError, match="different training run"):
        train_retriever(examples(), tmp_path / "other", tiny_config(tiny_bert, lr=1e-4), tmp_path / "w2", log=quiet)


def test_frozen_word_embeddings_stay_put(tmp_path, tiny_bert):
    from safetensors.torch import load_file

    out = train_retriever(examples(), tmp_path / "m", tiny_config(tiny_bert, max_steps=2), tmp_path / "w", log=quiet)
    before, after = load_file(str(tiny_bert / "model.safetensors")), load_file(str(out / "model.safetensors"))
    key = "embeddings.word_embeddings.weight"
    assert torch.equal(before[key], after[key])
    assert not torch.equal(before["encoder.layer.0.attention.self.query.weight"],
                           after["encoder.layer.0.attention.self.query.weight"])


def test_distillation_pulls_toward_the_frozen_pivot(tmp_path, tiny_bert):
    from xqg_pyserini.encode.encoders import TransformerEncoder

    exs = examples(pivot=True)
    encoder = TransformerEncoder(str(tiny_bert), show_progress=False)
    teacher = Teacher(encoder, exs)
    pivots = [e for e in exs if e.pivot_query]
    assert set(teacher.row) == {e.pivot_query for e in pivots}
    # the teacher's own embedding of the pivot has zero distance; the student's question does not
    own = torch.from_numpy(encoder.encode_queries([pivots[0].pivot_query], show_progress=False))
    assert teacher.loss(own, [TrainingExample("x", "other", pivots[0].positives, [], "de", pivots[0].pivot_query)]) == 0
    assert teacher.loss(own, [exs[0]]) is None  # no pivot: no distillation term
    out = train_retriever(exs, tmp_path / "m", tiny_config(tiny_bert, distill_weight=1.0, max_steps=3),
                          tmp_path / "w", log=quiet)
    log = [json.loads(line) for line in (tmp_path / "w" / "train.log").read_text().splitlines()]
    assert all("distill" in e for e in log) and json.loads((out / "xqg_model.json").read_text())["steps"] == 3
    with pytest.raises(InputError, match="pivot_query"):
        train_retriever(examples(), tmp_path / "m2", tiny_config(tiny_bert, distill_weight=1.0), tmp_path / "w2",
                        log=quiet)


# ----------------------------------------------------------------------------- CLI

def test_cli_train_retriever(tmp_path, tiny_bert, sample_corpus, capsys):
    from xqg_pyserini.cli import main

    bad = write_lines(tmp_path / "bad.jsonl", [GOOD, {**GOOD, "query_id": "q9", "positive_passages": [{"docid": "Zz"}]}])
    assert main(["train-retriever", "--train", str(bad), "--corpus", str(sample_corpus), "--base", str(tiny_bert)]) == 2
    assert f"{bad}:2: unknown passage id 'Zz'" in capsys.readouterr().err

    good = write_lines(tmp_path / "good.jsonl", [{**GOOD, "query_id": f"q{i}"} for i in range(4)])
    argv = ["train-retriever", "--train", str(good), "--corpus", str(sample_corpus), "--base", str(tiny_bert),
            "--out", str(tmp_path / "m"), "--work-dir", str(tmp_path / "w"), "--batch-size", "2", "--max-steps", "2",
            "--pooling", "mean", "--lr", "1e-3"]
    with pytest.warns(UserWarning, match="match no preset"):
        assert main(argv) == 0
    marker = json.loads((tmp_path / "m" / "xqg_model.json").read_text())
    assert marker["steps"] == 2 and marker["training"]["batch_size"] == 2 and marker["training"]["lr"] == 1e-3
    assert marker["encoder_settings"]["pooling"] == "mean"  # no preset matches: recorded for loaders


def test_train_from_file_checks_against_corpus(tmp_path, sample_corpus, tiny_bert):
    path = write_lines(tmp_path / "t.jsonl", [{**GOOD, "negative_passages": [{"docid": "Mars_0"}]}])
    with pytest.raises(InputError, match=f"^{path}:1: unknown passage id 'Mars_0'"):
        train_from_file(path, tmp_path / "m", tiny_config(tiny_bert), corpus=sample_corpus, log=quiet)


# ----------------------------------------------------------------------------- real data / model

@pytest.mark.integration
def test_build_training_data_from_xquad(tmp_path):
    from xqg_pyserini.data import load_squad_dir
    from xqg_pyserini.train.data import build_training_data

    from xqg_pyserini.index.lucene import build_bm25_index

    bench = load_squad_dir(languages=["de"])
    index = build_bm25_index(bench.save(tmp_path / "bench") / "corpus", tmp_path / "bm25")  # no demo needed
    summary = build_training_data(tmp_path / "t.jsonl", languages=["de"], miner="bm25", mine_with="pivot",
                                  index=str(index), negatives=4, holdout_articles=0)  # every TRAIN article
    rows = read_training_file(tmp_path / "t.jsonl", bench.passages)
    assert summary["queries"] == len(rows) == len(bench.topics("de", "train")) and summary["negatives_max"] == 4
    for ex in rows:
        assert bench.passages[ex.positives[0].docid].split == "train" and ex.lang == "de" and ex.pivot_query
        assert all(bench.passages[n.docid].split == "train" and n.docid != ex.positives[0].docid for n in ex.negatives)
    with pytest.raises(InputError, match="train articles"):
        build_training_data(tmp_path / "x.jsonl", split="test", miner="none")


@pytest.mark.integration
def test_e5_checkpoint_keeps_its_family(tmp_path):
    from xqg_pyserini.encode.encoders import TransformerEncoder

    exs = [TrainingExample(f"q{i}", q, [ref(d)], [ref(n)]) for i, (d, q, n) in
           enumerate([("Paris_0", "Quelle est la capitale de la France ?", "Nile_0"),
                      ("Nile_0", "Welcher Fluss mündet ins Mittelmeer?", "Paris_0")])]
    cfg = RetrieverTrainConfig(batch_size=2, queries_per_passage=1, max_steps=1, passage_max_length=64)
    out = train_retriever(exs, tmp_path / "e5", cfg, tmp_path / "w", log=quiet)
    assert json.loads((out / "xqg_model.json").read_text())["family"] == "e5"
    enc = TransformerEncoder(str(out), show_progress=False)
    assert enc.settings.pooling == "mean" and enc.settings.l2_norm and enc.settings.query_prefix == "query: "
    v = enc.encode_queries(["capital of France"])
    assert v.shape == (1, 384) and np.isclose(np.linalg.norm(v), 1.0, atol=1e-4)
