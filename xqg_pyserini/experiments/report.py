"""Markdown reports written from measured results (never typed by hand); docs/study.md is :mod:`.study_report`.

Every table here is rendered from a result object or a results JSON that a command produced; the
command is printed above the table, in the manner of Pyserini's reproduction pages.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from xqg_pyserini.data.io import InputError, atomic_file, write_json

MEASURES = ["nDCG@10", "R@1", "R@10", "MRR@10"]


def _fmt(value, column: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if column.endswith("kt") else f"{value:.4f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _p(p: float | None) -> str:
    return "-" if p is None else ("<0.0001" if p < 1e-4 else f"{p:.4f}")


def by_measure(s: dict) -> dict[str, dict]:
    """A comparison's tests by measure: study v2 stores ``{measure: paired_report}``; a report written
    before (one nDCG@10 ``paired_report``) reads as ``{"nDCG@10": it}``."""
    return {"nDCG@10": s} if "diff" in s else s


def _p_by_id(s: dict, key: str = "p") -> str:
    """The by-question-id p-value of a comparison (results written before it existed show "-")."""
    return _p(s.get("by_id", {}).get(key))


def macro_table(tables: dict, significance: dict | None = None, measures: Sequence[str] | None = None) -> str:
    """One row per method: macro averages, plus each tested measure's difference to dense and its
    p-values (pooled over languages, and by question id); ``measures``: those tested (default: all)."""
    columns = next(iter(tables.values()))["columns"]
    header = ["method", *columns]
    if significance is not None:
        tested = [m for s in significance.values() for m in by_measure(s)]
        measures = list(measures or dict.fromkeys(tested))
        for m in measures:
            header += [f"Δ {m} vs dense", "p pooled", "p by id"]
    rows = []
    for name, t in tables.items():
        row = [name, *(_fmt(t["rows"]["macro"].get(c), c) for c in columns)]
        if significance is not None:
            tests = by_measure(significance.get(name) or {})
            for m in measures:
                s = tests.get(m)
                row += [f"{s['diff']:+.4f}", _p(s["p"]), _p_by_id(s)] if s else ["", "", ""]
        rows.append(row)
    return markdown_table(header, rows)


def significance_table(significance: dict, measure: str = "nDCG@10") -> str:
    """Each comparison on ``measure``, tested pooled over (language, question) and by question id,
    t-test and randomization."""
    tested = {n: by_measure(s)[measure] for n, s in significance.items() if measure in by_measure(s)}
    return markdown_table(
        ["comparison", f"Δ {measure}", "p pooled (t)", "p pooled (rand.)", "questions", "p by id (t)",
         "p by id (rand.)", "ids"],
        [[n, f"{s['diff']:+.4f}", _p(s["p"]), _p(s.get("p_randomization")), s["queries"], _p_by_id(s),
          _p_by_id(s, "p_randomization"), s.get("by_id", {}).get("ids", "-")] for n, s in tested.items()])


def per_language_table(tables: dict, measure: str, methods: Sequence[str] | None = None) -> str:
    methods = list(methods or tables)
    langs = [l for l in next(iter(tables.values()))["rows"] if l != "macro"] + ["macro"]
    return markdown_table(["lang", *methods], [[l, *(_fmt(tables[m]["rows"][l].get(measure), measure) for m in methods)]
                                               for l in langs])


def load(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_reproduction(docs: str | Path = "docs", runs: str | Path = "runs/xquad") -> Path:
    """docs/reproduction.md: every table with the one command that produces it, rendered from the
    results those commands wrote (runs/xquad/results.json, docs/study.json, docs/retriever.json)."""
    docs, runs = Path(docs), Path(runs)
    for path in (docs, runs):
        if path.exists() and not path.is_dir():
            raise InputError(path, "not a directory")
    parts = ["# Reproduction",
             "Rendered by `xqg report` from the results files the commands below write; do not edit by hand. "
             "Machine: 2 CPU cores, no GPU. Data: `../shared/data` (XQuAD, XOR-TyDi)."]
    demo = runs / "results.json"
    if demo.exists():
        d = load(demo)
        tables = d["tables"]
        parts += ["## The demo: BM25, dense, hybrid (+ xQG)",
                  "```\nmake demo          # = xqg demo (split: " + d["split"] + ")\n```",
                  f"Encoder `{d['model']}`, depth {d['k']}. Seconds per stage: "
                  + ", ".join(f"{k} {v:.0f}" for k, v in d["seconds"].items()) + ".",
                  macro_table(tables), "nDCG@10 per language:", per_language_table(tables, "nDCG@10")]
    study = docs / "study.json"
    if study.exists():
        s = load(study)
        parts += ["## The xQG study", "```\nxqg study --queries " + s["queries_file"] + "\n```",
                  "Full tables, significance, sweeps, robustness and transfer: [study.md](study.md).",
                  macro_table(s["tables"], s["significance"])]
    retriever = docs / "retriever.json"
    if retriever.exists():
        r = load(retriever)
        parts += ["## The trained retriever", "```\n" + r.get("command", "xqg train-retriever") + "\n```",
                  "See [retriever.md](retriever.md)."]
        if "tables" in r:
            parts.append(macro_table(r["tables"], r.get("significance")))
    parts += ["## Other measurements",
              "- Hybrid weight: `.venv/bin/python benchmarks/hybrid_alpha.py` (TRAIN questions).",
              "- Augmentation memory and throughput: `.venv/bin/python benchmarks/augmentation_memory.py` "
              "([augmentation.md](augmentation.md)).",
              "- Generation speed and quality: [generation.md](generation.md).",
              "- The trained retriever against the off-the-shelf one, with and without xQG: "
              "`.venv/bin/python benchmarks/retriever_table.py` ([retriever.md](retriever.md)).",
              "- Generated queries as index augmentation, as retriever training data, or both (epochs and "
              "weights chosen on held-out TRAIN articles): `.venv/bin/python benchmarks/retriever_xqg.py` "
              "([retriever.md](retriever.md)).",
              "- Why study v1's (uncapped) oracle row was below dense: "
              "`.venv/bin/python benchmarks/oracle_diagnostic.py` "
              "([study-notes.md](study-notes.md)).",
              "- Beyond one machine (IVF-PQ builds in bounded memory, encoding and generation on Ray, PQ on "
              "XQuAD, the 18M-passage estimate): `benchmarks/index_factory_memory.py`, "
              "`benchmarks/distributed_speed.py`, `benchmarks/pq_effectiveness.py` with `--json`, then "
              "`benchmarks/scale_report.py` ([scale.md](scale.md))."]
    out = docs / "reproduction.md"
    with atomic_file(out) as f:
        f.write("\n\n".join(parts) + "\n")
    return out


#: Stored comparisons of generated files (generation_quality.py results with why and how they were
#: generated), rendered one section per pattern.
COMPARISONS = (("generation_vocabulary_language*.json", "A head per language: `--vocabulary language`"),
               ("generation_distil*.json", "The contrast distilled into the adapter: `train-generator --init "
                                           "--generated-queries`"))


def _training_summary(meta: dict, default: bool) -> list[str]:
    """One shipped generator: what it is, the command that trained it, its log summary and loss curve."""
    parts = [f"### `{meta.get('id')}`{' (the default, `xqg`)' if default else ''}", "",
             f"{meta.get('base')} + LoRA r={meta['config'].get('lora_r')} on "
             f"{', '.join(meta['config'].get('lora_targets', []))}, trained with "
             f"`{' '.join(meta.get('command', ['xqg', 'train-generator']))}`. {meta.get('command_note', '')}", "",
             markdown_table(["pairs seen", "training pairs", "epochs", "passages", "steps", "minutes", "CPU", "threads",
                             "first loss", "final loss (mean of last 20 steps)", "kept vocabulary"],
                            [[meta.get("pairs_seen"), meta.get("training_pairs"), meta.get("epochs_seen"),
                              meta.get("passages"), meta.get("steps"), meta.get("train_minutes"), meta.get("cpu"),
                              meta.get("threads"), meta.get("first_loss"), meta.get("final_loss_mean20"),
                              meta.get("vocabulary")]]), ""]
    if meta.get("language_retries"):
        parts += [f"Decodes with `language_retries: {meta['language_retries']}`: {meta.get('language_retries_note', '')}", ""]
    if meta.get("loss_curve"):
        parts += ["Loss curve (mean per window of steps):", "",
                  markdown_table(["steps", "loss"], [[w["steps"], w["loss"]] for w in meta["loss_curve"]]), ""]
    return parts


def write_generation_report(docs: str | Path = "docs", generator_dirs: Sequence[str | Path] | None = None) -> Path:
    """docs/generation-results.md from the stored measurements: the shipped generators' training
    summaries (their generator.json, the default first), generation speed per CPU
    (generation_speed.json) and query quality (generation_quality.json and the comparisons)."""
    docs = Path(docs)
    if generator_dirs is None:
        from xqg_pyserini.generation.loading import SHIPPED, shipped_generator_dir

        generator_dirs = [shipped_generator_dir(folder) for folder, _ in SHIPPED.values()]
    parts = ["# Generator results", "",
             "Rendered by `xqg report` from the shipped generators' `generator.json` (`xqg_pyserini/resources/`), "
             "`docs/generation_speed.json`, `docs/generation_contrast_train.json`, `docs/generation_quality.json` and "
             "`docs/generation_vocabulary_language*.json`, `docs/generation_distil*.json`; "
             "do not edit by hand.", "", "## The shipped generators", ""]
    for number, generator_dir in enumerate(generator_dirs):
        parts += _training_summary(load(Path(generator_dir) / "generator.json"), default=number == 0)
    vocab_path = docs / "generation_vocabulary.json"
    if vocab_path.exists():
        v = load(vocab_path)
        keys = ["token_coverage", "question_coverage", "token_coverage_with_passage", "question_coverage_with_passage"]
        parts += ["## Trimmed vocabulary", "", f"`{v['command']}`: {v['kept']:,} of {v['vocabulary']:,} ids kept; "
                  f"coverage of the XQuAD {v['split'].upper()} questions (never used to build it), alone and with "
                  "the tokens of the question's passage added as at generation time. An id outside the set is "
                  "spelled with smaller pieces, not lost.", "",
                  markdown_table(["lang", "tokens kept", "questions fully kept", "tokens kept (+ passage)",
                                  "questions fully kept (+ passage)"],
                                 [[lang] + [f"{r[k]:.3f}" for k in keys] for lang, r in v["rows"].items()]), ""]
    speed_path = docs / "generation_speed.json"
    if speed_path.exists():
        parts += ["## Speed", "", "`.venv/bin/python benchmarks/generation_speed.py --json docs/generation_speed.json` "
                  "(nothing else heavy running; ratios against the fastest plain `generate` row of the same run):", ""]
        for cpu, run in load(speed_path).items():
            plain = [r for name, r in run["results"].items() if name.startswith("plain")]
            base = max(plain, key=lambda r: r["questions_per_s"]) if plain else None  # the fastest plain dtype
            rows = [[name, r.get("generator") or f"{run.get('generator')} (as named then)", r["dtype"], r.get("contrast", 0.0),
                     r.get("language_retries", 0), f"{r['questions_per_s']:.2f}", r["seconds"],
                     f"{r['questions_per_s'] / base['questions_per_s']:.1f}x" if base else "-"]
                    for name, r in run["results"].items()]
            parts += [f"**{cpu}**, {run['threads']} threads, {run['passages']} TEST passages x "
                      f"{len(run['languages'])} languages x n={run['n']} ({run['date']}):", "",
                      markdown_table(["path", "generator", "dtype", "contrast", "language retries", "questions/s",
                                      "seconds", "vs plain"], rows), ""]
    contrast_path = docs / "generation_contrast_train.json"
    if contrast_path.exists():
        parts += ["## The contrast weight, chosen on TRAIN passages", ""]
        parts += _generated_and_scored(load(contrast_path), "passages", files=False)
    quality_path = docs / "generation_quality.json"
    if quality_path.exists():
        stored = load(quality_path)
        parts += ["## Quality", "", f"`{stored.get('command', 'benchmarks/generation_quality.py')}`: language share / "
                  "self-retrieval@1 (multilingual-e5-small among all 240 passages) / distinct, per language.", ""]
        parts += _quality_and_files(stored)
    for pattern, heading in COMPARISONS:
        runs = sorted(docs.glob(pattern))
        if runs:
            parts += [f"## {heading}", ""]
        for path in runs:
            stored = load(path)
            parts += _generated_and_scored(stored, f"{stored.get('split', 'test').upper()} passages")
    out = docs / "generation-results.md"
    with atomic_file(out) as handle:
        handle.write("\n".join(parts))
    return out


def _generated_and_scored(stored: dict, passages: str, files: bool = True) -> list[str]:
    """A stored comparison of generated files: why, how they were generated and scored, the table."""
    from xqg_pyserini.evaluation.query_quality import markdown_table as quality_table

    parts = [f"{stored.get('note') or stored.get('why', '')} Generated with "
             f"`{'`, `'.join(stored.get('generate_commands', []))}`; scored with `{stored['command']}` "
             f"({stored['passages']} {passages}; language share / self-retrieval@1 / distinct):", ""]
    return parts + (_quality_and_files(stored) if files else [quality_table(stored["tables"]), ""])


def _quality_and_files(stored: dict) -> list[str]:
    """A stored generation_quality.py result: its table, then how each scored file was made."""
    from xqg_pyserini.evaluation.query_quality import markdown_table as quality_table

    parts = [quality_table(stored.get("tables", stored)), ""]
    files = {name: f for name, f in stored.get("files", {}).items() if f}
    if files:
        parts += ["How each generated file was made (its `.meta.json`):", "",
                  markdown_table(["file", "generator", "n", "languages", "passages", "questions", "seconds",
                                  "questions/s", "CPU", "dtype", "threads", "sampling"],
                                 [[name, f.get("generator"), f.get("n"), f.get("languages"), f.get("passages_in_shard"),
                                   f.get("queries_written"), f.get("seconds"), f.get("queries_per_second"),
                                   f.get("cpu"), f.get("dtype"), f.get("threads"),
                                   ", ".join(f"{k}={v}" for k, v in (f.get("sampling") or {}).items()
                                             if k in ("top_k", "temperature", "max_new_tokens", "seed", "contrast",
                                                      "language_retries"))]
                                  for name, f in files.items()]), ""]
    return parts


def record_demo_time(path: Path, results: dict) -> None:
    """Keep, per CPU kind, the time of the last demo that generated its questions (a cached run says
    nothing about generation speed, so it does not replace one that generated)."""
    seconds = results.get("seconds", {})
    if "generate" not in seconds:
        return
    times = load(path) if path.exists() else {}
    x = results.get("xqg") or {}
    times[results.get("cpu", "unknown CPU")] = {
        "minutes": round(sum(seconds.values()) / 60, 2), "generate_seconds": round(seconds["generate"], 1),
        "queries_per_second": (x.get("summary") or {}).get("queries_per_second"),
        "dtype": (x.get("machine") or {}).get("dtype"), "generator": (x.get("settings") or {}).get("generator"),
        "contrast": ((x.get("settings") or {}).get("sampling") or {}).get("contrast", 0.0)}
    write_json(path, times)


README_BEGIN, README_END = "<!-- results:begin -->", "<!-- results:end -->"


def write_readme_results(readme: str | Path = "README.md", docs: str | Path = "docs",
                         runs: str | Path = "runs/xquad") -> Path:
    """README's demo block, rendered from the demo's results: ``runs/xquad/results.json`` is copied
    to ``docs/demo.json`` (runs/ is not in git) and the block between the results markers rewritten."""
    readme, stored, fresh = Path(readme), Path(docs) / "demo.json", Path(runs) / "results.json"
    times = Path(docs) / "demo_times.json"
    if fresh.exists():
        if stored.exists():  # the run it replaces may be the only one of its CPU kind
            record_demo_time(times, load(stored))
        write_json(stored, load(fresh))
    if stored.exists():
        record_demo_time(times, load(stored))
    if not stored.exists() or not readme.exists():
        return readme
    d = load(stored)
    text = readme.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        raise InputError(readme, f"no {README_BEGIN} ... {README_END} block to render into")
    tables = d["tables"]
    count = next(iter(tables.values()))["counts"]
    parts = [f"Rendered by `xqg report` from `docs/demo.json` (the last `make demo`, copied from "
             f"`runs/xquad/results.json`). Questions of the XQuAD {d['split'].upper()} articles in "
             f"{len([l for l in count if l != 'macro'])} languages against all English paragraphs, macro average "
             "over the languages (per-language tables: [docs/reproduction.md](docs/reproduction.md)). R@2kt/R@5kt: "
             "the official XOR-Retrieve definition with the English answers.", "", macro_table(tables), ""]
    x = d.get("xqg") or {}
    if x:
        machine, summary, settings = x.get("machine", {}), x.get("summary", {}), x.get("settings", {})
        parts += [f"xQG here: {x['per_language']} question(s) per passage in each of the "
                  f"{len(settings.get('languages', []))} languages from the shipped generator "
                  f"`{settings.get('generator', '?')}`"
                  + (f" (contrast {settings['sampling']['contrast']})" if (settings.get("sampling") or {}).get("contrast")
                     else "") + ", fused as `(1-b)*e_p + b*mean(e_q)` re-normalised, "
                  f"b = {x.get('weight')}. Generation: {summary.get('queries_written', '?')} questions in "
                  f"{summary.get('seconds', '?')} s ({summary.get('queries_per_second', '?')} questions/s, "
                  f"{machine.get('dtype', '?')}, {machine.get('threads', '?')} threads, {machine.get('cpu', '?')}).", ""]
    total = sum(d["seconds"].values())
    parts += [f"Time of that run on {d.get('cpu', 'this machine')}: {total / 60:.1f} min in all ("
              + ", ".join(f"{k} {v:.0f} s" for k, v in d["seconds"].items()) + "). The two models are built once per machine by `make venv` (`xqg models`, about 3 minutes), "
              "not counted here; the generated questions are cached outside git, so later runs reuse them; "
              "`xqg demo --no-xqg` skips xQG.", ""]
    if times.exists():
        parts += ["The last demo with generation on each CPU kind (`docs/demo_times.json`; stages summed, "
                  "without the process start):", "", "| CPU | minutes | generation | questions/s | dtype | contrast |",
                  "|---|---|---|---|---|---|"]
        parts += [f"| {cpu} | {t['minutes']:.1f} | {t['generate_seconds']:.0f} s | {t['queries_per_second']} | {t['dtype']} "
                  f"| {t.get('contrast', 0.0)} |"
                  for cpu, t in sorted(load(times).items())]
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    with atomic_file(readme) as handle:
        handle.write(head + README_BEGIN + "\n" + "\n".join(parts) + "\n" + README_END + tail)
    return readme
