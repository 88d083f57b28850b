"""Why the oracle row of docs/study.md falls below dense: which passages the real questions are fused into.

Usage (after `xqg study`): .venv/bin/python benchmarks/oracle_diagnostic.py
Prints macro nDCG@10 on TEST questions (2 folds, as in the study) for oracle augmentation of all
passages vs of the test-article passages only, over the fusion weight b (mean, re-normalised).
"""
import xqg_pyserini, numpy as np
from xqg_pyserini.data import Benchmark
from xqg_pyserini.encoders import TransformerEncoder, XqgQueryEncoder
from xqg_pyserini.study import embed_topics, faiss_vectors, write_oracle_queries, fold_of, MemoEncoder, search_vectors
from xqg_pyserini.augmentation import AugmentationPlan, embed_queries
from xqg_pyserini.evaluation import evaluate_run
b = Benchmark.load("collections/xquad"); langs = b.languages
enc = TransformerEncoder("multilingual-e5-small", show_progress=False); q = XqgQueryEncoder(enc)
tv = {s: embed_topics(enc, {l: b.topics(l, s) for l in langs}) for s in ("train", "test")}
for s in tv:
    for l in langs: q.remember(list(b.topics(l, s).values()), tv[s].vectors[l])
base, docids = faiss_vectors("indexes/xquad/e5-small")
test_qids = {x for l in langs for x in b.topics(l, "test")}
train_qids = {x for l in langs for x in b.topics(l, "train")}
for variant, extra_excl in (("all", set()), ("test passages only", train_qids)):
  for w in (0.05, 0.1, 0.2, 0.3):
    runs = {l: {} for l in langs}
    for fold in (0, 1):
        searched = {x for x in test_qids if fold_of(x) == fold}
        f = write_oracle_queries(b, f"/tmp/xqg-oracle-diagnostic.{fold}.jsonl", exclude=searched | extra_excl)
        v = AugmentationPlan("indexes/xquad/e5-small", embed_queries(f, MemoEncoder(q))).vectors("mean", w, True)
        for l in langs:
            idx = [i for i, x in enumerate(tv["test"].qids[l]) if x in searched]
            runs[l].update(search_vectors(v, docids, tv["test"].vectors[l][idx], [tv["test"].qids[l][i] for i in idx], 10))
    nd = np.mean([evaluate_run(runs[l], b.qrels(l, "test"))["nDCG@10"] for l in langs])
    print(variant, w, round(nd, 4), flush=True)
