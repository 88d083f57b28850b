"""Generated queries (``{"docid", "lang", "i", "query", "generator"}`` JSONL) and their cached embeddings.

The file is read through :func:`xqg_pyserini.generation.queries.iter_query_rows`, the format's one reader.

Keys are held compactly (vocabularies plus an int64 table), selection (languages, first N per
language by ``i``) is vectorised, and embeddings are computed once per (file content, encoder) into
an ``.npy`` that later stages map instead of loading: shared by augmentation and doc2query expansion.
"""
from __future__ import annotations

import hashlib
import json
import os
from array import array
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Sequence

import numpy as np

from xqg_pyserini.data.io import InputError, MappedMatrix, atomic_file, cache_dir, npy_matrix, require_file, write_json
from xqg_pyserini.generation.queries import iter_query_rows, locate, queries_sha256

PathLike = str | os.PathLike


@dataclass
class QueryKeys:
    """The keys of a query file (or directory of parts) in compact form: vocabularies plus an int64
    row (doc, lang, i, position) per query, in file order; :meth:`where` gives a position's file and line."""

    path: Path
    docids: list[str]
    langs: list[str]
    table: np.ndarray

    @classmethod
    def read(cls, path: PathLike) -> "QueryKeys":
        docs: dict[str, int] = {}
        langs: dict[str, int] = {}
        flat = array("q")
        for line, docid, lang, i, _ in iter_query_rows(path):
            flat.extend((docs.setdefault(docid, len(docs)), langs.setdefault(lang, len(langs)), i, line))
        if not flat:
            raise InputError(path, "no queries")
        keys = cls(Path(path), list(docs), list(langs), np.frombuffer(flat, np.int64).reshape(-1, 4))
        keys._check_unique()
        return keys

    def __len__(self) -> int:
        return len(self.table)

    def where(self, position) -> tuple[Path, int]:
        """(file, line) of a row position (the ``table``'s last column)."""
        return locate(self.path, int(position))

    def _check_unique(self) -> None:
        t = self.table
        order = np.lexsort((t[:, 2], t[:, 1], t[:, 0]))
        same = np.flatnonzero(np.all(t[order[1:], :3] == t[order[:-1], :3], axis=1))
        if len(same):
            (first, a), (second, b) = (self.where(x) for x in sorted(t[order[same[0]:same[0] + 2], 3]))
            doc, lang, i = t[order[same[0]], :3]
            place = f"line {a}" if first == second else f"{first}:{a}"
            raise InputError(second, f"duplicate query (docid {self.docids[doc]!r}, lang {self.langs[lang]!r}, "
                                     f"i {i}), first on {place}", line=b)

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
                raise InputError(None, f"queries per language must be at least 1, not {per_language}")
            order = idx[np.lexsort((t[idx, 2], t[idx, 1], t[idx, 0]))]
            group = t[order, 0] * len(self.langs) + t[order, 1]
            pos = np.arange(len(order))
            first = np.maximum.accumulate(np.where(np.r_[True, group[1:] != group[:-1]], pos, 0))
            idx = np.sort(order[pos - first < per_language])
        return idx


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
        return int(npy_matrix(self.npy)[1][1])

    def open(self) -> MappedMatrix:
        offset, (rows, dim) = npy_matrix(self.npy)
        return MappedMatrix(self.npy, offset, rows, dim)


def embed_queries(queries_file: PathLike, encoder, cache: PathLike | None = None,
                  chunk_size: int = 4096) -> QueryEmbeddings:
    """Embed all queries of the file with the retriever's query side, once per (file content, encoder).

    The cache (``cache_dir("embeddings")`` unless given) holds ``<key>.npy`` (float32), ``<key>.keys.npy``
    (int64 doc/lang/i/line) and the ``<key>.json`` sidecar (docid and language vocabularies, the sha256
    of the queries file, the encoder description); no pickle. It covers the whole file, so any later
    selection, fusion or weight reuses it. Texts are encoded ``chunk_size`` at a time and streamed out.
    """
    from xqg_pyserini.encode.encoders import load_encoder

    path = require_file(queries_file, "queries file")
    enc = load_encoder(encoder)
    desc = json.loads(json.dumps(enc.describe(), sort_keys=True))
    queries_sha = queries_sha256(path)
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
        shape = npy_matrix(npy)[1]
    except (OSError, ValueError, InputError):
        return None
    if (meta.get("queries_sha256") != queries_sha or meta.get("encoder") != desc or table.shape != (meta.get("count"), 4)
            or tuple(shape) != (meta.get("count"), meta.get("dimension"))):
        return None
    return QueryKeys(path, meta["docids"], meta["langs"], table)


def _encode_to_npy(path: Path, enc, count: int, out: Path, chunk_size: int) -> int:
    texts = (query for *_, query in iter_query_rows(path))
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
