"""How much of XQuAD's TEST questions the generator's trimmed vocabulary can write exactly.

    .venv/bin/python benchmarks/vocabulary_coverage.py --json docs/generation_vocabulary.json

For each language: the share of the TEST questions' tokens (as targets: leading space) among the
kept ids, and the share of questions whose every token is kept; once with the stored vocabulary
alone and once with the tokens of the question's passage added, as the decoder does at generation
time. The TEST questions were never used to build the vocabulary. A token outside the kept set is
not a lost word: smaller pieces (down to single characters and bytes) can still spell it.
"""
from __future__ import annotations

import argparse
import sys


def main() -> None:
    from transformers import AutoTokenizer

    from xqg_pyserini.data.benchmarks import load_squad_dir
    from xqg_pyserini.data.io import write_json
    from xqg_pyserini.data.languages import XQUAD_LANGUAGES
    from xqg_pyserini.generation.loading import _generator_parts
    from xqg_pyserini.generation.vocab import coverage, load_vocabulary

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="xqg")
    ap.add_argument("--split", default="test")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    path, meta, base, _ = _generator_parts(args.generator)
    tokenizer = AutoTokenizer.from_pretrained(base)
    ids = load_vocabulary(path, len(tokenizer))
    if ids is None:
        raise SystemExit(f"{path} has no trimmed vocabulary")
    bench = load_squad_dir(None, XQUAD_LANGUAGES)
    rows = {}
    for lang in XQUAD_LANGUAGES:
        questions = bench._select(lang, args.split)
        alone = coverage(tokenizer, ids, [q.text for q in questions])
        by_passage: dict[str, list[str]] = {}
        for q in questions:
            by_passage.setdefault(q.docid, []).append(q.text)
        tokens = hit = whole = 0
        for docid, texts in by_passage.items():
            p = bench.passages[docid]
            extra = set(tokenizer(f"{p.title} {p.text}", add_special_tokens=False)["input_ids"])
            c = coverage(tokenizer, sorted(set(ids) | extra), texts)
            tokens += c["tokens"]
            hit += round(c["token_coverage"] * c["tokens"])
            whole += round(c["text_coverage"] * c["texts"])
        rows[lang] = {"questions": len(questions), "token_coverage": round(alone["token_coverage"], 4),
                      "question_coverage": round(alone["text_coverage"], 4),
                      "token_coverage_with_passage": round(hit / max(tokens, 1), 4),
                      "question_coverage_with_passage": round(whole / max(len(questions), 1), 4)}
    keys = ["token_coverage", "question_coverage", "token_coverage_with_passage", "question_coverage_with_passage"]
    rows["macro"] = {k: round(sum(r[k] for r in rows.values()) / len(rows), 4) for k in keys}
    print(f"{meta.get('id')}: {len(ids)} kept ids of {len(tokenizer)}; XQuAD {args.split.upper()} questions")
    print("| lang | tokens kept | questions fully kept | tokens kept (+ passage) | questions fully kept (+ passage) |")
    print("|---|---|---|---|---|")
    for lang, r in rows.items():
        print(f"| {lang} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    if args.json:
        write_json(args.json, {"command": ".venv/bin/python benchmarks/vocabulary_coverage.py " + " ".join(sys.argv[1:]),
                               "generator": meta.get("id"), "kept": len(ids), "vocabulary": len(tokenizer),
                               "split": args.split, "rows": rows})


if __name__ == "__main__":
    main()
