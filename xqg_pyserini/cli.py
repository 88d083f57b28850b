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


# Stage subcommands register here (keep one _add_<name> function per subcommand).
COMMANDS = [_add_prepare]


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
