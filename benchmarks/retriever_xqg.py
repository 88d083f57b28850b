"""Generated queries as index augmentation, as retriever training data, or both: the TEST table.

Rows: e5-small, e5-small+xQG, FT, FT+xQG, FT-gen (trained on real + generated pairs), FT-gen+xQG;
per language and macro nDCG@10 and R@1 with paired tests against FT (per language, pooled, by
question id). Each +xQG weight is chosen on the validation questions (held-out TRAIN articles), the
models' epochs too (train-retriever --validation); TEST questions choose nothing. Writes
--out (JSON), runs under --runs, and the RESULTS:xqg block of docs/retriever.md.

    .venv/bin/python benchmarks/retriever_xqg.py --queries QUERIES.jsonl \
        --validation ~/.cache/xqg_pyserini/training/xquad-train.dense.validation \
        --ft ~/.cache/xqg_pyserini/models/xqg-e5-small-xquad-ep \
        --ft-gen ~/.cache/xqg_pyserini/models/xqg-e5-small-xquad-gen
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xqg_pyserini.data import Benchmark, load_squad_dir
from xqg_pyserini.data.io import atomic_file, write_json
from xqg_pyserini.experiments.retriever_xqg import render, run_rows
from xqg_pyserini.experiments.variants import Grids


def replace_block(doc: Path, block: str, text: str) -> bool:
    """Put ``text`` between the RESULTS:<block> markers of ``doc``; False when the markers are missing."""
    start, end = f"<!-- RESULTS:{block}:START (benchmarks/retriever_xqg.py) -->", f"<!-- RESULTS:{block}:END -->"
    if not doc.exists() or start not in doc.read_text() or end not in doc.read_text():
        return False
    before, rest = doc.read_text().split(start, 1)
    with atomic_file(doc) as out:
        out.write(before + start + "\n" + text + "\n" + end + rest.split(end, 1)[1])
    return True


def main(argv: list[str] | None = None) -> None:
    from xqg_pyserini.cli import quiet_libraries

    quiet_libraries()  # our progress, not the libraries' loading bars
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", required=True, help="generated queries (JSONL) for the +xQG rows")
    parser.add_argument("--validation", required=True,
                        help="validation directory from build-training-data --holdout-articles (chooses the weights)")
    parser.add_argument("--ft", required=True, help="retriever fine-tuned on real TRAIN questions")
    parser.add_argument("--ft-gen", default=None, help="retriever fine-tuned on real + generated pairs")
    parser.add_argument("--e5", default="multilingual-e5-small", help="the off-the-shelf model")
    parser.add_argument("--weights", type=float, nargs="+", default=list(Grids().weights),
                        help="mean-fusion weights swept on the validation questions")
    parser.add_argument("--data", default=None, help="XQuAD directory (default: ../shared/data/xquad)")
    parser.add_argument("--benchmark", default="collections/xquad", help="prepared benchmark whose corpus/ is indexed")
    parser.add_argument("--indexes", default="indexes/xquad")
    parser.add_argument("--runs", default="runs/xquad-retriever-xqg")
    parser.add_argument("--out", default="docs/retriever_xqg.json")
    parser.add_argument("--docs", default="docs/retriever.md")
    parser.add_argument("--block", default="xqg", help="which RESULTS block of --docs to replace")
    args = parser.parse_args(argv)
    # TEST questions and English answers straight from the source files (as retriever_table.py); the
    # prepared directory's corpus is what is indexed and must hold the same passages.
    bench = load_squad_dir(args.data)
    if set(Benchmark.load(args.benchmark).passages) != set(bench.passages):
        raise SystemExit(f"{args.benchmark}: corpus differs from the XQuAD files; run `xqg prepare` again")
    models = {"e5-small": args.e5, "FT": str(Path(args.ft).expanduser())}
    if args.ft_gen:
        models["FT-gen"] = str(Path(args.ft_gen).expanduser())
    result = run_rows(Path(args.queries).expanduser(), models, bench, Path(args.benchmark) / "corpus",
                      Path(args.validation).expanduser(), args.indexes, args.runs, Grids(weights=tuple(args.weights)),
                      log=lambda m: print(m, file=sys.stderr))
    command = ".venv/bin/python benchmarks/retriever_xqg.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(result, command)
    print(text)
    write_json(args.out, {**result, "command": command})
    if not replace_block(Path(args.docs), args.block, text):
        print(f"{args.docs}: no RESULTS:{args.block} block; the table is in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
