"""``xqg eval`` (stage: evaluation)."""
from __future__ import annotations


def register(sub) -> None:
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
    p.set_defaults(func=run_eval)


def run_eval(args) -> None:
    from xqg_pyserini.data.benchmarks import Benchmark
    from xqg_pyserini.data.io import InputError
    from xqg_pyserini.data.trec import read_qrels, read_run, run_path
    from xqg_pyserini.evaluation.measures import LABELS, evaluate_languages, evaluate_run

    if args.run and args.qrels:
        for name, value in evaluate_run(read_run(args.run), read_qrels(args.qrels)).items():
            print(f"{LABELS.get(name, name):10s}{value:.4f}")
        return
    if not (args.benchmark and args.runs_dir and args.name):
        raise InputError(None, "give --run and --qrels, or --benchmark, --runs-dir and --name")
    bench = Benchmark.load(args.benchmark)
    run_of = {lang: run_path(args.runs_dir, args.name, lang) for lang in bench.languages}
    langs = [lang for lang, path in run_of.items() if path.exists()]
    if not langs:
        raise InputError(args.runs_dir, f"no run files {args.name}.<lang>.trec")
    table = evaluate_languages({l: read_run(run_of[l]) for l in langs},
                               {l: bench.qrels(l, args.split) for l in langs},
                               answers={l: bench.answers(l, args.split) for l in langs},
                               passages={d: p.text for d, p in bench.passages.items()})
    print(table.format())
    if args.json:
        table.to_json(args.json)
