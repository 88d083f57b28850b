"""Choose the BM25 weight of the hybrid on XQuAD TRAIN questions (articles 0-35), never on TEST.

Usage (after `xqg demo` built collections/xquad and indexes/xquad):
    .venv/bin/python benchmarks/hybrid_alpha.py
Prints macro nDCG@10 over the 11 languages for each alpha, with and without Pyserini's min-max
normalisation. Searches once (depth 240 = the whole corpus) and re-fuses for every alpha.
"""
import xqg_pyserini  # noqa: F401
from xqg_pyserini.data import Benchmark
from xqg_pyserini.encoders import TransformerEncoder, XqgQueryEncoder
from xqg_pyserini.evaluation import evaluate_run
from xqg_pyserini.search import HybridSearcher, bm25_searcher, dense_searcher

bench = Benchmark.load("collections/xquad")
dense = dense_searcher("indexes/xquad/e5-small", XqgQueryEncoder(TransformerEncoder("multilingual-e5-small")))
sparse = bm25_searcher("indexes/xquad/bm25")
hits = {}
for lang in bench.languages:
    topics = bench.topics(lang, "train")
    qids, queries = list(topics), list(topics.values())
    hits[lang] = (dense.batch_search(queries, qids, 240), sparse.batch_search(queries, qids, 240),
                  bench.qrels(lang, "train"))
print(f"{'normalization':>14} {'alpha':>6} {'macro nDCG@10':>14}")
for normalization in (True, False):
    for alpha in (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
        scores = []
        for d_hits, s_hits, qrels in hits.values():
            run = {q: {h.docid: h.score for h in HybridSearcher._hybrid_results(d_hits[q], s_hits[q], alpha, 100,
                                                                                 normalization)} for q in d_hits}
            scores.append(evaluate_run(run, qrels)["nDCG@10"])
        print(f"{str(normalization):>14} {alpha:>6} {sum(scores) / len(scores):>14.4f}")
