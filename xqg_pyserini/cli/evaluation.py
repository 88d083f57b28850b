"""``xqg eval`` (stage: evaluation)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("eval", help="score run files with ir_measures (and R@2kt/R@5kt from answers)",
                       description="One run against qrels (--run, --qrels); runs scored by their answers (--run, --answers, "
                                   "--corpus: R@2kt, R@5kt and Acc@1/5/20/100, a hit when an answer or alias is a "
                                   "substring of one of the first k passages); or a method's run per language of a "
                                   "benchmark (--benchmark, --runs-dir, --name) as a table with the macro average.")
    p.add_argument("--run", nargs="+", help="TREC run file(s)")
    p.add_argument("--qrels")
    p.add_argument("--answers", nargs="+", help="answers.<lang>.jsonl (xqg mkqa, xqg prepare) or XOR-Retrieve "
                                                "jsonl: answer-based scores of --run over --corpus")
    p.add_argument("--corpus", help="JsonCollection the runs retrieve from (streamed; only retrieved passages kept)")
    p.add_argument("--case-insensitive", action="store_true", help="Acc@k ignores case (R@kt stays official)")
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

    if args.run and args.answers:
        import json

        from xqg_pyserini.evaluation.answers import evaluate_answers, format_answer_table

        if not args.corpus:
            raise InputError(None, "--answers needs --corpus (the passages the runs retrieved)")
        result = evaluate_answers(args.run, args.answers, args.corpus, case_sensitive=not args.case_insensitive)
        print(format_answer_table(result))
        if args.json:
            from xqg_pyserini.data.io import write_json

            write_json(args.json, json.loads(json.dumps(result)))
        return
    if args.run and args.qrels:
        if len(args.run) != 1:
            raise InputError(None, "--qrels scores one --run")
        for name, value in evaluate_run(read_run(args.run[0]), read_qrels(args.qrels)).items():
            print(f"{LABELS.get(name, name):10s}{value:.4f}")
        return
    if not (args.benchmark and args.runs_dir and args.name):
        raise InputError(None, "give --run and --qrels, --run, --answers and --corpus, or --benchmark, --runs-dir and --name")
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
