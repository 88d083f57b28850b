"""A corpus encoded in parts (Pyserini's sharded layout), on Ray or in this process; indexes built from them.

``encode_corpus`` writes one flat FAISS index per corpus part, ``OUT/part-<file>-<k>/{index,docid}``
(each a Pyserini index, as ``pyserini.encode --to-faiss --shard-id`` writes them), plus
``OUT/embeddings.json`` (encoder, corpus, ``complete``). With Ray, the parts are read as a Ray
Dataset and encoded in ``map_batches`` by a pool of actors, one encoder each (one GPU each when the
cluster has GPUs): :mod:`xqg_pyserini.data.cluster`. Every part is written atomically, so a rerun
encodes exactly the parts that are missing, after a killed worker or driver.

``index_from_embeddings`` (``xqg index dense --embeddings``) streams precomputed part indexes (or
any directory of Pyserini index shards, or one flat index) into one index of any FAISS kind, in
corpus order, in bounded memory (:mod:`xqg_pyserini.index.factory`).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from xqg_pyserini.data.corpus import corpus_sha256
from xqg_pyserini.data.io import InputError, atomic_dir, write_json
from xqg_pyserini.data.parts import (DEFAULT_PART_BYTES, Part, corpus_layout, corpus_parts, finish_parts_output,
                                     open_parts_output, part_path)
from xqg_pyserini.index.factory import DEFAULT_FACTORY, check_factory, write_index
from xqg_pyserini.index.faiss import COMMAND as INDEX_COMMAND, LEGACY, FlatIndex, write_flat_index

__all__ = ["EncodingActor", "encode_corpus", "embedding_parts", "index_from_embeddings", "shard_shape"]

COMMAND, RUN_FILE = "encode", "embeddings.json"
BLOCK = 4096
PathLike = str | os.PathLike


class EncodingActor:
    """One encoder per actor (settings in the class attribute ``config``); ``__call__`` encodes a
    batch of parts (one, by construction) into their part indexes."""

    config: dict = {}

    def __init__(self):
        import torch

        from xqg_pyserini.encode.encoders import TransformerEncoder

        c = self.config
        torch.set_num_threads(c["threads"])
        factory = c.get("factory")
        self.encoder = factory() if factory else TransformerEncoder(
            c["model"], c["preset"], device=c["device"], batch_size=c["batch_size"], show_progress=False,
            pooling=c["pooling"], l2_norm=c["l2_norm"])

    def __call__(self, batch: dict) -> dict:
        from xqg_pyserini.data.cluster import actor_call

        return actor_call(batch, self.part)

    def part(self, part: Part, passages: list) -> dict:
        """Encode one part into its index shard (written whole, or not at all); its summary."""
        started = time.perf_counter()
        vectors = self.encoder.encode_passages([p.text for p in passages], [p.title for p in passages])
        dim = vectors.shape[1] if len(passages) else self.encoder.dimension
        with atomic_dir(part_path(self.config["out"], part)) as tmp:
            write_flat_index(tmp / "index", dim, len(passages), [vectors.reshape(-1, dim)])
            (tmp / "docid").write_text("".join(f"{p.docid}\n" for p in passages), encoding="utf-8")
        return {"part": part.name, "passages": len(passages), "seconds": round(time.perf_counter() - started, 3),
                "encoder": json.dumps(self.encoder.describe(), sort_keys=True)}


def encode_corpus(corpus: PathLike, out: PathLike, encoder: str = "multilingual-e5-small", preset: str | None = None,
                  pooling: str | None = None, l2_norm: bool | None = None, batch_size: int = 32,
                  part_bytes: int = DEFAULT_PART_BYTES, ray: bool = False, actors: int | None = None,
                  cpus_per_actor: float = 1.0, gpus: bool | None = None, address: str | None = None,
                  overwrite: bool = False, progress: bool = True,
                  encoder_factory: Callable[[], object] | None = None) -> dict:
    """Encode every passage ("title text") into part indexes under ``out`` (resuming it); returns
    the run's totals. ``ray``: on a Ray cluster (``address``; None starts a local one), else here.
    ``encoder_factory`` (picklable) replaces building a TransformerEncoder from the settings."""
    if ray:
        from xqg_pyserini.data.cluster import require_ray

        require_ray()  # before anything is written
    parts = corpus_parts(corpus, part_bytes)
    settings = {"encoder": encoder if encoder_factory is None else "factory", "preset": preset, "pooling": pooling,
                "l2_norm": l2_norm, "corpus": corpus_layout(corpus, part_bytes)}
    out = open_parts_output(out, COMMAND, RUN_FILE, corpus, settings, overwrite)
    todo = [p for p in parts if not (part_path(out, p) / "index").exists()]
    config = {"model": encoder, "preset": preset, "pooling": pooling, "l2_norm": l2_norm, "batch_size": batch_size,
              "factory": encoder_factory, "out": str(out.resolve())}
    started, pool, encoders, passages = time.perf_counter(), None, set(), 0
    results, ray_started = iter(()), False
    if todo and ray:
        from xqg_pyserini.data.cluster import connect, plan_pool, run_parts

        ray_started = connect(address)
        pool = plan_pool(actors, cpus_per_actor, gpus)
        actor = type("EncodingActor", (EncodingActor,), {"config": {**config, "device": pool.device,
                                                                     "threads": pool.threads}})
        results = run_parts(todo, actor, pool)
    elif todo:
        from xqg_pyserini.models.cpu import available_cores

        from xqg_pyserini.data.cluster import in_process

        results = in_process(todo, type("EncodingActor", (EncodingActor,), {"config": {
            **config, "device": "cpu", "threads": available_cores()}}))
    try:
        for done, row in enumerate(results, start=1):
            passages += int(row["passages"])
            encoders.add(row["encoder"])
            if progress:
                print(f"xqg encode: {row['part']} done ({row['passages']} passages, {row['seconds']:.0f} s); "
                      f"{done}/{len(todo)} parts", file=sys.stderr, flush=True)
    finally:
        if ray_started:
            from xqg_pyserini.data.cluster import shutdown

            shutdown(ray_started)
    if len(encoders) > 1:
        raise InputError(out, f"the actors' encoders differ: {sorted(encoders)}")
    old = json.loads((out / RUN_FILE).read_text(encoding="utf-8")).get("encoder")
    described = json.loads(encoders.pop()) if encoders else old
    if old is not None and described != old:
        raise InputError(out, "parts were encoded by different encoders; pass --overwrite")
    seconds = time.perf_counter() - started
    summary = {"out": str(out), "parts": len(parts), "parts_done_before": len(parts) - len(todo),
               "passages_encoded": passages, "seconds": round(seconds, 1),
               "passages_per_second": round(passages / seconds, 2) if seconds else None,
               "pool": pool.describe() if pool else "in-process"}
    finish_parts_output(out, RUN_FILE, encoder=described, summary=summary,
                        corpus_sha256=corpus_sha256(corpus))
    return summary


def embedding_parts(embeddings: PathLike) -> list[Path]:
    """The index shards of a directory of precomputed embeddings, in order: its ``part-*`` (or any)
    subdirectories holding ``index`` + ``docid``, or the directory itself if it is one flat index."""
    root = Path(embeddings)
    if not root.is_dir():
        raise InputError(root, "embeddings directory does not exist")
    run = root / RUN_FILE
    if run.exists() and json.loads(run.read_text(encoding="utf-8")).get("complete") is not True:
        raise InputError(root, "its encoding did not finish (embeddings.json says complete: false); run the same "
                               "`xqg encode` command again to finish it")
    if (root / "index").is_file():
        return [root]
    shards = sorted(p for p in root.iterdir() if p.is_dir() and (p / "index").is_file())
    if not shards:
        raise InputError(root, "no index shards (subdirectories with index and docid) in the embeddings directory")
    return shards


def shard_shape(embeddings: PathLike, shards: list[Path]) -> tuple[int, int, int]:
    """(vectors in all shards, dimension, faiss metric), after checking that every shard has one docid
    per vector and that all share one dimension and metric."""
    shapes = []
    for shard in shards:
        with FlatIndex(shard / "index") as index:
            shapes.append((index.rows, index.dim, index.metric))
        if not (shard / "docid").is_file():
            raise InputError(shard, "index shard without its docid file")
        with open(shard / "docid", "rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        if lines != shapes[-1][0]:
            raise InputError(shard / "docid", f"{lines} docids for {shapes[-1][0]} vectors in the index")
    if len({(d, m) for _, d, m in shapes}) != 1:
        raise InputError(embeddings, f"the shards differ in dimension or metric: {sorted(set(shapes))}")
    return sum(r for r, _, _ in shapes), shapes[0][1], shapes[0][2]


def _shard_blocks(shards: list[Path], hasher=None) -> Iterator[np.ndarray]:
    for shard in shards:
        with FlatIndex(shard / "index") as index:
            for _, block in index.blocks(BLOCK, hasher):
                yield block


def index_from_embeddings(embeddings: PathLike, out: PathLike, index_factory: str = DEFAULT_FACTORY,
                          train_size: int | None = None, search_params: str | None = None,
                          overwrite: bool = True) -> dict:
    """One dense index (``index``, ``docid``, ``manifest.json``) from precomputed embeddings, of the
    kind ``index_factory`` names (``Flat`` by default); returns its manifest."""
    started = time.perf_counter()
    shards = embedding_parts(embeddings)
    ntotal, dim, metric = shard_shape(embeddings, shards)
    if index_factory != DEFAULT_FACTORY or search_params:
        check_factory(index_factory, dim, metric, search_params, ntotal)
    run = Path(embeddings, RUN_FILE)
    info = json.loads(run.read_text(encoding="utf-8")) if run.exists() else {}
    with atomic_dir(out, overwrite, command=INDEX_COMMAND, inputs=[embeddings], legacy=LEGACY) as tmp:
        built = write_index(tmp / "index", dim, ntotal, lambda hasher: _shard_blocks(shards, hasher), metric,
                            index_factory, train_size, search_params)
        with open(tmp / "docid", "wb") as target:
            for shard in shards:
                with open(shard / "docid", "rb") as source:
                    shutil.copyfileobj(source, target)
        flat = index_factory == DEFAULT_FACTORY
        manifest = {"kind": ("faiss-flat-ip" if metric == 0 else "faiss-flat-l2") if flat else "faiss-index-factory",
                    "corpus": {"path": info.get("corpus"), "sha256": info.get("corpus_sha256"), "passages": ntotal},
                    "encoder": info.get("encoder"), "embeddings": {"path": str(embeddings), "shards": len(shards)},
                    **built, "seconds": round(time.perf_counter() - started, 2)}
        write_json(tmp / "manifest.json", manifest)
    return manifest
