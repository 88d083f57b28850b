"""A corpus cut into parts by byte ranges: the unit of work, output and resume of distributed runs.

Part ``k`` of corpus file ``f`` holds the lines that *start* in bytes ``[k*B, (k+1)*B)`` of that file
(``B`` = ``part_bytes``), as Hadoop splits text: any worker reads its part by seeking, without
reading what comes before, and the parts of a file are its lines in order, each exactly once. The
cut depends only on the files and ``B``, so a rerun, a generation and an encoding of the same corpus
agree on every part's name (``part-<file>-<k>``: name order is corpus order).

Lines are validated by :func:`xqg_pyserini.data.corpus.passage_of`, the one corpus reader's rule
for a line; errors name the file and line. Ids repeated within a part are refused here; ids repeated
across parts show up where the outputs are read (generated queries refuse duplicate keys).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from xqg_pyserini.data.corpus import CorpusPassage, corpus_files, passage_of
from xqg_pyserini.data.io import InputError, claim_output, mark_output, write_json

__all__ = ["DEFAULT_PART_BYTES", "Part", "corpus_layout", "corpus_parts", "finish_parts_output", "line_number",
           "open_parts_output", "part_path", "read_part"]

#: About 6k Wikipedia passages of 100 words: minutes of generation on a GPU, seconds of encoding.
DEFAULT_PART_BYTES = 4 << 20
PathLike = str | os.PathLike


@dataclass(frozen=True)
class Part:
    """Bytes ``[start, stop)`` of corpus file number ``index`` (``path``)."""

    path: str
    index: int
    number: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}-{self.number:06d}"


def corpus_parts(corpus: PathLike, part_bytes: int = DEFAULT_PART_BYTES) -> list[Part]:
    """Every part of a JsonCollection (file or directory), in corpus order."""
    if part_bytes < 1:
        raise InputError(None, f"part size must be at least 1 byte, not {part_bytes}")
    parts = []
    for index, path in enumerate(corpus_files(corpus)):
        size = path.stat().st_size
        for number in range(-(-size // part_bytes)):
            start = number * part_bytes
            parts.append(Part(str(path.resolve()), index, number, start, min(size, start + part_bytes)))
    if not parts:
        raise InputError(corpus, "corpus is empty")
    return parts


def corpus_layout(corpus: PathLike, part_bytes: int) -> dict:
    """What fixes the parts (file names and sizes, ``part_bytes``): a resumed run must find the same."""
    return {"part_bytes": part_bytes,
            "files": [{"name": p.name, "bytes": p.stat().st_size} for p in corpus_files(corpus)]}


def line_number(path: PathLike, offset: int) -> int:
    """1-based number of the line starting at byte ``offset`` (counted only when an error needs it)."""
    count, done = 1, 0
    with open(path, "rb") as f:
        while done < offset:
            chunk = f.read(min(1 << 20, offset - done))
            if not chunk:
                break
            count += chunk.count(b"\n")
            done += len(chunk)
    return count


def read_part(part: Part) -> list[CorpusPassage]:
    """The passages of one part, validated line by line like :func:`~xqg_pyserini.data.corpus.read_corpus`."""
    out: list[CorpusPassage] = []
    seen: set[str] = set()
    with open(part.path, "rb") as f:
        if part.start > 0:
            f.seek(part.start - 1)
            f.readline()  # the rest of a line that started in the previous part
        offset = f.tell()
        while offset < part.stop:
            raw = f.readline()
            if not raw:
                break
            try:
                text = raw.decode("utf-8")
                if text.strip():
                    row = json.loads(text)
                    if not isinstance(row, dict):
                        raise ValueError("expected a JSON object")
                    passage = passage_of(row)
                    if passage.docid in seen:
                        raise ValueError(f"duplicate id {passage.docid!r}")
                    seen.add(passage.docid)
                    out.append(passage)
            except json.JSONDecodeError as err:
                raise InputError(part.path, f"malformed JSON ({err.msg})", line=line_number(part.path, offset)) from None
            except (ValueError, UnicodeDecodeError) as err:
                raise InputError(part.path, str(err), line=line_number(part.path, offset)) from None
            offset += len(raw)
    return out


def part_path(root: PathLike, part: Part, suffix: str = "") -> Path:
    """Where a part's output lives in an output directory."""
    return Path(root) / f"{part.name}{suffix}"


def open_parts_output(out: PathLike, command: str, run_file: str, corpus: PathLike, settings: dict,
                      overwrite: bool = False) -> Path:
    """Claim the directory of a run in parts: new, or an earlier run of ``command`` (resumed when its
    ``run_file`` has the same ``settings``; replaced with ``overwrite``); never a foreign path or the
    corpus. Writes the marker and ``run_file`` with ``complete: false``."""
    out = claim_output(out, command, overwrite=True, inputs=[corpus])
    path, settings = out / run_file, json.loads(json.dumps(settings))
    if out.exists() and any(out.iterdir()):
        old = json.loads(path.read_text(encoding="utf-8")).get("settings") if path.exists() else settings
        if overwrite:
            shutil.rmtree(out)
        elif old != settings:
            changed = ", ".join(sorted(k for k in settings if settings[k] != old.get(k)))
            raise InputError(out, f"was written by `xqg {command}` with other settings ({changed}); "
                                  "pass --overwrite or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    mark_output(out, command)
    write_json(path, {"settings": settings, "corpus": str(corpus), "complete": False})
    return out


def finish_parts_output(out: PathLike, run_file: str, **fields) -> None:
    """Mark a run in parts complete (readers refuse it until then), with what it adds (totals...)."""
    path = Path(out) / run_file
    write_json(path, {**json.loads(path.read_text(encoding="utf-8")), **fields, "complete": True})
