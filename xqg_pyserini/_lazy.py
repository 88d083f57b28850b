"""Lazy exports: a package names its public face in ``__init__`` but imports a submodule only when
one of its names is first used, so ``import xqg_pyserini.data.languages`` loads no torch and starts
no JVM. Also the machinery of the deprecated flat modules (``xqg_pyserini.generators`` ...)."""
from __future__ import annotations

import importlib


def lazy_exports(package: str, table: dict[str, str]):
    """``(__getattr__, __dir__, __all__)`` for ``package``; ``table`` maps a module (``.sub`` is relative
    to ``package``) to the space-separated names it defines."""
    where = {name: module for module, names in table.items() for name in names.split()}

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name], package), name)

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__, sorted(where)


def moved(old: str, *targets: str, renames: dict[str, str] | None = None):
    """``__getattr__`` of a deprecated flat module: a name is looked up in ``renames`` (name ->
    ``"module:new name"``), then in ``targets`` in order; nothing is imported before it is asked for."""

    def __getattr__(name: str):
        if renames and name in renames:
            module, new = renames[name].split(":")
            return getattr(importlib.import_module(module), new)
        for target in targets:
            module = importlib.import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r} (it moved to {', '.join(targets)})")

    return __getattr__
