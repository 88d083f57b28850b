"""Per-language knobs for the mixture: does each query language's index gain from its own (a, w)?

The study chooses one (a, w) for all 11 per-language mixture indexes. Each index serves one
language, so each could have its own knobs, chosen on that language's TRAIN questions (925 per
language). This script sweeps a grid per language on TRAIN, takes each language's TRAIN optimum by
nDCG@10, and reports TEST R@1 and nDCG@10 of those per-language choices beside the study's global
choice (a = 0.5, w = 0.25 unless given) and dense. TEST chooses nothing. Run after `xqg study`
(it reuses the study's dense index and cached embeddings), with nothing else heavy:

    .venv/bin/python benchmarks/per_language_knobs.py --queries QUERIES.jsonl --json docs/study_per_language_knobs.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from ir_measures import R, nDCG

from xqg_pyserini.data.benchmarks import Benchmark
from xqg_pyserini.data.io import atomic_file
from xqg_pyserini.encode.encoders import TransformerEncoder
from xqg_pyserini.encode.queries import embed_queries
from xqg_pyserini.evaluation.measures import per_query
from xqg_pyserini.experiments.study import embed_topics, faiss_vectors
from xqg_pyserini.index.augment import MIXTURE, AugmentationPlan, Mixture
from xqg_pyserini.models.cpu import cpu_label
from xqg_pyserini.search.exact import search_vectors

WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
OWN_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    from xqg_pyserini.cli import quiet_libraries

    quiet_libraries()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", required=True, help="the study's generated queries")
    ap.add_argument("--benchmark", default="collections/xquad")
    ap.add_argument("--index", default="indexes/xquad/e5-small", help="the study's plain dense index")
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--global-knobs", type=float, nargs=2, default=(0.5, 0.25), metavar=("A", "W"),
                    help="the study's choice, for comparison")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    started = time.perf_counter()

    bench = Benchmark.load(args.benchmark)
    langs = bench.languages
    encoder = TransformerEncoder(args.model, show_progress=False)
    base, docids = faiss_vectors(args.index)
    topics = {s: {l: bench.topics(l, s) for l in langs} for s in ("train", "test")}
    qrels = {s: {l: bench.qrels(l, s) for l in langs} for s in ("train", "test")}
    vectors = {s: embed_topics(encoder, topics[s]) for s in ("train", "test")}
    plan = AugmentationPlan(args.index, embed_queries(args.queries, encoder))

    def score(passages: np.ndarray, split: str, lang: str) -> dict:
        tv = vectors[split]
        run = search_vectors(passages, docids, tv.vectors[lang], tv.qids[lang], 10)
        scores = per_query(run, qrels[split][lang], [nDCG @ 10, R @ 1])
        return {m: float(np.mean(list(scores[m].values()))) for m in ("nDCG@10", "R@1")}

    per_language = {}
    for lang in langs:
        rows = []
        for a in WEIGHTS:
            for w in OWN_WEIGHTS:
                fused = plan.vectors(MIXTURE, a, True, Mixture(lang, w))
                rows.append({"weight": a, "own_weight": w, "train": score(fused, "train", lang),
                             "test": score(fused, "test", lang)})
        chosen = max(rows, key=lambda r: r["train"]["nDCG@10"])  # first of equals: the grid's order
        glob = next(r for r in rows if (r["weight"], r["own_weight"]) == tuple(args.global_knobs))
        per_language[lang] = {"chosen": chosen, "global": glob, "dense": score(base, "test", lang), "rows": rows}
        print(f"{lang}: chosen on train a={chosen['weight']} w={chosen['own_weight']}; test R@1 "
              f"{chosen['test']['R@1']:.4f} (global {glob['test']['R@1']:.4f}, dense "
              f"{per_language[lang]['dense']['R@1']:.4f})", flush=True)

    macro = {name: {m: float(np.mean([per_language[l][key][m] if key == "dense" else per_language[l][key]["test"][m]
                                      for l in langs])) for m in ("nDCG@10", "R@1")}
             for name, key in (("per-language knobs", "chosen"), ("global knobs", "global"), ("dense", "dense"))}
    print("\n| TEST, macro | nDCG@10 | R@1 |\n|---|---|---|")
    for name, row in macro.items():
        print(f"| {name} | {row['nDCG@10']:.4f} | {row['R@1']:.4f} |")
    if args.json:
        out = {"command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
               "date": time.strftime("%Y-%m-%d"), "cpu": cpu_label(),
               "seconds": round(time.perf_counter() - started, 1), "queries": args.queries, "model": args.model,
               "grid": {"weights": WEIGHTS, "own_weights": OWN_WEIGHTS}, "macro_test": macro,
               "per_language": per_language}
        with atomic_file(args.json) as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
