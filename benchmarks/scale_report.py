"""The measured part of docs/scale.md, rendered from the benchmarks' JSON outputs (no figure typed by hand).

The benchmarks record their runs (``--json``) in docs/scale_*.json:

  docs/scale_index_factory.json  benchmarks/index_factory_memory.py, one entry per passage count
  docs/scale_distributed.json    benchmarks/distributed_speed.py
  docs/scale_pq.json             benchmarks/pq_effectiveness.py

This script turns them into markdown tables and the 18M-passage estimate (its arithmetic written out
with the measured rates it uses) and writes them between the RESULTS:scale markers of docs/scale.md.

    .venv/bin/python benchmarks/scale_report.py [--docs docs/scale.md] [--print]
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xqg_pyserini.data.io import InputError, atomic_file, write_json  # noqa: E402

START, END = "<!-- RESULTS:scale:START (benchmarks/scale_report.py) -->", "<!-- RESULTS:scale:END -->"
FILES = {"factory": "scale_index_factory.json", "distributed": "scale_distributed.json", "pq": "scale_pq.json"}

# The paper's corpus (docs/scale.md): passages, target languages, questions per passage and language.
PASSAGES, LANGUAGES, PER_LANGUAGE = 18_000_000, 7, 5
QUESTIONS = PASSAGES * LANGUAGES * PER_LANGUAGE


def provenance(argv: list[str] | None = None) -> dict:
    """What every recorded run carries: the CPU, the command, the date, the library versions."""
    import faiss
    import numpy as np

    from xqg_pyserini.models.cpu import cpu_label

    script = Path(sys.argv[0]).resolve()
    where = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    command = " ".join([".venv/bin/python", str(where), *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    return {"cpu": cpu_label(), "command": command, "date": datetime.date.today().isoformat(),
            "python": platform.python_version(), "numpy": np.__version__, "faiss": faiss.__version__}


def record(path: str | Path, key: str, entry: dict) -> None:
    """Store ``entry`` under ``key`` in the JSON object at ``path`` (other keys kept; written atomically)."""
    path = Path(path)
    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InputError(path, f"not JSON ({err.msg} at line {err.lineno}); move it away first") from None
    data[key] = entry
    write_json(path, data)


def load(docs: Path) -> dict:
    """The recorded runs, by kind; a missing file is an empty kind."""
    out = {}
    for kind, name in FILES.items():
        path = docs / name
        try:
            out[kind] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except json.JSONDecodeError as err:
            raise InputError(path, f"not JSON ({err.msg})", err.lineno) from None
    return out


def _source(runs: list[dict]) -> str:
    """The CPU(s) and commands behind a table, as a markdown list."""
    lines = [f"- `{r['command']}` ({r['cpu']}, {r['date']})" for r in runs]
    return "Made by, on:\n\n" + "\n".join(dict.fromkeys(lines))


def factory_table(runs: dict) -> str:
    rows = sorted(runs.values(), key=lambda r: r["n"])
    out = ["| passages | index | train rows | stream peak RSS | in-memory peak RSS | in-memory / stream "
           "| over imports: stream / in-memory | stream s (sample, train, add) | in-memory s | stream vectors/s "
           "| byte-identical | recall@10 via FaissSearcher |", "|" + "---|" * 12]
    for r in rows:
        s, m = r["stream"], r["memory"]
        phases = ", ".join(f"{s['phases'].get(k, 0):.1f}" for k in ("sample", "train", "add"))
        out.append(f"| {r['n']:,} | {r['factory']}, {r['search_params']} | {r['train_size']:,} | {s['peak_mb']:,.0f} MiB "
                   f"| {m['peak_mb']:,.0f} MiB | {m['peak_mb'] / s['peak_mb']:.2f}x "
                   f"| {s['peak_mb'] - s['baseline_mb']:,.0f} / {m['peak_mb'] - m['baseline_mb']:,.0f} MiB "
                   f"| {s['seconds']:.0f} ({phases}) | {m['seconds']:.0f} | {r['n'] / s['seconds']:,.0f} "
                   f"| {'yes' if r['byte_identical'] else 'NO'} | {r['recall_at_10']:.3f} |")
    first = rows[0]
    return ("\n".join(out) + f"\n\nSynthetic vectors ({first['dim']} dims, unit length, around {first['clusters']} "
            f"random centres; about one generated question per passage, embedded by a random stand-in encoder), "
            f"fused (mean, b=0.3, normalised) and built into the index. RSS includes Python, numpy, faiss and the "
            f"JVM that importing the package starts; faiss ran {first['faiss_threads']} threads. Recall@10: "
            f"{first['probes']} perturbed augmented vectors as queries, against exact inner-product search over "
            f"the same vectors.\n\n" + _source(rows))


def _mode(row: dict, cores: int) -> str:
    if not row["workers"]:
        return f"one process, {cores} threads"
    return f"Ray, {row['workers']} worker{'s' if row['workers'] > 1 else ''} x {cores // row['workers']} thread" + \
        ("s" if cores // row["workers"] > 1 else "")


def distributed_table(run: dict) -> str:
    out = ["| stage | mode | items | seconds | per second | cluster start s | peak PSS (process tree) "
           "| largest process RSS |", "|" + "---|" * 8]
    for r in run["rows"]:
        start = "" if r["startup_seconds"] is None else f"{r['startup_seconds']:.1f}"
        out.append(f"| {r['stage']} | {_mode(r, run['cores'])} | {r['items']:,} {r['unit']} | {r['seconds']:.1f} "
                   f"| {r['items'] / r['seconds']:.2f} | {start} | {r['peak_pss_mib']:,} MiB "
                   f"| {r['peak_process_rss_mib']:,} MiB |")
    same = run["same_lines_as_one_process"]
    return ("\n".join(out) + f"\n\nXQuAD's English passages: encoding {run['encode_passages']} "
            f"({run['encode_copies']} x {run['passages']}, multilingual-e5-small, float32); generation for the first "
            f"{run['gen_passages']} passages, {run['n']} questions in each of {len(run['languages'])} languages "
            f"({' '.join(run['languages'])}; the paper's shape, 7 x 5) with the shipped generator in float32; embed-q: "
            f"those questions x {run['query_copies']}. torch {run['torch']}, Ray {run['ray']}. Ray generation "
            f"wrote the same lines as one process: 1 worker {_yes(same['1'])}, 2 workers {_yes(same['2'])}.\n\n"
            + _source([run]))


def _yes(value: bool) -> str:
    return "yes" if value else "no (float32 sums in another thread count round differently; see the text)"


def pq_table(run: dict) -> str:
    out = ["| index | code bytes per passage | macro nDCG@10 | macro R@1 | macro R@10 |", "|---|---|---|---|---|"]
    for name, r in run["indexes"].items():
        m = r["macro"]
        out.append(f"| {name} | {r['code_bytes']:,} | {m['nDCG@10']:.4f} | {m['R@1']:.4f} | {m['R@10']:.4f} |")
    flat = run["indexes"]["Flat"]
    return ("\n".join(out) + f"\n\nXQuAD: {run['passages']} English passages, {flat['questions']:,} "
            f"{run['split'].upper()} questions in {len(run['languages'])} languages, {run['model']}; xQG: the demo's "
            f"generated questions ({run['queries']}), fusion mean b={run['fusion']['weight']}, normalised. With "
            f"{run['passages']} passages the IVF part has 4 lists, all of them searched (nprobe 32 is capped at "
            f"nlist): the rows show PQ's loss, not IVF's. The PQ codebooks are trained on the {run['passages']} "
            f"vectors themselves, with 4-bit codes (16 centroids per sub-vector: 8-bit codes need at least 256 "
            f"training vectors); at the paper's scale IVF4096,PQ48 has 8-bit codes trained on 163,840 vectors, so "
            f"these losses are a pessimistic bound, not a prediction.\n\n" + _source([run]))


def _rate(run: dict, stage: str, workers: int = 0) -> float:
    row = next(r for r in run["rows"] if r["stage"] == stage and r["workers"] == workers)
    return row["items"] / row["seconds"]


def estimate(data: dict) -> str:
    """The paper's corpus from the measured rates: machine-hours and core-hours per stage, and the GPU's hour."""
    dist, big = data["distributed"]["xquad"], max(data["factory"].values(), key=lambda r: r["n"])
    cores, phases = dist["cores"], big["stream"]["phases"]
    stages = [("generation", QUESTIONS, _rate(dist, "generate"), "questions"),
              ("passage encoding", PASSAGES, _rate(dist, "encode"), "passages"),
              ("question embedding", QUESTIONS, _rate(dist, "embed-q"), "questions")]
    lines = ["| stage | work | measured rate here (one process, "
             f"{cores} threads) | machine-hours | core-hours |", "|---|---|---|---|---|"]
    total = gpu_hours = 0.0
    for name, count, rate, unit in stages:
        hours = count / rate / 3600
        total, gpu_hours = total + hours * cores, gpu_hours + hours
        lines.append(f"| {name} | {count:,.0f} {unit} | {rate:,.2f} {unit}/s | {count:,.0f} / {rate:,.2f} / 3600 = "
                     f"{hours:,.0f} | {hours * cores:,.0f} |")
    # augmentation + IVF-PQ: a fusing pass costs about the same per row read, passage or question (both are
    # 384 floats gathered and summed); it runs twice (sample, add); faiss's add scales with passages;
    # training takes the same sample (40 per list) whatever the corpus.
    rows_1m = big["n"] + big["queries"]
    fuse = phases["sample"] * (PASSAGES + QUESTIONS) / rows_1m
    add = max(0.0, phases["add"] - phases["sample"]) * PASSAGES / big["n"]
    augment_s = 2 * fuse + add + phases["train"]
    total += augment_s / 3600 * cores
    lines.append(f"| augmentation + {big['factory']} | {PASSAGES:,} passages, {QUESTIONS:,} questions | "
                 f"{rows_1m / phases['sample']:,.0f} rows/s per fusing pass; faiss add "
                 f"{big['n'] / max(phases['add'] - phases['sample'], 1e-9):,.0f} passages/s | "
                 f"{augment_s / 3600:,.1f} | {augment_s / 3600 * cores:,.1f} |")
    lines.append(f"| **total** | | | | **{total:,.0f}** |")
    day, stored = (QUESTIONS / 24, PASSAGES / 24), QUESTIONS * 384 * 4 / 1e9  # GB of float32 question vectors
    return "\n".join(lines) + f"""

Arithmetic. Work: {PASSAGES:,} passages x {LANGUAGES} languages x {PER_LANGUAGE} questions = {QUESTIONS:,}
questions. Each stage's machine-hours are its work divided by the rate measured in one process on this
machine ({dist['cpu']}, {cores} cores; the distributed table above), core-hours = machine-hours x
{cores}. Augmentation and the {big['factory']} build scale from the {big['n']:,}-vector run (its phases:
sample {phases['sample']:.0f} s, train {phases['train']:.0f} s, add {phases['add']:.0f} s; {big['cpu']}): a fusing
pass over {rows_1m:,} rows (passages and their ~1 question each) took the sample phase's
{phases['sample']:.0f} s, so the two passes over {PASSAGES + QUESTIONS:,} rows take 2 x
{phases['sample']:.0f} x {PASSAGES + QUESTIONS:,} / {rows_1m:,} = {2 * fuse:,.0f} s; faiss's own adding
(add - sample = {max(0.0, phases['add'] - phases['sample']):.0f} s per {big['n']:,}) x {PASSAGES // big['n']} =
{add:,.0f} s; training (same sample size) {phases['train']:.0f} s. Reading the questions' embeddings
({stored:,.0f} GB as float32) from disk is not in this figure: at 500 MB/s the two passes alone take
2 x {stored:,.0f} GB / 0.5 GB/s = {2 * stored / 0.5 / 3600:.1f} h. The rates include loading the models (a
few seconds of each row) and are float32: this CPU has no bf16 hardware.

One GPU for a day. Generation, passage encoding and question embedding are model work: together
{gpu_hours:,.0f} hours of this machine, so a GPU that does them in 24 hours does the work of
{gpu_hours / 24:,.0f} such machines: per hour {day[0]:,.0f} questions generated ({day[0] / 3600:,.0f}/s) and
embedded, and {day[1]:,.0f} passages encoded ({day[1] / 3600:,.0f}/s), against
{_rate(dist, 'generate'):,.2f}, {_rate(dist, 'embed-q'):,.0f} and {_rate(dist, 'encode'):,.1f} per second here.
Augmentation and the index build stay on CPUs ({augment_s / 3600:,.1f} hours here), beside the GPU."""


def render(docs: Path) -> str:
    data = load(docs)
    parts = []
    if data["factory"]:
        parts.append("### Augmented IVF-PQ index: streamed against in memory\n\n" + factory_table(data["factory"]))
    if data["distributed"]:
        parts.append("### Encoding and generation: one process against Ray\n\n"
                     + distributed_table(data["distributed"]["xquad"]))
    if data["pq"]:
        parts.append("### PQ compression on XQuAD, with and without xQG\n\n" + pq_table(data["pq"]["xquad"]))
    if data["factory"] and data["distributed"]:
        parts.append("### The paper's corpus: 18M passages, 630M questions, on CPUs like this one\n\n" + estimate(data))
    if not parts:
        raise InputError(docs, f"none of {', '.join(FILES.values())} is there: run the benchmarks with --json")
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", default=str(ROOT / "docs" / "scale.md"), help="the page to update (beside the JSON files)")
    p.add_argument("--print", action="store_true", help="print the rendered section instead of writing it")
    args = p.parse_args(argv)
    doc = Path(args.docs)
    text = render(doc.parent)
    if args.print:
        print(text)
        return
    page = doc.read_text(encoding="utf-8")
    if page.count(START) != 1 or page.count(END) != 1:
        raise InputError(doc, f"needs exactly one {START} and one {END} line")
    before, rest = page.split(START, 1)
    with atomic_file(doc) as out:
        out.write(before + START + "\n" + text + "\n" + END + rest.split(END, 1)[1])
    print(f"wrote the measured section of {doc}")


if __name__ == "__main__":
    main()
