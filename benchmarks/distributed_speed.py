"""Speed and peak memory of the distributed stages here: one process, then a local Ray cluster with 1 and 2 workers.

The corpus is XQuAD's English passages (``--corpus``: the JsonCollection ``xqg prepare`` / ``xqg demo``
writes, collections/xquad/corpus). Each row runs in a child process of its own:

  encode     multilingual-e5-small over the 240 passages repeated ``--encode-copies`` times (ids made
             unique): ``encode_corpus(ray=False)``, then ``encode_corpus(ray=True)``;
  generate   the shipped generator (xqg, float32: this CPU has no bf16 hardware) over the first
             ``--gen-passages`` passages, ``-n`` questions in each of ``--languages`` (7 x 5, the paper's
             shape): ``generate`` (what ``xqg generate`` runs), then ``generate_ray``;
  embed-q    the questions of the one-process generation, repeated ``--query-copies`` times, embedded by
             the retriever's query side (``embed_queries``; augmentation does this in one process).

One process uses torch on both cores; Ray with 1 worker runs one actor of 2 threads, with 2 workers two
actors of 1 thread (a cluster of 3 logical CPUs: the actors and the part readers). Ray rows include
starting the actors and loading their models, not starting the cluster (given apart). Peak memory is
sampled every 0.5 s over the child's whole process tree (the driver and, for Ray, its GCS, raylet,
agents and workers): the sum of PSS (shared pages split between the processes mapping them) and the
largest single process's RSS.

    .venv/bin/python benchmarks/distributed_speed.py --corpus collections/xquad/corpus [--json docs/scale_distributed.json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLUSTER_CPUS = 3  # logical: two cores of actors plus room for the part readers (data.cluster.READ_CPUS)
ROWS = [(stage, workers) for stage in ("encode", "generate") for workers in (0, 1, 2)] + [("embed-q", 0)]


def prepare(corpus: Path, work: Path, copies: int, gen_passages: int) -> dict:
    """The encoding corpus (XQuAD repeated) and the generation corpus (its first passages)."""
    from xqg_pyserini.data.corpus import corpus_file

    lines = corpus_file(corpus).read_text(encoding="utf-8").splitlines()
    with open(work / "encode.jsonl", "w", encoding="utf-8") as f:
        for k in range(copies):
            for line in lines:
                row = json.loads(line)
                f.write(json.dumps({**row, "id": f"{row['id']}.{k}"}, ensure_ascii=False) + "\n")
    (work / "generate.jsonl").write_text("".join(x + "\n" for x in lines[:gen_passages]), encoding="utf-8")
    return {"passages": len(lines), "encode_passages": len(lines) * copies, "gen_passages": min(gen_passages, len(lines))}


def child(stage: str, workers: int, work: Path, args) -> dict:
    """One row, in this (child) process: what it did, its seconds and, on Ray, the cluster's start-up."""
    from xqg_pyserini.models.cpu import available_cores

    out, info = work / f"{stage}-{workers}", {"startup_seconds": None}
    shutil.rmtree(out, ignore_errors=True)
    pool = {"actors": workers, "cpus_per_actor": available_cores() / workers} if workers else {}
    if workers:
        from xqg_pyserini.data.cluster import connect

        started = time.perf_counter()
        connect(num_cpus=CLUSTER_CPUS)
        info["startup_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    if stage == "encode":
        from xqg_pyserini.index.encoded import encode_corpus

        corpus = work / "encode.jsonl"
        summary = encode_corpus(corpus, out, part_bytes=corpus.stat().st_size // 8 + 1, ray=bool(workers),
                                progress=False, **pool)
        info.update(items=summary["passages_encoded"], unit="passages")
    elif stage == "generate":
        from xqg_pyserini.generation.distributed import generate_ray
        from xqg_pyserini.generation.queries import query_files
        from xqg_pyserini.generation.runner import generate

        corpus = work / "generate.jsonl"
        if workers:
            generate_ray(corpus, out, "xqg", args.languages, args.n, dtype="float32", progress=False,
                         part_bytes=corpus.stat().st_size // 4 + 1, **pool)
        else:
            out.mkdir(parents=True)
            generate(corpus, "xqg", args.languages, args.n, out=out / "q.jsonl", dtype="float32",
                     threads=available_cores(), progress=False)
        lines = sorted(x for f in query_files(out if workers else out / "q.jsonl")
                       for x in f.read_text(encoding="utf-8").splitlines())
        (work / f"lines-{workers}.json").write_text(json.dumps(lines))
        info.update(items=len(lines), unit="questions")
    else:
        import torch

        from xqg_pyserini.encode.encoders import TransformerEncoder
        from xqg_pyserini.encode.queries import embed_queries

        torch.set_num_threads(available_cores())
        many, base = work / "many.jsonl", json.loads((work / "lines-0.json").read_text())
        with open(many, "w", encoding="utf-8") as f:
            for k in range(args.query_copies):
                f.writelines(json.dumps({**json.loads(x), "docid": f"{json.loads(x)['docid']}.{k}"},
                                        ensure_ascii=False) + "\n" for x in base)
        embed_queries(many, TransformerEncoder("multilingual-e5-small", show_progress=False), cache=out)
        info.update(items=len(base) * args.query_copies, unit="questions")
    info["seconds"] = time.perf_counter() - started
    if workers:
        from xqg_pyserini.data.cluster import shutdown

        shutdown(True)
    return info


class TreeMemory(threading.Thread):
    """Samples a process and all its descendants: peak of the summed PSS, peak RSS of any one process."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every, self.stop = pid, every, threading.Event()
        self.peak_pss = self.peak_rss = 0

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.stop.is_set():
            pss = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    mem = proc.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                pss += mem.pss
                self.peak_rss = max(self.peak_rss, mem.rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.stop.wait(self.every)


def run_row(stage: str, workers: int, work: Path, argv: list[str]) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--child", f"{stage}:{workers}", "--work", str(work)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(proc.pid)
    memory.start()
    stdout, stderr = proc.communicate()
    memory.stop.set()
    memory.join()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        raise SystemExit(f"{stage} with {workers} workers failed (exit {proc.returncode}): {stderr.strip()[-2000:]}")
    return {"stage": stage, "workers": workers, **json.loads(lines[-1]),
            "peak_pss_mib": round(memory.peak_pss / 2**20), "peak_process_rss_mib": round(memory.peak_rss / 2**20)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="collections/xquad/corpus", help="XQuAD's passages as a JsonCollection")
    p.add_argument("--encode-copies", type=int, default=4, help="times the passages are repeated for encoding")
    p.add_argument("--gen-passages", type=int, default=16, help="passages to generate questions for")
    p.add_argument("--languages", nargs="+", default=["ar", "de", "el", "hi", "ru", "th", "zh"])
    p.add_argument("-n", type=int, default=5, help="questions per passage and language")
    p.add_argument("--query-copies", type=int, default=10, help="copies of the generated questions to embed")
    p.add_argument("--json", default=None, help="record the run in this JSON file (key: 'xquad')")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        stage, workers = args.child.split(":")
        print(json.dumps(child(stage, int(workers), Path(args.work), args)))
        return
    import ray
    import torch

    from xqg_pyserini.models.cpu import available_cores, cpu_label

    argv = list(sys.argv[1:])
    work = Path(tempfile.mkdtemp(prefix="xqg-distributed-bench-"))
    try:
        sizes = prepare(Path(args.corpus), work, args.encode_copies, args.gen_passages)
        rows = []
        for stage, workers in ROWS:
            rows.append(run_row(stage, workers, work, argv))
            r = rows[-1]
            print(f"{stage} {workers or 'in-process'}: {r['items']} {r['unit']} in {r['seconds']:.1f} s, "
                  f"peak PSS {r['peak_pss_mib']} MiB", file=sys.stderr, flush=True)
        outputs = {w: json.loads((work / f"lines-{w}.json").read_text()) for w in (0, 1, 2)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    same = {w: outputs[w] == outputs[0] for w in (1, 2)}
    print(f"\nCPU: {cpu_label()}, {available_cores()} cores; torch {torch.__version__}, Ray {ray.__version__}; "
          f"XQuAD: {sizes['encode_passages']} passages encoded ({args.encode_copies} x {sizes['passages']}), "
          f"questions for {sizes['gen_passages']} passages x {len(args.languages)} languages x {args.n} "
          f"(xqg, float32)\n")
    head = (f"{'stage':<9} | {'mode':<24} | {'items':>6} | {'seconds':>7} | {'per second':>18} | {'cluster s':>9} | "
            f"{'peak PSS MiB':>12} | {'largest RSS MiB':>15}")
    print(head + "\n" + "-" * len(head))
    for r in rows:
        mode = ("one process, 2 threads" if not r["workers"] else
                f"Ray, {r['workers']} x {available_cores() // r['workers']} thread{'s' if r['workers'] == 1 else ''}")
        start = "" if r["startup_seconds"] is None else f"{r['startup_seconds']:.1f}"
        print(f"{r['stage']:<9} | {mode:<24} | {r['items']:>6} | {r['seconds']:7.1f} | "
              f"{r['items'] / r['seconds']:8.2f} {r['unit'][:9] + '/s':<9} | {start:>9} | {r['peak_pss_mib']:>12} | "
              f"{r['peak_process_rss_mib']:>15}")
    print(f"\nRay generation wrote the same lines as one process: 1 worker {'yes' if same[1] else 'NO'}, "
          f"2 workers {'yes' if same[2] else 'NO'}")
    if args.json:
        from scale_report import provenance, record

        record(args.json, "xquad", {**provenance(), **sizes, "languages": args.languages, "n": args.n,
                                    "encode_copies": args.encode_copies, "query_copies": args.query_copies,
                                    "cores": available_cores(), "torch": torch.__version__, "ray": ray.__version__,
                                    "same_lines_as_one_process": same, "rows": rows})


if __name__ == "__main__":
    main()
