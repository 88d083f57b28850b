"""Deprecated flat module: moved to :mod:`xqg_pyserini.train.retriever`,
:mod:`xqg_pyserini.train.config`, :mod:`xqg_pyserini.train.checkpoint`.

Kept as a thin lazy re-export for one release (it imports nothing, and starts no JVM, until a
name is used); import from the new place.
"""
from xqg_pyserini._lazy import moved

__getattr__ = moved(
    __name__,
    'xqg_pyserini.train.retriever',
    'xqg_pyserini.train.config',
    'xqg_pyserini.train.checkpoint',
    renames={
        '_trainable': 'xqg_pyserini.train.checkpoint:trainable',
    },
)
