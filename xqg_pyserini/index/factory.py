"""Any FAISS index from a stream of vector blocks, in bounded memory: flat, IVF-PQ, HNSW...

The index is named by a FAISS index-factory string (``Flat``, ``IVF4096,PQ48``, ``HNSW32``,
``OPQ48,IVF4096,PQ48``...). ``Flat`` is written by its file layout, block by block
(:func:`~xqg_pyserini.index.faiss.write_flat_index`), bit for bit what faiss writes. Any other kind
is built by faiss itself from two passes over the blocks: the first keeps a uniform random sample
of ``train_size`` rows (seeded) to train on, the second adds the vectors block by block. Memory is
then the sample, one block and the index's own structures (an IVF-PQ index holds codes, not
vectors), never all the vectors. Search settings that Pyserini's ``FaissSearcher`` cannot pass
(``nprobe``, ``efSearch``) are stored in the index file, where faiss keeps them.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Callable, Iterable

import numpy as np

from xqg_pyserini.data.io import InputError, atomic_file
from xqg_pyserini.index.faiss import write_flat_index

__all__ = ["DEFAULT_FACTORY", "DEFAULT_NPROBE", "check_factory", "default_train_size", "write_index"]

DEFAULT_FACTORY = "Flat"
#: IVF lists searched per query when none is given (faiss's own default, 1, loses most neighbours).
DEFAULT_NPROBE = 32
#: Training points per IVF list (faiss warns below 39) and the least for anything trained (PQ: 256 x 39).
POINTS_PER_LIST, MIN_TRAIN = 40, 10_000
PathLike = str | os.PathLike
#: ``blocks(hasher)``: a fresh pass over the vectors in order (``hasher``, if given, sees the source bytes).
Blocks = Callable[[object], Iterable[np.ndarray]]


def _problem(err: Exception) -> str:
    """What a faiss error says, without its C++ location."""
    text = " ".join(str(err).split())
    return re.sub(r"^Error in .*? at \S+:\d+: ", "", text) or "unknown error"


def check_factory(factory: str, dim: int, metric: int = 0, search_params: str | None = None,
                  ntotal: int | None = None):
    """(the empty faiss index a factory string names, with ``search_params`` set; those parameters,
    ``nprobe=32`` for an IVF index when none are given). A bad string, bad parameters or more IVF
    lists than the ``ntotal`` vectors could train are an InputError, before any work."""
    import faiss

    if not isinstance(factory, str) or not factory.strip():
        raise InputError(None, "the index factory string is empty (e.g. Flat, IVF4096,PQ48, HNSW32)")
    try:
        index = faiss.index_factory(dim, factory, metric)
    except RuntimeError as err:
        raise InputError(None, f"FAISS cannot build index {factory!r} for dimension {dim}: {_problem(err)}") from None
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and ntotal is not None and ntotal < ivf.nlist:
        raise InputError(None, f"{factory} has {ivf.nlist} lists but only {ntotal} vectors to train them on; "
                               f"choose fewer lists (e.g. IVF{max(1, ntotal // POINTS_PER_LIST)})")
    if search_params is None and ivf is not None:
        search_params = f"nprobe={DEFAULT_NPROBE}"
    if search_params:  # faiss keeps them in the index file
        try:
            faiss.ParameterSpace().set_index_parameters(index, search_params)
        except RuntimeError as err:
            raise InputError(None, f"bad search parameters {search_params!r} for {factory}: {_problem(err)}") from None
    return index, search_params


def default_train_size(index, ntotal: int) -> int:
    """Rows to train on: 40 per IVF list (at least 10k), all rows when there are fewer."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    return min(ntotal, max(MIN_TRAIN, POINTS_PER_LIST * (ivf.nlist if ivf is not None else 0)))


def _sample(blocks: Iterable[np.ndarray], rows: np.ndarray, dim: int) -> np.ndarray:
    """The rows (sorted indices) of the stream, gathered in one pass."""
    out, start, taken = np.empty((len(rows), dim), np.float32), 0, 0
    for block in blocks:
        lo, hi = np.searchsorted(rows, [start, start + len(block)])
        out[taken:taken + hi - lo] = block[rows[lo:hi] - start]
        taken, start = taken + hi - lo, start + len(block)
    if taken != len(rows):
        raise ValueError(f"the vectors ended after {start} rows; the sample wanted row {rows[taken]}")
    return out


def write_index(path: PathLike, dim: int, ntotal: int, blocks: Blocks, metric: int = 0,
                factory: str = DEFAULT_FACTORY, train_size: int | None = None, search_params: str | None = None,
                seed: int = 0, hasher=None) -> dict:
    """Write the index ``factory`` names, holding the ``ntotal`` vectors of ``blocks``, at ``path``
    (atomically); returns what a manifest records (factory, training, search settings, the seconds of
    each pass: sampling, training, adding (each block fused or read on the way), sha256)."""
    if factory == DEFAULT_FACTORY and not search_params:
        digest = write_flat_index(path, dim, ntotal, blocks(hasher), metric)
        return {"index_factory": factory, "index_sha256": digest}
    import faiss

    index, search_params = check_factory(factory, dim, metric, search_params, ntotal)
    seconds, started = {}, time.perf_counter()
    trained_on = 0
    if not index.is_trained:
        size = default_train_size(index, ntotal) if train_size is None else min(train_size, ntotal)
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None and size < ivf.nlist:
            raise InputError(None, f"{factory} has {ivf.nlist} lists: train it on at least as many vectors, not {size}")
        rows = np.sort(np.random.default_rng(seed).choice(ntotal, size, replace=False))
        sample = _sample(blocks(None), rows, dim)
        seconds["sample"], started = round(time.perf_counter() - started, 2), time.perf_counter()
        try:
            index.train(sample)
        except RuntimeError as err:
            raise InputError(None, f"FAISS could not train {factory} on {size} vectors: {_problem(err)}") from None
        trained_on = size
        del sample
        seconds["train"], started = round(time.perf_counter() - started, 2), time.perf_counter()
    for block in blocks(hasher):
        index.add(np.ascontiguousarray(block, dtype=np.float32))
    if index.ntotal != ntotal:
        raise ValueError(f"{path}: {index.ntotal} vectors added, {ntotal} expected")
    seconds["add"] = round(time.perf_counter() - started, 2)
    digest = hashlib.sha256()
    with atomic_file(path, "wb") as f:
        writer = faiss.PyCallbackIOWriter(lambda data: (digest.update(data), f.write(data))[1])
        faiss.write_index(index, writer)
        del writer
    return {"index_factory": factory, "train_size": trained_on, "train_seed": seed, "search_params": search_params,
            "build_seconds": seconds, "index_sha256": digest.hexdigest()}
