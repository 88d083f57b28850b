"""A Lucene BM25 index in Pyserini's layout (Anserini's IndexCollection over a JsonCollection).

Built into a temporary directory and renamed into place, so an interrupted build leaves nothing
behind; read by Pyserini's LuceneSearcher and CLIs unchanged. The JVM starts when an index is built,
not when this module is imported. ``read_manifest`` reads the ``manifest.json`` every index here has.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from xqg_pyserini.data.corpus import corpus_files, corpus_sha256, read_corpus
from xqg_pyserini.data.io import atomic_dir, read_jsonl, require_file, write_json


def build_bm25_index(corpus: str | Path, index_dir: str | Path, threads: int = 1) -> Path:
    """Anserini's IndexCollection over a JsonCollection, storing raw documents and doc vectors."""
    from xqg_pyserini._jvm import prepare_jvm

    prepare_jvm()
    from jnius import autoclass

    source = require_file(corpus, "corpus")
    passages = read_corpus(source)  # validate before handing it to Java, for a clear error
    input_dir = source if source.is_dir() else source.parent
    with atomic_dir(index_dir) as tmp, tempfile.TemporaryDirectory(dir=tmp.parent) as shaped:
        if not _anserini_ready(source):  # e.g. "docid" or title/text only: Anserini wants id + contents
            input_dir = Path(shaped)
            with open(input_dir / "docs.jsonl", "w", encoding="utf-8") as f:
                f.writelines(json.dumps({"id": p.docid, "contents": p.contents}, ensure_ascii=False) + "\n"
                             for p in passages)
        autoclass("io.anserini.index.IndexCollection").main([
            "-collection", "JsonCollection", "-input", str(input_dir), "-index", str(tmp),
            "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads),
            "-storePositions", "-storeDocvectors", "-storeRaw", "-quiet",
        ])
        if not any(tmp.iterdir()):
            raise RuntimeError(f"{index_dir}: Anserini wrote no index")
    return Path(index_dir)


def _anserini_ready(corpus: Path) -> bool:
    """Whether every line of the collection already has the string ``id`` and ``contents`` Anserini reads."""
    return all(isinstance(row.get("id"), str) and isinstance(row.get("contents"), str)
               for path in corpus_files(corpus) for _, row in read_jsonl(path))


def read_manifest(index_dir: str | Path) -> dict:
    path = Path(index_dir) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def ensure_bm25(corpus: str | Path, index_dir: str | Path) -> Path:
    """Build the Lucene index unless one from this very corpus exists (its manifest says so)."""
    index_dir, digest = Path(index_dir), corpus_sha256(corpus)
    if read_manifest(index_dir).get("corpus", {}).get("sha256") == digest:
        return index_dir
    build_bm25_index(corpus, index_dir)
    write_json(index_dir / "manifest.json", {"kind": "lucene-bm25", "corpus": {"path": str(corpus), "sha256": digest}})
    return index_dir
