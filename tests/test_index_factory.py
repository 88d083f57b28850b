"""Augmented indexes of any FAISS kind, indexes from precomputed embeddings, query outputs in parts.

All without Ray: encoding in parts runs in this process here (tests/test_scale.py runs it on Ray).
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import faiss
import numpy as np
import pytest
from pyserini.encode import QueryEncoder
from pyserini.search.faiss import FaissSearcher

from xqg_pyserini.encode.queries import embed_queries
from xqg_pyserini.errors import InputError
from xqg_pyserini.index.augment import AugmentationPlan, augment_index
from xqg_pyserini.index.encoded import encode_corpus, index_from_embeddings
from xqg_pyserini.index.factory import write_index

from conftest import SAMPLE_PASSAGES


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))


class HashEncoder:
    """Query side of a synthetic retriever: a pseudo-random unit vector per text."""

    def __init__(self, dim: int):
        self.dim, self.dimension, self.calls = dim, dim, 0

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    def describe(self) -> dict:
        return {"model": "hash", "dimension": self.dim}


class VectorQueries(QueryEncoder):
    """A Pyserini QueryEncoder answering a query text with a vector given in advance."""

    def __init__(self, table: dict[str, np.ndarray]):
        super().__init__()
        self.table = table

    def encode(self, query: str, **kwargs) -> np.ndarray:
        return self.table[query]


def synthetic(tmp_path: Path, n: int = 3000, dim: int = 16) -> tuple[Path, Path]:
    """A flat IP index written by faiss (unit vectors) and a queries file: passage j gets j % 3 queries."""
    x = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    (tmp_path / "plain").mkdir()
    index = faiss.IndexFlatIP(dim)
    index.add(x)
    faiss.write_index(index, str(tmp_path / "plain" / "index"))
    (tmp_path / "plain" / "docid").write_text("".join(f"d{j}\n" for j in range(n)))
    with open(tmp_path / "q.jsonl", "w") as f:
        for j in range(n):
            for i in range(j % 3):
                f.write(json.dumps({"docid": f"d{j}", "lang": "de", "i": i, "query": f"q{j}.{i}", "generator": "t"}) + "\n")
    return tmp_path / "plain", tmp_path / "q.jsonl"


def test_augmented_ivf_pq_index_equals_in_memory_build_and_searches_through_faiss_searcher(tmp_path):
    plain, queries = synthetic(tmp_path)
    emb = embed_queries(queries, HashEncoder(16))
    plan = AugmentationPlan(plain, emb)
    m = plan.write(tmp_path / "ivfpq", "mean", 0.3, True, block_size=256, index_factory="IVF16,PQ4x4",
                   train_size=1000, search_params="nprobe=4")
    assert m["kind"] == "faiss-index-factory" and m["index_factory"] == "IVF16,PQ4x4" and m["train_size"] == 1000
    # the obvious alternative: all fused vectors in memory, the same training rows, then faiss itself
    vectors = plan.vectors("mean", 0.3, True)
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), 1000, replace=False))
    ref = faiss.index_factory(16, "IVF16,PQ4x4", faiss.METRIC_INNER_PRODUCT)
    ref.train(vectors[rows])
    ref.add(vectors)
    faiss.extract_index_ivf(ref).nprobe = 4
    assert (tmp_path / "ivfpq" / "index").read_bytes() == faiss.serialize_index(ref).tobytes()
    probes = {f"p{j}": vectors[j] for j in range(0, 3000, 97)}
    searcher = FaissSearcher(str(tmp_path / "ivfpq"), VectorQueries(probes))
    assert faiss.extract_index_ivf(searcher.index).nprobe == 4  # the search setting came with the file
    hits = searcher.batch_search(list(probes), list(probes), k=10)
    expected_d, expected_i = ref.search(np.stack(list(probes.values())), 10)
    for (qid, vec), dist, ids in zip(probes.items(), expected_d, expected_i):
        assert [h.docid for h in hits[qid]] == [f"d{i}" for i in ids]
        assert [h.score for h in hits[qid]] == pytest.approx(dist.tolist(), abs=1e-5)
    recall = np.mean([f"d{int(q[1:])}" in [h.docid for h in hits[q]] for q in probes])
    assert recall >= 0.9  # a passage's own vector finds it


def test_augmented_hnsw_index_searched_by_pyserini_with_a_real_encoder(tmp_path, tiny_bert, sample_corpus):
    from xqg_pyserini.encode import TransformerEncoder, XqgQueryEncoder
    from xqg_pyserini.index.faiss import build_faiss_index

    encoder = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    plain = build_faiss_index(sample_corpus, encoder, tmp_path / "plain")
    generated = {"Paris_0": "which river flows through the city", "Nile_0": "what sea does it reach",
                 "Jupiter_0": "what is the biggest planet", "Piano_0": "which instrument has hammers"}
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"docid": d, "lang": "en", "i": 0, "query": q, "generator": "t"}) + "\n"
                               for d, q in generated.items()))
    m = augment_index(plain, queries, encoder, tmp_path / "hnsw", weight=1.0, index_factory="HNSW32",
                      search_params="efSearch=16")
    assert m["kind"] == "faiss-index-factory" and m["train_size"] == 0
    searcher = FaissSearcher(str(tmp_path / "hnsw"), XqgQueryEncoder(encoder))
    assert isinstance(searcher.index, faiss.IndexHNSWFlat) and searcher.index.hnsw.efSearch == 16
    for docid, text in generated.items():
        assert searcher.search(text, k=4)[0].docid == docid


def test_bad_index_kinds_fail_before_any_query_is_encoded(tmp_path):
    plain, queries = synthetic(tmp_path, n=300)
    encoder = HashEncoder(16)
    for factory, params, message in (("IVFnope", None, "cannot build index 'IVFnope'"),
                                     ("HNSW32", "nprobe=4", "bad search parameters 'nprobe=4'"),
                                     ("IVF1024,Flat", None, "1024 lists but only 300 vectors")):
        with pytest.raises(InputError, match=message):
            augment_index(plain, queries, encoder, tmp_path / "out", index_factory=factory, search_params=params)
        assert not (tmp_path / "out").exists()
    assert encoder.calls == 0


def test_write_index_streams_blocks_twice_and_keeps_flat_bit_for_bit(tmp_path):
    x = np.random.default_rng(1).standard_normal((500, 8)).astype(np.float32)
    passes = []

    def blocks(hasher):
        passes.append(hasher)
        return (x[a:a + 64] for a in range(0, len(x), 64))

    info = write_index(tmp_path / "flat", 8, 500, blocks)
    assert len(passes) == 1 and info["index_factory"] == "Flat"
    flat = faiss.IndexFlatIP(8)
    flat.add(x)
    assert (tmp_path / "flat").read_bytes() == faiss.serialize_index(flat).tobytes()
    info = write_index(tmp_path / "sq", 8, 500, blocks, factory="SQ8", train_size=200)
    assert len(passes) == 3 and info["train_size"] == 200  # one pass to sample, one to add
    assert faiss.read_index(str(tmp_path / "sq")).ntotal == 500


def test_encoding_in_parts_resumes_and_becomes_any_index(tmp_path, tiny_bert, sample_corpus):
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.index.faiss import build_faiss_index

    encoder = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    single = build_faiss_index(sample_corpus, encoder, tmp_path / "single")
    summary = encode_corpus(sample_corpus, tmp_path / "emb", str(tiny_bert), "e5", part_bytes=200, progress=False)
    parts = sorted(p for p in (tmp_path / "emb").iterdir() if p.name.startswith("part-"))
    assert summary["parts"] == len(parts) >= 2 and summary["passages_encoded"] == len(SAMPLE_PASSAGES)
    index_from_embeddings(tmp_path / "emb", tmp_path / "flat")
    assert (tmp_path / "flat" / "docid").read_text() == (single / "docid").read_text()
    got, want = (faiss.read_index(str(d / "index")) for d in (tmp_path / "flat", single))
    np.testing.assert_allclose(got.reconstruct_n(0, 4), want.reconstruct_n(0, 4), atol=1e-5)
    manifest = json.loads((tmp_path / "flat" / "manifest.json").read_text())
    assert manifest["encoder"] == encoder.describe() and manifest["kind"] == "faiss-flat-ip"
    # a lost part (a killed run) is encoded again, and only it
    for f in parts[1].iterdir():
        f.unlink()
    parts[1].rmdir()
    again = encode_corpus(sample_corpus, tmp_path / "emb", str(tiny_bert), "e5", part_bytes=200, progress=False)
    assert again["parts_done_before"] == len(parts) - 1 and again["passages_encoded"] >= 1
    hnsw = index_from_embeddings(tmp_path / "emb", tmp_path / "hnsw", index_factory="HNSW8")
    assert hnsw["kind"] == "faiss-index-factory"
    from xqg_pyserini.encode.adapters import XqgQueryEncoder

    searcher = FaissSearcher(str(tmp_path / "hnsw"), XqgQueryEncoder(encoder))
    assert searcher.search(SAMPLE_PASSAGES[2][2], k=1)[0].docid == "Jupiter_0"
    with pytest.raises(InputError, match="other settings"):
        encode_corpus(sample_corpus, tmp_path / "emb", str(tiny_bert), "dpr", part_bytes=200, progress=False)
    bad = tmp_path / "bad.jsonl"  # a bad line read by the actor's code: back as the one-line error it was
    bad.write_text((sample_corpus / "docs.jsonl").read_text() + '{"title": "no id", "text": "x"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:5: corpus line has no \"id\""):
        encode_corpus(bad, tmp_path / "emb-bad", str(tiny_bert), "e5", part_bytes=200, progress=False)


def test_a_directory_of_query_parts_is_read_like_one_file(tmp_path):
    plain, queries = synthetic(tmp_path, n=300)
    lines = queries.read_text().splitlines(keepends=True)
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "part-00000-000000.jsonl").write_text("".join(lines[:100]))
    (parts / "part-00000-000001.jsonl").write_text("".join(lines[100:]))
    one = augment_index(plain, queries, HashEncoder(16), tmp_path / "one", fusion="mean")
    two = augment_index(plain, parts, HashEncoder(16), tmp_path / "two", fusion="mean")
    assert one["output"] == two["output"] and one["counts"] == two["counts"]
    (parts / "part-00000-000002.jsonl").write_text(json.dumps(
        {"docid": "nowhere", "lang": "de", "i": 0, "query": "x", "generator": "t"}) + "\n")
    with pytest.raises(InputError, match=r"part-00000-000002\.jsonl:1: docid 'nowhere' is not in the index"):
        augment_index(plain, parts, HashEncoder(16), tmp_path / "three")
    (parts / "part-00000-000002.jsonl").write_text(lines[0])
    with pytest.raises(InputError, match=r"part-00000-000002\.jsonl:1: duplicate query .*part-00000-000000\.jsonl:1"):
        augment_index(plain, parts, HashEncoder(16), tmp_path / "three")


def test_augmenting_part_by_part_equals_augmenting_the_whole_index(tmp_path, tiny_bert, sample_corpus):
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.index.augment_parts import augment_parts
    from xqg_pyserini.index.encoded import encode_corpus
    from xqg_pyserini.data.parts import corpus_parts, read_part

    encoder = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    encode_corpus(sample_corpus, tmp_path / "emb", str(tiny_bert), "e5", part_bytes=200, progress=False)
    index_from_embeddings(tmp_path / "emb", tmp_path / "whole")
    queries, rows = tmp_path / "q", []
    queries.mkdir()
    for part in corpus_parts(sample_corpus, 200):  # what `xqg generate --ray` writes for these parts
        lines = [json.dumps({"docid": p.docid, "lang": lang, "i": i, "query": f"{lang} {i} {p.title}", "generator": "t"})
                 + "\n" for p in read_part(part) for lang in ("de", "fr") for i in range(2)]
        (queries / f"{part.name}.jsonl").write_text("".join(lines))
        rows += lines
    (tmp_path / "all.jsonl").write_text("".join(rows))
    for kind, params in (("Flat", None), ("HNSW8", "efSearch=8")):
        whole = augment_index(tmp_path / "whole", tmp_path / "all.jsonl", encoder, tmp_path / f"a-{kind}", "mean",
                              0.4, True, languages=["de"], index_factory=kind, search_params=params)
        parts = augment_parts(tmp_path / "emb", queries, encoder, tmp_path / f"p-{kind}", "mean", 0.4, True,
                              languages=["de"], index_factory=kind, search_params=params)
        assert parts["counts"] == whole["counts"]  # queries embedded part by part: the same up to float rounding
        got, want = (faiss.read_index(str(tmp_path / f"{x}-{kind}" / "index")) for x in ("p", "a"))
        np.testing.assert_allclose(got.reconstruct_n(0, 4), want.reconstruct_n(0, 4), atol=1e-5)
        assert (tmp_path / f"p-{kind}" / "docid").read_text() == (tmp_path / f"a-{kind}" / "docid").read_text()
    assert parts["counts"]["queries_used"] == 8 and parts["counts"]["queries_not_selected"] == 8


def test_augmenting_part_by_part_refuses_what_it_cannot_do_before_any_work(tmp_path, tiny_bert, sample_corpus):
    from xqg_pyserini.data.parts import corpus_parts, read_part
    from xqg_pyserini.index.augment_parts import augment_parts

    encode_corpus(sample_corpus, tmp_path / "emb", str(tiny_bert), "e5", part_bytes=200, progress=False)
    queries = tmp_path / "q"
    queries.mkdir()
    for part in corpus_parts(sample_corpus, 200):
        (queries / f"{part.name}.jsonl").write_text("".join(
            json.dumps({"docid": p.docid, "lang": "de", "i": 0, "query": f"q {p.title}", "generator": "t"}) + "\n"
            for p in read_part(part)))
    encoder, out = HashEncoder(32), tmp_path / "out"
    # the mixture fusion writes one index per query language: refused, naming the fusions it can do
    with pytest.raises(InputError, match=r"^augmentation part by part writes one index for all query languages: "
                                         r"fusion must be one of \('sum', 'mean'\), not 'mixture'"):
        augment_parts(tmp_path / "emb", queries, encoder, out, fusion="mixture", weight=0.3)
    # one queries file cannot be paired with the index parts
    one = tmp_path / "all.jsonl"
    one.write_text("".join(f.read_text() for f in sorted(queries.glob("*.jsonl"))))
    with pytest.raises(InputError, match=r"all\.jsonl: augmentation part by part needs the directory of query parts"):
        augment_parts(tmp_path / "emb", one, encoder, out, fusion="mean", on_unknown_docid="skip")
    # a shard whose docid file does not match its vectors: named, before a query is embedded
    docids = sorted((tmp_path / "emb").glob("part-*/docid"))[0]
    docids.write_text(docids.read_text() + "extra\n")
    with pytest.raises(InputError, match=rf"{docids.parent.name}/docid: \d+ docids for \d+ vectors in the index"):
        augment_parts(tmp_path / "emb", queries, encoder, out, fusion="mean")
    assert encoder.calls == 0 and not out.exists() and not (tmp_path / "cache" / "embeddings").exists()
