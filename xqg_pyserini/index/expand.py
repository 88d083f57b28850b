"""The sparse twin of xQG: cross-lingual doc2query expansion for BM25.

Each English passage's generated target-language queries are appended to its ``contents`` so that
BM25 can match a question's own words; the output is a Pyserini JsonCollection file, indexed like
any corpus (``xqg_pyserini.indexing.build_bm25_index``). The same query selection as augmentation.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from xqg_pyserini.data import clean_text
from xqg_pyserini.indexing import corpus_file
from xqg_pyserini.io import InputError, atomic_file, read_jsonl, require_file
from xqg_pyserini.query_embeddings import QueryKeys, read_queries

PathLike = str | os.PathLike


def expand_corpus(corpus_jsonl: PathLike, queries_file: PathLike, out_jsonl: PathLike,
                  languages: Sequence[str] | None = None, queries_per_language: int | None = None,
                  on_unknown_docid: str = "error") -> dict:
    """Write ``out_jsonl`` (atomically): the corpus with each passage's selected queries appended to
    ``contents`` (ordered by language, then ``i``; whitespace collapsed). Other fields are kept.

    Returns counts. Queries whose docid is not in the corpus are an error naming the queries file and
    line, or are skipped and counted with ``on_unknown_docid="skip"``. The selected query texts are
    held in memory; the corpus is streamed.
    """
    if on_unknown_docid not in ("error", "skip"):
        raise ValueError(f"on_unknown_docid must be 'error' or 'skip', not {on_unknown_docid!r}")
    queries_path = require_file(queries_file, "queries file")
    keys = QueryKeys.read(queries_path)
    chosen = np.zeros(len(keys), bool)
    chosen[keys.select(languages, queries_per_language)] = True
    by_doc: dict[str, list[tuple[str, int, str, int]]] = {}
    for k, (line, docid, lang, i, query) in enumerate(read_queries(queries_path)):
        if chosen[k]:
            by_doc.setdefault(docid, []).append((lang, i, clean_text(query), line))
    source = corpus_file(corpus_jsonl)
    counts = {"passages": 0, "passages_expanded": 0, "queries_used": 0}
    with atomic_file(out_jsonl) as out:
        for number, row in read_jsonl(source):
            docid = row.get("id")
            if not isinstance(row.get("contents"), str) or docid is None:
                raise InputError(source, "a JsonCollection line needs 'id' and 'contents'", line=number)
            added = sorted(by_doc.pop(str(docid), []))
            if added:
                row["contents"] = " ".join([row["contents"], *(q for _, _, q, _ in added if q)])
                counts["passages_expanded"] += 1
                counts["queries_used"] += len(added)
            counts["passages"] += 1
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        unknown = sorted((line, docid) for docid, qs in by_doc.items() for *_, line in qs)
        if unknown and on_unknown_docid == "error":
            raise InputError(queries_path, f"docid {unknown[0][1]!r} is not in the corpus {source}", line=unknown[0][0])
    counts.update(queries_skipped=len(unknown), queries_not_selected=int((~chosen).sum()),
                  corpus=str(source), queries=str(queries_path), out=str(Path(out_jsonl)))
    return counts
