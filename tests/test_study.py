"""Pieces of the xQG study: the oracle never sees evaluated ids, noise is seeded, numpy search = FAISS."""
from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from xqg_pyserini.data import Benchmark, Passage, Question
from xqg_pyserini.experiments.study import compare, fold_of, search_vectors, write_oracle_queries


def _bench() -> Benchmark:
    passages = {"p0": Passage("p0", "T", "text zero", "train"), "p1": Passage("p1", "T", "text one", "test")}
    qs = {lang: [Question("a", lang, f"{lang} qa", ("x",), "p0"), Question("b", lang, f"{lang} qb", ("y",), "p1"),
                 Question("c", lang, f"{lang} qc", ("z",), "p1")] for lang in ("de", "ru")}
    return Benchmark(passages, qs)


def test_oracle_queries_exclude_searched_ids_and_number_per_passage_language(tmp_path):
    out = write_oracle_queries(_bench(), tmp_path / "o.jsonl", exclude={"b"})
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [(r["docid"], r["lang"], r["i"], r["query"]) for r in rows] == [
        ("p0", "de", 0, "de qa"), ("p1", "de", 0, "de qc"), ("p0", "ru", 0, "ru qa"), ("p1", "ru", 0, "ru qc")]
    assert {r["generator"] for r in rows} == {"oracle"}


def test_folds_are_stable_and_split_ids():
    ids = [f"q{i}" for i in range(200)]
    folds = [fold_of(q) for q in ids]
    assert folds == [fold_of(q) for q in ids] and 60 < sum(folds) < 140


def test_numpy_search_equals_faiss_flat_ip():
    rng = np.random.default_rng(0)
    passages, queries = rng.normal(size=(50, 8)).astype("float32"), rng.normal(size=(5, 8)).astype("float32")
    docids, qids = [f"d{i}" for i in range(50)], [f"q{i}" for i in range(5)]
    run = search_vectors(passages, docids, queries, qids, k=7)
    index = faiss.IndexFlatIP(8)
    index.add(passages)
    scores, rows = index.search(queries, 7)
    for r, q in enumerate(qids):
        assert run[q] == pytest.approx({docids[j]: float(s) for j, s in zip(rows[r], scores[r])}, rel=1e-5)


def test_compare_pools_languages_and_signs_difference():
    qrels = {"de": {"a": {"p0": 1}, "b": {"p1": 1}, "c": {"p1": 1}}}
    base = {"de": {"a": {"p1": 2.0, "p0": 1.0}, "b": {"p0": 2.0, "p1": 1.0}, "c": {"p1": 1.0}}}
    better = {"de": {"a": {"p0": 2.0}, "b": {"p1": 2.0}, "c": {"p1": 1.0}}}
    out = compare(base, better, qrels)
    # nDCG@10 of base: a and b have the relevant doc at rank 2 (1/log2(3)), c at rank 1.
    expected = ((1 - 1 / np.log2(3)) * 2 + 0) / 3
    assert out["nDCG@10"]["diff"] == pytest.approx(expected) and out["nDCG@10"]["queries"] == 3
    assert out["nDCG@10"]["per_language"]["de"]["diff"] == pytest.approx(expected)
    assert out["R@1"]["diff"] == pytest.approx(2 / 3)  # base finds a and b second, better finds all first


# ----------------------------------------------------------------------------- the count-balanced oracle

def _oracle_case():
    """p0 is a TRAIN paragraph (question a), p1 and p2 TEST ones (b, c, d and e); two languages whose
    questions share ids, as XQuAD's translations do; generated counts differ per language."""
    from xqg_pyserini.experiments.study import TopicVectors

    owner = {lang: {"a": "p0", "b": "p1", "c": "p1", "d": "p1", "e": "p2"} for lang in ("de", "ru")}
    counts = {(d, "de"): 2 for d in ("p0", "p1", "p2")} | {(d, "ru"): 3 for d in ("p0", "p1", "p2")}
    rng = np.random.default_rng(0)
    unit = lambda m: (m / np.linalg.norm(m, axis=1, keepdims=True)).astype("float32")  # noqa: E731
    base, docids = unit(rng.normal(size=(3, 8))), ["p0", "p1", "p2"]
    qids = ["a", "b", "c", "d", "e"]
    questions = {lang: (qids, unit(rng.normal(size=(5, 8)))) for lang in ("de", "ru")}
    topics = TopicVectors({lang: qids[1:] for lang in questions}, {lang: m[1:] for lang, (_, m) in questions.items()})
    return owner, counts, base, docids, questions, topics


def test_oracle_never_fuses_an_evaluated_question_and_matches_the_generated_counts():
    from xqg_pyserini.experiments.oracle import balance_summary, oracle_folds

    owner, counts, *_ = _oracle_case()
    folds = oracle_folds(owner, counts, {"p1", "p2"}, seed=0)
    assert folds == oracle_folds(owner, counts, {"p1", "p2"}, seed=0)  # seeded, stable
    assert len(folds) == 2 and not folds[0].searched & folds[1].searched
    assert folds[0].searched | folds[1].searched == {"b", "c", "d", "e"}  # every test id evaluated once
    assert len(folds[0].searched & {"b", "c", "d"}) == 2  # the larger half first
    for fold in folds:
        for (docid, lang), fused in fold.augmentation.items():
            assert not set(fused) & fold.searched  # nor any translation of it: the halves are over ids
            assert all(owner[lang][q] == docid for q in fused)  # real questions of that very passage
            assert len(fused) == counts[(docid, lang)]  # as many as the generator wrote
        assert fold.augmentation[("p0", "de")] == ["a", "a"]  # TRAIN paragraphs: all their questions
        e_searched = "e" in fold.searched
        assert (("p2", "ru") in fold.augmentation) is not e_searched  # nothing left to fuse: unaugmented
    other = folds[0] if "e" in folds[1].searched else folds[1]
    assert other.augmentation[("p2", "ru")] == ["e", "e", "e"]
    summary = balance_summary(folds, counts)["folds"]
    assert [f["unaugmented"] for f in summary] == [2 if "e" in f.searched else 0 for f in folds]
    assert sum(f["searched_ids"] for f in summary) == 4


def test_oracle_vectors_fuse_like_xqg_and_runs_pool_both_folds():
    from xqg_pyserini.experiments.oracle import oracle_folds, oracle_vectors
    from xqg_pyserini.experiments.study import balanced_oracle_runs

    owner, counts, base, docids, questions, topics = _oracle_case()
    folds = oracle_folds(owner, counts, {"p1", "p2"}, seed=0)
    fold = folds[0]
    fused = oracle_vectors(base, docids, fold, questions, "mean", 0.3, normalize=True)
    for row, docid in enumerate(docids):
        fused_here = [(lang, q) for (d, lang), qs in fold.augmentation.items() if d == docid for q in qs]
        if not fused_here:
            assert np.array_equal(fused[row], base[row])
            continue
        mean = np.mean([questions[lang][1][questions[lang][0].index(q)] for lang, q in fused_here], axis=0)
        expected = 0.7 * base[row].astype(np.float64) + 0.3 * mean
        assert fused[row] == pytest.approx(expected / np.linalg.norm(expected), abs=1e-6)
    runs = balanced_oracle_runs(base, docids, folds, questions, topics, weight=0.3, k=2)
    assert {lang: sorted(run) for lang, run in runs.items()} == {lang: ["b", "c", "d", "e"] for lang in ("de", "ru")}
    assert all(len(hits) == 2 for run in runs.values() for hits in run.values())
