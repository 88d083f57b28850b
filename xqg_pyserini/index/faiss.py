"""Pyserini's flat FAISS index file, read and written by its layout, without faiss, block by block.

faiss writes an IndexFlatIP as: fourcc ``IxFI`` (``IxF2`` for IndexFlatL2), d (int32), ntotal (int64),
two unused int64 (1 << 20), is_trained (uint8), metric (int32: 0 inner product, 1 L2), the number of
floats (uint64), then the float32 vectors row after row (faiss/impl/index_write.cpp). Reading maps
the file and drops the pages of each block after use, so a pass over an index of any size keeps a
small resident set; writing takes blocks, so the whole index is never in memory either.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import struct
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from xqg_pyserini.io import InputError, atomic_file, require_file

_FOURCC = {b"IxFI": 0, b"IxF2": 1}
_HEAD = struct.Struct("<4siqqqBiQ")
PathLike = str | os.PathLike


class MappedMatrix:
    """A float32 matrix stored in a file at ``offset``, read through mmap.

    ``release`` drops the pages touched so far from this process (they stay in the page cache), so a
    pass over a huge file keeps a small resident set.
    """

    def __init__(self, path: Path, offset: int, rows: int, dim: int):
        self.path, self.rows, self.dim = path, rows, dim
        self._file = open(path, "rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self.array = np.frombuffer(self._map, "<f4", rows * dim, offset).reshape(rows, dim)

    def release(self) -> None:
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        self.array = None
        try:
            self._map.close()
        except BufferError:  # a caller still holds a view of the map; it is unmapped when that goes
            pass
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FlatIndex(MappedMatrix):
    """A faiss IndexFlatIP/IndexFlatL2 file, read from its layout; ``.array`` is the (mapped) vectors."""

    def __init__(self, path: PathLike):
        path = require_file(path, "FAISS index")
        with open(path, "rb") as f:
            head = f.read(_HEAD.size)
        if len(head) < _HEAD.size or head[:4] not in _FOURCC:
            raise InputError(path, "not a flat FAISS index (IndexFlatIP or IndexFlatL2)")
        _, dim, rows, _, _, _, self.metric, floats = _HEAD.unpack(head)
        if floats != rows * dim or path.stat().st_size != _HEAD.size + 4 * floats:
            raise InputError(path, f"truncated or corrupt flat index (header says {rows} x {dim})")
        self.header = head
        super().__init__(path, _HEAD.size, rows, dim)

    def blocks(self, size: int, hasher=None) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows) blocks in order; ``hasher`` (hashlib) sees every byte of the file."""
        if hasher is not None:
            hasher.update(self.header)
        for start in range(0, self.rows, size):
            block = self.array[start:start + size]
            if hasher is not None:
                hasher.update(block)
            yield start, block
            self.release()


def write_flat_index(path: PathLike, dim: int, ntotal: int, blocks: Iterable[np.ndarray], metric: int = 0) -> str:
    """Write a faiss IndexFlatIP (metric 0) or IndexFlatL2 (1) file from row blocks, atomically, as
    ``faiss.write_index`` lays it out; returns its sha256. ``ntotal`` is in the header, so it comes first."""
    fourcc = {m: c for c, m in _FOURCC.items()}[metric]
    digest, written = hashlib.sha256(), 0
    with atomic_file(path, "wb") as f:
        header = _HEAD.pack(fourcc, dim, ntotal, 1 << 20, 1 << 20, 1, metric, ntotal * dim)
        f.write(header)
        digest.update(header)
        for block in blocks:
            block = np.ascontiguousarray(block, dtype="<f4")
            written += len(block)
            if block.ndim != 2 or block.shape[1] != dim or written > ntotal:
                raise ValueError(f"{path}: block of shape {block.shape} does not fit {ntotal} x {dim}")
            f.write(block.data)
            digest.update(block.data)
        if written != ntotal:
            raise ValueError(f"{path}: {written} vectors written, header says {ntotal}")
    return digest.hexdigest()


def npy_matrix(path: Path) -> tuple[int, tuple[int, ...]]:
    """(data offset, shape) of a float32 C-order .npy file."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                 else np.lib.format.read_array_header_2_0)(f)
        if fortran or dtype != np.dtype("<f4") or len(shape) != 2:
            raise InputError(path, "expected a 2-d float32 C-order .npy")
        return f.tell(), shape
