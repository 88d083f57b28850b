"""The xQG study on XQuAD: what augmentation adds to the same retriever, per language, with significance.

Every row is scored on the same questions: those of the TEST articles (36-47) in the 11 non-English
languages, against all 240 English paragraphs. Rows: BM25, BM25 over doc2query-expanded passages,
dense, dense + xQG in three variants (:mod:`xqg_pyserini.experiments.variants`: the generator's
queries pooled into one index; one index per query language with that language's queries; one index
per query language mixing its own queries, weighted w, with the others'), the paper's sum fusion,
dense + oracle xQG (real questions in the generator's place, as many per passage and language as it
generated: the method's ceiling; see :mod:`xqg_pyserini.experiments.oracle`), and the hybrids.
Every knob is chosen on TRAIN questions (articles 0-35) and recorded with the TRAIN measurement that
chose it; so is the best variant, whose TEST result against dense is the study's headline.

The oracle never sees an evaluated question: each test paragraph's question ids are split into two
halves; each half is searched against passages augmented with the other half, and the two halves'
runs are pooled. (``fold_of`` and ``write_oracle_queries`` are study v1's uncapped oracle, kept for
``benchmarks/oracle_diagnostic.py``, which explains why it fell below dense.)
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from ir_measures import R, nDCG

from xqg_pyserini.data.benchmarks import Benchmark
from xqg_pyserini.data.io import InputError, atomic_file, cache_dir, require_file
from xqg_pyserini.data.languages import check_languages
from xqg_pyserini.data.noise import misspell
from xqg_pyserini.data.trec import Run
from xqg_pyserini.evaluation.measures import Table, evaluate_languages, per_query
from xqg_pyserini.evaluation.significance import paired_report
from xqg_pyserini.experiments.oracle import OracleFold, balance_summary, oracle_folds, oracle_vectors
from xqg_pyserini.experiments.variants import (MEASURES, MIXED, PAPER, PAPER_WEIGHT, POOLED, ROUTED, Grids,
                                               TopicVectors, best_variant, choose, headline, search_vectors, sweep,
                                               tune_variants, variant_vectors)
from xqg_pyserini.generation.queries import read_queries
from xqg_pyserini.search.config import SearchSettings

__all__ = ["ORACLE", "SIGNIFICANCE", "StudyResult", "TopicVectors", "compare", "run_study", "search_vectors", "sweep"]
ORACLE = "dense+oracle xQG (real questions, count-balanced)"
#: The version of study.json this module writes (the report renders this version only).
STUDY_VERSION = 2
SIGNIFICANCE = ("two-sided paired t-test on per-question nDCG@10 and on per-question R@1, each three ways: per "
                "language; pooled over all test questions of all languages (treats translations as independent, "
                "so overstates); and by question id (each id's score averaged over languages, then paired over "
                "ids: the honest one)")


# ----------------------------------------------------------------------------- inputs

def fold_of(qid: str, folds: int = 2) -> int:
    """A stable fold for a question id (the same in every language, as XQuAD ids are parallel)."""
    return int(hashlib.sha1(qid.encode()).hexdigest(), 16) % folds


def write_oracle_queries(bench: Benchmark, out: str | Path, exclude: set[str], languages: Sequence[str] | None = None) -> Path:
    """Real questions as if generated: every question whose id is not in ``exclude``, in every language,
    attached to its paragraph (the generated-query JSONL layout, generator "oracle")."""
    counters: dict[tuple[str, str], int] = {}
    with atomic_file(out) as f:
        for lang in languages or bench.languages:
            for q in bench.questions[lang]:
                if q.qid in exclude or not q.docid:
                    continue
                i = counters.setdefault((q.docid, lang), 0)
                counters[(q.docid, lang)] = i + 1
                f.write(json.dumps({"docid": q.docid, "lang": lang, "i": i, "query": q.text, "generator": "oracle"},
                                   ensure_ascii=False) + "\n")
    return Path(out)


# ----------------------------------------------------------------------------- searching

def embed_topics(encoder, topics: dict[str, dict[str, str]]) -> TopicVectors:
    """Embeddings of each language's questions, cached as .npy by (texts, encoder) so re-runs are cheap."""
    qids, vectors = {lang: list(t) for lang, t in topics.items()}, {}
    desc = json.dumps(encoder.describe(), sort_keys=True)
    for lang, t in topics.items():
        texts = list(t.values())
        key = hashlib.sha256(json.dumps([desc, texts], ensure_ascii=False).encode()).hexdigest()[:32]
        path = cache_dir("embeddings", "topics") / f"{key}.npy"
        if path.exists():
            vectors[lang] = np.load(path, allow_pickle=False)
            continue
        vectors[lang] = encoder.encode_queries(texts)
        with atomic_file(path, "wb") as f:
            np.save(f, vectors[lang], allow_pickle=False)
    return TopicVectors(qids, vectors)


def faiss_vectors(index_dir: str | Path) -> tuple[np.ndarray, list[str]]:
    import faiss

    index = faiss.read_index(str(Path(index_dir) / "index"))
    return index.reconstruct_n(0, index.ntotal), (Path(index_dir) / "docid").read_text().split()


def balanced_oracle_runs(base: np.ndarray, docids: Sequence[str], folds: Sequence[OracleFold],
                         questions: dict[str, tuple[Sequence[str], np.ndarray]], topics: TopicVectors,
                         weight: float, k: int = 100) -> dict[str, Run]:
    """Each fold's evaluated questions searched against that fold's oracle passages; the folds pooled."""
    runs: dict[str, Run] = {lang: {} for lang in topics.qids}
    for fold in folds:
        passages = oracle_vectors(base, docids, fold, questions, "mean", weight, normalize=True)
        for lang, qids in topics.qids.items():
            rows = [i for i, q in enumerate(qids) if q in fold.searched]
            if rows:
                runs[lang].update(search_vectors(passages, docids, topics.vectors[lang][rows],
                                                 [qids[i] for i in rows], k))
    return runs


def oracle_sweep(base: np.ndarray, docids: Sequence[str], folds: Sequence[OracleFold],
                 questions: dict[str, tuple[Sequence[str], np.ndarray]], topics: TopicVectors,
                 qrels: dict[str, dict], weights: Sequence[float]) -> list[dict]:
    """Macro nDCG@10 and R@1 of the oracle for each fusion weight (folds over the split of ``topics``)."""
    rows = []
    for weight in weights:
        runs = balanced_oracle_runs(base, docids, folds, questions, topics, weight, 10)
        means = {m: [] for m in MEASURES}
        for lang in topics.qids:
            scores = per_query(runs[lang], qrels[lang], [nDCG @ 10, R @ 1])
            for m in MEASURES:
                means[m].append(float(np.mean(list(scores[m].values()))))
        rows.append({"weight": weight, **{m: float(np.mean(v)) for m, v in means.items()}})
    return rows


# ----------------------------------------------------------------------------- the study

class MemoEncoder:
    """``encode_queries`` through an XqgQueryEncoder's memo, with the wrapped encoder's description."""

    def __init__(self, query_encoder):
        self.query_encoder = query_encoder

    def encode_queries(self, texts, **_ignored) -> np.ndarray:
        return self.query_encoder.encode_batch(list(texts))

    def describe(self) -> dict:
        return self.query_encoder.encoder.describe()


@dataclass
class Condition:
    name: str
    runs: dict[str, Run]
    note: str = ""


@dataclass
class StudyResult:
    tables: dict[str, Table] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    significance: dict[str, dict] = field(default_factory=dict)
    sweeps: dict[str, list[dict]] = field(default_factory=dict)
    extra: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"tables": {n: {"columns": t.columns, "rows": t.rows} for n, t in self.tables.items()},
                "notes": self.notes, "significance": self.significance, "sweeps": self.sweeps,
                "significance_test": SIGNIFICANCE, **self.extra}


def compare(base: dict[str, Run], other: dict[str, Run], qrels: dict[str, dict]) -> dict[str, dict]:
    """For nDCG@10 and R@1: the mean difference ``other - base`` and its p-values, per language, pooled
    over languages, and by question id (translations of one question are one unit; see ``paired_report``)."""
    scores = {side: {lang: per_query(runs[lang], qrels[lang], [nDCG @ 10, R @ 1]) for lang in sorted(base)}
              for side, runs in (("base", base), ("other", other))}
    return {m: paired_report({l: s[m] for l, s in scores["other"].items()},
                             {l: s[m] for l, s in scores["base"].items()}, trials=10000, seed=0) for m in MEASURES}


def evaluate(conditions: Sequence[Condition], bench: Benchmark, split: str = "test") -> dict[str, Table]:
    langs = bench.languages
    qrels = {l: bench.qrels(l, split) for l in langs}
    answers = {l: bench.answers(l, split) for l in langs}
    passages = {d: p.text for d, p in bench.passages.items()}
    return {c.name: evaluate_languages(c.runs, qrels, answers=answers, passages=passages) for c in conditions}


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_study(queries: str | Path, work: str | Path = ".", model: str = "multilingual-e5-small",
              grids: Grids = Grids(), criterion: str = MEASURES[0], noise_rate: float = 0.1,
              held_out: Sequence[str] = ("el", "hi", "th"), k: int = SearchSettings.k, log=print) -> StudyResult:
    """Run every condition of the study; indexes go to ``work/indexes/xquad/study``. ``criterion``
    (nDCG@10 or R@1, on TRAIN questions) chooses every knob and the best variant."""
    require_file(queries, "queries file")
    if not 0 <= noise_rate <= 1 or k < 1:
        raise InputError(None, f"noise rate must be in [0, 1] and k at least 1, not {noise_rate} and {k}")
    if criterion not in MEASURES:
        raise InputError(None, f"the criterion must be one of {', '.join(MEASURES)}, not {criterion!r}")
    check_languages(list(held_out))

    from xqg_pyserini.encode.adapters import XqgQueryEncoder
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.encode.queries import embed_queries
    from xqg_pyserini.index.augment import MIXTURE, AugmentationPlan, augment_per_language
    from xqg_pyserini.index.expand import expand_corpus
    from xqg_pyserini.index.faiss import ensure_faiss
    from xqg_pyserini.index.lucene import ensure_bm25
    from xqg_pyserini.index.roundtrip import keep_roundtrip
    from xqg_pyserini.search.hybrid import GuardedHybridSearcher as HybridSearcher
    from xqg_pyserini.search.routing import PerLanguageSearcher
    from xqg_pyserini.search.searchers import bm25_searcher, dense_searcher, search

    work = Path(work)
    bench = Benchmark.load(work / "collections" / "xquad")
    corpus, root = work / "collections" / "xquad" / "corpus", work / "indexes" / "xquad" / "study"
    langs, result = bench.languages, StudyResult()
    encoder = TransformerEncoder(model, show_progress=False)
    qenc = XqgQueryEncoder(encoder)
    dense_dir = ensure_faiss(corpus, encoder, work / "indexes" / "xquad" / Path(model).name.replace("multilingual-", ""))
    bm25 = bm25_searcher(ensure_bm25(corpus, work / "indexes" / "xquad" / "bm25"))
    topics = {split: {l: bench.topics(l, split) for l in langs} for split in ("train", "test")}
    qrels = {split: {l: bench.qrels(l, split) for l in langs} for split in ("train", "test")}
    vectors = {split: embed_topics(encoder, topics[split]) for split in ("train", "test")}
    for split in ("train", "test"):  # searches through Pyserini reuse these vectors instead of re-encoding
        for lang, qids in vectors[split].qids.items():
            qenc.remember([topics[split][lang][q] for q in qids], vectors[split].vectors[lang])
    base, docids = faiss_vectors(dense_dir)
    embeddings = embed_queries(queries, encoder)
    plan = AugmentationPlan(dense_dir, embeddings)
    routed = {l: AugmentationPlan(dense_dir, embeddings, [l]) for l in langs if l in embeddings.keys.langs}
    log(f"[study] {plan.counts['queries_used']} generated queries over {plan.counts['passages_augmented']} passages")

    # Every variant's knobs: swept on TRAIN and TEST questions, chosen on TRAIN (and so is the best variant).
    result.sweeps, chosen = tune_variants(variant_vectors(plan, routed, langs, grids.roundtrips), docids, vectors,
                                          qrels, grids, criterion)
    best, kept = chosen[POOLED]["weight"], {v: chosen[v].get("roundtrip") for v in (POOLED, ROUTED, MIXED)}
    per_lang_n = int(plan.counts["queries_per_passage"]["max"] // max(1, len(embeddings.keys.langs)))
    result.sweeps["queries-per-language-test"] = sweep(
        lambda n: base if n == 0 else keep_roundtrip(AugmentationPlan(dense_dir, embeddings, queries_per_language=int(n)),
                                                     kept[POOLED]).vectors("mean", best, True),
        docids, vectors["test"], qrels["test"], list(range(0, per_lang_n + 1)), knob="n")
    log(f"[study] chosen on train ({criterion}): {chosen}")

    def augmented(name: str, **kw) -> Path:
        out = root / name
        keep_roundtrip(AugmentationPlan(dense_dir, embeddings, **kw.pop("select", {})), kw.pop("roundtrip", None)) \
            .write(out, **kw)
        return out

    xqg_paper = augmented("xqg-paper", fusion="sum", weight=PAPER_WEIGHT)
    xqg_mean = augmented("xqg", fusion="mean", weight=best, normalize=True, roundtrip=kept[POOLED])
    routers = {}
    for row, name, kw in ((ROUTED, "xqg-per-language", {"fusion": "mean", "weight": chosen[ROUTED]["weight"]}),
                          (MIXED, "xqg-mixture", {"fusion": MIXTURE, "weight": chosen[MIXED]["weight"],
                                                  "own_weight": chosen[MIXED]["own_weight"]})):
        kw["roundtrip"] = kept[row]
        augment_per_language(dense_dir, embeddings, encoder, root / name, languages=list(routed), normalize=True, **kw)
        routers[row] = PerLanguageSearcher(root / name, qenc)

    # The ceiling: real questions in the generator's place, count-balanced, never the evaluated one.
    owner = {l: {q.qid: q.docid for q in bench.questions[l] if q.docid} for l in langs}
    counts = {key: len(qs) for key, qs in read_queries(queries).items()}
    questions = {l: (vectors["train"].qids[l] + vectors["test"].qids[l],
                     np.concatenate([vectors["train"].vectors[l], vectors["test"].vectors[l]])) for l in langs}
    # Its weight is chosen on TRAIN questions with the same two folds over TRAIN paragraphs (each half
    # searched against passages fused with the other half), never with the generated rows' weight:
    # real questions sit nearer the queries than generated ones, so their best weight differs.
    split_of = {d: p.split for d, p in bench.passages.items()}
    train_owner = {l: {q: d for q, d in qs.items() if split_of.get(d) == "train"} for l, qs in owner.items()}
    folds = {"train": oracle_folds(train_owner, counts, {d for d, s in split_of.items() if s == "train"}),  # no TEST question
             "test": oracle_folds(owner, counts, {d for d, s in split_of.items() if s == "test"})}
    oracle_weights = [w for w in grids.weights if w > 0]
    for split in ("train", "test"):  # TEST for the record only, as every sweep
        result.sweeps[f"oracle-{split}"] = oracle_sweep(base, docids, folds[split], questions, vectors[split],
                                                        qrels[split], oracle_weights)
    chosen[ORACLE] = {**choose(result.sweeps["oracle-train"], criterion),
                      "chosen_by": f"train {criterion}, two folds over TRAIN paragraphs' questions"}
    oracle_runs = balanced_oracle_runs(base, docids, folds["test"], questions, vectors["test"], chosen[ORACLE]["weight"], k)
    result.extra["oracle"] = {"weight": chosen[ORACLE]["weight"], **balance_summary(folds["test"], counts)}

    # The sparse twin.
    expanded = work / "collections" / "xquad-d2q" / "docs.jsonl"
    expand_corpus(corpus / "docs.jsonl", queries, expanded)
    bm25_d2q = bm25_searcher(ensure_bm25(expanded.parent, root / "bm25-d2q"))

    searchers = {"dense": dense_searcher(dense_dir, qenc), PAPER: dense_searcher(xqg_paper, qenc),
                 POOLED: dense_searcher(xqg_mean, qenc)}
    test = topics["test"]
    conditions = [Condition("BM25", {l: search(bm25, test[l], k) for l in langs}),
                  Condition("BM25+doc2query", {l: search(bm25_d2q, test[l], k) for l in langs})]
    conditions += [Condition(n, {l: search(s, test[l], k) for l in langs}) for n, s in searchers.items()]
    conditions += [Condition(n, {l: search(r.searcher(l), test[l], k) for l in langs}) for n, r in routers.items()]
    conditions += [Condition(ORACLE, oracle_runs)]
    hybrids = {"hybrid": HybridSearcher(searchers["dense"], bm25),
               "hybrid+xQG": HybridSearcher(searchers[POOLED], bm25),
               "hybrid+xQG+doc2query": HybridSearcher(searchers[POOLED], bm25_d2q)}
    conditions += [Condition(n, {l: search(s, test[l], k) for l in langs}) for n, s in hybrids.items()]
    result.tables = evaluate(conditions, bench)
    runs = {c.name: c.runs for c in conditions}
    for name in runs:
        if name != "dense":
            result.significance[name] = compare(runs["dense"], runs[name], qrels["test"])
    result.significance["hybrid+xQG vs hybrid"] = compare(runs["hybrid"], runs["hybrid+xQG"], qrels["test"])
    winner = best_variant(chosen, criterion)
    result.extra["chosen"] = chosen
    result.extra["best"] = {"criterion": f"train {criterion}", **headline(winner, result.tables, result.significance),
                            "ceiling": headline(ORACLE, result.tables, result.significance)}
    log(f"[study] main conditions done; best variant on train: {winner}")

    # Latency: the same query vectors against the original and the augmented index.
    all_vectors = np.concatenate([vectors["test"].vectors[l] for l in langs])
    ids = [f"{l}:{q}" for l in langs for q in vectors["test"].qids[l]]
    result.extra["latency_ms_per_query"] = {
        name: 1000 * timed(lambda s=s: s.batch_search(all_vectors, ids, k=k)) / len(ids)
        for name, s in (("dense", searchers["dense"]), (POOLED, searchers[POOLED]))}

    # Robustness: misspelled questions.
    noisy = {l: {q: misspell(t, noise_rate, seed=0) for q, t in test[l].items()} for l in langs}
    noisy_runs = {n: {l: search(searchers[n], noisy[l], k) for l in langs} for n in ("dense", POOLED)}
    result.extra["robustness"] = {
        "noise_rate": noise_rate, "seed": 0, "example": {l: [next(iter(test[l].values())), next(iter(noisy[l].values()))]
                                                         for l in langs[:3]},
        "tables": {n: evaluate([Condition(n, r)], bench)[n].rows["macro"] for n, r in noisy_runs.items()},
        "significance": compare(noisy_runs["dense"], noisy_runs[POOLED], qrels["test"])}

    # Transfer: no queries at all in the held-out languages; do the other languages' queries help them?
    seen = [l for l in embeddings.keys.langs if l not in held_out]
    without = augmented("xqg-without-held-out", select={"languages": seen}, fusion="mean", weight=best, normalize=True,
                        roundtrip=kept[POOLED])
    sub = {l: test[l] for l in held_out if l in test}
    transfer_runs = {"dense": {l: search(searchers["dense"], t, k) for l, t in sub.items()},
                     "dense+xQG (all languages)": {l: search(searchers[POOLED], t, k) for l, t in sub.items()},
                     "dense+xQG (held-out languages' queries removed)": {
                         l: search(dense_searcher(without, qenc), t, k) for l, t in sub.items()}}
    sub_qrels = {l: qrels["test"][l] for l in sub}
    result.extra["transfer"] = {
        "held_out": list(sub), "fused_languages": seen,
        "tables": {n: {l: row["nDCG@10"] for l, row in evaluate_languages(r, sub_qrels).rows.items()}
                   for n, r in transfer_runs.items()},
        "significance": {n: compare(transfer_runs["dense"], r, sub_qrels) for n, r in transfer_runs.items()
                         if n != "dense"}}
    result.extra.update(study_version=STUDY_VERSION, model=model, queries_file=str(queries),
                        generated_queries=plan.counts, grids={k: list(v) for k, v in vars(grids).items()},
                        questions={split: {l: len(t) for l, t in topics[split].items()} for split in topics})
    log("[study] done")
    return result
