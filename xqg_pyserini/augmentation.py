"""xQG augmentation: mix the embeddings of generated queries into the passage vectors of a flat index.

Fusion (computed in float64, rounded once to float32; passages without queries keep their vectors):
  ``sum``  (the paper) ``e' = (1-a)*e_p + a*SUM(e_q)``, default a=0.01;
  ``mean``             ``e' = (1-b)*e_p + b*mean(e_q)``, which does not grow with the number of queries;
optionally L2-normalised afterwards. Memory does not grow with the index: the IndexFlat file is parsed
here (no faiss) and read block by block through mmap, the output is written block by block, and query
embeddings are cached once per (queries file, encoder) in an ``.npy`` that is mapped, never loaded.
"""
from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import struct
import time
import warnings
from array import array
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from xqg_pyserini.io import InputError, atomic_dir, atomic_file, cache_dir, read_jsonl, require_file, write_json

FUSIONS = ("sum", "mean")
DEFAULT_BLOCK = 8192
_FOURCC = {b"IxFI": 0, b"IxF2": 1}  # faiss IndexFlatIP / IndexFlatL2 (metric 0 = inner product, 1 = L2)
# fourcc, d (int32), ntotal (int64), two unused int64 (1 << 20), is_trained (uint8), metric (int32); then
# the number of floats (uint64) and the float32 codes, row after row (faiss/impl/index_write.cpp).
_HEAD = struct.Struct("<4siqqqBiQ")
PathLike = str | os.PathLike


# ------------------------------------------------------------------ flat index and .npy files, mapped

class _Mapped:
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


class FlatIndex(_Mapped):
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


def _npy_matrix(path: Path) -> tuple[int, tuple[int, ...]]:
    """(data offset, shape) of a float32 C-order .npy file."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                 else np.lib.format.read_array_header_2_0)(f)
        if fortran or dtype != np.dtype("<f4") or len(shape) != 2:
            raise InputError(path, "expected a 2-d float32 C-order .npy")
        return f.tell(), shape


# ------------------------------------------------------------------ generated queries and their keys

def read_queries(path: PathLike) -> Iterator[tuple[int, str, str, int, str]]:
    """(line, docid, lang, i, query) of each line of a generated-query JSONL file, validated."""
    for number, row in read_jsonl(path):
        docid, lang, i, query = (row.get(k) for k in ("docid", "lang", "i", "query"))
        for name, value, ok in (("docid", docid, isinstance(docid, str) and docid),
                                ("lang", lang, isinstance(lang, str) and lang),
                                ("i", i, isinstance(i, int) and not isinstance(i, bool) and i >= 0),
                                ("query", query, isinstance(query, str))):
            if not ok:
                raise InputError(path, f"bad or missing {name!r}: {value!r}", line=number)
        yield number, docid, lang, i, query


@dataclass
class QueryKeys:
    """The keys of a query file in compact form: vocabularies plus an int64 row (doc, lang, i, line)
    per query, in file order."""

    path: Path
    docids: list[str]
    langs: list[str]
    table: np.ndarray

    @classmethod
    def read(cls, path: PathLike) -> "QueryKeys":
        docs: dict[str, int] = {}
        langs: dict[str, int] = {}
        flat = array("q")
        for line, docid, lang, i, _ in read_queries(path):
            flat.extend((docs.setdefault(docid, len(docs)), langs.setdefault(lang, len(langs)), i, line))
        if not flat:
            raise InputError(path, "no queries")
        keys = cls(Path(path), list(docs), list(langs), np.frombuffer(flat, np.int64).reshape(-1, 4))
        keys._check_unique()
        return keys

    def __len__(self) -> int:
        return len(self.table)

    def _check_unique(self) -> None:
        t = self.table
        order = np.lexsort((t[:, 2], t[:, 1], t[:, 0]))
        same = np.flatnonzero(np.all(t[order[1:], :3] == t[order[:-1], :3], axis=1))
        if len(same):
            a, b = sorted(t[order[same[0]:same[0] + 2], 3])
            doc, lang, i = t[order[same[0]], :3]
            raise InputError(self.path, f"duplicate query (docid {self.docids[doc]!r}, lang {self.langs[lang]!r}, "
                                        f"i {i}), first on line {a}", line=int(b))

    def select(self, languages: Sequence[str] | None = None, per_language: int | None = None) -> np.ndarray:
        """Indices (in file order) of the queries kept: those in ``languages``, and of each
        (docid, lang) only the first ``per_language`` by ``i``."""
        t, idx = self.table, np.arange(len(self.table))
        if languages is not None:
            missing = [lang for lang in languages if lang not in self.langs]
            if missing:
                raise InputError(self.path, f"no queries in language(s) {', '.join(missing)} "
                                            f"(the file has {', '.join(sorted(self.langs))})")
            idx = np.flatnonzero(np.isin(t[:, 1], [self.langs.index(lang) for lang in languages]))
        if per_language is not None:
            if per_language < 1:
                raise ValueError(f"queries per language must be at least 1, not {per_language}")
            order = idx[np.lexsort((t[idx, 2], t[idx, 1], t[idx, 0]))]
            group = t[order, 0] * len(self.langs) + t[order, 1]
            pos = np.arange(len(order))
            first = np.maximum.accumulate(np.where(np.r_[True, group[1:] != group[:-1]], pos, 0))
            idx = np.sort(order[pos - first < per_language])
        return idx


# ------------------------------------------------------------------ query embeddings, cached

def sha256_file(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_encoder(encoder, preset: str | None = None):
    """A model name/path becomes a TransformerEncoder; an object with ``encode_queries`` and
    ``describe`` (or a Pyserini adapter holding one as ``.encoder``) is used as is."""
    if isinstance(encoder, (str, os.PathLike)):
        from xqg_pyserini.encoders import TransformerEncoder

        return TransformerEncoder(str(encoder), preset)
    inner = getattr(encoder, "encoder", None)
    if not hasattr(encoder, "encode_queries") and hasattr(inner, "encode_queries"):
        encoder = inner
    if not (hasattr(encoder, "encode_queries") and hasattr(encoder, "describe")):
        raise TypeError(f"{type(encoder).__name__} has no encode_queries()/describe()")
    return encoder


@dataclass
class QueryEmbeddings:
    """Embeddings of every query of one file by one encoder: row k of ``npy`` is query k of ``keys``."""

    keys: QueryKeys
    npy: Path
    queries_sha256: str
    encoder: dict
    reused: bool

    @property
    def dimension(self) -> int:
        return int(_npy_matrix(self.npy)[1][1])

    def open(self) -> _Mapped:
        offset, (rows, dim) = _npy_matrix(self.npy)
        return _Mapped(self.npy, offset, rows, dim)


def embed_queries(queries_file: PathLike, encoder, cache: PathLike | None = None,
                  chunk_size: int = 4096) -> QueryEmbeddings:
    """Embed all queries of the file with the retriever's query side, once per (file content, encoder).

    The cache (``cache_dir("embeddings")`` unless given) holds ``<key>.npy`` (float32), ``<key>.keys.npy``
    (int64 doc/lang/i/line) and the ``<key>.json`` sidecar (docid and language vocabularies, the sha256
    of the queries file, the encoder description); no pickle. It covers the whole file, so any later
    selection, fusion or weight reuses it. Texts are encoded ``chunk_size`` at a time and streamed out.
    """
    path = require_file(queries_file, "queries file")
    enc = load_encoder(encoder)
    desc = json.loads(json.dumps(enc.describe(), sort_keys=True))
    queries_sha = sha256_file(path)
    stem = Path(cache) if cache is not None else cache_dir("embeddings")
    stem.mkdir(parents=True, exist_ok=True)
    stem = stem / hashlib.sha256(f"{queries_sha} {json.dumps(desc, sort_keys=True)}".encode()).hexdigest()[:32]
    npy, keys_npy, sidecar = (Path(f"{stem}{suffix}") for suffix in (".npy", ".keys.npy", ".json"))
    keys = _cached_keys(path, sidecar, keys_npy, npy, queries_sha, desc)
    if keys is not None:
        return QueryEmbeddings(keys, npy, queries_sha, desc, reused=True)
    keys = QueryKeys.read(path)
    dim = _encode_to_npy(path, enc, len(keys), npy, chunk_size)
    with atomic_file(keys_npy, "wb") as f:
        np.save(f, keys.table, allow_pickle=False)
    write_json(sidecar, {"format": 1, "queries_file": str(path), "queries_sha256": queries_sha, "encoder": desc,
                         "count": len(keys), "dimension": dim, "docids": keys.docids, "langs": keys.langs,
                         "embeddings": npy.name, "keys": keys_npy.name, "key_columns": ["doc", "lang", "i", "line"]})
    return QueryEmbeddings(keys, npy, queries_sha, desc, reused=False)


def _cached_keys(path: Path, sidecar: Path, keys_npy: Path, npy: Path, queries_sha: str, desc: dict) -> QueryKeys | None:
    """The keys of a complete, matching cache entry, or None (then it is rebuilt)."""
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        table = np.load(keys_npy, allow_pickle=False)
        shape = _npy_matrix(npy)[1]
    except (OSError, ValueError, InputError):
        return None
    if (meta.get("queries_sha256") != queries_sha or meta.get("encoder") != desc or table.shape != (meta.get("count"), 4)
            or tuple(shape) != (meta.get("count"), meta.get("dimension"))):
        return None
    return QueryKeys(path, meta["docids"], meta["langs"], table)


def _encode_to_npy(path: Path, enc, count: int, out: Path, chunk_size: int) -> int:
    texts = (query for *_, query in read_queries(path))
    dim, done = None, 0
    with atomic_file(out, "wb") as f:
        while chunk := list(islice(texts, chunk_size)):
            vectors = np.ascontiguousarray(enc.encode_queries(chunk), dtype="<f4")
            if vectors.ndim != 2 or len(vectors) != len(chunk) or dim not in (None, vectors.shape[1]):
                raise ValueError(f"encoder returned shape {vectors.shape} for {len(chunk)} queries")
            if dim is None:
                dim = vectors.shape[1]
                np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (count, dim)})
            f.write(vectors.data)
            done += len(chunk)
    if done != count:
        raise InputError(path, f"changed while it was being encoded ({count} queries, then {done})")
    return int(dim)


# ------------------------------------------------------------------ fusion

def fuse_block(block: np.ndarray, start: int, rows: np.ndarray, sources: np.ndarray, embeddings: np.ndarray,
               fusion: str = "sum", weight: float = 0.01, normalize: bool = False,
               chunk: int = DEFAULT_BLOCK) -> np.ndarray:
    """Fuse the passage vectors ``block`` (index rows ``start``...) with their queries.

    ``rows`` (sorted) is the index row of each query, ``sources`` its row in ``embeddings``. Queries
    are summed in file order, ``chunk`` at a time, so the result does not depend on block sizes.
    A block without queries is returned as is (bit for bit); otherwise a new array.
    """
    lo, hi = np.searchsorted(rows, [start, start + len(block)])
    if lo == hi:
        return block
    targets, first = np.unique(rows[lo:hi], return_index=True)
    sums = np.zeros((len(targets), block.shape[1]))
    for a in range(lo, hi, chunk):
        r = rows[a:min(hi, a + chunk)]
        seg = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        sums[np.searchsorted(targets, r[seg])] += np.add.reduceat(
            embeddings[sources[a:a + len(r)]].astype(np.float64), seg, axis=0)
    if fusion == "mean":
        sums /= np.diff(np.append(first, hi - lo))[:, None]
    fused = (1.0 - weight) * block[targets - start].astype(np.float64) + weight * sums
    if normalize:
        norms = np.linalg.norm(fused, axis=1, keepdims=True)
        fused /= np.where(norms > 0, norms, 1.0)
    out = np.array(block, dtype=np.float32)
    out[targets - start] = fused
    return out


def _check_options(fusion: str, weight: float, block_size: int, on_unknown_docid: str = "error") -> None:
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, not {fusion!r}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], not {weight}")
    if block_size < 1:
        raise ValueError(f"block size must be at least 1, not {block_size}")
    if on_unknown_docid not in ("error", "skip"):
        raise ValueError(f"on_unknown_docid must be 'error' or 'skip', not {on_unknown_docid!r}")


def _check_model(index_dir: Path, desc: dict) -> None:
    """The index's own manifest (if any) must name the model that embedded the queries."""
    path = index_dir / "manifest.json"
    built = json.loads(path.read_text(encoding="utf-8")).get("encoder") if path.exists() else None
    if not isinstance(built, dict):
        return
    names = {desc.get("model"), desc.get("path")} - {None}
    if built.get("model") and not names & {built.get("model"), built.get("path")}:
        raise InputError(path, f"the index was built with model {built['model']!r} but the queries are "
                               f"embedded with {desc.get('model')!r}")
    for key in ("dimension", "pooling", "l2_norm"):
        if key in built and key in desc and built[key] != desc[key]:
            raise InputError(path, f"the index was built with {key}={built[key]!r}, the query encoder has {desc[key]!r}")


def _rows_of(docid_path: Path, docids: Sequence[str], ntotal: int) -> tuple[np.ndarray, str]:
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


class AugmentationPlan:
    """Which index row each selected query embedding goes to. Built once per (index, embeddings,
    selection), it fuses for any fusion/weight (``write``, ``blocks``, ``vectors``) without re-encoding
    or re-planning: a weight sweep costs one streaming pass over the index per weight."""

    def __init__(self, index_dir: PathLike, embeddings: QueryEmbeddings, languages: Sequence[str] | None = None,
                 queries_per_language: int | None = None, on_unknown_docid: str = "error"):
        _check_options("sum", 0.0, 1, on_unknown_docid)
        self.index_dir, self.embeddings = require_file(index_dir, "index directory"), embeddings
        self.index_path = require_file(self.index_dir / "index", "FAISS index")
        self.docid_path = require_file(self.index_dir / "docid", "docid file")
        with FlatIndex(self.index_path) as index:
            self.dimension, self.ntotal, self.metric = index.dim, index.rows, index.metric
        if embeddings.dimension != self.dimension:
            raise InputError(self.index_path, f"index vectors have dimension {self.dimension}, the query embeddings "
                                              f"({embeddings.encoder.get('model')}) {embeddings.dimension}")
        _check_model(self.index_dir, embeddings.encoder)
        keys = embeddings.keys
        self.selection = {"languages": list(languages) if languages else None,
                          "queries_per_language": queries_per_language, "on_unknown_docid": on_unknown_docid}
        chosen = keys.select(languages, queries_per_language)
        doc_rows, self.docid_sha256 = _rows_of(self.docid_path, keys.docids, self.ntotal)
        rows = doc_rows[keys.table[chosen, 0]]
        unknown = rows < 0
        if unknown.any() and on_unknown_docid == "error":
            k = chosen[np.flatnonzero(unknown)[0]]
            raise InputError(keys.path, f"docid {keys.docids[keys.table[k, 0]]!r} is not in the index "
                                        f"({self.docid_path})", line=int(keys.table[k, 3]))
        order = np.argsort(rows[~unknown], kind="stable")
        self.rows, self.sources = rows[~unknown][order], chosen[~unknown][order]
        per_passage = np.unique(self.rows, return_counts=True)[1]
        self.counts = {"passages": self.ntotal, "passages_augmented": len(per_passage),
                       "queries_used": len(self.rows), "queries_skipped": int(unknown.sum()),
                       "queries_not_selected": len(keys) - len(chosen),
                       "queries_per_passage": {"min": int(per_passage.min(initial=0)),
                                               "max": int(per_passage.max(initial=0))}}

    def blocks(self, fusion: str = "sum", weight: float = 0.01, normalize: bool = False,
               block_size: int = DEFAULT_BLOCK, hasher=None) -> Iterator[np.ndarray]:
        """The fused vectors, block by block in index order (views of the input where unchanged)."""
        _check_options(fusion, weight, block_size)
        with FlatIndex(self.index_path) as index, self.embeddings.open() as queries:
            for start, block in index.blocks(block_size, hasher):
                yield fuse_block(block, start, self.rows, self.sources, queries.array, fusion, weight, normalize,
                                 block_size)
                queries.release()

    def vectors(self, fusion: str = "sum", weight: float = 0.01, normalize: bool = False) -> np.ndarray:
        """All fused vectors in memory (for small indexes, e.g. a study that searches with numpy)."""
        parts = [np.array(b) for b in self.blocks(fusion, weight, normalize)]
        return np.concatenate(parts) if parts else np.zeros((0, self.dimension), np.float32)

    def write(self, out_dir: PathLike, fusion: str = "sum", weight: float = 0.01, normalize: bool = False,
              block_size: int = DEFAULT_BLOCK, started: float | None = None) -> dict:
        """Write the augmented index (``index``, ``docid``, ``manifest.json``) to ``out_dir``, atomically."""
        started = time.perf_counter() if started is None else started
        _check_options(fusion, weight, block_size)
        out = Path(out_dir)
        if out.resolve() == self.index_dir.resolve():
            raise InputError(out, "the output directory must differ from the input index")
        if fusion == "sum" and self.counts["queries_per_passage"]["min"] != self.counts["queries_per_passage"]["max"]:
            warnings.warn(f"{self.embeddings.keys.path}: passages have {self.counts['queries_per_passage']} queries; "
                          "with fusion='sum' those with more queries are favoured (fusion='mean' is not)")
        source = hashlib.sha256()
        with atomic_dir(out) as tmp:
            digest = write_flat_index(tmp / "index", self.dimension, self.ntotal,
                                      self.blocks(fusion, weight, normalize, block_size, source), self.metric)
            shutil.copyfile(self.docid_path, tmp / "docid")
            manifest = {
                "kind": "faiss-flat-ip" if self.metric == 0 else "faiss-flat-l2", "stage": "xqg-augment",
                "inputs": {"index": {"path": str(self.index_dir), "index_sha256": source.hexdigest(),
                                     "docid_sha256": self.docid_sha256},
                           "queries": {"path": str(self.embeddings.keys.path), "sha256": self.embeddings.queries_sha256,
                                       "embeddings_cache": str(self.embeddings.npy),
                                       "embeddings_reused": self.embeddings.reused}},
                "encoder": self.embeddings.encoder, "fusion": fusion, "weight": weight, "normalize": normalize,
                **self.selection, "block_size": block_size, "dimension": self.dimension, "counts": self.counts,
                "output": {"index_sha256": digest}, "seconds": round(time.perf_counter() - started, 3),
            }
            write_json(tmp / "manifest.json", manifest)
        return manifest


# ------------------------------------------------------------------ the stage

def augment_index(index_dir: PathLike, queries_file: PathLike | QueryEmbeddings, encoder, out_dir: PathLike,
                  fusion: str = "sum", weight: float = 0.01, normalize: bool = False,
                  languages: Sequence[str] | None = None, queries_per_language: int | None = None,
                  on_unknown_docid: str = "error", block_size: int = DEFAULT_BLOCK,
                  cache: PathLike | None = None) -> dict:
    """Augment a Pyserini FAISS flat index with generated queries; returns the manifest written.

    ``queries_file`` may also be a :class:`QueryEmbeddings` (then ``encoder`` is unused).
    """
    started = time.perf_counter()
    _check_options(fusion, weight, block_size, on_unknown_docid)
    require_file(Path(index_dir) / "index", "FAISS index")
    embeddings = (queries_file if isinstance(queries_file, QueryEmbeddings)
                  else embed_queries(queries_file, encoder, cache))
    plan = AugmentationPlan(index_dir, embeddings, languages, queries_per_language, on_unknown_docid)
    return plan.write(out_dir, fusion, weight, normalize, block_size, started)


def augment_per_language(index_dir: PathLike, queries_file: PathLike | QueryEmbeddings, encoder, out_dir: PathLike,
                         languages: Sequence[str] | None = None, fusion: str = "sum", weight: float = 0.01,
                         normalize: bool = False, queries_per_language: int | None = None,
                         on_unknown_docid: str = "error", block_size: int = DEFAULT_BLOCK,
                         cache: PathLike | None = None) -> dict:
    """One augmented index per target language, ``out_dir/<lang>/``, each fused with that language's
    queries only (all languages of the file by default); queries are embedded once for all."""
    started = time.perf_counter()
    _check_options(fusion, weight, block_size, on_unknown_docid)
    require_file(Path(index_dir) / "index", "FAISS index")
    embeddings = (queries_file if isinstance(queries_file, QueryEmbeddings)
                  else embed_queries(queries_file, encoder, cache))
    langs = list(languages) if languages else sorted(embeddings.keys.langs)
    with atomic_dir(out_dir) as tmp:
        parts = {lang: AugmentationPlan(index_dir, embeddings, [lang], queries_per_language, on_unknown_docid)
                 .write(tmp / lang, fusion, weight, normalize, block_size) for lang in langs}
        manifest = {"kind": "xqg-per-language", "languages": langs, "index": str(index_dir), "fusion": fusion,
                    "weight": weight, "normalize": normalize, "queries_per_language": queries_per_language,
                    "counts": {lang: m["counts"] for lang, m in parts.items()},
                    "seconds": round(time.perf_counter() - started, 3)}
        write_json(tmp / "manifest.json", manifest)
    return manifest


def topics_language(topics_file: PathLike) -> str:
    """The language of a benchmark topics file, from its name ``topics.<lang>.tsv``."""
    parts = Path(topics_file).name.split(".")
    if len(parts) != 3 or parts[0] != "topics":
        raise InputError(topics_file, "cannot tell the language from the name (expected topics.<lang>.tsv); pass lang")
    return parts[1]


class PerLanguageSearcher:
    """Routes each query to the index augmented with its own language's queries (``augment_per_language``).

    The language is never guessed from the text: it is the language of the topics file the query
    comes from. Languages without an augmented index go to ``fallback`` (e.g. the plain index) if
    given. Each language's index is loaded on first use (one flat index in memory per language).
    """

    def __init__(self, index_dir: PathLike, encoder, fallback: PathLike | None = None):
        from xqg_pyserini.encoders import TransformerEncoder, XqgQueryEncoder

        self.root = require_file(index_dir, "per-language index directory")
        self.languages = json.loads(require_file(self.root / "manifest.json").read_text(encoding="utf-8"))["languages"]
        self.encoder = XqgQueryEncoder(encoder) if isinstance(encoder, (str, TransformerEncoder)) else encoder
        self.fallback, self._searchers = fallback, {}

    def searcher(self, lang: str):
        if lang not in self._searchers:
            from xqg_pyserini.search import dense_searcher

            path = self.root / lang if lang in self.languages else self.fallback
            if path is None:
                raise InputError(self.root, f"no index for language {lang!r} (have {', '.join(self.languages)})")
            self._searchers[lang] = dense_searcher(path, self.encoder)
        return self._searchers[lang]

    def search(self, query: str, lang: str, k: int = 10) -> list:
        return self.searcher(lang).search(query, k)

    def search_topics(self, topics_file: PathLike, k: int = 100, lang: str | None = None,
                      threads: int = 1) -> dict[str, dict[str, float]]:
        """Run a topics file against the index of its language (from ``topics.<lang>.tsv`` unless given)."""
        from xqg_pyserini.search import read_topics, search

        return search(self.searcher(lang or topics_language(topics_file)), read_topics(topics_file), k, threads)
