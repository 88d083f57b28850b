"""xQG augmentation (dense) and doc2query expansion (sparse): exact fusion, streaming, errors, Pyserini."""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import faiss
import numpy as np
import pytest

import xqg_pyserini.index.augment as aug
from xqg_pyserini.encode.queries import embed_queries
from xqg_pyserini.index.augment import AugmentationPlan, augment_index, augment_per_language
from xqg_pyserini.search.routing import PerLanguageSearcher, topics_language
from xqg_pyserini.index.faiss import FlatIndex, write_flat_index
from xqg_pyserini.errors import InputError

# Three passages, d=4; hand-written vectors (float32-exact) and query embeddings.
PASSAGES = {"p0": [1.0, 0.0, 0.5, 0.25], "p1": [0.0, 1.0, 0.0, -0.5], "p2": [0.3, 0.3, 0.3, 0.3]}
QUERY_VECTORS = {"qa": [0.5, 0.25, 0.0, 1.0], "qb": [0.25, 0.5, 1.0, 0.0], "qc": [-1.0, 0.5, 0.25, 0.75]}
QUERIES = [("p0", "de", 0, "qa"), ("p1", "de", 0, "qc"), ("p0", "fr", 0, "qb")]  # p2 has none


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))


class TableEncoder:
    """Query side of a retriever whose vectors are given by hand (or pseudo-random per text)."""

    def __init__(self, table: dict[str, list[float]] | None = None, dim: int = 4, model: str = "table"):
        self.table, self.dim, self.model, self.calls = table, dim, model, 0

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.table is not None:
            return np.array([self.table[t] for t in texts], np.float32)
        return np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim, np.float32)
                         for t in texts])

    def describe(self) -> dict:
        return {"model": self.model, "dimension": self.dim}


def make_index(path: Path, vectors, docids, manifest: dict | None = None) -> Path:
    """A Pyserini FAISS index written by faiss itself (not by our writer)."""
    path.mkdir(parents=True)
    index = faiss.IndexFlatIP(np.shape(vectors)[1])
    index.add(np.asarray(vectors, np.float32))
    faiss.write_index(index, str(path / "index"))
    (path / "docid").write_text("".join(f"{d}\n" for d in docids))
    if manifest is not None:
        (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def write_queries(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for docid, lang, i, query in rows:
            f.write(json.dumps({"docid": docid, "lang": lang, "i": i, "query": query, "generator": "test"}) + "\n")
    return path


def read_vectors(index_dir: Path) -> np.ndarray:
    index = faiss.read_index(str(index_dir / "index"))
    assert isinstance(index, faiss.IndexFlatIP)
    return index.reconstruct_n(0, index.ntotal)


@pytest.fixture()
def small(tmp_path):
    index = make_index(tmp_path / "plain", list(PASSAGES.values()), list(PASSAGES))
    return index, write_queries(tmp_path / "queries.jsonl", QUERIES)


def bits(x) -> np.ndarray:
    return np.asarray(x, np.float32).view(np.uint32)


def test_paper_sum_fusion_equals_hand_computation_exactly(small, tmp_path):
    index, queries = small
    with pytest.warns(UserWarning, match="fusion='mean'"):  # p0 has 2 queries, p1 has 1
        manifest = augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "out", weight=0.01)
    a, q = 0.01, QUERY_VECTORS
    p0 = [(1 - a) * e + a * (x + y) for e, x, y in zip(PASSAGES["p0"], q["qa"], q["qb"])]
    p1 = [(1 - a) * e + a * x for e, x in zip(PASSAGES["p1"], q["qc"])]
    got = read_vectors(tmp_path / "out")
    assert np.array_equal(bits(got), bits([p0, p1, PASSAGES["p2"]]))
    assert np.array_equal(bits(got[2]), bits(read_vectors(index)[2]))  # no queries: untouched
    assert (tmp_path / "out" / "docid").read_text() == (index / "docid").read_text()
    assert manifest["counts"] == {"passages": 3, "passages_augmented": 2, "queries_used": 3, "queries_skipped": 0,
                                  "queries_not_selected": 0, "queries_per_passage": {"min": 1, "max": 2}}
    assert manifest["inputs"]["queries"]["sha256"] == aug.hashlib.sha256(queries.read_bytes()).hexdigest()
    assert manifest["inputs"]["index"]["index_sha256"] == aug.hashlib.sha256((index / "index").read_bytes()).hexdigest()
    assert manifest["output"]["index_sha256"] == aug.hashlib.sha256((tmp_path / "out/index").read_bytes()).hexdigest()
    assert json.loads((tmp_path / "out/manifest.json").read_text())["encoder"] == {"model": "table", "dimension": 4}


def test_mean_fusion_with_normalisation_equals_hand_computation_exactly(small, tmp_path):
    index, queries = small
    augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "out", fusion="mean", weight=0.3,
                  normalize=True)
    b, q = 0.3, QUERY_VECTORS

    def unit(v):
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]

    p0 = unit([(1 - b) * e + b * ((x + y) / 2) for e, x, y in zip(PASSAGES["p0"], q["qa"], q["qb"])])
    p1 = unit([(1 - b) * e + b * (x / 1) for e, x in zip(PASSAGES["p1"], q["qc"])])
    assert np.array_equal(bits(read_vectors(tmp_path / "out")), bits([p0, p1, PASSAGES["p2"]]))


def test_languages_and_first_n_per_language(tmp_path):
    index = make_index(tmp_path / "plain", list(PASSAGES.values()), list(PASSAGES))
    rows = [("p0", "de", 3, "qa"), ("p0", "de", 1, "qb"), ("p0", "fr", 0, "qc"), ("p1", "de", 2, "qc")]
    queries = write_queries(tmp_path / "q.jsonl", rows)
    m = augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "o", languages=["de"],
                      queries_per_language=1)
    expected = [(1 - 0.01) * e + 0.01 * x for e, x in zip(PASSAGES["p0"], QUERY_VECTORS["qb"])]  # lowest i wins
    assert np.array_equal(bits(read_vectors(tmp_path / "o")[0]), bits(expected))
    assert m["counts"]["queries_used"] == 2 and m["counts"]["queries_not_selected"] == 2
    with pytest.raises(InputError, match="no queries in language.*xx"):
        augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "o2", languages=["xx"])


def naive_fusion(vectors, queries, rows, fusion, weight, normalize):
    """The obvious in-memory implementation, to compare the streaming one against."""
    sums, counts = np.zeros(vectors.shape), np.zeros(len(vectors))
    np.add.at(sums, rows, queries.astype(np.float64))
    np.add.at(counts, rows, 1)
    has = counts > 0
    mixed = sums if fusion == "sum" else sums / np.maximum(counts, 1)[:, None]
    fused = (1 - weight) * vectors.astype(np.float64) + weight * mixed
    if normalize:
        fused /= np.linalg.norm(fused, axis=1, keepdims=True)
    return np.where(has[:, None], fused.astype(np.float32), vectors)


@pytest.mark.parametrize("fusion,normalize", [("sum", False), ("mean", True)])
def test_block_streaming_equals_in_memory_for_any_block_size(tmp_path, fusion, normalize):
    rng = np.random.default_rng(0)
    n, d = 10, 8
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    docids = [f"d{k}" for k in range(n)]
    index = make_index(tmp_path / "plain", vectors, docids)
    picks = rng.choice([0, 1, 1, 2, 4, 5, 5, 5, 9], size=40)  # several per passage, some passages none
    rows = [(f"d{p}", "de", k, f"query {k}") for k, p in enumerate(picks)]
    queries = write_queries(tmp_path / "q.jsonl", rows)
    encoder = TableEncoder(dim=d)
    embeddings = embed_queries(queries, encoder)
    plan = AugmentationPlan(index, embeddings)
    results = []
    for block in (1, 3, 4, 7, n, 100):
        with pytest.warns(UserWarning) if fusion == "sum" else _nothing():
            plan.write(tmp_path / f"out{block}", fusion, 0.2, normalize, block_size=block)
        results.append(read_vectors(tmp_path / f"out{block}"))
    for other in results[1:]:
        assert np.array_equal(bits(other), bits(results[0]))
    assert np.array_equal(bits(plan.vectors(fusion, 0.2, normalize)), bits(results[0]))
    reference = naive_fusion(vectors, encoder.encode_queries([r[3] for r in rows]), picks, fusion, 0.2, normalize)
    assert np.allclose(results[0], reference, rtol=1e-6, atol=1e-7)
    untouched = [k for k in range(n) if k not in set(picks)]
    assert np.array_equal(bits(results[0][untouched]), bits(vectors[untouched]))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_unknown_docid_names_file_and_line_or_is_skipped_with_a_count(small, tmp_path):
    index, _ = small
    queries = write_queries(tmp_path / "q.jsonl", QUERIES[:2] + [("nope", "de", 0, "qb")])
    with pytest.raises(InputError, match=r"q\.jsonl:3: docid 'nope' is not in the index"):
        augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    m = augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "out", on_unknown_docid="skip")
    assert m["counts"]["queries_skipped"] == 1 and m["counts"]["queries_used"] == 2


def test_bad_query_lines_and_duplicates_are_errors_with_line(tmp_path, small):
    index, _ = small
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"docid": "p0", "lang": "de", "i": 0, "query": "qa"}\n{"docid": "p1", "lang": "de", "query": "x"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: bad or missing 'i'"):
        augment_index(index, bad, TableEncoder(QUERY_VECTORS), tmp_path / "out")
    dup = write_queries(tmp_path / "dup.jsonl", QUERIES + [("p0", "de", 0, "qb")])
    with pytest.raises(InputError, match=r"dup\.jsonl:4: duplicate query .*first on line 1"):
        augment_index(index, dup, TableEncoder(QUERY_VECTORS), tmp_path / "out")


def test_dimension_and_model_mismatches_are_clear_errors(small, tmp_path):
    index, queries = small
    five = TableEncoder({k: v + [0.0] for k, v in QUERY_VECTORS.items()}, dim=5)
    with pytest.raises(InputError, match="dimension 4.*5"):  # found after encoding
        augment_index(index, queries, five, tmp_path / "out")
    five.dimension = 5
    with pytest.raises(InputError, match="dimension 4.*5"):  # found before encoding
        augment_index(index, queries, five, tmp_path / "out", cache=tmp_path / "other-cache")
    assert five.calls == 1
    other = make_index(tmp_path / "built", list(PASSAGES.values()), list(PASSAGES),
                       manifest={"encoder": {"model": "multilingual-e5-small", "dimension": 4}})
    with pytest.raises(InputError, match="built with model 'multilingual-e5-small'.*'table'"):
        augment_index(other, queries, TableEncoder(QUERY_VECTORS), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failure_midway_leaves_no_output_and_keeps_an_old_one(small, tmp_path, monkeypatch):
    index, queries = small
    real, calls = aug.fuse_block, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(aug, "fuse_block", flaky)
    with pytest.raises(RuntimeError, match="injected"):
        augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "out", fusion="mean", block_size=1)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("old")
    with pytest.raises(InputError, match="not an output of `xqg augment`"):  # a directory not ours: never replaced
        augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "out", fusion="mean", block_size=1)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep"]
    (tmp_path / "out" / "keep").unlink()
    monkeypatch.setattr(aug, "fuse_block", real)
    augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "out", fusion="mean", block_size=1)
    old = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.name != "manifest.json"}
    monkeypatch.setattr(aug, "fuse_block", flaky)
    calls.clear()
    with pytest.raises(RuntimeError, match="injected"):  # an earlier output of ours survives a failed rebuild
        augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "out", fusion="sum", block_size=1)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.name != "manifest.json"} == old


@pytest.mark.parametrize("metric", [0, 1])
def test_own_flat_writer_round_trips_through_faiss_byte_for_byte(tmp_path, metric):
    x = np.random.default_rng(1).standard_normal((7, 5)).astype(np.float32)
    digest = write_flat_index(tmp_path / "mine", 5, 7, [x[:3], x[3:6], x[6:]], metric=metric)
    index = faiss.read_index(str(tmp_path / "mine"))
    assert (index.d, index.ntotal, index.metric_type) == (5, 7, metric)
    assert np.array_equal(index.reconstruct_n(0, 7), x)
    theirs = (faiss.IndexFlatIP if metric == 0 else faiss.IndexFlatL2)(5)
    theirs.add(x)
    faiss.write_index(theirs, str(tmp_path / "theirs"))
    assert (tmp_path / "mine").read_bytes() == (tmp_path / "theirs").read_bytes()
    assert digest == aug.hashlib.sha256((tmp_path / "mine").read_bytes()).hexdigest()
    with FlatIndex(tmp_path / "theirs") as read:
        assert read.metric == metric and np.array_equal(np.concatenate([b for _, b in read.blocks(2)]), x)
    with pytest.raises(ValueError, match="3 vectors written, header says 7"):
        write_flat_index(tmp_path / "short", 5, 7, [x[:3]])
    assert not (tmp_path / "short").exists()
    (tmp_path / "cut").write_bytes((tmp_path / "mine").read_bytes()[:-4])
    with pytest.raises(InputError, match="truncated"):
        FlatIndex(tmp_path / "cut")


def test_cached_query_embeddings_are_reused_across_weights(small, tmp_path):
    index, queries = small
    encoder = TableEncoder(QUERY_VECTORS)
    first = augment_index(index, queries, encoder, tmp_path / "a", fusion="mean", weight=0.1)
    assert encoder.calls == 1 and not first["inputs"]["queries"]["embeddings_reused"]
    second = augment_index(index, queries, encoder, tmp_path / "b", fusion="mean", weight=0.5, languages=["de"])
    assert encoder.calls == 1 and second["inputs"]["queries"]["embeddings_reused"]
    cached = Path(first["inputs"]["queries"]["embeddings_cache"])
    assert cached.parent == tmp_path / "cache" / "embeddings" and cached.suffix == ".npy"
    sidecar = json.loads(cached.with_suffix(".json").read_text())
    assert sidecar["queries_sha256"] == first["inputs"]["queries"]["sha256"] and sidecar["docids"] == ["p0", "p1"]
    assert np.array_equal(np.load(cached, allow_pickle=False)[0], np.float32(QUERY_VECTORS["qa"]))
    augment_index(index, queries, TableEncoder(QUERY_VECTORS, model="another"), tmp_path / "c", fusion="mean")
    write_queries(queries, QUERIES[:2])  # new content: encoded again
    augment_index(index, queries, encoder, tmp_path / "d", fusion="mean")
    assert encoder.calls == 2


def test_per_language_indexes_hold_only_their_language(small, tmp_path):
    index, queries = small
    m = augment_per_language(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / "per", fusion="mean", weight=0.5)
    assert m["languages"] == ["de", "fr"] and sorted(p.name for p in (tmp_path / "per").iterdir()) == \
        [".xqg-output.json", "de", "fr", "manifest.json"]
    for lang in ("de", "fr"):
        augment_index(index, queries, TableEncoder(QUERY_VECTORS), tmp_path / lang, fusion="mean", weight=0.5,
                      languages=[lang])
        assert np.array_equal(bits(read_vectors(tmp_path / "per" / lang)), bits(read_vectors(tmp_path / lang)))
    assert m["counts"]["fr"]["passages_augmented"] == 1
    assert topics_language("bench/topics.de.tsv") == "de"


def test_augmented_index_searched_by_pyserini_faiss_searcher(tmp_path, tiny_bert, sample_corpus):
    from pyserini.search.faiss import FaissSearcher

    from xqg_pyserini.encode import TransformerEncoder, XqgQueryEncoder
    from xqg_pyserini.index.faiss import build_faiss_index

    encoder = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    plain = build_faiss_index(sample_corpus, encoder, tmp_path / "plain")
    generated = {"Paris_0": "which river flows through the city", "Nile_0": "what sea does it reach",
                 "Jupiter_0": "what is the biggest planet", "Piano_0": "which instrument has hammers"}
    queries = write_queries(tmp_path / "q.jsonl", [(d, "en", 0, q) for d, q in generated.items()])
    m = augment_index(plain, queries, encoder, tmp_path / "xqg", weight=1.0)  # e' = e_q: top doc is the source
    assert m["encoder"]["model"] == str(tiny_bert) and m["counts"]["passages_augmented"] == 4
    searcher = FaissSearcher(str(tmp_path / "xqg"), XqgQueryEncoder(encoder))
    for docid, text in generated.items():
        assert searcher.search(text, k=4)[0].docid == docid


def test_per_language_searcher_routes_by_topics_language(tmp_path, tiny_bert, sample_corpus):
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.index.faiss import build_faiss_index

    encoder = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    plain = build_faiss_index(sample_corpus, encoder, tmp_path / "plain")
    text = "where is the capital"  # the same generated text, for different passages per language
    queries = write_queries(tmp_path / "q.jsonl", [("Nile_0", "de", 0, text), ("Piano_0", "fr", 0, text)])
    augment_per_language(plain, queries, encoder, tmp_path / "per", weight=1.0)
    searcher = PerLanguageSearcher(tmp_path / "per", encoder)
    (tmp_path / "topics.de.tsv").write_text(f"1\t{text}\n")
    (tmp_path / "topics.fr.tsv").write_text(f"1\t{text}\n")
    assert max(searcher.search_topics(tmp_path / "topics.de.tsv", k=4)["1"].items(), key=lambda kv: kv[1])[0] == "Nile_0"
    assert searcher.search(text, "fr", k=1)[0].docid == "Piano_0"
    with pytest.raises(InputError, match="no index for language 'ja'"):
        searcher.search(text, "ja")


def test_doc2query_expansion_and_bm25(tmp_path, sample_corpus):
    from xqg_pyserini.index.expand import expand_corpus
    from xqg_pyserini.index.lucene import build_bm25_index
    from xqg_pyserini.search import bm25_searcher

    rows = [("Piano_0", "de", 1, "Welches Instrument\nhat Hämmer?"), ("Piano_0", "de", 0, "Klavier Tasten"),
            ("Piano_0", "fi", 0, "mikä soitin"), ("Nile_0", "fi", 4, "mikä joki"), ("Nile_0", "de", 2, "Fluss Afrika")]
    queries = write_queries(tmp_path / "q.jsonl", rows)
    out = tmp_path / "expanded" / "docs.jsonl"
    counts = expand_corpus(sample_corpus, queries, out, queries_per_language=1)
    docs = {d["id"]: d for d in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    base = "The piano is a keyboard instrument in which hammers strike strings."
    assert docs["Piano_0"]["contents"] == f"Piano {base} Klavier Tasten mikä soitin"
    assert docs["Piano_0"]["text"] == base and docs["Paris_0"]["contents"].startswith("Paris Paris is")
    assert counts["passages"] == 4 and counts["passages_expanded"] == 2 and counts["queries_used"] == 4
    counts = expand_corpus(sample_corpus, queries, out, languages=["de"])
    assert json.loads(out.read_text().splitlines()[3])["contents"].endswith("Klavier Tasten Welches Instrument hat Hämmer?")
    hits = bm25_searcher(build_bm25_index(out.parent, tmp_path / "bm25")).search("Klavier", k=2)
    assert [h.docid for h in hits] == ["Piano_0"]
    unknown = write_queries(tmp_path / "u.jsonl", rows + [("Moon_0", "de", 0, "Mond")])
    with pytest.raises(InputError, match=r"u\.jsonl:6: docid 'Moon_0' is not in the corpus"):
        expand_corpus(sample_corpus, unknown, tmp_path / "x" / "docs.jsonl")
    assert not (tmp_path / "x" / "docs.jsonl").exists()
    assert expand_corpus(sample_corpus, unknown, out, on_unknown_docid="skip")["queries_skipped"] == 1


@pytest.mark.integration
def test_augmented_index_through_pyserini_faiss_cli(tmp_path, tiny_bert, sample_corpus):
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.evaluation import read_run
    from xqg_pyserini.index.faiss import build_faiss_index
    from xqg_pyserini.cli.pyserini import run_pyserini

    encoder = TransformerEncoder(str(tiny_bert), show_progress=False)  # the settings the CLI's `xqg` class picks
    plain = build_faiss_index(sample_corpus, encoder, tmp_path / "plain")
    generated = [("Jupiter_0", "ja", 0, "biggest planet"), ("Piano_0", "ja", 0, "hammers and strings")]
    queries = write_queries(tmp_path / "q.jsonl", generated)
    augment_index(plain, queries, encoder, tmp_path / "xqg", fusion="mean", weight=0.9)
    topics = tmp_path / "topics.ja.tsv"
    topics.write_text("q1\tbiggest planet\nq2\thammers and strings\n")
    code = run_pyserini(["search.faiss", "--index", str(tmp_path / "xqg"), "--topics", str(topics),
                         "--encoder", str(tiny_bert), "--encoder-class", "xqg", "--output", str(tmp_path / "run.trec"),
                         "--hits", "4"])
    assert code == 0
    run = read_run(tmp_path / "run.trec")
    vectors, docids = read_vectors(tmp_path / "xqg"), (tmp_path / "xqg" / "docid").read_text().split()
    for qid, text in (("q1", "biggest planet"), ("q2", "hammers and strings")):
        scores = vectors @ encoder.encode_queries([text])[0]
        assert run[qid] == pytest.approx(dict(zip(docids, scores.tolist())), abs=1e-4)
