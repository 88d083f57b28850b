"""The generated-query format and its one reader.

A generation output is JSONL, one line per query: ``{"docid", "lang", "i", "query", "generator"}``
(``i`` counts the queries of one (docid, lang) from 0). :func:`iter_query_rows` validates and yields
the rows; everything that reads such a file (augmentation, expansion, query quality, the
precomputed generator) goes through it or through :func:`check_query_row`. A file whose sidecar
``<file>.meta.json`` says its generation has not finished is refused by :func:`check_complete`
(unless partial is explicitly fine), so an interrupted run is never mistaken for a whole one.

A distributed generation writes a *directory* of such files, one per corpus part (``part-*.jsonl``,
each with its ``.meta.json``) plus ``generation.json``; every function here takes either, reading a
directory's parts in name order (= corpus order). Rows are then located by a *position*: the line
number for a file, ``(part number << 40) | line`` for a directory (:func:`locate` turns it back).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

from xqg_pyserini.data.io import InputError, read_jsonl, require_file, sha256_file

PathLike = str | os.PathLike
#: Query files of a directory output, and the file inside it that says whether the run finished.
PART_GLOB, RUN_FILE = "part-*.jsonl", "generation.json"
_LINE_BITS = 40


def query_files(path: PathLike) -> list[Path]:
    """The files of a generation output: the file itself, or a directory's parts in corpus order."""
    path = require_file(path, "queries file")
    if not path.is_dir():
        return [path]
    files = sorted(path.glob(PART_GLOB))
    if not files:
        raise InputError(path, f"no {PART_GLOB} files in the queries directory")
    return files


def locate(path: PathLike, position: int) -> tuple[Path, int]:
    """(file, line) of a row position yielded by :func:`iter_query_rows` over ``path``."""
    if not Path(path).is_dir():
        return Path(path), int(position)
    return query_files(path)[int(position) >> _LINE_BITS], int(position) & ((1 << _LINE_BITS) - 1)


def queries_sha256(path: PathLike) -> str:
    """Checksum of a generation output (a directory: over its parts' names and checksums)."""
    files = query_files(path)
    if not Path(path).is_dir():
        return sha256_file(files[0])
    return hashlib.sha256("".join(f"{f.name} {sha256_file(f)}\n" for f in files).encode()).hexdigest()


def check_complete(path: PathLike, allow_incomplete: bool = False) -> None:
    """Refuse a generated-queries file whose ``.meta.json`` (a directory: its ``generation.json``) says
    ``"complete": false`` (a generation that was stopped), unless ``allow_incomplete``. A file
    without the sidecar (written by other tools) is taken as it is."""
    meta = Path(path, RUN_FILE) if Path(path).is_dir() else Path(f"{path}.meta.json")
    if allow_incomplete or not meta.is_file():
        return
    try:
        complete = json.loads(meta.read_text(encoding="utf-8")).get("complete", True)
    except (OSError, ValueError, AttributeError):
        raise InputError(meta, "unreadable generation metadata (not a JSON object)") from None
    if complete is False:
        raise InputError(path, f"its generation did not finish ({'.meta.json' if meta.name.endswith('.meta.json') else meta.name} "
                               "says complete: false); resume it by running the same `xqg generate` command again, or pass --allow-incomplete")


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
    """(position, docid, lang, i, query) of each line of a generation output, validated; the
    position is the line number in a file (see :func:`locate` for a directory)."""
    for k, file in enumerate(query_files(path)):
        for number, row in read_jsonl(file):
            yield ((k << _LINE_BITS) | number, *check_query_row(file, number, row))


def read_queries(path: PathLike) -> dict[tuple[str, str], list[str]]:
    """(docid, lang) -> queries in ``i`` order, from a generation output."""
    out: dict[tuple[str, str], dict[int, str]] = {}
    for _, docid, lang, i, query in iter_query_rows(Path(path)):
        out.setdefault((docid, lang), {})[i] = query
    return {k: [v[i] for i in sorted(v)] for k, v in out.items()}
