"""The ``xqg`` command: one subcommand per pipeline stage, each a thin layer over the Python API.

One module per stage registers its subcommands (``data``, ``models``, ``index``, ``generation``, ``search``,
``evaluation``, ``train``, ``experiments``; ``pyserini`` is the pass-through to Pyserini's own CLIs).
Options take their defaults from the config dataclasses and signatures (:mod:`.options`). Every error
a user can cause (a bad value, file, name or language) is one line on stderr and exit status 2,
found before expensive work starts; any other exception is a bug and keeps its traceback.

Ctrl-C (SIGINT) and SIGTERM become an exception, so every temporary file is removed on the way out;
the command then says in one line what was kept and how to resume, and exits with 128 + the
signal (130, 143). A second signal while cleaning up is not caught (the next run cleans up).
"""
from __future__ import annotations

import argparse
import os
import signal
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


class Interrupted(BaseException):
    """A stop signal turned into an exception (a BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` swallows it and every cleanup on the way up runs)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: What an interrupted command keeps, and how to go on; the rest write nothing until they are done.
KEPT = {
    "generate": "the queries of every finished passage are kept in the output; run the same command to resume",
    "train-generator": "the last checkpoint is kept in the work directory; run the same command to resume",
    "train-retriever": "the last checkpoint is kept in the work directory; run the same command to resume",
}
NOTHING_KEPT = "no partial output was kept and any earlier output is untouched; run the same command again"


def _raise_stop(signum: int, frame) -> None:
    for sig in _STOP_SIGNALS:  # a second signal ends the process at once, without cleanup
        signal.signal(sig, signal.SIG_DFL)
    raise Interrupted(signum)


def _catch_stop_signals() -> dict | None:
    """Install the stop handlers (main thread only); returns the previous ones."""
    try:
        return {sig: signal.signal(sig, _raise_stop) for sig in _STOP_SIGNALS}
    except ValueError:  # not the main thread: leave signals alone
        return None


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


_LIBRARIES = r"(torch|transformers|peft|accelerate|pyserini|faiss|jnius|gguf|huggingface_hub|tqdm|ray)(\.|$)"


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
    previous = _catch_stop_signals()
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
    except (KeyboardInterrupt, Interrupted) as stop:
        signum = getattr(stop, "signum", signal.SIGINT)
        print(f"xqg {command}: stopped by {signal.Signals(signum).name}: {KEPT.get(command, NOTHING_KEPT)}",
              file=sys.stderr)
        return 128 + signum
    finally:
        for sig, handler in (previous or {}).items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
