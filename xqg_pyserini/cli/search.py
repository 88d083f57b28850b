"""``xqg search`` and ``xqg fuse`` (stage: search)."""
from __future__ import annotations

from xqg_pyserini.cli.options import encoder_options, fraction, option, positive_int


def register(sub) -> None:
    from xqg_pyserini.search.fusion import reciprocal_rank_fusion

    p = sub.add_parser("search", help="batch search into TREC run files (BM25, dense, or their hybrid)",
                       description="Give --bm25 for BM25, --dense for dense retrieval, both for the hybrid "
                                   "(Pyserini's interpolation, guarded). Topics: one TSV (--topics, --output) or a "
                                   "benchmark's languages (--benchmark, --output-dir: one run per language).")
    searcher_options(p)
    p.add_argument("--topics", help="TSV file: qid<TAB>question")
    p.add_argument("--output", help="run file for --topics")
    p.add_argument("--benchmark", help="benchmark directory from `xqg prepare`")
    p.add_argument("--languages", nargs="*", default=None, help="languages of the benchmark (default: all)")
    p.add_argument("--split", default="test", choices=["train", "test", "all"])
    p.add_argument("--output-dir", help="runs directory for --benchmark (files <name>.<lang>.trec)")
    p.add_argument("--name", default=None, help="method name for run files and the run tag")
    p.add_argument("--overwrite", action="store_true", help="replace existing run files (TREC runs only; any other "
                                                            "file in the way is refused, never deleted)")
    p.set_defaults(func=run_search)

    p = sub.add_parser("fuse", help="reciprocal-rank fusion of TREC run files (pyserini.fusion)")
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--output", required=True)
    option(p, "--rrf-k", reciprocal_rank_fusion, type=positive_int, help="RRF's k")
    option(p, "--k", reciprocal_rank_fusion, type=positive_int, help="hits kept per query")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it is an existing TREC run")
    p.set_defaults(func=run_fuse)


def searcher_options(p) -> None:
    """--bm25, --dense (both: the hybrid), --k, --alpha and the dense encoder's options."""
    from xqg_pyserini.search.config import HybridSettings, SearchSettings

    p.add_argument("--bm25", help="Lucene index directory")
    p.add_argument("--dense", help="FAISS index directory")
    option(p, "--k", SearchSettings, type=positive_int)
    option(p, "--alpha", HybridSettings, type=fraction)
    encoder_options(p)


def check_indexes(args) -> None:
    """The indexes of :func:`searcher_options` exist (checked before the JVM starts or a model loads)."""
    from xqg_pyserini.data.io import InputError, require_file

    if not (args.bm25 or args.dense):
        raise InputError(None, "give --bm25, --dense, or both")
    for index in (args.bm25, args.dense and f"{args.dense}/index"):
        if index:
            require_file(index, "index")


def make_searcher(args):
    """(searcher, method name): BM25, dense, or Pyserini's guarded hybrid of both."""
    from xqg_pyserini.search.hybrid import GuardedHybridSearcher
    from xqg_pyserini.search.searchers import bm25_searcher, dense_searcher

    from xqg_pyserini.cli.options import make_encoder

    sparse = bm25_searcher(args.bm25) if args.bm25 else None
    dense = dense_searcher(args.dense, make_encoder(args)) if args.dense else None
    searcher = GuardedHybridSearcher(dense, sparse) if sparse and dense else (dense or sparse)
    return searcher, "hybrid" if sparse and dense else "dense" if dense else "bm25"


def run_search(args) -> None:
    from xqg_pyserini.data.benchmarks import Benchmark
    from xqg_pyserini.data.io import InputError
    from xqg_pyserini.data.trec import read_topics
    from xqg_pyserini.search.config import HybridSettings

    check_indexes(args)
    if args.topics:
        if not args.output:
            raise InputError(None, "--topics needs --output")
        jobs = [(read_topics(args.topics), args.output)]
    elif args.benchmark and args.output_dir:
        bench = Benchmark.load(args.benchmark)
        unknown = [lang for lang in args.languages or [] if lang not in bench.languages]
        if unknown:
            raise InputError(args.benchmark, f"no questions in language(s) {' '.join(unknown)} "
                                             f"(the benchmark has {' '.join(bench.languages)})")
        jobs = [(bench.topics(lang, args.split), lang) for lang in args.languages or bench.languages]
    else:
        raise InputError(None, "give --topics and --output, or --benchmark and --output-dir")
    from xqg_pyserini.data.io import claim_output
    from xqg_pyserini.data.trec import is_run_file, run_path

    name = args.name or ("hybrid" if args.bm25 and args.dense else "dense" if args.dense else "bm25")
    outputs = [target if args.topics else run_path(args.output_dir, name, target) for _, target in jobs]
    for out in outputs:  # every run file may be written (or replaced) before a searcher is started
        claim_output(out, "search", overwrite=args.overwrite, directory=False, recognise=is_run_file,
                     inputs=[args.topics, args.bm25, args.dense, args.benchmark])
    # Inputs are checked: now the JVM and the model.
    from xqg_pyserini.search.searchers import search_to_file

    searcher, _ = make_searcher(args)
    hybrid = HybridSettings(alpha=args.alpha)
    for (topics, _), out in zip(jobs, outputs):
        search_to_file(searcher, topics, out, name, args.k, hybrid=hybrid)
        print(f"wrote {out}")


def run_fuse(args) -> None:
    from xqg_pyserini.data.io import claim_output
    from xqg_pyserini.data.trec import is_run_file
    from xqg_pyserini.search.fusion import reciprocal_rank_fusion

    claim_output(args.output, "fuse", overwrite=args.overwrite, directory=False, recognise=is_run_file,
                 inputs=args.runs)
    reciprocal_rank_fusion(args.runs, args.output, rrf_k=args.rrf_k, k=args.k)
    print(f"wrote {args.output}")
