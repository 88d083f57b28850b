"""Speed of the distributed stages on this machine: the same work in one process and on a local Ray cluster.

A synthetic corpus of ``--passages`` passages of about 100 words (the paper's Wikipedia passages) is
encoded with multilingual-e5-small and given ``--questions`` questions in each of ``--languages``
by the shipped generator (float32), twice each (and the questions, repeated, are embedded once, in
this process, for the query-side rate):

  in-process  ``encode_corpus(ray=False)`` / ``generate_corpus``: one process, torch on every core;
  ray         ``encode_corpus(ray=True)`` / ``generate_ray``: a local Ray cluster, one model per actor,
              ``--actors`` actors of one torch thread each (as many threads in all as cores here).

It prints passages/s, questions/s and seconds, the Ray run's start-up (cluster and actors) apart, and
checks that both generation outputs hold the same lines. On 2 cores this shows what the Ray path costs,
not what it gains: the gain is more machines.

    .venv/bin/python benchmarks/distributed_speed.py [--passages 400] [--gen-passages 24] [--actors 2]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = ("the of and to in is was for on as with by at from his that it an were are which this be or has had "
         "first new after also its their not but one two three city river war year years people world history "
         "government school university team music album film church state national century north south").split()


def make_corpus(path: Path, passages: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        for j in range(passages):
            text = " ".join(rng.choice(WORDS, 100))
            f.write(json.dumps({"id": f"p{j}", "title": f"Title {j}", "text": text.capitalize() + "."}) + "\n")
    return path


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def lines(out: Path) -> list[str]:
    from xqg_pyserini.generation.queries import query_files

    return sorted(x for f in query_files(out) for x in f.read_text(encoding="utf-8").splitlines())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--passages", type=int, default=400, help="passages to encode")
    p.add_argument("--gen-passages", type=int, default=24, help="passages to generate questions for")
    p.add_argument("--languages", nargs="+", default=["de", "ja"])
    p.add_argument("--questions", type=int, default=2, help="questions per passage and language")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--query-copies", type=int, default=40, help="copies of the generated questions to embed")
    args = p.parse_args()

    import ray
    import torch

    from xqg_pyserini.data.cluster import connect
    from xqg_pyserini.generation import Sampling, generate_corpus, load_generator
    from xqg_pyserini.generation.distributed import generate_ray
    from xqg_pyserini.index.encoded import encode_corpus
    from xqg_pyserini.models.cpu import available_cores, cpu_label

    work = Path(tempfile.mkdtemp(prefix="xqg-distributed-bench-"))
    rows = []
    try:
        corpus = make_corpus(work / "docs.jsonl", args.passages)
        small = make_corpus(work / "small.jsonl", args.gen_passages, seed=1)
        part = max(1, corpus.stat().st_size // (4 * args.actors))  # a few parts per actor
        gen_part = max(1, small.stat().st_size // (2 * args.actors))
        torch.set_num_threads(available_cores())
        seconds, _ = timed(lambda: encode_corpus(corpus, work / "emb-local", part_bytes=part, progress=False))
        rows.append(("encode", "in-process", f"{available_cores()} threads", args.passages, "passages", seconds))
        generator = load_generator("xqg", Sampling(), languages=args.languages, dtype="float32")
        seconds, _ = timed(lambda: generate_corpus(small, generator, args.languages, args.questions,
                                                   out=work / "q-local.jsonl", progress=False,
                                                   batch_size=len(args.languages) * 4))
        questions = args.gen_passages * len(args.languages) * args.questions
        rows.append(("generate", "in-process", f"{available_cores()} threads", questions, "questions", seconds))
        del generator
        from xqg_pyserini.encode.encoders import TransformerEncoder
        from xqg_pyserini.encode.queries import embed_queries

        many = work / "many.jsonl"  # the generated questions, repeated: short texts like the paper's 630M
        base = (work / "q-local.jsonl").read_text(encoding="utf-8").splitlines()
        with open(many, "w", encoding="utf-8") as f:
            for k in range(args.query_copies):
                f.writelines(json.dumps({**json.loads(x), "docid": f"{json.loads(x)['docid']}.{k}"}) + "\n" for x in base)
        encoder = TransformerEncoder("multilingual-e5-small", show_progress=False)
        seconds, _ = timed(lambda: embed_queries(many, encoder, cache=work / "cache"))
        rows.append(("encode-q", "in-process", f"{available_cores()} threads", len(base) * args.query_copies,
                     "questions", seconds))
        startup, _ = timed(lambda: connect(num_cpus=args.actors + 1))  # logical CPUs: actors + the part readers
        pool = {"actors": args.actors, "cpus_per_actor": 1.0}
        seconds, _ = timed(lambda: encode_corpus(corpus, work / "emb-ray", part_bytes=part, ray=True, progress=False,
                                                 **pool))
        rows.append(("encode", "ray", f"{args.actors} actors x 1 thread", args.passages, "passages", seconds))
        seconds, summary = timed(lambda: generate_ray(small, work / "q-ray", "xqg", args.languages, args.questions,
                                                      dtype="float32", part_bytes=gen_part, progress=False,
                                                      batch_size=len(args.languages) * 4, **pool))
        rows.append(("generate", "ray", f"{args.actors} actors x 1 thread", questions, "questions", seconds))
        same = lines(work / "q-ray") == lines(work / "q-local.jsonl")
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nCPU: {cpu_label()}, {available_cores()} cores; Ray {ray.__version__}, local cluster started in "
          f"{startup:.1f} s (not in the rows); encoder multilingual-e5-small (float32), generator xqg (float32); "
          f"passages of ~100 words\n")
    head = f"{'stage':<9} | {'mode':<10} | {'workers':<22} | {'items':>6} | {'seconds':>7} | {'per second':>16}"
    print(head + "\n" + "-" * len(head))
    for stage, mode, workers, items, unit, seconds in rows:
        print(f"{stage:<9} | {mode:<10} | {workers:<22} | {items:>6} | {seconds:7.1f} | {items / seconds:7.2f} {unit}/s")
    print(f"\nRay and in-process generation wrote the same lines: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
