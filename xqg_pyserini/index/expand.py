"""The sparse twin of xQG: cross-lingual doc2query expansion for BM25.

Each English passage's generated target-language queries are appended to its ``contents`` so that
BM25 can match a question's own words; the output is a Pyserini JsonCollection file, indexed like
any corpus (:func:`xqg_pyserini.index.lucene.build_bm25_index`). The same query selection as augmentation.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from xqg_pyserini.data.corpus import clean_text, corpus_file, read_corpus
from xqg_pyserini.data.io import InputError, atomic_file, read_jsonl, require_file
from xqg_pyserini.encode.queries import QueryKeys
from xqg_pyserini.generation.queries import iter_query_rows
from xqg_pyserini.index.augment import check_options

PathLike = str | os.PathLike


def is_collection_file(path: Path) -> bool:
    """Whether ``path`` starts like an expansion output (a JsonCollection line with id and contents)."""
    try:
        with open(path, encoding="utf-8") as f:
            row = json.loads(f.readline())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(row, dict) and isinstance(row.get("id"), str) and isinstance(row.get("contents"), str)


def expand_corpus(corpus_jsonl: PathLike, queries_file: PathLike, out_jsonl: PathLike,
                  languages: Sequence[str] | None = None, queries_per_language: int | None = None,
                  on_unknown_docid: str = "error", overwrite: bool = True) -> dict:
    """Write ``out_jsonl`` (atomically): the corpus with each passage's selected queries appended to
    ``contents`` (ordered by language, then ``i``; whitespace collapsed). Other fields are kept.

    Returns counts. Queries whose docid is not in the corpus are an error naming the queries file and
    line, or are skipped and counted with ``on_unknown_docid="skip"``. The corpus is read with
    :func:`~xqg_pyserini.data.corpus.read_corpus`; rows without ``contents`` get ``title text``.
    An existing ``out_jsonl`` is replaced only if it is a JsonCollection file (and ``overwrite``), and
    never if it is the corpus or the queries file.
    """
    check_options(on_unknown_docid=on_unknown_docid, queries_per_language=queries_per_language)
    source = corpus_file(corpus_jsonl)
    queries_path = require_file(queries_file, "queries file")
    keys = QueryKeys.read(queries_path)
    chosen = np.zeros(len(keys), bool)
    chosen[keys.select(languages, queries_per_language)] = True
    by_doc: dict[str, list[tuple[str, int, str, int]]] = {}
    for k, (line, docid, lang, i, query) in enumerate(iter_query_rows(queries_path)):
        if chosen[k]:
            by_doc.setdefault(docid, []).append((lang, i, clean_text(query), line))
    counts = {"passages": 0, "passages_expanded": 0, "queries_used": 0}
    passages = read_corpus(source)  # the corpus contract every command shares, checked up front
    with atomic_file(out_jsonl, command="expand", overwrite=overwrite, inputs=[source, queries_path],
                     recognise=is_collection_file) as out:
        for (_, row), passage in zip(read_jsonl(source), passages):
            row["id"] = passage.docid  # Anserini's JsonCollection reads "id" and "contents"
            if not isinstance(row.get("contents"), str):
                row["contents"] = passage.contents
            added = sorted(by_doc.pop(passage.docid, []))
            if added:
                row["contents"] = " ".join([row["contents"], *(q for _, _, q, _ in added if q)])
                counts["passages_expanded"] += 1
                counts["queries_used"] += len(added)
            counts["passages"] += 1
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        unknown = sorted((line, docid) for docid, qs in by_doc.items() for *_, line in qs)
        if unknown and on_unknown_docid == "error":
            where, line = keys.where(unknown[0][0])
            raise InputError(where, f"docid {unknown[0][1]!r} is not in the corpus {source}", line=line)
    counts.update(queries_skipped=len(unknown), queries_not_selected=int((~chosen).sum()),
                  corpus=str(source), queries=str(queries_path), out=str(Path(out_jsonl)))
    return counts
