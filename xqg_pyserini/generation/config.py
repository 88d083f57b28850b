"""What a generator is asked for and how it samples: :class:`Request`, :class:`Sampling` (the
defaults ``xqg generate`` shows) and the :class:`QueryGenerator` interface every backend implements.
Light on purpose (no torch): the CLI reads its defaults from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence


@dataclass(frozen=True)
class Request:
    """Generate queries in ``lang`` for one passage."""
    docid: str
    lang: str
    title: str
    text: str


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Sampling:
    """The paper samples with top_k=10 (no temperature, no top_p), at most 32-64 new tokens."""
    top_k: int = _opt(10, "sample from the k most likely tokens (paper: 10)")
    temperature: float = _opt(1.0, "sampling temperature")
    max_new_tokens: int = _opt(32, "paper: 32 to 64")
    max_input_tokens: int = _opt(256, "passages are cut to fit (paper: 256)")
    seed: int = _opt(0, "query i of (docid, lang) is seeded from (seed, docid, lang, i)")
    contrast: float | None = _opt(None, "w > 0: among the top-k tokens, sample from (1+w)*logit(passage prompt) - "
                                        "w*logit(passage-free prompt), favouring what the passage makes likely "
                                        "(prefix-shared generators); default: the generator's own, else 0 (off; "
                                        "1.0 was chosen on TRAIN passages, see docs/generation.md)")
    language_retries: int | None = _opt(None, "a question the offline language check does not accept (another "
                                              "language or script, mostly English) is sampled again with a fresh "
                                              "seed, up to this many times; default: the generator's own, else 0")


def settings_dict(sampling: Sampling) -> dict:
    """The sampling settings a queries file records; ``contrast`` and ``language_retries`` only when
    used (resolve them first: :func:`~xqg_pyserini.generation.loading.resolve_sampling`), so files
    written before they existed keep their settings (and cache names)."""
    from dataclasses import asdict

    out = asdict(sampling)
    for optional in ("contrast", "language_retries"):
        if not out[optional]:
            del out[optional]
    return out


class QueryGenerator(Protocol):
    id: str

    def generate(self, requests: Sequence[Request], n: int) -> list[list[str]]:
        """``n`` queries for each request, in request order."""


#: What a prefix-shared generator's rows sample from: its stored (trimmed) ids; a head per language
#: (the stored ids less the other target scripts; Latin-script languages also get every Latin-script
#: token); or the whole output layer.
VOCABULARIES = ("trimmed", "language", "full")


def check_vocabulary(vocabulary: str) -> str:
    if vocabulary not in VOCABULARIES:
        from xqg_pyserini.errors import InputError

        raise InputError(None, f"unknown vocabulary {vocabulary!r}; choose from {', '.join(VOCABULARIES)}")
    return vocabulary
