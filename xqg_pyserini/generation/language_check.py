"""Questions in the language they were asked for: a question the offline language check
(:func:`~xqg_pyserini.data.languages.is_language`) does not accept is sampled again.

Why: a small generator sometimes copies an English phrase of its passage whole ("Miller-Rabin
primality test 是快速的方法吗？") or drifts into another target language's script; for an index
built for Chinese questions that question is mostly English. Sampling the row again costs little
(``xqg-distil`` on 60 TEST passages, n=5: 9 of 300 Hindi rows, 12 of 300 Chinese, 1 Vietnamese,
none of the other languages') and keeps the file's shape: n questions per (passage, language), the
last attempt kept when every attempt fails.

Seeds: attempt a of question i of (docid, lang) samples with seed
``retry_seed(seed, a, i)`` (then, as always, per row from (that seed, docid, lang, 0)), so a
retried question depends on the same things a first one does and not on its batch.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from xqg_pyserini.data.languages import is_language
from xqg_pyserini.generation.backends import row_seed
from xqg_pyserini.generation.config import QueryGenerator, Request


def retry_seed(seed: int, attempt: int, i: int) -> int:
    """The sampling seed of attempt ``attempt`` (1, 2, ...) at question ``i``."""
    return row_seed(seed, f"retry{attempt}", "", i)


class LanguageChecked:
    """Wraps a generator (anything with ``generate(requests, n)`` and a ``sampling``): each question
    not in its request's language is sampled again, up to ``retries`` times.

    ``resampled`` counts the extra rows sampled, ``off_language`` the questions kept although no
    attempt passed; other attributes (``id``, ``dtype``, ``truncated``, ...) are the inner generator's."""

    def __init__(self, inner: QueryGenerator, retries: int):
        if retries < 1:
            raise ValueError("retries must be at least 1")
        self.inner, self.retries = inner, retries
        self.resampled = self.off_language = 0

    def __getattr__(self, name: str):
        return getattr(self.__dict__["inner"], name)

    def generate(self, requests: Sequence[Request], n: int, **kwargs) -> list[list[str]]:
        texts = self.inner.generate(requests, n, **kwargs)
        kwargs.pop("on_request_done", None)  # progress counts requests once, on their first attempt
        bad = [(j, i) for j, r in enumerate(requests) for i in range(n) if not is_language(texts[j][i], r.lang)]
        sampling = self.inner.sampling
        try:
            for attempt in range(1, self.retries + 1):
                if not bad:
                    break
                self.resampled += len(bad)
                for i in sorted({i for _, i in bad}):
                    rows = [j for j, k in bad if k == i]
                    self.inner.sampling = replace(sampling, seed=retry_seed(sampling.seed, attempt, i))
                    again = self.inner.generate([requests[j] for j in rows], 1, **kwargs)
                    for j, new in zip(rows, again):
                        texts[j][i] = new[0]
                bad = [(j, i) for j, i in bad if not is_language(texts[j][i], requests[j].lang)]
        finally:
            self.inner.sampling = sampling
        self.off_language += len(bad)
        return texts
