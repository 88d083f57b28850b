"""The one kind of error a user can cause: :class:`InputError`.

Every stage raises it for a bad value, a bad or missing file, an unknown name or language, or an
index that does not fit; ``xqg`` prints it as one line on stderr and exits with status 2. Any other
exception is a bug and keeps its traceback. It subclasses ValueError, so callers that caught
ValueError before still do.
"""
from __future__ import annotations

import os


class InputError(ValueError):
    """Bad user input. The message is one line naming the file (and line) and the problem."""

    def __init__(self, path: str | os.PathLike | None, problem: str, line: int | None = None):
        where = "" if path is None else str(path)
        if line is not None:
            where += f":{line}"
        self.path, self.line, self.problem = path, line, problem
        super().__init__(f"{where}: {problem}" if where else problem)

    def __reduce__(self):
        """Pickled by its parts, so that it crosses process boundaries (Ray workers) intact."""
        return type(self), (self.path, self.problem, self.line)
