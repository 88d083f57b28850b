"""``xqg demo``, ``xqg study``, ``xqg report`` (stage: experiments)."""
from __future__ import annotations

import sys

from xqg_pyserini.cli.options import allow_incomplete_option, fraction, language, option, positive_int


def register(sub) -> None:
    from xqg_pyserini.experiments.demo import run_demo
    from xqg_pyserini.experiments.study import run_study

    p = sub.add_parser("demo", help="the main job: XQuAD, 11 languages, BM25 / dense / hybrid (/ + xQG), tables",
                       description="Prepares XQuAD, builds the BM25 and multilingual-e5-small indexes, searches "
                                   "every language's questions, and prints per-language tables with the macro "
                                   "average. Run files and results.json go to runs/xquad/.")
    p.add_argument("--data", default=None, help="XQuAD directory (default: ../shared/data/xquad)")
    p.add_argument("--languages", nargs="*", default=None)
    option(p, "--split", run_demo, choices=["train", "test", "all"],
           help="which articles' questions to ask (test = articles 36-47)")
    option(p, "--encoder", run_demo, "model", dest="encoder", help="dense retriever checkpoint")
    option(p, "--k", run_demo, type=positive_int, help="hits per query")
    p.add_argument("--xqg-queries", default=None,
                   help="generated queries (JSONL) for the dense+xQG rows (default: generate them with our generator, "
                        "cached outside git)")
    p.add_argument("--no-xqg", dest="xqg", action="store_false", help="only BM25, dense and hybrid")
    option(p, "--xqg-per-language", run_demo, type=positive_int, help="generated questions per passage and language")
    option(p, "--xqg-weight", run_demo, type=fraction, help="fusion weight b of the mean fusion")
    option(p, "--work", run_demo, help="where collections/, indexes/ and runs/ are")
    p.set_defaults(func=run_demo_command)

    p = sub.add_parser("study", help="the xQG study on XQuAD TEST questions; writes docs/study.md",
                       description="All conditions (BM25, doc2query, dense, dense+xQG pooled and per language, "
                                   "oracle xQG, hybrids), significance against dense, weight and queries-per-language "
                                   "sweeps (plot), latency, misspelled questions, held-out languages. Needs "
                                   "`xqg demo` (or prepare + index) to have run in --work.")
    p.add_argument("--queries", required=True, help="generated queries (JSONL) for the XQuAD corpus")
    option(p, "--encoder", run_study, "model", dest="encoder", help="dense retriever checkpoint")
    option(p, "--work", run_study, help="where collections/ and indexes/ are")
    p.add_argument("--docs", default="docs", help="where study.md, study.json and figures/ are written")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier study's files in --docs "
                                                            "(other files there are never touched)")
    allow_incomplete_option(p)
    option(p, "--noise-rate", run_study, type=fraction, help="share of characters misspelled (robustness)")
    option(p, "--held-out", run_study, nargs="*", type=language, help="languages whose generated queries are removed (transfer)")
    p.set_defaults(func=run_study_command)

    p = sub.add_parser("report", help="render docs/reproduction.md from the results files of earlier commands")
    p.add_argument("--docs", default="docs")
    p.add_argument("--runs", default="runs/xquad")
    p.set_defaults(func=run_report)


def run_demo_command(args) -> None:
    from xqg_pyserini.experiments.demo import run_demo

    result = run_demo(args.data, args.languages, args.split, args.encoder, args.work, k=args.k, xqg=args.xqg,
                      xqg_queries=args.xqg_queries, xqg_per_language=args.xqg_per_language, xqg_weight=args.xqg_weight)
    print()
    print(result.format())


def run_study_command(args) -> None:
    from xqg_pyserini.experiments.report import claim_study_outputs, write_study_report
    from xqg_pyserini.experiments.study import run_study
    from xqg_pyserini.generation.queries import check_complete

    from xqg_pyserini.data.io import require_file

    check_complete(require_file(args.queries, "queries file"), args.allow_incomplete)  # all before the hours of work
    claim_study_outputs(args.docs, args.overwrite)
    result = run_study(args.queries, args.work, args.encoder, noise_rate=args.noise_rate, held_out=args.held_out)
    command = "xqg study " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["study"] else "xqg study --queries ..."
    print(f"wrote {write_study_report(result.to_json(), args.docs, command, args.overwrite)}")


def run_report(args) -> None:
    from xqg_pyserini.experiments.report import write_reproduction

    print(f"wrote {write_reproduction(args.docs, args.runs)}")
