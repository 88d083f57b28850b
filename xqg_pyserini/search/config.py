"""Search settings and their defaults, light to import (the CLI reads them; no JVM here)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SearchSettings:
    k: int = field(default=100, metadata={"help": "hits per query"})
    threads: int = field(default=1, metadata={"help": "search threads"})


@dataclass(frozen=True)
class HybridSettings:
    """Pyserini's interpolation: per query, ``alpha * sparse + dense`` over each side's top ``depth``
    (both min-max normalised first when ``normalization``). The default weight was chosen on XQuAD
    TRAIN questions with benchmarks/hybrid_alpha.py (macro nDCG@10: 0.8521 dense alone, 0.8586 at
    0.2 normalised, 0.8418 at 0.5; unnormalised interpolation only hurt)."""

    alpha: float = field(default=0.2, metadata={
        "help": "hybrid: weight of the (min-max normalised) BM25 side; 0.2 was best on XQuAD train"})
    normalization: bool = True
    depth: int = 1000
    weight_on_dense: bool = False
