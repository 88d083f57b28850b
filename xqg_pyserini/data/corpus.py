"""The one corpus reader: a Pyserini JsonCollection, as every command (index, generate, expand,
train-retriever, query quality) reads it, so a corpus one accepts no other refuses.

A JsonCollection is one ``.jsonl``/``.json`` file or a directory of them (read in name order). Each
line is a JSON object with an id (``id``, else ``docid`` or ``_id``) and the passage as ``title`` and
``text``, or as ``contents`` (then a leading copy of the title, as our own corpus writes
``contents = "title text"``, is cut off). A line without an id, a repeated id, or a line with
neither ``text`` nor ``contents`` is an error naming the file and line; an empty passage is
returned as such (the generator skips and counts those, an index keeps them).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import NamedTuple

from xqg_pyserini.data.io import InputError, read_jsonl, require_file, sha256_file

_WS = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Collapse all whitespace (pyserini.encode splits ``contents`` on newlines)."""
    return _WS.sub(" ", text).strip()


class CorpusPassage(NamedTuple):
    """One passage of a corpus; a tuple ``(docid, title, text)``."""

    docid: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        return f"{self.title} {self.text}" if self.title else self.text


def corpus_files(corpus: str | os.PathLike, suffixes: tuple[str, ...] = (".jsonl", ".json")) -> list[Path]:
    """The files of a JsonCollection: the file itself, or the directory's files ending in one of
    ``suffixes`` (.jsonl/.json; readers that decompress also take .gz), by name."""
    root = require_file(corpus, "corpus")
    if root.is_file():
        return [root]
    files = sorted(p for p in root.iterdir() if p.name.endswith(suffixes) and p.is_file())
    if not files:
        raise InputError(root, f"no {' or '.join(suffixes)} files in the corpus directory")
    return files


def corpus_file(corpus: str | os.PathLike) -> Path:
    """The single file of a one-file JsonCollection (what streaming rewriters such as expansion need)."""
    files = corpus_files(corpus)
    if len(files) != 1:
        raise InputError(corpus, f"expected one .jsonl file in the corpus directory, found {len(files)}")
    return files[0]


def corpus_sha256(corpus: str | os.PathLike) -> str:
    """Checksum of a corpus (of its file, for a one-file collection), as index manifests record it."""
    files = corpus_files(corpus)
    if len(files) == 1:
        return sha256_file(files[0])
    return hashlib.sha256("".join(f"{f.name} {sha256_file(f)}\n" for f in files).encode()).hexdigest()


def passage_of(row: dict) -> CorpusPassage:
    """One corpus line (a parsed JSON object) as a passage; a ValueError says what is wrong with it
    (callers add the file and line: :func:`read_corpus`, :func:`xqg_pyserini.data.parts.read_part`)."""
    docid = row.get("id", row.get("docid", row.get("_id")))
    if docid is None or str(docid).strip() == "":
        raise ValueError('corpus line has no "id"')
    key = "text" if row.get("text") is not None else "contents"
    text = row.get(key)
    if not isinstance(text, str):
        raise ValueError("corpus line has neither text nor contents")
    title, text = str(row.get("title") or "").strip(), text.strip()
    if key == "contents" and title and text.startswith(title):
        text = text[len(title):].strip()  # contents = "title text" in our JsonCollection
    return CorpusPassage(str(docid), title, text)


def read_corpus(corpus: str | os.PathLike) -> list[CorpusPassage]:
    """Every passage of a JsonCollection, validated (see the module docstring for the contract)."""
    seen: set[str] = set()
    out: list[CorpusPassage] = []
    for path in corpus_files(corpus):
        for number, row in read_jsonl(path):
            try:
                passage = passage_of(row)
            except ValueError as err:
                raise InputError(path, str(err), line=number) from None
            if passage.docid in seen:
                raise InputError(path, f"duplicate id {passage.docid!r}", line=number)
            seen.add(passage.docid)
            out.append(passage)
    if not out:
        raise InputError(corpus, "corpus is empty")
    return out
