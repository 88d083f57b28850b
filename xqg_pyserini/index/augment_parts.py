"""xQG augmentation part by part: memory bounded by a part, not by the corpus or its questions.

:class:`~xqg_pyserini.index.augment.AugmentationPlan` holds 48 bytes per query (its keys and the row
each query goes to): 30 GB for the paper's 630M questions. A distributed run cuts the corpus into the
same parts for generation (``xqg generate --ray``: ``Q/part-*.jsonl``) and for encoding (``xqg encode``:
``EMB/part-*/``), so each query part belongs to exactly one index part. Here one plan is built per
part, its fused vectors are streamed out, and it is dropped before the next: the passes over the
corpus hold one part's queries at a time. Query embeddings are cached per part file (an interrupted
run re-encodes nothing it finished). The output is one index of any FAISS kind, in corpus order.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from xqg_pyserini.data.io import InputError, atomic_dir, write_json
from xqg_pyserini.encode.queries import embed_queries
from xqg_pyserini.generation.queries import query_files
from xqg_pyserini.index.augment import COMMAND, DEFAULT_BLOCK, FUSIONS, LEGACY, MIXTURE, AugmentationPlan, check_options
from xqg_pyserini.index.encoded import BLOCK, RUN_FILE, embedding_parts, shard_shape
from xqg_pyserini.index.factory import DEFAULT_FACTORY, check_factory, write_index
from xqg_pyserini.index.faiss import FlatIndex, check_model

__all__ = ["augment_parts", "check_parts_options", "is_parts_dir"]
PathLike = str | os.PathLike


def is_parts_dir(index_dir: PathLike) -> bool:
    """Whether ``index_dir`` is a directory of index parts (``xqg encode``) rather than one index."""
    path = Path(index_dir)
    return path.is_dir() and not (path / "index").exists() and (path / RUN_FILE).is_file()


class _PartPlans:
    """The index parts with their query parts; each pass builds one part's plan at a time."""

    def __init__(self, shards: list[Path], queries: dict[str, Path], encoder, cache, languages, per_language,
                 on_unknown_docid: str):
        self.shards, self.queries, self.encoder, self.cache = shards, queries, encoder, cache
        self.languages, self.per_language, self.on_unknown = languages, per_language, on_unknown_docid
        self.counts: dict = {}

    def plan(self, shard: Path) -> AugmentationPlan | None:
        source = self.queries.get(shard.name)
        if source is None or source.stat().st_size == 0:
            return None
        embeddings = embed_queries(source, self.encoder, self.cache)
        langs = self.languages and [lang for lang in self.languages if lang in embeddings.keys.langs]
        if self.languages and not langs:  # none of its passages got queries in these languages
            return None
        return AugmentationPlan(shard, embeddings, langs or None, self.per_language, self.on_unknown)

    def blocks(self, fusion: str, weight: float, normalize: bool, block_size: int, hasher=None) -> Iterator[np.ndarray]:
        counts = {"passages": 0, "passages_augmented": 0, "queries_used": 0, "queries_skipped": 0,
                  "queries_not_selected": 0, "queries_per_passage": {"min": None, "max": 0}}
        for shard in self.shards:
            plan = self.plan(shard)
            if plan is None:
                with FlatIndex(shard / "index") as index:
                    counts["passages"] += index.rows
                    yield from (block for _, block in index.blocks(BLOCK, hasher))
                continue
            yield from plan.blocks(fusion, weight, normalize, block_size, hasher)
            for key in ("passages", "passages_augmented", "queries_used", "queries_skipped", "queries_not_selected"):
                counts[key] += plan.counts[key]
            low, high = plan.counts["queries_per_passage"]["min"], plan.counts["queries_per_passage"]["max"]
            if plan.counts["passages_augmented"]:
                seen = counts["queries_per_passage"]
                seen["min"] = low if seen["min"] is None else min(seen["min"], low)
                seen["max"] = max(seen["max"], high)
        counts["queries_per_passage"]["min"] = counts["queries_per_passage"]["min"] or 0
        self.counts = counts


def check_parts_options(fusion: str, queries_dir: PathLike) -> None:
    """What augmentation part by part cannot do, refused before anything is read: the mixture fusion
    (one index per query language) and queries in one file (they cannot be paired with the parts)."""
    if fusion == MIXTURE:
        raise InputError(None, f"augmentation part by part writes one index for all query languages: fusion must be "
                               f"one of {FUSIONS}, not {MIXTURE!r} (one index per language needs one input index: "
                               "build it with `xqg index dense --embeddings`, then augment_per_language)")
    if Path(queries_dir).is_file():
        raise InputError(queries_dir, "augmentation part by part needs the directory of query parts "
                                      "`xqg generate --ray` writes, not one file: build one index with "
                                      "`xqg index dense --embeddings` and augment that")


def augment_parts(index_parts: PathLike, queries_dir: PathLike, encoder, out_dir: PathLike, fusion: str = "sum",
                  weight: float = 0.01, normalize: bool = False, languages: Sequence[str] | None = None,
                  queries_per_language: int | None = None, on_unknown_docid: str = "error",
                  block_size: int = DEFAULT_BLOCK, cache: PathLike | None = None, overwrite: bool = True,
                  index_factory: str = DEFAULT_FACTORY, train_size: int | None = None,
                  search_params: str | None = None) -> dict:
    """Augment an index encoded in parts (``xqg encode``) with queries generated in the same parts
    (``xqg generate --ray``, same corpus and part size) into one index at ``out_dir``; returns its manifest."""
    from xqg_pyserini.encode.encoders import load_encoder

    started = time.perf_counter()
    check_parts_options(fusion, queries_dir)
    check_options(fusion, weight, block_size, on_unknown_docid, queries_per_language)
    shards = embedding_parts(index_parts)
    queries = {f.name[:-len(".jsonl")]: f for f in query_files(queries_dir)}
    stray = sorted(set(queries) - {s.name for s in shards})
    if stray and on_unknown_docid == "error":
        raise InputError(queries[stray[0]], f"no index part {stray[0]} in {index_parts}: were the queries generated "
                                            "from the same corpus with the same part size?")
    ntotal, dim, metric = shard_shape(index_parts, shards)
    if index_factory != DEFAULT_FACTORY or search_params:
        check_factory(index_factory, dim, metric, search_params, ntotal)
    enc = load_encoder(encoder)
    check_model(Path(index_parts, RUN_FILE), enc.describe())
    plans = _PartPlans(shards, queries, enc, cache, languages, queries_per_language, on_unknown_docid)
    source = hashlib.sha256()
    with atomic_dir(out_dir, overwrite, command=COMMAND, inputs=[index_parts, queries_dir], legacy=LEGACY) as tmp:
        built = write_index(tmp / "index", dim, ntotal,
                            lambda hasher: plans.blocks(fusion, weight, normalize, block_size, hasher), metric,
                            index_factory, train_size, search_params, hasher=source)
        with open(tmp / "docid", "wb") as target:
            for shard in shards:
                with open(shard / "docid", "rb") as part:
                    shutil.copyfileobj(part, target)
        flat = index_factory == DEFAULT_FACTORY
        manifest = {"kind": ("faiss-flat-ip" if metric == 0 else "faiss-flat-l2") if flat else "faiss-index-factory",
                    "stage": "xqg-augment", "parts": len(shards),
                    "inputs": {"index": {"path": str(index_parts), "index_sha256": source.hexdigest()},
                               "queries": {"path": str(queries_dir), "parts": len(queries)}},
                    "encoder": enc.describe(), "fusion": fusion, "weight": weight, "normalize": normalize,
                    "languages": list(languages) if languages else None, "queries_per_language": queries_per_language,
                    "on_unknown_docid": on_unknown_docid, "block_size": block_size, "dimension": dim,
                    "counts": plans.counts, **({} if flat else {k: v for k, v in built.items() if k != "index_sha256"}),
                    "output": {"index_sha256": built["index_sha256"]}, "seconds": round(time.perf_counter() - started, 3)}
        write_json(tmp / "manifest.json", manifest)
    return manifest
