"""File I/O shared by every stage: atomic writes, JSONL/TSV readers, cache paths, mapped matrices.

Every file or directory the project produces is written to a temporary sibling and renamed
into place, so a killed job never leaves a half-written output behind. Readers raise
:class:`~xqg_pyserini.errors.InputError` naming the file and line.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from xqg_pyserini.errors import InputError

__all__ = ["InputError", "MappedMatrix", "atomic_dir", "atomic_file", "cache_dir", "npy_matrix", "read_jsonl",
           "read_tsv", "require_file", "resources_dir", "sha256_file", "umask", "write_json"]


def umask() -> int:
    """The process umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def cache_dir(*parts: str) -> Path:
    """Where derived artefacts that must stay out of git live (models, cached queries).

    ``$XQG_CACHE`` wins; otherwise ``~/.cache/xqg_pyserini``.
    """
    root = Path(os.environ.get("XQG_CACHE") or Path.home() / ".cache" / "xqg_pyserini")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    """Data files shipped inside the package (the generator adapter, NLTK's punkt tables)."""
    return Path(__file__).resolve().parents[1] / "resources"


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise InputError if it does not exist."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, f"{what} does not exist")
    return p


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; outputs should look like ordinary files
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise InputError(target, "output already exists (pass overwrite to replace it)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a malformed line raises InputError."""
    p = require_file(path)
    with open(p, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(p, f"malformed JSON ({err.msg})", line=number) from None
            if not isinstance(obj, dict):
                raise InputError(p, "expected a JSON object", line=number)
            yield number, obj


def sha256_file(path: str | os.PathLike) -> str:
    """Checksum of a file, read in 1 MiB chunks (manifests record their inputs by it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_file(path) as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def read_tsv(path: str | os.PathLike, columns: int, sep: str | None = "\t") -> Iterable[list[str]]:
    """Rows of a TSV (or, with ``sep=None``, whitespace-separated) file; a short row is an InputError."""
    path = require_file(path)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split(sep, columns - 1) if sep else line.split()
            if len(parts) != columns:
                raise InputError(path, f"expected {columns} columns, found {len(parts)}", line=number)
            yield parts


class MappedMatrix:
    """A float32 matrix stored in a file at ``offset``, read through mmap.

    ``release`` drops the pages touched so far from this process (they stay in the page cache), so a
    pass over a huge file keeps a small resident set.
    """

    def __init__(self, path: Path, offset: int, rows: int, dim: int):
        import numpy as np

        self.path, self.rows, self.dim = path, rows, dim
        self._file = open(path, "rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self.array = np.frombuffer(self._map, "<f4", rows * dim, offset).reshape(rows, dim)

    def release(self) -> None:
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        self.array = None
        try:
            self._map.close()
        except BufferError:  # a caller still holds a view of the map; it is unmapped when that goes
            pass
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def npy_matrix(path: Path) -> tuple[int, tuple[int, ...]]:
    """(data offset, shape) of a float32 C-order .npy file."""
    import numpy as np

    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                 else np.lib.format.read_array_header_2_0)(f)
        if fortran or dtype != np.dtype("<f4") or len(shape) != 2:
            raise InputError(path, "expected a 2-d float32 C-order .npy")
        return f.tell(), shape
