"""A Lucene BM25 index in Pyserini's layout (Anserini's IndexCollection over a JsonCollection).

The corpus means exactly what was given: a file is that file only, a directory every ``.jsonl`` /
``.json`` file directly in it. Anserini reads a whole directory, so it is given a private one
holding (hard links to) just those files, or our rewrite of them when they lack ``id``/``contents``.
Anserini runs as a child JVM: Ctrl-C or SIGTERM stop it with the Python process (whose cleanup
removes the temporaries), a JVM fault cannot take the Python process down, and its logs are kept
out of the terminal unless it fails. The index is built into a temporary directory and swapped into
place with its ``manifest.json``, so an interrupted build leaves the old index or none, never half.
``read_manifest`` reads the ``manifest.json`` every index here has.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import shutil
import subprocess
from pathlib import Path

from xqg_pyserini.data.corpus import corpus_files, corpus_sha256, read_corpus
from xqg_pyserini.data.io import atomic_dir, read_jsonl, require_file, scratch_dir

COMMAND = "index bm25"
#: What marks a BM25 index written before output markers existed.
LEGACY = ("manifest.json", "segments_*")


def build_bm25_index(corpus: str | Path, index_dir: str | Path, threads: int = 1, overwrite: bool = True) -> Path:
    """Anserini's IndexCollection over a JsonCollection, storing raw documents and doc vectors.

    ``index_dir`` must be new, empty, or an earlier BM25 index (replaced only if ``overwrite``), and
    may not contain the corpus (:func:`~xqg_pyserini.data.io.claim_output`)."""
    source = require_file(corpus, "corpus")
    passages = read_corpus(source)  # validate before handing it to Java, for a clear error
    files = corpus_files(source)
    with atomic_dir(index_dir, overwrite, command=COMMAND, inputs=[source], legacy=LEGACY) as tmp, \
            scratch_dir(index_dir) as work:
        feed = work / "input"
        feed.mkdir()
        if all(_anserini_ready(f) for f in files):
            for k, f in enumerate(files):
                _link(f, feed / f"{k:05d}.{f.name}")
        else:  # e.g. "docid" or title/text only: Anserini wants id + contents
            with open(feed / "docs.jsonl", "w", encoding="utf-8") as out:
                out.writelines(json.dumps({"id": p.docid, "contents": p.contents}, ensure_ascii=False) + "\n"
                               for p in passages)
        # The child JVM runs in ``work``: relative paths would resolve there, so hand it absolute ones.
        indexed = _run_anserini(["-collection", "JsonCollection", "-input", str(feed.resolve()), "-index", str(Path(tmp).resolve()),
                                 "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads),
                                 "-storePositions", "-storeDocvectors", "-storeRaw"], work)
        if indexed is not None and indexed != len(passages):
            raise RuntimeError(f"{index_dir}: Anserini indexed {indexed} of {len(passages)} documents")
        (tmp / "manifest.json").write_text(json.dumps({
            "kind": "lucene-bm25", "corpus": {"path": str(files[0] if len(files) == 1 else source),
                                              "sha256": corpus_sha256(source), "passages": len(passages)},
        }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Path(index_dir)


def _link(source: Path, target: Path) -> None:
    """A hard link (no copy, same bytes), or a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _run_anserini(args: list[str], cwd: Path) -> int | None:
    """Run IndexCollection in a child JVM; returns the number of documents it reports indexing.

    Its output is kept and shown (last lines) only if it fails. An interrupt kills the child first."""
    from xqg_pyserini._jvm import anserini_jar, java_home, jvm_options

    java = Path(java_home()) / "bin" / "java"
    command = [str(java), *jvm_options(), "-cp", anserini_jar(), "io.anserini.index.IndexCollection", *args]
    child = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, errors="replace", preexec_fn=_die_with_parent)
    try:
        log, _ = child.communicate()
    except BaseException:
        child.kill()
        child.wait()
        raise
    if child.returncode != 0:
        tail = " | ".join(line.strip() for line in log.splitlines()[-5:] if line.strip())
        raise RuntimeError(f"Anserini IndexCollection exited with status {child.returncode}: {tail}")
    found = re.findall(r"([\d,]+) documents indexed", log)
    return int(found[-1].replace(",", "")) if found else None


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGKILL it when we die (a kill -9 of ours must not leave a JVM
    writing into a temporary directory that the next run removes)."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _anserini_ready(path: Path) -> bool:
    """Whether every line of a collection file already has the string ``id`` and ``contents`` Anserini reads."""
    return all(isinstance(row.get("id"), str) and isinstance(row.get("contents"), str)
               for _, row in read_jsonl(path))


def read_manifest(index_dir: str | Path) -> dict:
    path = Path(index_dir) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def ensure_bm25(corpus: str | Path, index_dir: str | Path) -> Path:
    """Build the Lucene index unless one from this very corpus exists (its manifest says so)."""
    index_dir, digest = Path(index_dir), corpus_sha256(corpus)
    if read_manifest(index_dir).get("corpus", {}).get("sha256") == digest:
        return index_dir
    return build_bm25_index(corpus, index_dir)
