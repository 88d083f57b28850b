"""Study v2's dense+xQG variants: the mixture fusion's exact formula, its per-language indexes through
Pyserini's FaissSearcher, knobs chosen on TRAIN only, and the significance on nDCG@10 and R@1."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from test_augmentation import TableEncoder, bits, make_index, read_vectors, write_queries
from xqg_pyserini.encode.queries import embed_queries
from xqg_pyserini.errors import InputError
from xqg_pyserini.evaluation.measures import evaluate_languages
from xqg_pyserini.experiments.study import ORACLE, compare
from xqg_pyserini.experiments.variants import (MIXED, PAPER, POOLED, ROUTED, Grids, TopicVectors, best_variant, choose,
                                               headline, search_vectors, sweep, tune_variants)
from xqg_pyserini.index.augment import (MIXTURE, AugmentationPlan, Mixture, augment_index, augment_per_language,
                                        check_options, fuse_block, mix_block)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))


BASE = np.array([[1.0, 0.0, 0.5, 0.25], [0.0, 1.0, 0.0, -0.5], [0.3, 0.3, 0.3, 0.3]], np.float32)
# (passage row, language, embedding): p0 one de and two fr queries, p1 one de, p2 one fr.
QUERIES = [(0, "de", [0.5, 0.25, 0.0, 1.0]), (0, "fr", [0.25, 0.5, 1.0, 0.0]), (0, "fr", [-1.0, 0.5, 0.25, 0.75]),
           (1, "de", [0.75, -0.25, 0.5, 0.0]), (2, "fr", [0.1, 0.2, 0.3, 0.4])]
ROWS = np.array([r for r, _, _ in QUERIES])
OWN = np.array([lang == "de" for _, lang, _ in QUERIES])
EMB = np.array([e for _, _, e in QUERIES], np.float32)
SOURCES = np.arange(len(QUERIES))


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


# ----------------------------------------------------------------------------- the formula

def test_mixture_equals_the_formula_by_hand():
    a, w = 0.3, 0.75
    got = mix_block(BASE, 0, ROWS, OWN, SOURCES, EMB, a, w)
    e = EMB.astype(np.float64)
    p0 = unit((1 - a) * BASE[0] + a * unit(w * e[0] + (1 - w) * (e[1] + e[2]) / 2))
    p1 = unit((1 - a) * BASE[1] + a * unit(e[3]))  # no other-language query: the own ones get all the weight
    p2 = unit((1 - a) * BASE[2] + a * unit(e[4]))  # and the other way round
    assert got.dtype == np.float32
    assert got == pytest.approx(np.array([p0, p1, p2]), abs=1e-7)
    # Without re-normalising the mixture of queries, nor the result:
    raw = mix_block(BASE, 0, ROWS, OWN, SOURCES, EMB, a, w, normalize_queries=False, normalize=False)
    assert raw[0] == pytest.approx((1 - a) * BASE[0] + a * (w * e[0] + (1 - w) * (e[1] + e[2]) / 2), abs=1e-7)
    assert raw[2] == pytest.approx((1 - a) * BASE[2] + a * e[4], abs=1e-7)


def test_own_weight_one_is_the_routed_index_bit_for_bit():
    own = np.flatnonzero(OWN)
    routed = fuse_block(BASE, 0, ROWS[own], SOURCES[own], EMB, "mean", 0.3, normalize=True)
    mixed = mix_block(BASE, 0, ROWS, OWN, SOURCES, EMB, 0.3, 1.0, normalize_queries=False)
    assert np.array_equal(bits(mixed), bits(routed))
    assert np.array_equal(bits(mixed[2]), bits(BASE[2]))  # no own-language query: kept as is


def test_count_proportional_own_weight_is_the_pooled_mean():
    # Every passage with one query in each of three languages: w = 1/3 gives the mean of all three.
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((6, 4)).astype(np.float32)
    rows, langs = np.array([0, 0, 0, 1, 1, 1]), np.array(["de", "fr", "ru"] * 2)
    pooled = fuse_block(BASE, 0, rows, np.arange(6), emb, "mean", 0.4, normalize=True)
    mixed = mix_block(BASE, 0, rows, langs == "fr", np.arange(6), emb, 0.4, 1 / 3, normalize_queries=False)
    assert mixed == pytest.approx(pooled, abs=1e-7)
    assert np.array_equal(bits(mixed[2]), bits(BASE[2]))


def test_a_block_without_queries_is_returned_as_is():
    assert mix_block(BASE, 10, ROWS, OWN, SOURCES, EMB, 0.3, 0.5) is BASE
    assert mix_block(BASE, 0, ROWS[:0], OWN[:0], SOURCES[:0], EMB, 0.3, 0.5) is BASE


# ----------------------------------------------------------------------------- the index writers

def _written(tmp_path):
    docids = ["p0", "p1", "p2"]
    index = make_index(tmp_path / "plain", BASE, docids)
    table = {f"q{k}": e for k, (_, _, e) in enumerate(QUERIES)}
    rows = [(docids[r], lang, k, f"q{k}") for k, (r, lang, _) in enumerate(QUERIES)]
    return index, write_queries(tmp_path / "q.jsonl", rows), TableEncoder(table)


def test_per_language_mixture_indexes_hold_the_plan_vectors(tmp_path):
    index, queries, encoder = _written(tmp_path)
    m = augment_per_language(index, queries, encoder, tmp_path / "mix", fusion=MIXTURE, weight=0.3, own_weight=0.75,
                             normalize=True)
    assert m["languages"] == ["de", "fr"] and m["own_weight"] == 0.75 and m["normalize_queries"] is True
    plan = AugmentationPlan(index, embed_queries(queries, encoder))
    for lang in ("de", "fr"):
        expected = plan.vectors(MIXTURE, 0.3, True, Mixture(lang, 0.75))
        assert np.array_equal(bits(read_vectors(tmp_path / "mix" / lang)), bits(expected))
        sub = json.loads((tmp_path / "mix" / lang / "manifest.json").read_text())
        assert sub["fusion"] == MIXTURE and sub["mixture"] == {"language": lang, "own_weight": 0.75,
                                                               "normalize_queries": True}
    de = mix_block(BASE, 0, ROWS, OWN, SOURCES, EMB, 0.3, 0.75)
    assert np.array_equal(bits(read_vectors(tmp_path / "mix" / "de")), bits(de))
    # Streaming in blocks of one passage gives the same bits.
    plan.write(tmp_path / "one", MIXTURE, 0.3, True, block_size=1, mixture=Mixture("de", 0.75))
    assert np.array_equal(bits(read_vectors(tmp_path / "one")), bits(de))
    # w = 1 without re-normalising the queries' mixture: the routed indexes, bit for bit.
    augment_per_language(index, queries, encoder, tmp_path / "w1", fusion=MIXTURE, weight=0.3, own_weight=1.0,
                         normalize=True, normalize_queries=False)
    augment_per_language(index, queries, encoder, tmp_path / "routed", fusion="mean", weight=0.3, normalize=True)
    for lang in ("de", "fr"):
        assert np.array_equal(bits(read_vectors(tmp_path / "w1" / lang)), bits(read_vectors(tmp_path / "routed" / lang)))


def test_mixture_settings_are_checked_before_anything_is_read(tmp_path):
    index, queries, encoder = _written(tmp_path)
    with pytest.raises(InputError, match="own-language weight goes with fusion 'mixture'"):
        augment_per_language(index, queries, encoder, tmp_path / "a", fusion=MIXTURE, weight=0.3)
    with pytest.raises(InputError, match="own-language weight goes with fusion 'mixture'"):
        augment_index(index, queries, encoder, tmp_path / "b", fusion=MIXTURE, weight=0.3)  # one index: no language
    with pytest.raises(InputError, match="own-language weight goes with fusion 'mixture'"):
        check_options("mean", 0.3, own_weight=0.5)
    with pytest.raises(InputError, match=r"own-language weight must be in \[0, 1\], not 1.5"):
        check_options(MIXTURE, 0.3, own_weight=1.5)
    plan = AugmentationPlan(index, embed_queries(queries, encoder))
    with pytest.raises(InputError, match=r"q.jsonl: no queries in language ru \(the file has de, fr\)"):
        plan.vectors(MIXTURE, 0.3, True, Mixture("ru", 0.5))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_mixture_index_round_trips_through_pyserini_faiss_searcher(tmp_path, tiny_bert, sample_corpus):
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.index.faiss import build_faiss_index
    from xqg_pyserini.search.routing import PerLanguageSearcher

    encoder = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    plain = build_faiss_index(sample_corpus, encoder, tmp_path / "plain")
    river, planet = "which river flows into the sea", "what is the largest planet"
    rows = [("Nile_0", "de", 0, river), ("Nile_0", "fr", 0, planet), ("Paris_0", "de", 0, planet),
            ("Paris_0", "fr", 0, river), ("Piano_0", "de", 0, "what has hammers")]
    queries = write_queries(tmp_path / "q.jsonl", rows)
    augment_per_language(plain, queries, encoder, tmp_path / "mix", fusion=MIXTURE, weight=0.9, own_weight=0.75,
                         normalize=True)
    searcher = PerLanguageSearcher(tmp_path / "mix", encoder)
    plan = AugmentationPlan(plain, embed_queries(queries, encoder))
    docids = (plain / "docid").read_text().split()
    asked = [river, "what has hammers"]
    for lang in ("de", "fr"):
        (tmp_path / f"topics.{lang}.tsv").write_text("".join(f"{i}\t{t}\n" for i, t in enumerate(asked)))
        got = searcher.search_topics(tmp_path / f"topics.{lang}.tsv", k=4)
        expected = search_vectors(plan.vectors(MIXTURE, 0.9, True, Mixture(lang, 0.75)), docids,
                                  encoder.encode_queries(asked), [str(i) for i in range(len(asked))], k=4)
        for qid, hits in expected.items():
            assert got[qid] == pytest.approx(hits, abs=1e-5)
    # The same question, two languages: each finds the passage whose OWN-language query it is.
    top = lambda lang: max(searcher.search_topics(tmp_path / f"topics.{lang}.tsv", k=4)["0"].items(),  # noqa: E731
                           key=lambda kv: kv[1])[0]
    assert (top("de"), top("fr")) == ("Nile_0", "Paris_0")


# ----------------------------------------------------------------------------- choosing on TRAIN

EYE = np.eye(4, dtype=np.float32)
SWAPPED = EYE[[0, 2, 1, 3]]  # d1 and d2 swapped: a question about d1 finds d2 first
DOCIDS = ["d0", "d1", "d2", "d3"]


def _topics(langs=("de", "fr")):
    """One question per language, about d1, whose vector is mostly d1 and a little d2."""
    vector = np.array([[0.0, 1.0, 0.5, 0.0]], np.float32)
    return TopicVectors({l: ["q"] for l in langs}, {l: vector for l in langs}), {l: {"q": {"d1": 1}} for l in langs}


def test_sweep_routes_each_language_to_its_own_vectors_and_reports_both_measures():
    topics, qrels = _topics()
    rows = sweep(lambda weight, own_weight: {"de": EYE, "fr": EYE if weight > 0.5 else SWAPPED}, DOCIDS, topics, qrels,
                 [{"weight": 0.2, "own_weight": 1.0}, {"weight": 0.7, "own_weight": 0.5}])
    # fr at weight 0.2: the relevant passage at rank 2, nDCG@10 = 1/log2(3), R@1 = 0.
    assert rows[0] == pytest.approx({"weight": 0.2, "own_weight": 1.0, "nDCG@10": (1 + 1 / math.log2(3)) / 2,
                                     "R@1": 0.5})
    assert rows[1] == {"weight": 0.7, "own_weight": 0.5, "nDCG@10": 1.0, "R@1": 1.0}
    assert sweep(lambda n: EYE, DOCIDS, topics, qrels, [3], knob="n") == [{"n": 3, "nDCG@10": 1.0, "R@1": 1.0}]
    assert choose(rows) == {"weight": 0.7, "own_weight": 0.5, "train_nDCG@10": 1.0, "train_R@1": 1.0,
                            "chosen_by": "train nDCG@10"}
    assert choose(rows[:1] * 2 + rows[1:2] * 2, "R@1")["weight"] == 0.7
    ties = [{"weight": 0.1, "nDCG@10": 0.5, "R@1": 0.5}, {"weight": 0.3, "nDCG@10": 0.5, "R@1": 0.5}]
    assert choose(ties)["weight"] == 0.1  # the first of equals
    with pytest.raises(InputError, match="criterion must be one of nDCG@10, R@1"):
        choose(rows, "MRR@10")


def test_knobs_are_chosen_on_train_questions_never_on_test():
    train, train_qrels = _topics()
    # TEST questions are about d2: they prefer the swapped vectors, which TRAIN questions do not.
    test = TopicVectors(train.qids, {l: np.array([[0.0, 1.0, 0.5, 0.0]], np.float32) for l in train.qids})
    test_qrels = {l: {"q": {"d2": 1}} for l in train.qids}
    good_above = lambda cut: lambda weight, **_: EYE if weight > cut else SWAPPED  # noqa: E731
    vectors = {POOLED: good_above(0.25), PAPER: good_above(1.0), ROUTED: good_above(0.45),
               MIXED: lambda weight, own_weight: {l: EYE if own_weight == 0.75 else SWAPPED for l in ("de", "fr")}}
    grids = Grids(weights=(0.2, 0.3, 0.5), paper_weights=(0.0, 0.01), mixture_weights=(0.1, 0.2),
                  own_weights=(0.5, 0.75), roundtrips=(None,))
    sweeps, chosen = tune_variants(vectors, DOCIDS, {"train": train, "test": test},
                                   {"train": train_qrels, "test": test_qrels}, grids)
    assert set(sweeps) == {f"{k}-{s}" for k in ("mean", "sum", "per-language", "mixture") for s in ("train", "test")}
    assert [r["nDCG@10"] for r in sweeps["mean-test"]] == [1.0, pytest.approx(1 / math.log2(3))] + \
        [pytest.approx(1 / math.log2(3))]  # TEST would have chosen 0.2
    assert chosen[POOLED] == {"weight": 0.3, "train_nDCG@10": 1.0, "train_R@1": 1.0, "chosen_by": "train nDCG@10"}
    assert chosen[ROUTED]["weight"] == 0.5
    assert (chosen[MIXED]["weight"], chosen[MIXED]["own_weight"]) == (0.1, 0.75)
    assert chosen[PAPER] == {"weight": 0.01, "train_nDCG@10": pytest.approx(1 / math.log2(3)), "train_R@1": 0.0,
                             "chosen_by": "fixed: the paper's value"}
    assert best_variant(chosen) == POOLED  # all tied on TRAIN: the first tuned variant
    chosen[MIXED]["train_nDCG@10"] = 1.5
    assert best_variant(chosen) == MIXED and best_variant(chosen, "R@1") == POOLED


# ----------------------------------------------------------------------------- TEST: both measures, headline

QRELS = {l: {f"q{i}": {f"d{i}": 1} for i in range(4)} for l in ("de", "fr")}


def _run(first: dict[str, bool]) -> dict:
    """q_i finds d_i first where ``first[q_i]``, else second (after d9)."""
    return {q: ({f"d{q[1]}": 2.0, "d9": 1.0} if ok else {"d9": 2.0, f"d{q[1]}": 1.0}) for q, ok in first.items()}


DENSE = {"de": _run({"q0": True, "q1": True, "q2": False, "q3": False}),
         "fr": _run({"q0": True, "q1": True, "q2": False, "q3": False})}
BETTER = {"de": _run({"q0": True, "q1": True, "q2": True, "q3": True}), "fr": DENSE["fr"]}


def test_compare_tests_ndcg_and_r_at_1_per_language_pooled_and_by_id():
    out = compare(DENSE, BETTER, QRELS)
    assert set(out) == {"nDCG@10", "R@1"}
    gain = 1 - 1 / math.log2(3)  # rank 2 -> rank 1
    assert out["nDCG@10"]["per_language"]["de"]["diff"] == pytest.approx(2 * gain / 4)
    assert out["R@1"]["per_language"]["de"]["diff"] == pytest.approx(0.5)
    assert out["R@1"]["per_language"]["fr"] == {"diff": 0.0, "p": 1.0}
    assert out["R@1"]["diff"] == pytest.approx(0.25) and out["R@1"]["queries"] == 8
    # By id: q2 and q3 gain 1 in de and 0 in fr, so 0.5 each; q0 and q1 nothing.
    assert out["R@1"]["by_id"]["diff"] == pytest.approx(0.25) and out["R@1"]["by_id"]["ids"] == 4


def test_headline_states_the_target_from_test_tables_and_by_id_tests():
    tables = {n: evaluate_languages(r, QRELS) for n, r in (("dense", DENSE), (MIXED, BETTER), (ORACLE, BETTER))}
    significance = {MIXED: compare(DENSE, BETTER, QRELS)}
    h = headline(MIXED, tables, significance)
    assert h["R@1 delta"] == pytest.approx(0.25) and h["macro R@1"] == pytest.approx(0.75)
    assert h["dense macro R@1"] == pytest.approx(0.5)
    assert h["R@1 p by id"] == significance[MIXED]["R@1"]["by_id"]["p"]
    assert (h["languages better (R@1)"], h["languages"], h["better in"]) == (1, 2, ["de"])
    assert h["target_met"] is False  # +25 points but better in 1 language, not 9


# ----------------------------------------------------------------------------- the page

def _v2_result(tmp_path) -> dict:
    """A study result of the shape ``run_study`` returns, from the pieces above (tiny, but measured)."""
    from xqg_pyserini.experiments.study import SIGNIFICANCE, STUDY_VERSION

    train, train_qrels = _topics()
    grids = Grids((0.1, 0.3), (0.01,), (0.2,), (0.5, 0.75), (None, 2))
    vectors = {POOLED: lambda weight, roundtrip: EYE, PAPER: lambda weight: EYE,
               ROUTED: lambda weight, roundtrip: {"de": EYE, "fr": EYE},
               MIXED: lambda weight, own_weight, roundtrip: {"de": EYE if own_weight == 0.75 else SWAPPED, "fr": EYE}}
    sweeps, chosen = tune_variants(vectors, DOCIDS, {"train": train, "test": train},
                                   {"train": train_qrels, "test": train_qrels},
                                   grids)
    sweeps["queries-per-language-test"] = sweep(lambda n: EYE, DOCIDS, train, train_qrels, [0, 1], knob="n")
    runs = {"dense": DENSE, POOLED: DENSE, ROUTED: DENSE, MIXED: BETTER, ORACLE: BETTER}
    tables = {n: evaluate_languages(r, QRELS) for n, r in runs.items()}
    significance = {n: compare(DENSE, r, QRELS) for n, r in runs.items() if n != "dense"}
    chosen[ORACLE] = {**chosen[POOLED], "chosen_by": "dense+xQG's choice"}
    best = best_variant({**chosen, MIXED: {**chosen[MIXED], "train_nDCG@10": 2.0}})
    return {"tables": {n: {"columns": t.columns, "rows": t.rows} for n, t in tables.items()},
            "significance": significance, "sweeps": sweeps, "significance_test": SIGNIFICANCE, "notes": {},
            "study_version": STUDY_VERSION, "model": "tiny", "queries_file": "q.jsonl",
            "grids": {k: list(v) for k, v in vars(grids).items()},
            "generated_queries": {"queries_used": 8, "passages_augmented": 4, "queries_per_passage": {"min": 2, "max": 2}},
            "questions": {"train": {"de": 1, "fr": 1}, "test": {"de": 4, "fr": 4}}, "chosen": chosen,
            "best": {"criterion": "train nDCG@10", **headline(best, tables, significance),
                     "ceiling": headline(ORACLE, tables, significance)},
            "oracle": {"weight": 0.1, "folds": [{"searched_ids": 2, "distinct": 3, "repeated": 1, "unaugmented": 0}] * 2},
            "latency_ms_per_query": {"dense": 0.1, POOLED: 0.1},
            "robustness": {"noise_rate": 0.1, "seed": 0, "example": {"de": ["wo ist", "wo isst"]},
                           "tables": {"dense": tables["dense"].rows["macro"]},
                           "significance": significance[MIXED]},
            "transfer": {"held_out": ["de"], "fused_languages": ["fr"], "tables": {"dense": {"de": 0.5, "macro": 0.5}},
                         "significance": {"dense+xQG (all languages)": significance[MIXED]}}}


def test_study_page_is_wholly_rendered_from_the_stored_result(tmp_path):
    from xqg_pyserini.experiments.study_report import render_stored_study, write_study_report

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "study.md").write_text("# What xQG adds\n\nGenerated by `xqg study --queries old.jsonl`\n\n"
                                   "Seeded character noise (swap, drop or insert per character); "
                                   "| dense+oracle xQG | 0.7897 |\n")
    result = _v2_result(tmp_path)
    text = write_study_report(result, docs, "xqg study --queries q.jsonl --docs docs").read_text()
    assert "0.7897" not in text and "per character" not in text and "Generated by `xqg study --queries q.jsonl" in text
    for row in (POOLED, ROUTED, MIXED, ORACLE):
        assert f"| {row} | " in text
    sig = result["significance"][MIXED]
    # The headline: the variant chosen on TRAIN, its TEST R@1 delta, by-id p and languages; the ceiling beside it.
    assert f"**{MIXED}** (weight = 0.2, own_weight = 0.75, roundtrip = off; train nDCG@10 1.0000, train R@1 1.0000)" in text
    assert f"+25.00 points, p = {sig['R@1']['by_id']['p']:.4f} by question id" in text
    assert "better in 1 of 2 languages (de)" in text and "**not met**" in text
    assert f"| {ORACLE} | 0.7500 | +25.00 | {sig['R@1']['by_id']['p']:.4f} |" in text
    # Every knob with the TRAIN measurement that chose it.
    assert "| dense+xQG (paper: sum, a=0.01) | weight = 0.01 | 1.0000 | 1.0000 | fixed: the paper's value |" in text
    assert f"| {ROUTED} | weight = 0.1, roundtrip = off | 1.0000 | 1.0000 | train nDCG@10 |" in text
    assert "Round-trip filter, a knob of the three tuned variants (grid: off, 2)" in text
    # Both measures tested three ways: pooled, by id, per language.
    assert "## Significance against dense: R@1" in text and "## Significance against dense: nDCG@10" in text
    assert (f"| {MIXED} | +0.2500 | {sig['R@1']['p']:.4f} | {sig['R@1']['p_randomization']:.4f} | 8 | "
            f"{sig['R@1']['by_id']['p']:.4f} |") in text
    assert f"| de | +0.0000 (1.0000) | +0.0000 (1.0000) | +0.5000 ({sig['R@1']['per_language']['de']['p']:.4f}) |" in text
    assert "`mixture-train` (dense+xQG mixture):" in text and "| weight | own_weight | roundtrip | macro nDCG@10 | macro R@1 |" in text
    assert "| 0.2 | 0.75 | 2 | 1.0000 |" in text and "| 0.2 | 0.75 | off | 1.0000 |" in text
    assert "Seeded, script-aware misspelling" in text and "`wo ist` → `wo isst`" in text
    # `xqg report` renders the same page again from the stored study.json.
    (docs / "study.md").write_text("Generated by `xqg study` stale\n")
    assert render_stored_study(docs).read_text() == text
    assert (docs / "figures" / "xqg_sweeps.png").read_bytes()[:4] == b"\x89PNG"


def test_a_study_v1_result_is_not_rendered(tmp_path):
    from xqg_pyserini.experiments.study_report import render_stored_study, write_study_report

    (tmp_path / "study.json").write_text(json.dumps({"significance": {}, "sweeps": {}, "chosen_weight": {}}))
    assert render_stored_study(tmp_path) is None
    with pytest.raises(InputError, match="study.json: a study result of version 1, this report renders version 2"):
        write_study_report({"significance": {}}, tmp_path)
