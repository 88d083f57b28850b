"""Round-trip filtering: exact own-passage ranks (inner product and L2), which queries a plan keeps,
and the filtered fusion through augment_index, augment_per_language and the CLI."""
from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from test_augmentation import TableEncoder, make_index, read_vectors, write_queries
from xqg_pyserini.encode.queries import embed_queries
from xqg_pyserini.errors import InputError
from xqg_pyserini.index.augment import AugmentationPlan, augment_index, augment_per_language
from xqg_pyserini.index.faiss import FlatIndex
from xqg_pyserini.index.roundtrip import check_roundtrip, keep_roundtrip, own_passage_ranks, plan_ranks


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))


def brute_force_ranks(passages, queries, rows, l2=False):
    """1 + the number of other passages strictly better than the own one, by the textbook formula."""
    p, q = np.asarray(passages, np.float64), np.asarray(queries, np.float64)
    score = -((q[:, None, :] - p[None, :, :]) ** 2).sum(-1) if l2 else q @ p.T
    own = score[np.arange(len(rows)), rows]
    better = score > own[:, None]
    better[np.arange(len(rows)), rows] = False
    return 1 + better.sum(1)


@pytest.mark.parametrize("metric", [faiss.METRIC_INNER_PRODUCT, faiss.METRIC_L2])
@pytest.mark.parametrize("block_size,chunk", [(1, 1), (3, 2), (4096, 2048)])
def test_own_passage_ranks_equal_brute_force_for_any_block_size(tmp_path, metric, block_size, chunk):
    rng = np.random.default_rng(7)
    passages = rng.standard_normal((11, 5)).astype(np.float32)
    queries = rng.standard_normal((23, 5)).astype(np.float32)
    rows = np.sort(rng.integers(0, 11, size=17))
    sources = rng.permutation(23)[:17]
    index = faiss.IndexFlatIP(5) if metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(5)
    index.add(passages)
    faiss.write_index(index, str(tmp_path / "index"))
    with FlatIndex(tmp_path / "index") as flat:
        got = own_passage_ranks(flat, rows, sources, queries, block_size, chunk)
    expected = brute_force_ranks(passages, queries[sources], rows, l2=metric == faiss.METRIC_L2)
    assert got.tolist() == expected.tolist()
    assert got.min() >= 1 and got.max() <= 11


def test_ties_and_the_own_passage_count_in_the_querys_favour(tmp_path):
    # p0 and p1 are the same vector: a query of p0 that ties with p1 stays first; p2 outranks p0 for the second query.
    passages = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    index = make_index(tmp_path / "idx", passages, ["p0", "p1", "p2"])
    with FlatIndex(index / "index") as flat:
        ranks = own_passage_ranks(flat, np.array([0, 0, 2]), np.array([0, 1, 1]),
                                  np.array([[1.0, 0.0], [0.2, 0.9]], np.float32))
    assert ranks.tolist() == [1, 2, 1]


PASSAGES = {"p0": [1.0, 0.0, 0.0, 0.0], "p1": [0.0, 1.0, 0.0, 0.0], "p2": [0.0, 0.0, 1.0, 0.0]}
# q0 finds p0 first; q1 (of p0) finds p1 first and p0 second; q2 (of p1) finds p1; q3 (of p2) ranks p2 third.
VECTORS = {"q0": [0.9, 0.1, 0.0, 0.2], "q1": [0.5, 0.8, 0.1, 0.0], "q2": [0.1, 0.7, 0.0, 0.3],
           "q3": [0.6, 0.5, 0.2, 0.1]}
QUERIES = [("p0", "de", 0, "q0"), ("p0", "fr", 0, "q1"), ("p1", "de", 0, "q2"), ("p2", "fr", 0, "q3")]


@pytest.fixture()
def small(tmp_path):
    index = make_index(tmp_path / "index", list(PASSAGES.values()), list(PASSAGES))
    return index, write_queries(tmp_path / "q.jsonl", QUERIES), TableEncoder(VECTORS)


def test_a_plan_keeps_the_queries_within_the_rank_and_counts_the_rest(small):
    index, queries, encoder = small
    plan = AugmentationPlan(index, embed_queries(queries, encoder))
    assert plan_ranks(plan).tolist() == [1, 2, 1, 3]
    assert keep_roundtrip(plan, None) is plan
    one = keep_roundtrip(plan, 1)
    assert one.rows.tolist() == [0, 1] and one.sources.tolist() == [0, 2]
    assert one.counts["queries_used"] == 2 and one.counts["queries_filtered"] == 2
    assert one.counts["passages_augmented"] == 2 and one.selection["roundtrip"] == 1
    assert keep_roundtrip(plan, 2, ranks=plan_ranks(plan)).rows.tolist() == [0, 0, 1]
    assert keep_roundtrip(plan, 3).counts["queries_filtered"] == 0
    assert plan.counts["queries_used"] == 4  # the original plan is untouched


def test_augment_index_fuses_only_the_kept_queries(small, tmp_path):
    index, queries, encoder = small
    manifest = augment_index(index, queries, encoder, tmp_path / "out", fusion="mean", weight=0.5, roundtrip=1)
    got = read_vectors(tmp_path / "out")
    base, q = np.array(list(PASSAGES.values())), {k: np.array(v) for k, v in VECTORS.items()}
    assert got[0] == pytest.approx(0.5 * base[0] + 0.5 * q["q0"], abs=1e-7)  # q1 (rank 2) left out
    assert got[1] == pytest.approx(0.5 * base[1] + 0.5 * q["q2"], abs=1e-7)
    assert got[2].tolist() == base[2].tolist()  # its only query was filtered: kept as is, bit for bit
    assert manifest["roundtrip"] == 1 and manifest["counts"]["queries_filtered"] == 2
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk["roundtrip"] == 1
    # without the filter every query is fused
    augment_index(index, queries, encoder, tmp_path / "all", fusion="mean", weight=0.5)
    assert read_vectors(tmp_path / "all")[0] == pytest.approx(0.5 * base[0] + 0.25 * (q["q0"] + q["q1"]), abs=1e-7)


def test_per_language_indexes_filter_the_same_way(small, tmp_path):
    index, queries, encoder = small
    manifest = augment_per_language(index, queries, encoder, tmp_path / "per", fusion="mean", weight=0.5, roundtrip=1)
    assert manifest["roundtrip"] == 1
    assert manifest["counts"]["de"]["queries_used"] == 2 and manifest["counts"]["fr"]["queries_used"] == 0
    assert read_vectors(tmp_path / "per" / "fr").tolist() == read_vectors(index).tolist()
    mixed = augment_per_language(index, queries, encoder, tmp_path / "mix", fusion="mixture", weight=0.5,
                                 own_weight=0.75, roundtrip=2)
    assert mixed["counts"]["fr"]["queries_used"] == 3 and mixed["counts"]["fr"]["queries_filtered"] == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1"])
def test_a_bad_rank_is_refused_before_anything_is_read(small, tmp_path, bad):
    index, queries, encoder = small
    with pytest.raises(InputError, match="round-trip rank"):
        augment_index(index, queries, encoder, tmp_path / "out", roundtrip=bad)
    assert not (tmp_path / "out").exists() and encoder.calls == 0
    check_roundtrip(None)
    check_roundtrip(np.int64(3))


def test_cli_roundtrip_option(small, tmp_path, capsys):
    from xqg_pyserini.cli import main

    index, queries, _ = small
    assert main(["augment", "--index", str(index), "--queries", str(queries), "--out", str(tmp_path / "o"),
                 "--roundtrip", "0"]) == 2
    assert "--roundtrip: must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- the study's knob

def test_roundtrip_is_a_knob_of_the_tuned_variants_only():
    from xqg_pyserini.experiments.variants import MIXED, PAPER, POOLED, Grids

    grids = Grids(weights=(0.2, 0.5), paper_weights=(0.01,), mixture_weights=(0.3,), own_weights=(0.5,),
                  roundtrips=(None, 1))
    assert grids.values(POOLED) == [{"weight": 0.2, "roundtrip": None}, {"weight": 0.5, "roundtrip": None},
                                    {"weight": 0.2, "roundtrip": 1}, {"weight": 0.5, "roundtrip": 1}]
    assert grids.values(MIXED) == [{"weight": 0.3, "own_weight": 0.5, "roundtrip": None},
                                   {"weight": 0.3, "own_weight": 0.5, "roundtrip": 1}]
    assert grids.values(PAPER) == [0.01]  # the paper's row stays the paper's method
    assert Grids(roundtrips=(None,)).values(POOLED) == list(Grids().weights)


def test_variant_vectors_fuse_the_filtered_plans(small):
    from xqg_pyserini.experiments.variants import MIXED, POOLED, ROUTED, variant_vectors
    from xqg_pyserini.index.augment import MIXTURE, Mixture

    index, queries, encoder = small
    emb = embed_queries(queries, encoder)
    plan = AugmentationPlan(index, emb)
    routed = {l: AugmentationPlan(index, emb, [l]) for l in ("de", "fr")}
    vectors = variant_vectors(plan, routed, ["de", "fr"], (None, 1))
    one = keep_roundtrip(plan, 1)
    assert vectors[POOLED](weight=0.5, roundtrip=1).tolist() == one.vectors("mean", 0.5, True).tolist()
    assert vectors[POOLED](weight=0.5).tolist() == plan.vectors("mean", 0.5, True).tolist()
    assert vectors[ROUTED](weight=0.5, roundtrip=1)["fr"].tolist() == read_vectors(index).tolist()  # none kept
    assert vectors[MIXED](weight=0.5, own_weight=0.75, roundtrip=1)["de"].tolist() == \
        one.vectors(MIXTURE, 0.5, True, Mixture("de", 0.75)).tolist()
