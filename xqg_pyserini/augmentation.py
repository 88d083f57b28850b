"""Deprecated flat module: moved to :mod:`xqg_pyserini.index.augment`,
:mod:`xqg_pyserini.search.routing`, :mod:`xqg_pyserini.encode.queries`,
:mod:`xqg_pyserini.encode.encoders`.

Kept as a thin lazy re-export for one release (it imports nothing, and starts no JVM, until a
name is used); import from the new place.
"""
from xqg_pyserini._lazy import moved

__getattr__ = moved(
    __name__,
    'xqg_pyserini.index.augment',
    'xqg_pyserini.search.routing',
    'xqg_pyserini.encode.queries',
    'xqg_pyserini.encode.encoders',
    renames={
        'read_queries': 'xqg_pyserini.generation.queries:iter_query_rows',
        '_check_options': 'xqg_pyserini.index.augment:check_options',
    },
)
