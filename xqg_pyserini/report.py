"""Deprecated flat module: moved to :mod:`xqg_pyserini.experiments.report`.

Kept as a thin lazy re-export for one release (it imports nothing, and starts no JVM, until a
name is used); import from the new place.
"""
from xqg_pyserini._lazy import moved

__getattr__ = moved(
    __name__,
    'xqg_pyserini.experiments.report',
    'xqg_pyserini.experiments.study_report',
)
