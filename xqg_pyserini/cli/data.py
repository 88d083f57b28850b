"""``xqg prepare``: QA files into a benchmark directory (stage: data)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("prepare", help="turn XQuAD-style SQuAD files into a benchmark directory",
                       description="Read xquad.<lang>.json (or <lang>.json) files and write a Pyserini corpus, "
                                   "topics, qrels and answers per language.")
    p.add_argument("--data", default=None, help="directory of SQuAD files (default: ../shared/data/xquad)")
    p.add_argument("--languages", nargs="*", default=None, help="question languages (default: all non-English)")
    p.add_argument("--out", default="collections/xquad", help="benchmark directory to write")
    p.set_defaults(func=run_prepare)


def run_prepare(args) -> None:
    from xqg_pyserini.data.benchmarks import load_squad_dir

    bench = load_squad_dir(args.data, args.languages)
    out = bench.save(args.out)
    print(f"wrote {out}: {len(bench.passages)} passages, languages {' '.join(bench.languages)}")
