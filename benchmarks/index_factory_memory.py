"""Peak memory of an augmented IVF-PQ (or any FAISS) index: streamed, against all vectors in memory.

Inputs (as benchmarks/augmentation_memory.py makes them): a random flat IP index of ``--n`` unit
vectors around 1000 random centres (streamed to disk), a generated-query file (passage j gets j % 3 queries, about one per
passage) and its embeddings (a random stand-in encoder, cached once). Then, each in a child process:

  stream  ``augment_index(..., index_factory=F)``, the real code path: fused vectors are streamed
          twice through the index in blocks (a seeded sample to train on, then every vector to add);
  memory  the obvious alternative: every fused vector in memory (``AugmentationPlan.vectors``), the
          same training rows, then faiss's ``index_factory`` / ``train`` / ``add`` / ``write_index``;
          it also computes the exact top 10 of 200 probe queries (perturbed augmented passages).

Each child reports its peak RSS (ru_maxrss), its RSS after imports, seconds and vectors/s. The two
index files are compared byte for byte, and the streamed one is searched through Pyserini's
FaissSearcher (recall@10 against the exact search). Prints a table.

    .venv/bin/python benchmarks/index_factory_memory.py [--n 1000000] [--dim 384] [--factory IVF4096,PQ48]
                                                        [--json docs/scale_index_factory.json]

``--json`` records the run (under its passage count, with the CPU and the command) for
benchmarks/scale_report.py, which renders docs/scale.md's tables from it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from augmentation_memory import RandomEncoder, make_inputs, rss_mb  # noqa: E402  (same inputs, same stand-in)

FUSION = {"fusion": "mean", "weight": 0.3, "normalize": True}
PROBES, CLUSTERS = 200, 1000


def probes(vectors: np.ndarray) -> np.ndarray:
    """Queries like the data: augmented passage vectors of random passages, perturbed."""
    rng = np.random.default_rng(7)
    x = vectors[rng.choice(len(vectors), PROBES, replace=False)]
    x = x + 0.05 * rng.standard_normal(x.shape, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def child_embed(work: Path, dim: int, factory: str) -> dict:
    from xqg_pyserini.encode.queries import embed_queries

    return {"queries": len(embed_queries(work / "queries.jsonl", RandomEncoder(dim), cache=work / "cache").keys)}


def child_stream(work: Path, dim: int, factory: str) -> dict:
    from xqg_pyserini.index.augment import augment_index

    encoder = RandomEncoder(dim)
    m = augment_index(work / "plain", work / "queries.jsonl", encoder, work / "out-stream", index_factory=factory,
                      cache=work / "cache", **FUSION)
    assert encoder.calls == 0, "the query embeddings were not taken from the cache"
    return {"train_size": m["train_size"], "search_params": m["search_params"], "phases": m["build_seconds"]}


def child_memory(work: Path, dim: int, factory: str) -> dict:
    """Every fused vector in memory, then faiss builds the index: the same training rows as ``stream``."""
    import faiss

    from xqg_pyserini.encode.queries import embed_queries
    from xqg_pyserini.index.augment import AugmentationPlan
    from xqg_pyserini.index.factory import check_factory, default_train_size

    plan = AugmentationPlan(work / "plain", embed_queries(work / "queries.jsonl", RandomEncoder(dim),
                                                          cache=work / "cache"))
    vectors = plan.vectors(**FUSION)
    index, _ = check_factory(factory, dim, plan.metric)
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), default_train_size(index, len(vectors)), replace=False))
    index.train(vectors[rows])
    index.add(vectors)
    (work / "out-memory").mkdir(exist_ok=True)
    faiss.write_index(index, str(work / "out-memory" / "index"))
    queries = probes(vectors)
    _, exact = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    np.save(work / "probes.npy", queries)
    np.save(work / "exact.npy", exact)
    return {"train_size": len(rows)}


def run_child(kind: str, work: Path, dim: int, factory: str) -> dict:
    import faiss  # noqa: F401

    import xqg_pyserini.index.augment  # noqa: F401  (imports are the baseline)

    baseline = rss_mb()
    start = time.perf_counter()
    info = {"embed": child_embed, "stream": child_stream, "memory": child_memory}[kind](work, dim, factory)
    info.update(seconds=time.perf_counter() - start, baseline_mb=baseline,
                peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return info


def spawn(kind: str, work: Path, dim: int, factory: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--work", str(work), "--dim", str(dim),
           "--factory", factory]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"{kind} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])


def recall_through_pyserini(index_dir: Path, queries: np.ndarray, exact: np.ndarray) -> float:
    """Recall@10 of the streamed index searched by Pyserini's FaissSearcher, against the exact top 10."""
    from xqg_pyserini._jvm import prepare_jvm

    prepare_jvm()
    from pyserini.encode import QueryEncoder
    from pyserini.search.faiss import FaissSearcher

    class Probes(QueryEncoder):
        def __init__(self, table):
            super().__init__()
            self.table = table

        def encode(self, query: str, **kwargs):
            return self.table[query]

    table = {f"p{k}": v for k, v in enumerate(queries)}
    hits = FaissSearcher(str(index_dir), Probes(table)).batch_search(list(table), list(table), k=10, threads=2)
    return float(np.mean([len({h.docid for h in hits[f"p{k}"]} & {f"doc{j}" for j in exact[k]}) / 10
                          for k in range(PROBES)]))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="passages (vectors)")
    p.add_argument("--dim", type=int, default=384, help="vector dimension (multilingual-e5-small: 384)")
    p.add_argument("--factory", default="IVF4096,PQ48", help="FAISS index-factory string")
    p.add_argument("--work", default=None, help="scratch directory (default: a temporary one, removed)")
    p.add_argument("--json", default=None, help="record the run in this JSON file (key: the passage count)")
    p.add_argument("--child", choices=["embed", "stream", "memory"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, Path(args.work), args.dim, args.factory)))
        return
    from xqg_pyserini.models.cpu import cpu_label

    root = Path(args.work or tempfile.mkdtemp(prefix="xqg-factory-bench-")).resolve()
    work = root / f"n{args.n}"
    try:
        shutil.rmtree(work, ignore_errors=True)
        started = time.perf_counter()
        make_inputs(work, args.n, args.dim, CLUSTERS)
        embed = spawn("embed", work, args.dim, args.factory)
        prepared = time.perf_counter() - started
        stream = spawn("stream", work, args.dim, args.factory)
        memory = spawn("memory", work, args.dim, args.factory)
        same = sha256(work / "out-stream" / "index") == sha256(work / "out-memory" / "index")
        recall = recall_through_pyserini(work / "out-stream", np.load(work / "probes.npy"), np.load(work / "exact.npy"))
        flat_mb = (work / "plain" / "index").stat().st_size / 2**20
        index_mb = (work / "out-stream" / "index").stat().st_size / 2**20
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    import faiss

    print(f"\n{args.n} passages x {args.dim} float32 around {CLUSTERS} centres (flat input {flat_mb:.0f} MiB), "
          f"{embed['queries']} queries "
          f"(~1 per passage), fusion mean b=0.3 + normalize, {args.factory} trained on {stream['train_size']} sampled "
          f"vectors, {stream['search_params']}; CPU: {cpu_label()}, faiss {faiss.__version__} with "
          f"{faiss.omp_get_max_threads()} threads; inputs made in {prepared:.0f} s. RSS in MiB; 'over base' = peak - "
          f"RSS after imports (Python, numpy, faiss).\n")
    head = f"{'build':<28} | {'peak RSS':>8} | {'over base':>9} | {'seconds':>7} | {'vectors/s':>9} | {'index MiB':>9}"
    print(head + "\n" + "-" * len(head))
    for name, r in (("stream (augment_index)", stream), ("all vectors in memory", memory)):
        print(f"{name:<28} | {r['peak_mb']:8.0f} | {r['peak_mb'] - r['baseline_mb']:9.0f} | {r['seconds']:7.1f} | "
              f"{args.n / r['seconds']:9.0f} | {index_mb:9.1f}")
    print(f"\nmemory / stream: peak RSS {memory['peak_mb'] / stream['peak_mb']:.2f}x, over base "
          f"{(memory['peak_mb'] - memory['baseline_mb']) / (stream['peak_mb'] - stream['baseline_mb']):.2f}x, "
          f"time {memory['seconds'] / stream['seconds']:.2f}x; the two index files are "
          f"{'byte-identical' if same else 'DIFFERENT'}; recall@10 of the streamed index through Pyserini's "
          f"FaissSearcher vs exact search: {recall:.3f}; stream peak under 2 GiB: "
          f"{'yes' if stream['peak_mb'] < 2048 else 'NO'}. Stream phases (s): {stream['phases']} (sample and add "
          f"each include one fusing pass over all vectors).")
    if args.json:
        from scale_report import provenance, record

        record(args.json, str(args.n), {
            **provenance(), "n": args.n, "dim": args.dim, "factory": args.factory, "clusters": CLUSTERS,
            "queries": embed["queries"], "fusion": FUSION, "train_size": stream["train_size"],
            "search_params": stream["search_params"], "faiss_threads": faiss.omp_get_max_threads(),
            "flat_input_mib": round(flat_mb, 1), "index_mib": round(index_mb, 2), "byte_identical": same,
            "recall_at_10": round(recall, 4), "probes": PROBES, "inputs_seconds": round(prepared, 1),
            "stream": {k: stream[k] for k in ("peak_mb", "baseline_mb", "seconds", "phases")},
            "memory": {k: memory[k] for k in ("peak_mb", "baseline_mb", "seconds")}})


if __name__ == "__main__":
    main()
