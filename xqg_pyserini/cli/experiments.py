"""``xqg demo``, ``xqg run``, ``xqg study``, ``xqg report`` (stage: experiments)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xqg_pyserini.cli.options import allow_incomplete_option, fraction, language, option, positive_int


def register(sub) -> None:
    from xqg_pyserini.experiments.demo import run_demo
    from xqg_pyserini.experiments.study import run_study

    p = sub.add_parser("demo", help="the main job: XQuAD, 11 languages, BM25 / dense / hybrid (/ + xQG), tables",
                       description="Prepares XQuAD, builds the BM25 and multilingual-e5-small indexes, searches "
                                   "every language's questions, and prints per-language tables with the macro "
                                   "average. Run files, results.json and tables.txt go to runs/xquad/. For another "
                                   "data set use: xqg run --data DIR.")
    p.add_argument("--data", default=None, help="XQuAD directory (default: ../shared/data/xquad)")
    _pipeline_options(p, run_demo)

    p = sub.add_parser("run", help="the whole pipeline on any SQuAD-format QA data set, with one command",
                       description="Prepare, index (BM25 and dense), generate queries in the data set's question "
                                   "languages, augment, search, evaluate, and write the tables (runs/<name>/"
                                   "results.json and tables.txt). DIR holds one SQuAD file per language "
                                   "(<lang>.json or xquad.<lang>.json) whose question ids match the English file's. "
                                   "Split rule: XQuAD (files xquad.<lang>.json, 48 articles) keeps its article "
                                   "split (articles 0-35 train, 36-47 test); every other data set is all test, "
                                   "unless --split-articles asks for XQuAD's split. Generated queries are cached by "
                                   "corpus content, generator and settings, so data sets never share them.")
    p.add_argument("--data", required=True, metavar="DIR", help="directory of SQuAD-format files, one per language")
    _pipeline_options(p, run_demo)

    p = sub.add_parser("study", help="the xQG study on XQuAD TEST questions; writes docs/study.md",
                       description="All conditions (BM25, doc2query, dense, dense+xQG pooled, per language and "
                                   "mixed, oracle xQG, hybrids), every knob chosen on TRAIN questions, significance "
                                   "against dense on nDCG@10 and R@1, sweeps (plot), latency, misspelled questions, "
                                   "held-out languages. Needs `xqg demo` (or prepare + index) to have run in --work.")
    p.add_argument("--queries", required=True, help="generated queries (JSONL) for the XQuAD corpus")
    option(p, "--encoder", run_study, "model", dest="encoder", help="dense retriever checkpoint")
    option(p, "--work", run_study, help="where collections/ and indexes/ are")
    p.add_argument("--docs", default="docs", help="where study.md, study.json and figures/ are written")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier study's files in --docs "
                                                            "(other files there are never touched)")
    allow_incomplete_option(p)
    option(p, "--select-by", run_study, "criterion", dest="select_by", choices=["nDCG@10", "R@1"],
           help="the TRAIN measure that chooses every knob and the best variant")
    option(p, "--noise-rate", run_study, type=fraction, help="share of words misspelled (robustness; xqg misspell)")
    option(p, "--held-out", run_study, nargs="*", type=language, help="languages whose generated queries are removed (transfer)")
    p.set_defaults(func=run_study_command)

    p = sub.add_parser("report", help="render docs/study.md (from docs/study.json), docs/reproduction.md and "
                                      "docs/generation-results.md from the results files of earlier commands")
    p.add_argument("--docs", default="docs")
    p.add_argument("--runs", default="runs/xquad")
    p.set_defaults(func=run_report)

    from xqg_pyserini.cli.search import searcher_options
    from xqg_pyserini.experiments.robustness import run_robustness

    p = sub.add_parser("robustness", help="clean vs misspelled questions of a benchmark: a table per language "
                                          "with paired significance",
                       description="Misspells a share of the words of every question (as xqg misspell), searches the "
                                   "clean and the misspelled questions with the same index(es), and prints, per "
                                   "language and pooled, the measure on both, the difference and the p-value of a "
                                   "paired randomization test. --benchmark: a directory of topics.<lang>.tsv with "
                                   "answers.<lang>.jsonl (xqg mkqa; give --corpus) and/or qrels.<lang>.txt, or one from "
                                   "xqg prepare. A question that retrieves nothing counts as a miss.")
    p.add_argument("--benchmark", required=True, help="benchmark directory (xqg mkqa, xqg prepare)")
    p.add_argument("--corpus", help="JsonCollection the index was built from (answer measures; default: the "
                                    "benchmark's corpus/)")
    p.add_argument("--output-dir", required=True, help="where runs <name>[-misspelled].<lang>.trec, the misspelled "
                                                       "topics and robustness.json go")
    p.add_argument("--languages", nargs="+", default=None, help="languages of the benchmark (default: all)")
    option(p, "--rate", run_robustness, type=fraction, help="share of words misspelled")
    option(p, "--seed", run_robustness, type=int)
    option(p, "--split", run_robustness, choices=["train", "test", "all"], help="questions of this split (xqg prepare)")
    p.add_argument("--measure", default=None, help="R@2kt, R@5kt, Acc@K or an ir_measures name such as nDCG@10 "
                                                  "(default: nDCG@10 with qrels, else R@5kt)")
    p.add_argument("--name", default=None, help="method name for the run files (default: bm25, dense or hybrid)")
    searcher_options(p)
    p.set_defaults(func=run_robustness_command)


def _pipeline_options(p, run_demo) -> None:
    """The options ``xqg demo`` and ``xqg run`` share (they differ only in --data)."""
    p.add_argument("--languages", nargs="*", default=None, help="question languages (default: every file's)")
    option(p, "--name", run_demo, help="name under collections/, indexes/ and runs/ (default: the data directory's "
                                       "name; xquad for the default data)")
    option(p, "--split", run_demo, choices=["train", "test", "all"],
           help="which passages' questions to ask (XQuAD test = articles 36-47; other data sets are all test)")
    p.add_argument("--split-articles", action=argparse.BooleanOptionalAction, default=None,
                   help="apply XQuAD's article split (articles 0-35 train) or not (everything test); "
                        "default: only when the data set is XQuAD (xquad.<lang>.json files, 48 articles)")
    option(p, "--encoder", run_demo, "model", dest="encoder", help="dense retriever checkpoint")
    option(p, "--k", run_demo, type=positive_int, help="hits per query")
    p.add_argument("--xqg-queries", default=None,
                   help="generated queries (JSONL) for the dense+xQG rows (default: generate them with --generator, "
                        "cached outside git)")
    option(p, "--generator", run_demo, help="query generator: xqg (ours), a directory, or precomputed:FILE")
    p.add_argument("--no-xqg", dest="xqg", action="store_false", help="only BM25, dense and hybrid")
    option(p, "--xqg-per-language", run_demo, type=positive_int, help="generated questions per passage and language")
    option(p, "--xqg-weight", run_demo, type=fraction, help="fusion weight b of the mean fusion")
    option(p, "--work", run_demo, help="where collections/, indexes/ and runs/ are")
    p.set_defaults(func=run_demo_command)


def run_demo_command(args) -> None:
    from xqg_pyserini.experiments.demo import run_demo

    result = run_demo(args.data, args.languages, args.split, args.encoder, args.work, name=args.name, k=args.k,
                      xqg=args.xqg, xqg_queries=args.xqg_queries, xqg_per_language=args.xqg_per_language,
                      xqg_weight=args.xqg_weight, generator=args.generator, split_articles=args.split_articles)
    print()
    print(result.format())


def run_study_command(args) -> None:
    from xqg_pyserini.experiments.study import run_study
    from xqg_pyserini.experiments.study_report import claim_study_outputs, write_study_report
    from xqg_pyserini.generation.queries import check_complete

    from xqg_pyserini.data.io import require_file

    check_complete(require_file(args.queries, "queries file"), args.allow_incomplete)  # all before the hours of work
    claim_study_outputs(args.docs, args.overwrite)
    result = run_study(args.queries, args.work, args.encoder, criterion=args.select_by, noise_rate=args.noise_rate,
                       held_out=args.held_out)
    command = "xqg study " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["study"] else "xqg study --queries ..."
    print(f"wrote {write_study_report(result.to_json(), args.docs, command, args.overwrite)}")


def run_report(args) -> None:
    from xqg_pyserini.experiments.report import write_generation_report, write_readme_results, write_reproduction

    from xqg_pyserini.experiments.study_report import render_stored_study

    study = render_stored_study(args.docs)
    if study:
        print(f"wrote {study}")
    elif (Path(args.docs) / "study.json").exists():
        print(f"{args.docs}/study.json: written by an earlier version of xqg study; study.md left as it is (run "
              "xqg study again)")
    print(f"wrote {write_reproduction(args.docs, args.runs)}")
    print(f"wrote {write_generation_report(args.docs)}")
    print(f"wrote {write_readme_results('README.md', args.docs, args.runs)}")


def run_robustness_command(args) -> None:
    from xqg_pyserini.cli.search import check_indexes, make_searcher
    from xqg_pyserini.experiments.robustness import check_inputs, format_robustness, run_robustness
    from xqg_pyserini.search.config import HybridSettings

    check_indexes(args)
    check_inputs(args.benchmark, args.languages, args.split, args.corpus, args.measure)  # before the JVM starts
    searcher, method = make_searcher(args)
    result = run_robustness(args.benchmark, searcher, args.output_dir, args.rate, args.seed, args.languages,
                            args.split, args.corpus, args.measure, args.k, args.name or method,
                            HybridSettings(alpha=args.alpha))
    print(format_robustness(result))
    print(f"wrote {args.output_dir}/robustness.json")
