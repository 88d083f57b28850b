"""Indexes and search through Pyserini's real searchers and CLIs, with a tiny model from a config."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xqg_pyserini.encode import TransformerEncoder, XqgQueryEncoder
from xqg_pyserini.evaluation import read_run
from xqg_pyserini.index import build_bm25_index, build_faiss_index, read_manifest
from xqg_pyserini.errors import InputError
from xqg_pyserini.cli.pyserini import run_pyserini
from xqg_pyserini.search import (GuardedHybridSearcher, HybridSettings, bm25_searcher, dense_searcher, reciprocal_rank_fusion, search,
                                 search_to_file)

TOPICS = {"q1": "capital of France", "q2": "largest planet Solar System", "q3": "keyboard instrument strings"}
GOLD = {"q1": "Paris_0", "q2": "Jupiter_0", "q3": "Piano_0"}


@pytest.fixture()
def indexes(tmp_path, sample_corpus, tiny_bert):
    encoder = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    return (build_bm25_index(sample_corpus, tmp_path / "bm25"),
            build_faiss_index(sample_corpus, encoder, tmp_path / "dense"), encoder)


def test_bm25_index_and_search(indexes):
    run = search(bm25_searcher(indexes[0]), TOPICS, k=4)
    assert {q: max(d, key=d.get) for q, d in run.items()} == GOLD


def test_bm25_index_from_relative_paths(tmp_path, sample_corpus, monkeypatch):
    """`xqg demo` passes relative paths (indexes/xquad/bm25); Anserini runs in its own directory."""
    monkeypatch.chdir(sample_corpus.parent)
    index = build_bm25_index(Path(sample_corpus.name), Path("indexes") / "bm25")
    assert index == Path("indexes") / "bm25"
    run = search(bm25_searcher(index), TOPICS, k=4)
    assert {q: max(d, key=d.get) for q, d in run.items()} == GOLD


def test_faiss_index_layout_and_dense_scores_are_inner_products(indexes, sample_corpus):
    _, dense_dir, encoder = indexes
    assert (dense_dir / "docid").read_text().split() == ["Paris_0", "Nile_0", "Jupiter_0", "Piano_0"]
    assert read_manifest(dense_dir)["encoder"]["pooling"] == "mean"
    run = search(dense_searcher(dense_dir, XqgQueryEncoder(encoder)), TOPICS, k=4)
    rows = [json.loads(l) for l in (sample_corpus / "docs.jsonl").read_text().splitlines()]
    docs = encoder.encode_passages([r["text"] for r in rows], [r["title"] for r in rows])
    queries = encoder.encode_queries(list(TOPICS.values()))
    for qi, qid in enumerate(TOPICS):
        expected = {r["id"]: float(docs[i] @ queries[qi]) for i, r in enumerate(rows)}
        assert run[qid] == pytest.approx(expected, abs=1e-5)


def test_encoder_presets_and_batching_do_not_change_vectors(tiny_bert):
    e5 = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    texts = ["a b c", "river", "the fifth planet from the Sun and more words here", "x"]
    one = np.stack([e5.encode_queries([t])[0] for t in texts])
    assert np.allclose(e5.encode_queries(texts, batch_size=3), one, atol=1e-5)
    assert np.allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-5)
    dpr = TransformerEncoder(str(tiny_bert), "dpr", show_progress=False)
    assert dpr.settings.pooling == "cls" and not dpr.settings.l2_norm and dpr.settings.query_prefix == ""
    assert TransformerEncoder(str(tiny_bert), "dpr", pooling="mean").settings.pooling == "mean"


def test_query_encoder_memoizes(tiny_bert):
    qe = XqgQueryEncoder(TransformerEncoder(str(tiny_bert), "e5", show_progress=False))
    calls = []
    original = qe.encoder.encode_queries
    qe.encoder.encode_queries = lambda texts, **kw: calls.append(list(texts)) or original(texts, **kw)
    first = qe.encode_batch(["a", "b", "a"])
    second = qe.encode_batch(["b", "c"])
    assert calls == [["a", "b"], ["c"]]
    assert np.array_equal(first[1], second[0]) and qe.encode("a").shape == (32,)


def _minmax(run_q: dict) -> dict:
    lo, hi = min(run_q.values()), max(run_q.values())
    return {d: 0.0 if hi == lo else (v - (lo + hi) / 2) / (hi - lo) for d, v in run_q.items()}


def test_hybrid_is_pyserini_interpolation_and_survives_single_hit(indexes, tmp_path):
    bm25_dir, dense_dir, encoder = indexes
    sparse, dense = bm25_searcher(bm25_dir), dense_searcher(dense_dir, XqgQueryEncoder(encoder))
    topics = {**TOPICS, "q4": "Seine"}  # one BM25 hit only: Pyserini's own normalisation divides by zero
    hybrid = search_to_file(GuardedHybridSearcher(dense, sparse), topics, tmp_path / "h.trec", "hybrid", k=4)
    s_run, d_run = search(sparse, topics, k=4), search(dense, topics, k=4)
    assert len(s_run["q4"]) == 1
    for q in topics:
        s, d = _minmax(s_run[q]), _minmax(d_run[q])
        s_floor = 0.0 if len(set(s_run[q].values())) == 1 else -0.5
        expected = {doc: HybridSettings().alpha * s.get(doc, s_floor) + d.get(doc, -0.5) for doc in set(s) | set(d)}
        assert hybrid[q] == pytest.approx(expected, abs=1e-5)
    assert set(read_run(tmp_path / "h.trec")) == set(topics)


def test_rrf_of_run_files(indexes, tmp_path):
    bm25_dir, dense_dir, encoder = indexes
    sparse, dense = bm25_searcher(bm25_dir), dense_searcher(dense_dir, XqgQueryEncoder(encoder))
    search_to_file(sparse, TOPICS, tmp_path / "a.trec", "bm25", k=4)
    search_to_file(dense, TOPICS, tmp_path / "b.trec", "dense", k=4)
    fused = reciprocal_rank_fusion([tmp_path / "a.trec", tmp_path / "b.trec"], tmp_path / "f.trec")
    a, b = read_run(tmp_path / "a.trec"), read_run(tmp_path / "b.trec")
    rank = lambda run, q, d: sorted(run[q], key=lambda x: -run[q][x]).index(d) + 1
    for q in TOPICS:
        for d in fused[q]:
            expected = sum(1 / (60 + rank(r, q, d)) for r in (a, b) if d in r[q])
            assert fused[q][d] == pytest.approx(expected, rel=1e-6)


def test_pyserini_faiss_cli_through_passthrough(indexes, tiny_bert, tmp_path):
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"{q}\t{t}\n" for q, t in TOPICS.items()))
    out = tmp_path / "cli.trec"
    code = run_pyserini(["search.faiss", "--index", str(indexes[1]), "--topics", str(topics),
                         "--encoder", str(tiny_bert), "--encoder-class", "xqg", "--output", str(out), "--hits", "4"])
    assert code == 0
    # The CLI builds XqgQueryEncoder(encoder_dir=...): settings from the model's family (here: none -> DPR's).
    default = TransformerEncoder(str(tiny_bert), show_progress=False)
    assert default.settings.pooling == "cls"
    direct = search(dense_searcher(indexes[1], XqgQueryEncoder(default)), TOPICS, k=4)
    cli = read_run(out)
    for q in TOPICS:
        assert cli[q] == pytest.approx(direct[q], abs=1e-4)


def test_bad_corpus_leaves_no_index(tmp_path, tiny_bert):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "contents": "x"}\n{"contents": "no id"}\n')
    with pytest.raises(InputError, match=r"c.jsonl:2: corpus line has no \"id\""):
        build_bm25_index(corpus, tmp_path / "bm25")
    corpus.write_text('{"id": "a", "contents": "x"}\n{"id": "b", "contents": \n')
    encoder = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    with pytest.raises(InputError, match=r"c.jsonl:2: malformed JSON"):
        build_faiss_index(corpus, encoder, tmp_path / "dense")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]
    with pytest.raises(InputError, match="does not exist"):
        build_bm25_index(tmp_path / "missing", tmp_path / "bm25")


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"nope/model: model path does not exist"):
        TransformerEncoder(str(tmp_path / "nope" / "model"))


def test_lucene_writes_no_info_lines_on_the_users_terminal(tmp_path, sample_corpus):
    """Lucene's 'Using MemorySegmentIndexInput with Java 21' INFO line is library chatter: silenced."""
    import subprocess
    import sys

    script = (f"from xqg_pyserini.index import build_bm25_index\n"
              f"from xqg_pyserini.search import bm25_searcher, search\n"
              f"index = build_bm25_index({str(sample_corpus)!r}, {str(tmp_path / 'bm25')!r})\n"
              f"print(len(search(bm25_searcher(index), {{'q': 'capital of France'}}, k=2)['q']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and int(done.stdout.split()[-1]) >= 1, done.stderr[-2000:]
    assert "MemorySegmentIndexInput" not in done.stderr, done.stderr[-2000:]
