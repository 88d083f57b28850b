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
    assert out["diff"] == pytest.approx(expected) and out["queries"] == 3
    assert out["per_language"]["de"]["diff"] == pytest.approx(expected)
