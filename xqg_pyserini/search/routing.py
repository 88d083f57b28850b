"""Per-language routing: each query goes to the index augmented with its own language's queries
(built by :func:`xqg_pyserini.index.augment.augment_per_language`); the language is that of the
topics file, never guessed from the text.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from xqg_pyserini.data.io import InputError, require_file

PathLike = str | os.PathLike


def topics_language(topics_file: PathLike) -> str:
    """The language of a benchmark topics file, from its name ``topics.<lang>.tsv``."""
    parts = Path(topics_file).name.split(".")
    if len(parts) != 3 or parts[0] != "topics":
        raise InputError(topics_file, "cannot tell the language from the name (expected topics.<lang>.tsv); pass lang")
    return parts[1]


class PerLanguageSearcher:
    """Routes each query to the index augmented with its own language's queries (``augment_per_language``).

    The language is never guessed from the text: it is the language of the topics file the query
    comes from. Languages without an augmented index go to ``fallback`` (e.g. the plain index) if
    given. Each language's index is loaded on first use (one flat index in memory per language).
    """

    def __init__(self, index_dir: PathLike, encoder, fallback: PathLike | None = None):
        from xqg_pyserini.encode.adapters import XqgQueryEncoder
        from xqg_pyserini.encode.encoders import TransformerEncoder

        self.root = require_file(index_dir, "per-language index directory")
        self.languages = json.loads(require_file(self.root / "manifest.json").read_text(encoding="utf-8"))["languages"]
        self.encoder = XqgQueryEncoder(encoder) if isinstance(encoder, (str, TransformerEncoder)) else encoder
        self.fallback, self._searchers = fallback, {}

    def searcher(self, lang: str):
        if lang not in self._searchers:
            from xqg_pyserini.search.searchers import dense_searcher

            path = self.root / lang if lang in self.languages else self.fallback
            if path is None:
                raise InputError(self.root, f"no index for language {lang!r} (have {', '.join(self.languages)})")
            self._searchers[lang] = dense_searcher(path, self.encoder)
        return self._searchers[lang]

    def search(self, query: str, lang: str, k: int = 10) -> list:
        return self.searcher(lang).search(query, k)

    def search_topics(self, topics_file: PathLike, k: int = 100, lang: str | None = None,
                      threads: int = 1) -> dict[str, dict[str, float]]:
        """Run a topics file against the index of its language (from ``topics.<lang>.tsv`` unless given)."""
        from xqg_pyserini.data.trec import read_topics
        from xqg_pyserini.search.searchers import search

        return search(self.searcher(lang or topics_language(topics_file)), read_topics(topics_file), k, threads)
