"""How good are generated queries? Offline measures, per language, on a set of passages.

- language: share of queries written in the requested language (script / letter check, see data/languages.py);
- self@1: share of queries that retrieve their own passage at rank 1 among all corpus passages,
  with multilingual-e5-small (the retriever the augmentation uses);
- distinct: share of queries that occur once among all queries of their language (a generic
  question repeated for many passages, or a sample repeated within a passage, counts against it);
- examples: a few queries per language.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

import numpy as np

from xqg_pyserini.data.corpus import read_corpus
from xqg_pyserini.data.languages import is_language
from xqg_pyserini.generation.queries import read_queries


def query_quality(queries_file: str | Path, corpus: str | Path, docids: Iterable[str] | None = None,
                  encoder=None, examples: int = 2) -> dict[str, dict]:
    """Per-language scores (and "all", the macro average) of the queries of ``docids`` (default: all)."""
    from xqg_pyserini.encode.encoders import TransformerEncoder

    passages = [p for p in read_corpus(corpus) if p.text]
    ids = [d for d, _, _ in passages]
    row = {d: k for k, d in enumerate(ids)}
    wanted = set(docids) if docids is not None else set(ids)
    groups = {k: v for k, v in read_queries(queries_file).items() if k[0] in wanted}
    enc = encoder or TransformerEncoder("multilingual-e5-small", show_progress=False)
    p_vecs = enc.encode_passages([x for _, _, x in passages], [t for _, t, _ in passages], show_progress=False)
    flat = [(d, lang, q) for (d, lang), qs in sorted(groups.items()) for q in qs]
    q_vecs = enc.encode_queries([q or " " for _, _, q in flat], show_progress=False)
    top = np.argmax(q_vecs @ p_vecs.T, axis=1)
    per: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for (d, lang, q), best in zip(flat, top):
        per[lang]["language"].append(is_language(q, lang) if q else False)
        per[lang]["self@1"].append(int(best) == row[d])
    seen: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (d, lang), qs in groups.items():
        for q in qs:
            seen[lang][q] += 1
    for (d, lang), qs in groups.items():
        per[lang]["distinct"].extend(seen[lang][q] == 1 for q in qs)
        if len(per[lang]["examples"]) < examples:
            per[lang]["examples"].append({"docid": d, "query": qs[0]})
    table = {lang: {"queries": len(v["language"]), **{m: round(float(np.mean(v[m])), 3) for m in ("language", "self@1", "distinct")},
                    "examples": v["examples"]} for lang, v in sorted(per.items())}
    if table:
        table["all"] = {"queries": sum(t["queries"] for t in table.values()),
                        **{m: round(float(np.mean([t[m] for t in table.values()])), 3) for m in ("language", "self@1", "distinct")}}
    return table


def markdown_table(tables: dict[str, dict[str, dict]]) -> str:
    """One row per language, one column group per generator: language / self@1 / distinct."""
    names = list(tables)
    langs = sorted({lang for t in tables.values() for lang in t if lang != "all"}) + ["all"]
    head = "| lang | " + " | ".join(f"{n}: lang / self@1 / distinct" for n in names) + " |"
    lines = [head, "|" + "---|" * (len(names) + 1)]
    for lang in langs:
        cells = []
        for n in names:
            t = tables[n].get(lang)
            cells.append(f"{t['language']:.2f} / {t['self@1']:.2f} / {t['distinct']:.2f}" if t else "-")
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
