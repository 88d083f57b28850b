"""Bounded memory of xQG augmentation: peak RSS stays flat as the index grows; a plain numpy version's does not.

For each scale (1x, 2x, 4x the base number of passages) this builds a random flat IP index (streamed
to disk), a generated-query file (passage j gets j % 3 queries, so about one per passage) and their
embeddings (a random stand-in encoder: the model is not the point here), then runs in child processes:

  stream  ``augment_index`` itself (the same code path as real use; the embeddings come from its cache)
          under RLIMIT_DATA = baseline + ``--limit-mb``, a limit smaller than the index;
  numpy   a plain in-memory implementation (faiss.read_index, np.load, np.add.at, faiss.write_index),
          without a limit, and once more under the same limit as ``stream``.

Each child reports peak RSS (ru_maxrss), its RSS after imports (baseline: Python, numpy, faiss and the
JVM that importing xqg_pyserini starts), seconds and vectors/s. The two outputs are compared block by block.

    .venv/bin/python benchmarks/augmentation_memory.py [--base 100000] [--dim 384] [--limit-mb 128]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class RandomEncoder:
    """Stand-in query encoder: pseudo-random unit vectors, deterministic per batch."""

    def __init__(self, dim: int):
        self.dim, self.calls = dim, 0

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        rng = np.random.default_rng(zlib.crc32(texts[0].encode()))
        x = rng.standard_normal((len(texts), self.dim), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def describe(self) -> dict:
        return {"model": "random-benchmark", "dimension": self.dim}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def vm_data_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmData:"))


def make_inputs(work: Path, n: int, dim: int, clusters: int = 0) -> None:
    """Index (streamed, random: uniform on the sphere, or around ``clusters`` random centres, as real
    embeddings cluster by topic), docids and a query file: about n queries in all."""
    from xqg_pyserini.flatindex import write_flat_index

    rng = np.random.default_rng(n)
    (work / "plain").mkdir(parents=True)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32) if clusters else None

    def blocks():
        for start in range(0, n, 8192):
            x = rng.standard_normal((min(8192, n - start), dim), dtype=np.float32)
            if centres is not None:
                x = centres[rng.integers(clusters, size=len(x))] + 0.5 * x
            yield x / np.linalg.norm(x, axis=1, keepdims=True)

    write_flat_index(work / "plain" / "index", dim, n, blocks())
    with open(work / "plain" / "docid", "w") as f:
        f.writelines(f"doc{j}\n" for j in range(n))
    with open(work / "queries.jsonl", "w") as f:
        for j in range(n):
            for k in range(j % 3):
                f.write(f'{{"docid": "doc{j}", "lang": "de", "i": {k}, "query": "q{j}.{k}", "generator": "random"}}\n')


def child_stream(work: Path, dim: int) -> dict:
    from xqg_pyserini.augmentation import augment_index

    encoder = RandomEncoder(dim)
    manifest = augment_index(work / "plain", work / "queries.jsonl", encoder, work / "out-stream", weight=0.01,
                             cache=work / "cache")
    assert encoder.calls == 0 and manifest["inputs"]["queries"]["embeddings_reused"], "embeddings not reused"
    return {"queries": manifest["counts"]["queries_used"]}


def child_numpy(work: Path, dim: int) -> dict:
    """The obvious implementation: everything in memory."""
    import faiss

    from xqg_pyserini.augmentation import embed_queries

    emb = embed_queries(work / "queries.jsonl", RandomEncoder(dim), cache=work / "cache")
    index = faiss.read_index(str(work / "plain" / "index"))
    vectors = index.reconstruct_n(0, index.ntotal)
    del index
    queries = np.load(emb.npy)
    row_of = {line.rstrip("\n"): r for r, line in enumerate(open(work / "plain" / "docid"))}
    rows = np.array([row_of[emb.keys.docids[k]] for k in emb.keys.table[:, 0]])
    sums = np.zeros_like(vectors)
    np.add.at(sums, rows, queries)
    has = np.bincount(rows, minlength=len(vectors)) > 0
    vectors[has] = 0.99 * vectors[has] + 0.01 * sums[has]
    out = faiss.IndexFlatIP(dim)
    out.add(vectors)
    (work / "out-numpy").mkdir(exist_ok=True)
    faiss.write_index(out, str(work / "out-numpy" / "index"))
    return {"queries": len(rows)}


def run_child(kind: str, work: Path, dim: int, limit_mb: float | None) -> dict:
    """In this (child) process: imports, baseline, optional RLIMIT_DATA, the job, peak RSS."""
    import xqg_pyserini.augmentation  # noqa: F401  (and the JVM: part of the baseline)
    import faiss  # noqa: F401

    baseline = rss_mb()
    if limit_mb is not None:
        limit = vm_data_bytes() + int(limit_mb * 2**20)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    start = time.perf_counter()
    try:
        info = {"embed": lambda: child_embed(work, dim), "stream": lambda: child_stream(work, dim),
                "numpy": lambda: child_numpy(work, dim)}[kind]()
        info["ok"] = True
    except MemoryError:
        info = {"ok": False, "error": "MemoryError"}
    info.update(seconds=time.perf_counter() - start, baseline_mb=baseline,
                peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return info


def child_embed(work: Path, dim: int) -> dict:
    from xqg_pyserini.augmentation import embed_queries

    emb = embed_queries(work / "queries.jsonl", RandomEncoder(dim), cache=work / "cache")
    return {"queries": len(emb.keys)}


def spawn(kind: str, work: Path, dim: int, limit_mb: float | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--work", str(work), "--dim", str(dim)]
    if limit_mb is not None:
        cmd += ["--child-limit-mb", str(limit_mb)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=work)  # a JVM crash log would land in work
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:  # killed by the limit outside Python's reach
        return {"ok": False, "error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"}
    return json.loads(lines[-1])


def max_abs_diff(a: Path, b: Path) -> float:
    from xqg_pyserini.flatindex import FlatIndex

    worst = 0.0
    with FlatIndex(a) as x, FlatIndex(b) as y:
        for (start, block), (_, other) in zip(x.blocks(8192), y.blocks(8192)):
            worst = max(worst, float(np.abs(block - other).max(initial=0.0)))
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", type=int, default=100_000, help="passages at scale 1")
    p.add_argument("--dim", type=int, default=384, help="vector dimension (multilingual-e5-small: 384)")
    p.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--limit-mb", type=float, default=128, help="RLIMIT_DATA above the baseline for `stream`")
    p.add_argument("--work", default=None, help="scratch directory (default: a temporary one, removed)")
    p.add_argument("--child", choices=["embed", "stream", "numpy"], help=argparse.SUPPRESS)
    p.add_argument("--child-limit-mb", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, Path(args.work), args.dim, args.child_limit_mb)))
        return
    root = Path(args.work or tempfile.mkdtemp(prefix="xqg-augment-bench-")).resolve()
    rows = []
    try:
        for scale in args.scales:
            work, n = root / f"x{scale}", args.base * scale
            shutil.rmtree(work, ignore_errors=True)
            make_inputs(work, n, args.dim)
            size_mb = (work / "plain" / "index").stat().st_size / 2**20
            embed = spawn("embed", work, args.dim, None)
            stream = spawn("stream", work, args.dim, args.limit_mb)
            plain = spawn("numpy", work, args.dim, None)
            capped = spawn("numpy", work, args.dim, args.limit_mb)
            diff = (max_abs_diff(work / "out-stream" / "index", work / "out-numpy" / "index")
                    if stream["ok"] and plain["ok"] else float("nan"))
            rows.append((scale, n, size_mb, embed, stream, plain, capped, diff))
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nd={args.dim}, ~1 query per passage, sum fusion a=0.01, block 4096; RSS in MiB; "
          f"'over base' = peak RSS - RSS after imports (Python+numpy+faiss+JVM); stream ran under "
          f"RLIMIT_DATA = baseline + {args.limit_mb:g} MiB\n")
    head = (f"{'scale':>5} {'passages':>9} {'index MiB':>9} | {'stream peak':>11} {'over base':>9} {'vec/s':>9} | "
            f"{'numpy peak':>10} {'over base':>9} {'vec/s':>9} | {'numpy/stream':>12} | {'numpy capped':>12} | "
            f"{'max|diff|':>9} | {'embed over base':>15}")
    print(head)
    print("-" * len(head))
    for scale, n, size_mb, embed, s, q, capped, diff in rows:
        def cells(r):
            if not r["ok"]:
                return f"{'failed':>10} {'':>9} {'':>9}"
            return f"{r['peak_mb']:10.0f} {r['peak_mb'] - r['baseline_mb']:9.0f} {n / r['seconds']:9.0f}"
        ratio = ((q["peak_mb"] - q["baseline_mb"]) / max(1.0, s["peak_mb"] - s["baseline_mb"])
                 if s["ok"] and q["ok"] else float("nan"))
        print(f"{scale:>4}x {n:>9} {size_mb:9.0f} | {cells(s)} | {cells(q)} | {ratio:11.1f}x | "
              f"{'MemoryError' if not capped['ok'] else 'ran':>12} | {diff:9.2e} | "
              f"{embed['peak_mb'] - embed['baseline_mb']:15.0f}")


if __name__ == "__main__":
    main()
