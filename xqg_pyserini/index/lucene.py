"""Indexes in Pyserini's own layouts: a Lucene BM25 index and a FAISS flat inner-product index.

Both are built into a temporary directory and renamed into place, so an interrupted build leaves
nothing behind, and both are read by Pyserini's searchers and CLIs unchanged.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from xqg_pyserini.io import InputError, atomic_dir, read_jsonl, require_file, sha256_file


def corpus_file(corpus: str | Path) -> Path:
    """A JsonCollection is a directory of .jsonl files; accept the directory or one file."""
    p = require_file(corpus, "corpus")
    if p.is_dir():
        files = sorted(p.glob("*.jsonl"))
        if len(files) != 1:
            raise InputError(p, f"expected one .jsonl file in the corpus directory, found {len(files)}")
        return files[0]
    return p


def read_corpus(corpus: str | Path) -> list[dict]:
    """Rows with ``id``, ``title`` and ``text`` (``contents`` stands in for the text when needed)."""
    path = corpus_file(corpus)
    rows, seen = [], set()
    for number, row in read_jsonl(path):
        docid = row.get("id", row.get("docid"))
        if docid is None or str(docid) == "":
            raise InputError(path, "corpus line has no id", line=number)
        docid = str(docid)
        if docid in seen:
            raise InputError(path, f"duplicate id {docid!r}", line=number)
        seen.add(docid)
        text = row.get("text", row.get("contents"))
        if not isinstance(text, str):
            raise InputError(path, "corpus line has neither text nor contents", line=number)
        rows.append({"id": docid, "title": str(row.get("title", "")), "text": text})
    if not rows:
        raise InputError(path, "corpus is empty")
    return rows


def build_bm25_index(corpus: str | Path, index_dir: str | Path, threads: int = 1) -> Path:
    """Anserini's IndexCollection over a JsonCollection, storing raw documents and doc vectors."""
    import xqg_pyserini  # noqa: F401  (JVM)
    from jnius import autoclass

    source = require_file(corpus, "corpus")
    read_corpus(source)  # validate before handing it to Java, for a clear error
    input_dir = source if source.is_dir() else source.parent
    with atomic_dir(index_dir) as tmp:
        autoclass("io.anserini.index.IndexCollection").main([
            "-collection", "JsonCollection", "-input", str(input_dir), "-index", str(tmp),
            "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads),
            "-storePositions", "-storeDocvectors", "-storeRaw", "-quiet",
        ])
        if not any(tmp.iterdir()):
            raise RuntimeError(f"{index_dir}: Anserini wrote no index")
    return Path(index_dir)


def write_faiss_index(vectors: np.ndarray, docids: list[str], index_dir: str | Path,
                      manifest: dict | None = None) -> Path:
    """Write ``index`` (IndexFlatIP) and ``docid`` in Pyserini's layout, plus ``manifest.json``."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(docids):
        raise ValueError(f"{len(docids)} docids but vectors of shape {vectors.shape}")
    with atomic_dir(index_dir) as tmp:
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        faiss.write_index(index, str(tmp / "index"))
        (tmp / "docid").write_text("".join(f"{d}\n" for d in docids), encoding="utf-8")
        if manifest is not None:
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return Path(index_dir)


def build_faiss_index(corpus: str | Path, encoder, index_dir: str | Path, batch_size: int | None = None) -> Path:
    """Encode every passage ("title text") with ``encoder`` (a TransformerEncoder) into a flat IP index."""
    start = time.time()
    rows = read_corpus(corpus)
    vectors = encoder.encode_passages([r["text"] for r in rows], [r["title"] for r in rows], batch_size=batch_size)
    manifest = {
        "kind": "faiss-flat-ip",
        "corpus": {"path": str(corpus_file(corpus)), "sha256": sha256_file(corpus_file(corpus)), "passages": len(rows)},
        "encoder": encoder.describe(),
        "seconds": round(time.time() - start, 2),
    }
    return write_faiss_index(vectors, [r["id"] for r in rows], index_dir, manifest)


def read_manifest(index_dir: str | Path) -> dict:
    path = Path(index_dir) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}
