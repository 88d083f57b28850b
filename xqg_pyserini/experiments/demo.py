"""The demo, end to end: prepare a SQuAD-format data set (XQuAD by default), build indexes, generate
queries in its question languages, search every language, evaluate, write the tables.

:func:`run_demo` is what ``xqg demo`` (XQuAD), ``xqg run --data DIR`` (any SQuAD-format data set)
and ``make demo`` call; it returns a :class:`DemoResult`. Indexes are reused when their manifest
says they were built from the same corpus with the same encoder (``xqg_pyserini.index.ensure_*``),
and generated queries are cached by corpus content, generator and settings, so a second run only
searches and evaluates.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from xqg_pyserini.data.benchmarks import Benchmark, load_squad_dir
from xqg_pyserini.data.corpus import corpus_file
from xqg_pyserini.data.io import InputError, atomic_file, require_file, write_json
from xqg_pyserini.data.languages import check_languages
from xqg_pyserini.evaluation.measures import Table, evaluate_languages
from xqg_pyserini.index.faiss import ensure_faiss
from xqg_pyserini.index.lucene import ensure_bm25
from xqg_pyserini.models.cpu import cpu_label
from xqg_pyserini.search.config import SearchSettings


#: The demo's xQG fusion: mean of the query vectors, weight b, re-normalised (see docs/study.md).
XQG_WEIGHT = 0.3


@dataclass
class DemoResult:
    """The demo's tables (one per method) and seconds per stage."""

    tables: dict[str, Table] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def format(self) -> str:
        parts = [f"== {method} ==\n{table.format()}" for method, table in self.tables.items()]
        if self.tables:
            columns = next(iter(self.tables.values())).columns
            width = max(len(m) for m in self.tables) + 2
            head = "macro".ljust(width) + "".join(c.rjust(10) for c in columns)
            rows = [head] + [
                method.ljust(width) + "".join(_cell(t.rows["macro"].get(c), c).rjust(10) for c in columns)
                for method, t in self.tables.items()]
            parts.append("== macro average by method ==\n" + "\n".join(rows))
        return "\n\n".join(parts)


def _cell(value, column: str) -> str:
    return "-" if value is None else f"{value:.2f}" if column.endswith("kt") else f"{value:.4f}"


def _slug(model: str) -> str:
    return Path(model.rstrip("/")).name.replace("multilingual-", "")


def run_demo(data_dir: str | None = None, languages: list[str] | None = None, split: str = "test",
             model: str = "multilingual-e5-small", work: str | Path = ".", name: str | None = None,
             k: int = SearchSettings.k, xqg: bool = True, xqg_queries: str | Path | None = None,
             xqg_per_language: int = 1, xqg_fusion: str = "mean", xqg_weight: float = XQG_WEIGHT,
             generator: str = "xqg", split_articles: bool | None = None, log=print) -> DemoResult:
    """Prepare, index, search (BM25, dense, hybrid, and with ``xqg`` dense+xQG and hybrid+xQG) and evaluate.

    ``data_dir``: SQuAD-format files (default: XQuAD); outputs go to ``work``'s collections/,
    indexes/ and runs/ under ``name`` (default: the data directory's name). XQuAD's article split
    applies only to XQuAD unless ``split_articles`` says otherwise; other data sets are all ``test``.
    xQG queries come from ``xqg_queries`` if given, else from ``generator`` (default: ours),
    ``xqg_per_language`` per passage in each of the data set's question languages, cached outside git
    (keyed by corpus content, generator and settings) and resumed if interrupted.
    """
    if languages:
        check_languages(list(languages))
    if split not in ("train", "test", "all") or k < 1 or xqg_per_language < 1 or not 0 <= xqg_weight <= 1:
        raise InputError(None, "split must be train, test or all; k and xqg_per_language at least 1; "
                               "xqg_weight in [0, 1]")
    if xqg_queries:
        require_file(xqg_queries, "queries file")
    work = Path(work)
    name = name or (Path(data_dir).resolve().name if data_dir else "xquad")
    bench_dir, index_root, runs_dir = work / "collections" / name, work / "indexes" / name, work / "runs" / name
    result = DemoResult()
    clock = time.time()
    bench: Benchmark = load_squad_dir(data_dir, languages, split_articles=split_articles)
    asked = sum(len(bench.topics(l, split)) for l in bench.languages)
    train = sum(p.split == "train" for p in bench.passages.values())
    if not asked:
        raise InputError(data_dir, f"no questions of split {split!r} ({train} of {len(bench.passages)} passages are "
                                   "train: only XQuAD has an article split unless --split-articles asks for it)")
    if xqg and not xqg_queries:
        check_languages(bench.languages)  # the generator must know each question language, before any work
    bench.save(bench_dir)
    corpus = bench_dir / "corpus"
    log(f"[prepare] {len(bench.passages)} passages ({train} train), languages {' '.join(bench.languages)}, "
        f"split={split} ({asked} questions) -> {bench_dir}")
    result.seconds["prepare"] = time.time() - clock

    from xqg_pyserini.encode.adapters import XqgQueryEncoder
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.search.hybrid import GuardedHybridSearcher
    from xqg_pyserini.search.searchers import bm25_searcher, dense_searcher, run_path, search_to_file

    clock = time.time()
    bm25 = bm25_searcher(ensure_bm25(corpus, index_root / "bm25"))
    encoder = TransformerEncoder(model)
    dense_dir = ensure_faiss(corpus, encoder, index_root / _slug(model))
    query_encoder = XqgQueryEncoder(encoder)
    searchers = {"bm25": bm25, "dense": dense_searcher(dense_dir, query_encoder)}
    searchers["hybrid"] = GuardedHybridSearcher(searchers["dense"], bm25)
    if xqg:
        from xqg_pyserini.index.augment import augment_index

        if not xqg_queries:
            from xqg_pyserini.generation.runner import generate

            log(f"[generate] {xqg_per_language} per passage in {' '.join(bench.languages)} with {generator}")
            started = time.time()
            # dtype and threads from this machine (bf16 only where the CPU has AMX/AVX512-BF16)
            xqg_queries = generate(corpus_file(corpus), generator, bench.languages, n=xqg_per_language)["out"]
            result.seconds["generate"] = time.time() - started
            log(f"[generate] cached in {xqg_queries}")
        xqg_dir = index_root / f"{_slug(model)}.xqg"
        augment_index(dense_dir, xqg_queries, encoder, xqg_dir, fusion=xqg_fusion, weight=xqg_weight,
                      normalize=xqg_fusion == "mean")
        searchers["dense+xqg"] = dense_searcher(xqg_dir, query_encoder)
        searchers["hybrid+xqg"] = GuardedHybridSearcher(searchers["dense+xqg"], bm25)
    log(f"[index] bm25, {dense_dir.name}{' and its xQG augmentation' if xqg else ''} "
        f"({time.time() - clock:.0f}s)")
    result.seconds["index"] = time.time() - clock - result.seconds.get("generate", 0.0)  # generation counted apart

    passages = {d: p.text for d, p in bench.passages.items()}
    qrels = {lang: bench.qrels(lang, split) for lang in bench.languages}
    answers = {lang: bench.answers(lang, split) for lang in bench.languages}
    for method, searcher in searchers.items():
        clock = time.time()
        runs = {lang: search_to_file(searcher, bench.topics(lang, split), run_path(runs_dir, method, lang),
                                     tag=method, k=k) for lang in bench.languages}
        result.tables[method] = evaluate_languages(runs, qrels, answers=answers, passages=passages)
        result.seconds[method] = time.time() - clock
        macro = result.tables[method].rows["macro"]
        log(f"[search] {method}: macro nDCG@10 {macro['nDCG@10']:.4f}, R@1 {macro['R@1']:.4f} "
            f"({result.seconds[method]:.0f}s)")
    generated = {}
    if xqg:
        meta = Path(str(xqg_queries) + ".meta.json")
        generated = {"queries": str(xqg_queries), "per_language": xqg_per_language, "weight": xqg_weight,
                     **({k: v for k, v in json.loads(meta.read_text()).items() if k in ("settings", "machine", "summary")}
                        if meta.exists() else {})}
    write_json(runs_dir / "results.json", {
        "data": str(data_dir or "xquad"), "languages": bench.languages, "split": split, "train_passages": train,
        "model": model, "k": k, "seconds": result.seconds, "cpu": cpu_label(), "xqg": generated,
        "tables": {m: {"columns": t.columns, "rows": t.rows, "counts": t.counts} for m, t in result.tables.items()}})
    with atomic_file(runs_dir / "tables.txt") as f:
        f.write(result.format() + "\n")
    log(f"[tables] {runs_dir / 'tables.txt'} and {runs_dir / 'results.json'}")
    return result


#: Old names (``pipeline.run_benchmark`` was the demo); kept for one release.
run_benchmark, BenchmarkResult = run_demo, DemoResult
