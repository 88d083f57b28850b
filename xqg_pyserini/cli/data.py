"""``xqg prepare``: QA files into a benchmark directory (stage: data)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("prepare", help="turn XQuAD-style SQuAD files into a benchmark directory",
                       description="Read xquad.<lang>.json (or <lang>.json) files and write a Pyserini corpus, "
                                   "topics, qrels and answers per language.")
    p.add_argument("--data", default=None, help="directory of SQuAD files (default: ../shared/data/xquad)")
    p.add_argument("--languages", nargs="*", default=None, help="question languages (default: all non-English)")
    p.add_argument("--out", default="collections/xquad", help="benchmark directory to write")
    p.add_argument("--split-articles", action=argparse.BooleanOptionalAction, default=None,
                   help="mark XQuAD's articles 0-35 train (split.tsv) or not (everything test); default: only when "
                        "the data set is XQuAD (xquad.<lang>.json files, 48 articles)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an earlier benchmark directory")
    p.set_defaults(func=run_prepare)

    from xqg_pyserini.cli.options import language
    from xqg_pyserini.data.mkqa import MKQA_LANGUAGES

    p = sub.add_parser("mkqa", help="MKQA jsonl(.gz) into topics.<lang>.tsv and answers.<lang>.jsonl per language",
                       description="Topics in Pyserini's TSV format (id = example_id) for each of MKQA's 26 languages, "
                                   "and the answers that can occur in the corpus's language (--answer-language): each "
                                   "answer's text plus its aliases. Answers of type unanswerable and long_answer have "
                                   "no text and are skipped, and so are binary (yes/no) ones, as XOR-Retrieve skips "
                                   "yes/no; a question left without answers is dropped. Prints the questions kept per "
                                   "language. Score runs with: xqg eval --run RUN --answers answers.<lang>.jsonl "
                                   "--corpus CORPUS.")
    p.add_argument("file", help="MKQA jsonl or jsonl.gz (the official mkqa.jsonl.gz)")
    p.add_argument("--out", required=True, help="directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an earlier xqg mkqa output")
    p.add_argument("--languages", nargs="+", choices=MKQA_LANGUAGES, default=None, metavar="LANG",
                   help="MKQA codes (default: all 26)")
    p.add_argument("--answer-language", default="en", choices=MKQA_LANGUAGES, metavar="LANG",
                   help="the corpus's language: whose answers are matched (default: en)")
    p.set_defaults(func=run_mkqa)

    from xqg_pyserini.cli.options import fraction, option
    from xqg_pyserini.data.noise import misspell_topics

    p = sub.add_parser("misspell", help="misspelled queries: seeded typos in a share of the words of a topics file",
                       description="Each word is misspelled with probability --rate by one edit (two letters swapped, "
                                   "one dropped, inserted or replaced), using only letters of the word's own script "
                                   "from the same query; in Chinese, Japanese, Thai and Khmer each character counts "
                                   "as a word. The same seed gives the same output. Prints the share of words changed.")
    p.add_argument("topics", help="topics TSV: qid<TAB>query (e.g. topics.ja.tsv from xqg mkqa)")
    p.add_argument("--out", required=True, help="topics TSV to write (same qids)")
    option(p, "--rate", misspell_topics, type=fraction, help="share of words misspelled")
    option(p, "--seed", misspell_topics, type=int)
    p.set_defaults(func=run_misspell)


def run_prepare(args) -> None:
    from xqg_pyserini.data.benchmarks import load_squad_dir
    from xqg_pyserini.data.io import claim_output

    claim_output(args.out, "prepare", overwrite=args.overwrite, inputs=[args.data], legacy=("benchmark.json",))
    bench = load_squad_dir(args.data, args.languages, split_articles=args.split_articles)
    out = bench.save(args.out, overwrite=args.overwrite)
    train = sum(p.split == "train" for p in bench.passages.values())
    print(f"wrote {out}: {len(bench.passages)} passages ({train} train), languages {' '.join(bench.languages)}")


def run_mkqa(args) -> None:
    from xqg_pyserini.data.mkqa import prepare_mkqa

    summary = prepare_mkqa(args.file, args.out, args.languages, args.answer_language, overwrite=args.overwrite)
    kept = " ".join(f"{lang}={v['questions']}" for lang, v in summary["languages"].items())
    print(f"wrote {summary['out_dir']}: {summary['examples']} examples; questions kept per language: {kept}")


def run_misspell(args) -> None:
    from xqg_pyserini.data.noise import misspell_topics

    summary = misspell_topics(args.topics, args.out, args.rate, args.seed)
    print(f"wrote {summary['out']}: {summary['queries']} queries, {summary['changed']} of {summary['words']} words "
          f"misspelled ({summary['share']:.1%}, rate {args.rate}, seed {args.seed})")
