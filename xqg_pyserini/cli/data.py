"""``xqg prepare``: QA files into a benchmark directory (stage: data)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("prepare", help="turn XQuAD-style SQuAD files into a benchmark directory",
                       description="Read xquad.<lang>.json (or <lang>.json) files and write a Pyserini corpus, "
                                   "topics, qrels and answers per language.")
    p.add_argument("--data", default=None, help="directory of SQuAD files (default: ../shared/data/xquad)")
    p.add_argument("--languages", nargs="*", default=None, help="question languages (default: all non-English)")
    p.add_argument("--out", default="collections/xquad", help="benchmark directory to write")
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


def run_prepare(args) -> None:
    from xqg_pyserini.data.benchmarks import load_squad_dir
    from xqg_pyserini.data.io import claim_output

    claim_output(args.out, "prepare", overwrite=args.overwrite, inputs=[args.data], legacy=("benchmark.json",))
    bench = load_squad_dir(args.data, args.languages)
    out = bench.save(args.out, overwrite=args.overwrite)
    print(f"wrote {out}: {len(bench.passages)} passages, languages {' '.join(bench.languages)}")


def run_mkqa(args) -> None:
    from xqg_pyserini.data.mkqa import prepare_mkqa

    summary = prepare_mkqa(args.file, args.out, args.languages, args.answer_language, overwrite=args.overwrite)
    kept = " ".join(f"{lang}={v['questions']}" for lang, v in summary["languages"].items())
    print(f"wrote {summary['out_dir']}: {summary['examples']} examples; questions kept per language: {kept}")
