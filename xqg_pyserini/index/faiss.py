"""FAISS flat inner-product indexes in Pyserini's layout (``index`` + ``docid`` + ``manifest.json``).

``build_faiss_index`` encodes a corpus with faiss itself; :class:`FlatIndex` and ``write_flat_index``
read and write the flat index file by its layout, without faiss, block by block (augmentation
streams indexes of any size through them).

faiss writes an IndexFlatIP as: fourcc ``IxFI`` (``IxF2`` for IndexFlatL2), d (int32), ntotal (int64),
two unused int64 (1 << 20), is_trained (uint8), metric (int32: 0 inner product, 1 L2), the number of
floats (uint64), then the float32 vectors row after row (faiss/impl/index_write.cpp). Reading maps
the file and drops the pages of each block after use, so a pass over an index of any size keeps a
small resident set; writing takes blocks, so the whole index is never in memory either.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from xqg_pyserini.data.corpus import corpus_files, corpus_sha256, read_corpus
from xqg_pyserini.data.io import InputError, MappedMatrix, atomic_dir, atomic_file, require_file
from xqg_pyserini.index.lucene import read_manifest

_FOURCC = {b"IxFI": 0, b"IxF2": 1}
_HEAD = struct.Struct("<4siqqqBiQ")
PathLike = str | os.PathLike


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


def check_model(path: Path, desc: dict) -> None:
    """The index's own manifest (``path``, if any) must name the model that embedded the queries."""
    try:
        built = json.loads(path.read_text(encoding="utf-8")).get("encoder") if path.exists() else None
    except (ValueError, AttributeError):
        raise InputError(path, "not a JSON object") from None
    if not isinstance(built, dict):
        return
    names = {desc.get("model"), desc.get("path")} - {None}
    if built.get("model") and not names & {built.get("model"), built.get("path")}:
        raise InputError(path, f"the index was built with model {built['model']!r} but the queries are "
                               f"embedded with {desc.get('model')!r}")
    for key in ("dimension", "pooling", "l2_norm"):
        if key in built and key in desc and built[key] != desc[key]:
            raise InputError(path, f"the index was built with {key}={built[key]!r}, the query encoder has {desc[key]!r}")


def docid_rows(docid_path: Path, docids: Sequence[str], ntotal: int) -> tuple[np.ndarray, str]:
    """Index row of each of ``docids`` (-1 if absent) from Pyserini's docid file, and its sha256."""
    lookup = {d: k for k, d in enumerate(docids)}
    rows, digest, count = np.full(len(docids), -1, np.int64), hashlib.sha256(), 0
    with open(docid_path, "rb") as f:
        for count, raw in enumerate(f, start=1):
            digest.update(raw)
            k = lookup.get(raw.decode("utf-8", "replace").rstrip())  # as Pyserini's load_docids strips
            if k is not None:
                if rows[k] >= 0:
                    raise InputError(docid_path, f"duplicate docid {docids[k]!r}", line=count)
                rows[k] = count - 1
    if count != ntotal:
        raise InputError(docid_path, f"{count} docids for {ntotal} vectors in the index")
    return rows, digest.hexdigest()


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


COMMAND = "index dense"
#: What marks a dense index written before output markers existed.
LEGACY = ("manifest.json", "docid")


def write_faiss_index(vectors: np.ndarray, docids: list[str], index_dir: str | Path,
                      manifest: dict | None = None, overwrite: bool = True, inputs: tuple = ()) -> Path:
    """Write ``index`` (IndexFlatIP) and ``docid`` in Pyserini's layout, plus ``manifest.json``; an
    existing ``index_dir`` is replaced only if it is an earlier dense index (and ``overwrite``)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(docids):
        raise ValueError(f"{len(docids)} docids but vectors of shape {vectors.shape}")
    with atomic_dir(index_dir, overwrite, command=COMMAND, inputs=inputs, legacy=LEGACY) as tmp:
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        faiss.write_index(index, str(tmp / "index"))
        (tmp / "docid").write_text("".join(f"{d}\n" for d in docids), encoding="utf-8")
        if manifest is not None:
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return Path(index_dir)


def build_faiss_index(corpus: str | Path, encoder, index_dir: str | Path, batch_size: int | None = None,
                      overwrite: bool = True) -> Path:
    """Encode every passage ("title text") with ``encoder`` (a TransformerEncoder) into a flat IP index."""
    from xqg_pyserini.data.io import claim_output

    claim_output(index_dir, COMMAND, overwrite=overwrite, inputs=[corpus], legacy=LEGACY)  # before encoding
    start = time.time()
    rows = read_corpus(corpus)
    vectors = encoder.encode_passages([r.text for r in rows], [r.title for r in rows], batch_size=batch_size)
    files = corpus_files(corpus)
    manifest = {
        "kind": "faiss-flat-ip",
        "corpus": {"path": str(files[0] if len(files) == 1 else corpus), "sha256": corpus_sha256(corpus),
                   "passages": len(rows)},
        "encoder": encoder.describe(),
        "seconds": round(time.time() - start, 2),
    }
    return write_faiss_index(vectors, [r.docid for r in rows], index_dir, manifest, overwrite, (corpus,))


def ensure_faiss(corpus: str | Path, encoder, index_dir: str | Path) -> Path:
    """Build the FAISS index unless one from this corpus and this encoder exists (its manifest says so)."""
    manifest = read_manifest(index_dir)
    if manifest.get("corpus", {}).get("sha256") == corpus_sha256(corpus) and manifest.get("encoder") == encoder.describe():
        return Path(index_dir)
    return build_faiss_index(corpus, encoder, index_dir)
