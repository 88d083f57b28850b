"""Off-the-shelf against fine-tuned retrievers on the XQuAD TEST articles, each with and without xQG.

For every system: a FAISS index of the 240 English passages (reused when its manifest matches),
a run per language of the test-article questions (runs/xquad-retriever/<system>.<lang>.trec), the
usual measures per language and macro-averaged, and paired tests per query on nDCG@10 (t-test, as
the study; and a randomization test) against a reference system. The macro test pools the queries
of all languages ((lang, qid) pairs). Writes <runs>/results.json and replaces the block between
the RESULTS:<block> markers of docs/retriever.md.

    .venv/bin/python benchmarks/retriever_table.py \
        --model fine-tuned=$HOME/.cache/xqg_pyserini/models/xqg-e5-small-xquad \
        [--model fine-tuned+KD=...] [--compare fine-tuned+KD:fine-tuned] \
        [--queries $HOME/.cache/xqg_pyserini/queries/FILE.jsonl --fusion mean --weight 0.3 --normalize]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ir_measures import nDCG

from xqg_pyserini.data import Benchmark, load_squad_dir
from xqg_pyserini.evaluation import evaluate_languages, paired_randomization_test, paired_test, per_query
from xqg_pyserini.io import atomic_file, write_json

BASELINE = "e5-small"
SHOWN = ["nDCG@10", "R@1", "MRR@10", "R@10", "R@2kt", "R@5kt"]


def system_runs(name: str, model: str, args, bench: Benchmark) -> dict[str, dict]:
    """{system: {lang: run}} for the model alone and, with --queries, with xQG."""
    from xqg_pyserini.encoders import TransformerEncoder, XqgQueryEncoder
    from xqg_pyserini.pipeline import ensure_faiss
    from xqg_pyserini.search import dense_searcher, run_path, search_to_file

    encoder = TransformerEncoder(model, show_progress=False)
    slug = Path(model.rstrip("/")).name.replace("multilingual-", "")  # as the demo names its index: e5-small
    index = ensure_faiss(Path(args.benchmark) / "corpus", encoder, Path(args.indexes) / slug)
    indexes = {name: index}
    if args.queries:
        from xqg_pyserini.augmentation import augment_index

        xqg = Path(args.indexes) / f"{slug}.xqg-{args.fusion}-{args.weight}{'-norm' if args.normalize else ''}"
        augment_index(index, args.queries, encoder, xqg, fusion=args.fusion, weight=args.weight,
                      normalize=args.normalize, on_unknown_docid="skip")
        indexes[f"{name}+xQG"] = xqg
    query_encoder = XqgQueryEncoder(encoder)
    out = {}
    for system, index_dir in indexes.items():
        searcher = dense_searcher(index_dir, query_encoder)
        started = time.time()
        out[system] = {lang: search_to_file(searcher, bench.topics(lang, "test"), run_path(args.runs, system, lang),
                                            tag=system.replace(" ", "_"), k=100) for lang in bench.languages}
        print(f"[{system}] searched in {time.time() - started:.0f}s", file=sys.stderr)
    return out


def significance(runs: dict, bench: Benchmark, system: str, reference: str) -> dict:
    """Per language and pooled: mean nDCG@10 difference, t-test p, randomization p."""
    scores = {s: {lang: per_query(runs[s][lang], bench.qrels(lang, "test"), [nDCG @ 10])["nDCG@10"]
                  for lang in bench.languages} for s in (system, reference)}
    out = {}
    for lang in bench.languages:
        delta, p_t = paired_test(scores[system][lang], scores[reference][lang])
        _, p_r = paired_randomization_test(scores[system][lang], scores[reference][lang])
        out[lang] = {"delta": delta, "p_t": p_t, "p_rand": p_r}
    pooled = {s: {f"{lang}/{q}": v for lang in bench.languages for q, v in scores[s][lang].items()}
              for s in (system, reference)}
    delta, p_t = paired_test(pooled[system], pooled[reference])
    _, p_r = paired_randomization_test(pooled[system], pooled[reference])
    out["all"] = {"delta": delta, "p_t": p_t, "p_rand": p_r}
    return out


def markdown(tables: dict, tests: dict, bench: Benchmark, command: str) -> str:
    systems = list(tables)
    head = "| lang | " + " | ".join(systems) + " |\n|---|" + "---:|" * len(systems) + "\n"
    marks = {s: (tests.get((s, BASELINE)) or {}) for s in systems}

    def cell(system: str, row: str) -> str:
        value = tables[system].rows[row]["nDCG@10"]
        test = marks[system].get("all" if row == "macro" else row)
        return f"{value:.4f}" + ("*" if test and test["p_t"] < 0.05 else "")

    rows = [f"| {row} | " + " | ".join(cell(s, row) for s in systems) + " |" for row in [*bench.languages, "macro"]]
    lines = [f"nDCG@10 on the XQuAD test articles (36-47; {sum(len(bench.topics(l, 'test')) for l in bench.languages)} "
             f"questions in {len(bench.languages)} languages against 240 English passages). "
             f"`*`: p < 0.05, paired t-test per query on nDCG@10 against `{BASELINE}` "
             "(macro row: all languages' queries pooled).", "", head + "\n".join(rows), "",
             "Macro averages over the languages:", "",
             "| system | " + " | ".join(SHOWN) + " |\n|---|" + "---:|" * len(SHOWN)]
    for s in systems:
        macro = tables[s].rows["macro"]
        lines.append(f"| {s} | " + " | ".join("-" if macro.get(c) is None else
                                              f"{macro[c]:.2f}" if c.endswith("kt") else f"{macro[c]:.4f}"
                                              for c in SHOWN) + " |")
    lines += ["", "Paired tests on nDCG@10 (Δ = mean difference; t = paired t-test p; rand = randomization test p, "
              "10,000 sign flips):", "", "| comparison | " + " | ".join([*bench.languages, "all"]) + " |",
              "|---|" + "---|" * (len(bench.languages) + 1)]
    for (a, b), test in tests.items():
        lines.append(f"| {a} vs {b} | " + " | ".join(
            f"{test[k]['delta']:+.3f} (t {test[k]['p_t']:.3f}, rand {test[k]['p_rand']:.3f})"
            for k in [*bench.languages, "all"]) + " |")
    lines += ["", "Made by:", "", "```sh", command, "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="NAME=DIR of a fine-tuned checkpoint")
    parser.add_argument("--compare", action="append", default=[], help="A:B, an extra paired comparison")
    parser.add_argument("--queries", help="generated queries (JSONL) for the +xQG systems")
    parser.add_argument("--fusion", default="mean", choices=["sum", "mean"])
    parser.add_argument("--weight", type=float, default=0.3)
    parser.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--data", default=None, help="XQuAD directory (default: ../shared/data/xquad)")
    parser.add_argument("--benchmark", default="collections/xquad", help="prepared benchmark whose corpus/ is indexed")
    parser.add_argument("--indexes", default="indexes/xquad")
    parser.add_argument("--runs", default="runs/xquad-retriever")
    parser.add_argument("--docs", default="docs/retriever.md")
    parser.add_argument("--block", default="main", help="which RESULTS block of --docs to replace")
    args = parser.parse_args(argv)
    # Questions, qrels and (English) answers straight from the source files: a prepared directory may
    # predate data.py's switch to English answers for R@kt. Its corpus must hold the same passages.
    bench = load_squad_dir(args.data)
    args.queries = str(Path(args.queries).expanduser()) if args.queries else None
    if set(Benchmark.load(args.benchmark).passages) != set(bench.passages):
        raise SystemExit(f"{args.benchmark}: corpus differs from the XQuAD files; run `xqg prepare` again")
    models = {BASELINE: "multilingual-e5-small", **dict(m.split("=", 1) for m in args.model)}
    runs: dict[str, dict] = {}
    for name, model in models.items():
        runs.update(system_runs(name, model, args, bench))
    passages = {d: p.text for d, p in bench.passages.items()}
    tables = {s: evaluate_languages(r, {l: bench.qrels(l, "test") for l in r},
                                    answers={l: bench.answers(l, "test") for l in r}, passages=passages)
              for s, r in runs.items()}
    pairs = [(s, BASELINE) for s in runs if s != BASELINE]
    pairs += [(s, s[:-len("+xQG")]) for s in runs if s.endswith("+xQG") and s != f"{BASELINE}+xQG"]
    pairs += [tuple(c.split(":", 1)) for c in args.compare]
    tests = {(a, b): significance(runs, bench, a, b) for a, b in dict.fromkeys(pairs)}
    command = ".venv/bin/python benchmarks/retriever_table.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(tables, tests, bench, command)
    print(text)
    write_json(Path(args.runs) / "results.json", {
        "models": models, "queries": args.queries, "fusion": args.fusion, "weight": args.weight,
        "normalize": args.normalize, "tables": {s: {"rows": t.rows, "counts": t.counts} for s, t in tables.items()},
        "tests": {f"{a} vs {b}": t for (a, b), t in tests.items()}})
    doc = Path(args.docs)
    start, end = f"<!-- RESULTS:{args.block}:START (benchmarks/retriever_table.py) -->", f"<!-- RESULTS:{args.block}:END -->"
    if doc.exists() and start in doc.read_text() and end in doc.read_text():
        before, rest = doc.read_text().split(start, 1)
        with atomic_file(doc) as out:
            out.write(before + start + "\n" + text + "\n" + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    main()
