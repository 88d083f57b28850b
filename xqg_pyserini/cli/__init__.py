"""The ``xqg`` command: one subcommand per pipeline stage, each a thin layer over the Python API.

One module per stage registers its subcommands (``data``, ``models``, ``index``, ``generation``, ``search``,
``evaluation``, ``train``, ``experiments``; ``pyserini`` is the pass-through to Pyserini's own CLIs).
Options take their defaults from the config dataclasses and signatures (:mod:`.options`). Every error
a user can cause (a bad value, file, name or language) is one line on stderr and exit status 2,
found before expensive work starts; any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

from xqg_pyserini.cli import data, evaluation, experiments, generation, index, models, search, train
from xqg_pyserini.errors import InputError

#: Stage modules, in pipeline order; each has ``register(subparsers)``.
STAGES = [data, models, index, search, evaluation, experiments, generation, train]


class UsageError(InputError):
    """A bad command line (argparse's complaint), reported like any other input error."""


class Parser(argparse.ArgumentParser):
    """argparse, except that a usage error raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str):
        raise UsageError(None, f"{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="xqg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for stage in STAGES:
        stage.register(sub)
    return parser


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


_LIBRARIES = r"(torch|transformers|peft|accelerate|pyserini|faiss|jnius|gguf|huggingface_hub|tqdm)(\.|$)"


def quiet_libraries() -> None:
    """The terminal shows our progress and errors: libraries' deprecation and advisory warnings and
    their model-loading progress bars are turned off (Python's own -W options still win)."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if not sys.warnoptions:
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", module=_LIBRARIES)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet_libraries()
    command = argv[0] if argv else ""
    try:
        if command == "pyserini":
            from xqg_pyserini.cli.pyserini import run_pyserini

            return run_pyserini(argv[1:])
        args = build_parser().parse_args(argv)
        args.func(args)
    except UsageError as err:
        print(_one_line(err), file=sys.stderr)
        return 2
    except InputError as err:
        print(f"xqg {command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
