"""Deprecated flat module: moved to :mod:`xqg_pyserini.train.generator`,
:mod:`xqg_pyserini.train.config`, :mod:`xqg_pyserini.models.gemma`,
:mod:`xqg_pyserini.generation.loading`, :mod:`xqg_pyserini.train.checkpoint`.

Kept as a thin lazy re-export for one release (it imports nothing, and starts no JVM, until a
name is used); import from the new place.
"""
from xqg_pyserini._lazy import moved

__getattr__ = moved(
    __name__,
    'xqg_pyserini.train.generator',
    'xqg_pyserini.train.config',
    'xqg_pyserini.models.gemma',
    'xqg_pyserini.generation.loading',
    'xqg_pyserini.train.checkpoint',
    renames={
        '_trainable': 'xqg_pyserini.train.checkpoint:trainable',
    },
)
