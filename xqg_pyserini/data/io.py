"""File I/O shared by every stage: atomic writes, output safety, JSONL/TSV readers, cache paths,
mapped matrices.

Every file or directory the project produces is written to a temporary sibling
(``.<name>.<pid>.<random>.tmp``) and then swapped into place (Linux ``renameat2(RENAME_EXCHANGE)``,
else two renames that the next run repairs), so at every instant the old or the new output exists,
never neither and never half of one. Temporaries of dead processes are removed by the next writer.

Output safety (:func:`claim_output`): an existing path is replaced only if it is an earlier output of
the same command (a directory's ``.xqg-output.json`` marker, or a file the command recognises) and
only when asked; a path that is, or contains, an input of the command is never an output. Readers
raise :class:`~xqg_pyserini.errors.InputError` naming the file and line.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import mmap
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from xqg_pyserini.errors import InputError

__all__ = ["InputError", "MappedMatrix", "OUTPUT_MARKER", "atomic_dir", "atomic_file", "cache_dir", "claim_output",
           "clean_stale_temps", "mark_output", "npy_matrix", "read_jsonl", "read_tsv", "require_file", "resources_dir",
           "scratch_dir", "sha256_file", "umask", "write_json"]

#: The file inside every output directory that says which ``xqg`` command wrote it.
OUTPUT_MARKER = ".xqg-output.json"
PathLike = str | os.PathLike


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


# ----------------------------------------------------------------------------- temporaries

def _temp_path(target: Path, suffix: str = "tmp") -> Path:
    """``.<name>.<pid>.<random>.<suffix>`` beside ``target``: the pid lets a later run tell a dead
    writer's leftovers from a live one's."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.{suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def clean_stale_temps(target: PathLike) -> list[Path]:
    """Remove what killed writers of ``target`` left beside it; returns what was removed.

    Only our own names are touched: ``.<name>.<pid>.<hex8>.tmp`` whose process is gone, the
    ``.<name>.<8 chars>.tmp`` of older versions (mkstemp/mkdtemp names), and ``.<name>.old`` (the
    previous output, put back first if a crash came between the two renames of a replacement)."""
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return []
    old = target.with_name(f".{target.name}.old")
    if os.path.lexists(old):
        if not os.path.lexists(target):
            os.rename(old, target)  # the crash came after the old output was moved aside: restore it
        else:
            _remove(old)
    ours = re.compile(rf"^\.{re.escape(target.name)}\.(?:(\d+)\.[0-9a-f]{{8}}\.(?:tmp|scratch)|[a-z0-9_]{{8}}\.tmp)$")
    removed = []
    for entry in parent.iterdir():
        found = ours.match(entry.name)
        if found and not (found.group(1) and _alive(int(found.group(1)))):
            _remove(entry)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def scratch_dir(target: PathLike) -> Iterator[Path]:
    """A private working directory beside ``target`` (same file system, cleaned like its temporaries)."""
    path = _temp_path(Path(target), "scratch")
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _install(tmp: Path, target: Path) -> None:
    """Put the finished ``tmp`` at ``target``; the old output, if any, is removed only afterwards."""
    if os.path.lexists(target) and target.is_dir() != tmp.is_dir():  # never swap a file for a directory
        raise InputError(target, "is a directory" if target.is_dir() else "exists and is not a directory")
    if not os.path.lexists(target) or (target.is_file() and tmp.is_file()):
        os.replace(tmp, target)  # atomic for a file, and for a directory onto nothing
    elif _exchange(tmp, target):
        _remove(tmp)  # now the old output
    else:  # two renames: a crash between them leaves .<name>.old, which clean_stale_temps puts back
        old = target.with_name(f".{target.name}.old")
        _remove(old)
        os.rename(target, old)
        os.rename(tmp, target)
        _remove(old)
    _fsync_dir(target.parent)


# ----------------------------------------------------------------------------- output safety

def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _marker_command(directory: Path) -> str | None:
    try:
        return json.loads((directory / OUTPUT_MARKER).read_text(encoding="utf-8")).get("command")
    except (OSError, ValueError, AttributeError):
        return None


def mark_output(directory: PathLike, command: str) -> None:
    """Record in ``directory`` that ``xqg <command>`` wrote it (what :func:`claim_output` looks for)."""
    Path(directory, OUTPUT_MARKER).write_text(json.dumps({"command": command, "format": 1}) + "\n", encoding="utf-8")


def claim_output(path: PathLike, command: str, *, overwrite: bool = False, inputs: Sequence[PathLike | None] = (),
                 directory: bool = True, legacy: Sequence[str] = (),
                 recognise: Callable[[Path], bool] | None = None) -> Path:
    """Check, before any work, that ``xqg <command>`` may write ``path``; returns it as a Path.

    Refused (InputError, nothing touched): ``path`` is one of ``inputs`` or contains one; ``path``
    exists and is not an earlier output of this command (for a directory: its marker names the
    command, or one of the ``legacy`` files/globs of older versions is in it; for a file:
    ``recognise(path)``); or it is one and ``overwrite`` is false. A missing path or an empty
    directory is free. Leftovers of killed writers beside ``path`` are cleaned first."""
    out = Path(path)
    where = out.resolve()
    for source in inputs:
        if source is not None and _inside(Path(source).resolve(), where):
            raise InputError(out, f"is or contains an input ({source}); choose another output")
    clean_stale_temps(out)
    if not os.path.lexists(out):
        return out
    if directory:
        if not out.is_dir():
            raise InputError(out, f"exists and is not a directory; refusing to replace it with the output of "
                                  f"`xqg {command}` (choose another output)")
        if not any(out.iterdir()):
            return out
        ours = _marker_command(out) == command or (
            not (out / OUTPUT_MARKER).exists() and any(any(out.glob(pattern)) for pattern in legacy))
    else:
        if out.is_dir():
            raise InputError(out, f"is a directory; `xqg {command}` writes a file here (choose another output)")
        ours = out.stat().st_size == 0 or (recognise is not None and recognise(out))
    if not ours:
        raise InputError(out, f"exists and is not an output of `xqg {command}`; refusing to replace it "
                              "(choose another output, or move it away)")
    if not overwrite:
        raise InputError(out, f"exists (an earlier output of `xqg {command}`); pass --overwrite to replace it")
    return out


@contextlib.contextmanager
def atomic_file(path: PathLike, mode: str = "w", encoding: str | None = "utf-8", *, command: str | None = None,
                overwrite: bool = True, inputs: Sequence[PathLike | None] = (),
                recognise: Callable[[Path], bool] | None = None) -> Iterator:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    With ``command``, ``path`` is first claimed as that command's output (:func:`claim_output`)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if command is not None:
        claim_output(target, command, overwrite=overwrite, inputs=inputs, directory=False, recognise=recognise)
    tmp = _temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0666 & ~umask, like any new file
    os.close(fd)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _install(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: PathLike, overwrite: bool = True, *, command: str | None = None,
               inputs: Sequence[PathLike | None] = (), legacy: Sequence[str] = ()) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only if the block succeeds.

    With ``command``, ``path`` is claimed as that command's output first (:func:`claim_output`:
    never a foreign directory, never an input) and the result is marked as such; without it, an
    existing ``path`` is replaced if ``overwrite`` (caches the project owns)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if command is not None:
        claim_output(target, command, overwrite=overwrite, inputs=inputs, legacy=legacy)
    else:
        clean_stale_temps(target)
        if target.exists() and not overwrite:
            raise InputError(target, "output already exists (pass overwrite to replace it)")
    tmp = _temp_path(target)
    tmp.mkdir(mode=0o777)  # 0777 & ~umask, like any new directory
    try:
        yield tmp
        if command is not None:
            mark_output(tmp, command)
        _install(tmp, target)
    except BaseException:
        _remove(tmp)
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
