"""Misspelled queries: seeded, script-aware typos in a requested share of words.

Each word is misspelled with probability ``rate`` by one edit chosen at random: two neighbouring
letters swapped, one letter dropped, one inserted, or one replaced. Inserted and replacing letters are
drawn from the letters of the same script in the same query, so a Thai word gets Thai letters and an
Arabic word Arabic ones: no edit ever produces a character of another script, and none produces a
letter the query did not already use.

A "word" is a run of letters (with their combining marks) of one script, between anything else
(spaces, digits, punctuation, a change of script). Scripts written without spaces (Chinese, Japanese,
Thai, Khmer, Lao, Myanmar) have no word boundaries to find offline, so there each character (with its
marks) counts as a word: the rate is then a share of characters. A letter always keeps its combining
marks (a Thai vowel sign, an Arabic haraka), so edits move, drop or copy whole characters.

The noise depends only on (seed, text): a query is misspelled the same way in any file and order.
"""
from __future__ import annotations

import os
import random
import unicodedata
from dataclasses import dataclass

from xqg_pyserini.data.languages import script_of
from xqg_pyserini.errors import InputError

#: Scripts written without spaces between words: each character is a unit of noise.
UNSPACED = frozenset({"CJK", "THAI", "KHMER", "LAO", "MYANMAR", "TIBETAN"})
EDITS = ("swap", "drop", "insert", "replace")


@dataclass(frozen=True)
class Misspelling:
    """A misspelled text and how many of its words were changed."""

    text: str
    changed: int
    words: int


def _clusters(text: str) -> list[tuple[str, str | None]]:
    """(character with its combining marks, its script or None for a non-letter)."""
    out: list[tuple[str, str | None]] = []
    for ch in text:
        if out and unicodedata.category(ch) in ("Mn", "Mc", "Me") and out[-1][1] is not None:
            out[-1] = (out[-1][0] + ch, out[-1][1])
        else:
            out.append((ch, script_of(ch)))
    return out


def _words(clusters: list[tuple[str, str | None]]) -> list[tuple[int, int, str]]:
    """(start, end, script) of each word: runs of one spaced script, or single unspaced characters."""
    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(clusters):
        script = clusters[i][1]
        j = i + 1
        if script is not None and script not in UNSPACED:
            while j < len(clusters) and clusters[j][1] == script:
                j += 1
        if script is not None:
            spans.append((i, j, script))
        i = j
    return spans


def _edit(word: list[str], pool: list[str], rng: random.Random, unspaced: bool) -> list[str]:
    """One random edit that changes ``word``; letters added come from ``pool`` (same script). A word of
    a spaced script keeps at least one letter; an unspaced character may be dropped."""
    for op in rng.sample(EDITS, len(EDITS)):
        if op == "swap":
            pairs = [k for k in range(len(word) - 1) if word[k] != word[k + 1]]
            if pairs:
                k = rng.choice(pairs)
                return word[:k] + [word[k + 1], word[k]] + word[k + 2:]
        elif op == "drop" and (len(word) > 1 or unspaced):
            k = rng.randrange(len(word))
            return word[:k] + word[k + 1:]
        elif op == "replace":
            k = rng.randrange(len(word))
            others = [c for c in pool if c != word[k]]
            if others:
                return word[:k] + [rng.choice(others)] + word[k + 1:]
        elif op == "insert":
            k = rng.randrange(len(word) + 1)
            return word[:k] + [rng.choice(pool)] + word[k:]
    raise AssertionError("insert always applies")


def misspell_text(text: str, rate: float, seed: int = 0) -> Misspelling:
    """``text`` with about ``rate`` of its words misspelled (see the module docstring)."""
    if not 0.0 <= rate <= 1.0:
        raise InputError(None, f"misspelling rate must be in [0, 1], not {rate}")
    rng = random.Random(f"{seed}:{text}")
    clusters = _clusters(text)
    spans = _words(clusters)
    pools: dict[str, list[str]] = {}
    for c, script in clusters:
        if script is not None and c not in pools.setdefault(script, []):
            pools[script].append(c)
    pieces, last, changed = [], 0, 0
    for start, end, script in spans:
        pieces += [c for c, _ in clusters[last:start]]
        word = [c for c, _ in clusters[start:end]]
        if rng.random() < rate:
            word = _edit(word, pools[script], rng, script in UNSPACED)
            changed += 1
        pieces += word
        last = end
    pieces += [c for c, _ in clusters[last:]]
    return Misspelling("".join(pieces), changed, len(spans))


def misspell(text: str, rate: float, seed: int = 0) -> str:
    """Just the misspelled text of :func:`misspell_text`."""
    return misspell_text(text, rate, seed).text


def misspell_topics(topics: str | os.PathLike, out: str | os.PathLike, rate: float = 0.1, seed: int = 0) -> dict:
    """Misspell every query of a topics TSV (qid <TAB> query) into ``out`` (same qids, same order,
    written atomically); returns {"out", "queries", "words", "changed", "share"}."""
    from xqg_pyserini.data.mkqa import write_topics
    from xqg_pyserini.data.trec import read_topics

    clean = read_topics(topics)
    if not clean:
        raise InputError(topics, "no topics (expected lines: qid<TAB>query)")
    noisy = {qid: misspell_text(text, rate, seed) for qid, text in clean.items()}
    write_topics({qid: m.text for qid, m in noisy.items()}, out)
    words, changed = sum(m.words for m in noisy.values()), sum(m.changed for m in noisy.values())
    return {"out": str(out), "queries": len(noisy), "words": words, "changed": changed,
            "share": changed / words if words else 0.0}
