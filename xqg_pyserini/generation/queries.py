"""The generated-query format and its one reader.

A generation output is JSONL, one line per query: ``{"docid", "lang", "i", "query", "generator"}``
(``i`` counts the queries of one (docid, lang) from 0). :func:`iter_query_rows` validates and yields
the rows; everything that reads such a file (augmentation, expansion, query quality, the
precomputed generator) goes through it or through :func:`check_query_row`. A file whose sidecar
``<file>.meta.json`` says its generation has not finished is refused by :func:`check_complete`
(unless partial is explicitly fine), so an interrupted run is never mistaken for a whole one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

from xqg_pyserini.data.io import InputError, read_jsonl

PathLike = str | os.PathLike


def check_complete(path: PathLike, allow_incomplete: bool = False) -> None:
    """Refuse a generated-queries file whose ``.meta.json`` says ``"complete": false`` (a generation
    that was stopped), unless ``allow_incomplete``. A file without the sidecar (written by other
    tools) is taken as it is."""
    meta = Path(f"{path}.meta.json")
    if allow_incomplete or not meta.is_file():
        return
    try:
        complete = json.loads(meta.read_text(encoding="utf-8")).get("complete", True)
    except (OSError, ValueError, AttributeError):
        raise InputError(meta, "unreadable generation metadata (not a JSON object)") from None
    if complete is False:
        raise InputError(path, "its generation did not finish (.meta.json says complete: false); resume it by "
                               "running the same `xqg generate` command again, or pass --allow-incomplete")


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
