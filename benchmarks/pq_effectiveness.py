"""What PQ compression costs in effectiveness on XQuAD, with and without xQG: flat against IVF-PQ indexes.

The same passage vectors (the dense index ``xqg demo`` builds, multilingual-e5-small) become, through the
package's own code paths:

  plain  the flat index itself, and ``index_from_embeddings(..., index_factory=F)`` for each F;
  xQG    ``augment_index(..., index_factory=F)`` with the demo's fusion (mean, b=0.3, normalised) and
         its cached generated questions, for Flat and for each F.

Every index is searched through Pyserini's FaissSearcher (``dense_searcher``) with the TEST questions of
all 11 question languages and scored by ``evaluate_languages``; the table gives macro nDCG@10 and R@1.

XQuAD has only 240 passages: the IVF part gets a handful of lists (nlist 4) and every list is searched
(nprobe 32 is capped at nlist), so the rows show PQ's effect, not IVF's. 8-bit PQ codes need 256
training vectors per sub-quantizer, more than there are passages, so the codes are 4-bit: PQ96x4 is
48 bytes a vector (the bytes of the paper-scale IVF4096,PQ48), PQ48x4 24 bytes, against 1,536 for flat.

    .venv/bin/python benchmarks/pq_effectiveness.py --index indexes/xquad/e5-small \\
        [--queries ~/.cache/xqg_pyserini/queries/xquad.*.jsonl] [--factories IVF4,PQ96x4 IVF4,PQ48x4] \\
        [--json docs/scale_pq.json]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xqg_pyserini.data.io import InputError  # noqa: E402

FUSION = {"fusion": "mean", "weight": 0.3, "normalize": True}  # the demo's (xqg_pyserini.experiments.demo)


def demo_queries() -> Path:
    """The demo's cached generated questions: the one xquad.*.jsonl in the cache whose generation finished."""
    from xqg_pyserini.data.io import cache_dir
    from xqg_pyserini.generation.queries import check_complete

    found = []
    for path in sorted(cache_dir("queries").glob("xquad.*.jsonl")):
        try:
            check_complete(path)
            found.append(path)
        except InputError:
            continue
    if len(found) != 1:
        raise InputError(cache_dir("queries"), f"{len(found)} finished xquad.*.jsonl files (run `xqg demo` first, "
                                               "or pass --queries)")
    return found[0]


def build(index: Path, queries: Path, encoder, factories: list[str], work: Path) -> dict[str, dict]:
    """Every index of the comparison: {name: {"dir", "bytes", "seconds"}}."""
    from xqg_pyserini.index.augment import augment_index
    from xqg_pyserini.index.encoded import index_from_embeddings

    built = {"Flat": {"dir": index, "xqg": False, "factory": "Flat", "seconds": None}}
    for factory in ["Flat", *factories]:
        if factory != "Flat":
            started = time.perf_counter()
            out = work / f"plain-{factory.replace(',', '_')}"
            index_from_embeddings(index, out, index_factory=factory)
            built[factory] = {"dir": out, "xqg": False, "factory": factory, "seconds": time.perf_counter() - started}
        started = time.perf_counter()
        out = work / f"xqg-{factory.replace(',', '_')}"
        augment_index(index, queries, encoder, out, index_factory=factory, **FUSION)
        built[f"{factory} + xQG"] = {"dir": out, "xqg": True, "factory": factory,
                                     "seconds": time.perf_counter() - started}
    for info in built.values():
        info["bytes"] = (Path(info["dir"]) / "index").stat().st_size
        info["code_bytes"] = code_size(Path(info["dir"]) / "index")
    return built


def code_size(path: Path) -> int:
    """Bytes that stand for one vector in the index (flat: the floats; IVF-PQ: the PQ code)."""
    import faiss

    index = faiss.read_index(str(path))
    ivf = faiss.try_extract_index_ivf(index)
    return int((ivf or index).code_size)


def evaluate(built: dict[str, dict], encoder, bench, split: str) -> None:
    """Search every index with every language's questions of ``split``; scores go into ``built``."""
    from xqg_pyserini.encode.adapters import XqgQueryEncoder
    from xqg_pyserini.evaluation.measures import evaluate_languages
    from xqg_pyserini.search.searchers import dense_searcher, search

    questions = XqgQueryEncoder(encoder)  # memoised: each question is encoded once for all indexes
    qrels = {lang: bench.qrels(lang, split) for lang in bench.languages}
    for info in built.values():
        searcher = dense_searcher(info["dir"], questions)
        runs = {lang: search(searcher, bench.topics(lang, split)) for lang in bench.languages}
        table = evaluate_languages(runs, qrels)
        info["macro"] = {c: table.rows["macro"][c] for c in ("nDCG@10", "R@1", "R@10")}
        info["per_language"] = {lang: {c: table.rows[lang][c] for c in ("nDCG@10", "R@1")} for lang in bench.languages}
        info["questions"] = sum(len(q) for q in qrels.values())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", required=True, help="the flat dense index of the XQuAD passages (xqg demo's "
                                                  "indexes/xquad/e5-small)")
    p.add_argument("--queries", default=None, help="generated questions (default: the demo's cached xquad.*.jsonl)")
    p.add_argument("--data", default=None, help="XQuAD's SQuAD files (default: the shared data directory)")
    p.add_argument("--model", default="multilingual-e5-small", help="the index's encoder")
    p.add_argument("--factories", nargs="+", default=["IVF4,PQ96x4", "IVF4,PQ48x4"], help="FAISS index kinds to compare")
    p.add_argument("--split", default="test", choices=["test", "train", "all"])
    p.add_argument("--json", default=None, help="record the results in this JSON file (key: 'xquad')")
    args = p.parse_args(argv)

    from xqg_pyserini._jvm import prepare_jvm

    prepare_jvm()
    from xqg_pyserini.data.benchmarks import load_squad_dir
    from xqg_pyserini.encode.encoders import TransformerEncoder

    queries = Path(args.queries) if args.queries else demo_queries()
    bench = load_squad_dir(args.data)
    encoder = TransformerEncoder(args.model, show_progress=False)
    work = Path(tempfile.mkdtemp(prefix="xqg-pq-bench-"))
    try:
        built = build(Path(args.index), queries, encoder, args.factories, work)
        evaluate(built, encoder, bench, args.split)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from xqg_pyserini.models.cpu import cpu_label

    print(f"\nXQuAD, {len(bench.passages)} English passages, {built['Flat']['questions']} {args.split.upper()} "
          f"questions in {len(bench.languages)} languages; {args.model}; xQG: {queries.name}, fusion mean b=0.3, "
          f"normalised; CPU: {cpu_label()}\n")
    head = f"{'index':<22} | {'code bytes':>10} | {'nDCG@10':>7} | {'R@1':>6} | {'R@10':>6}"
    print(head + "\n" + "-" * len(head))
    for name, info in built.items():
        print(f"{name:<22} | {info['code_bytes']:10d} | {info['macro']['nDCG@10']:7.4f} | "
              f"{info['macro']['R@1']:6.4f} | {info['macro']['R@10']:6.4f}")
    if args.json:
        from scale_report import provenance, record

        record(args.json, "xquad", {
            **provenance(argv), "passages": len(bench.passages), "languages": bench.languages, "split": args.split,
            "model": args.model, "queries": queries.name, "fusion": FUSION,
            "indexes": {name: {k: v for k, v in info.items() if k != "dir"} for name, info in built.items()}})


if __name__ == "__main__":
    main()
