"""The generated-query format and its one reader.

A generation output is JSONL, one line per query: ``{"docid", "lang", "i", "query", "generator"}``
(``i`` counts the queries of one (docid, lang) from 0). :func:`iter_query_rows` validates and yields
the rows; everything that reads such a file (augmentation, expansion, query quality, the
precomputed generator) goes through it or through :func:`check_query_row`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from xqg_pyserini.data.io import InputError, read_jsonl

PathLike = str | os.PathLike


def check_query_row(path: PathLike, number: int, row: dict) -> tuple[str, str, int, str]:
    """(docid, lang, i, query) of one parsed line; a bad or missing field is an InputError at that line."""
    docid, lang, i, query = (row.get(k) for k in ("docid", "lang", "i", "query"))
    for name, value, ok in (("docid", docid, isinstance(docid, str) and docid),
                            ("lang", lang, isinstance(lang, str) and lang),
                            ("i", i, isinstance(i, int) and not isinstance(i, bool) and i >= 0),
                            ("query", query, isinstance(query, str))):
        if not ok:
            raise InputError(path, f"bad or missing {name!r}: {value!r}", line=number)
    return docid, lang, i, query


def iter_query_rows(path: PathLike) -> Iterator[tuple[int, str, str, int, str]]:
    """(line, docid, lang, i, query) of each line of a generated-query JSONL file, validated."""
    for number, row in read_jsonl(path):
        yield (number, *check_query_row(path, number, row))


def read_queries(path: PathLike) -> dict[tuple[str, str], list[str]]:
    """(docid, lang) -> queries in ``i`` order, from a generation output."""
    out: dict[tuple[str, str], dict[int, str]] = {}
    for _, docid, lang, i, query in iter_query_rows(Path(path)):
        out.setdefault((docid, lang), {})[i] = query
    return {k: [v[i] for i in sorted(v)] for k, v in out.items()}
