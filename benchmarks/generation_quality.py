"""Quality of generated queries on XQuAD TEST-article passages, one column group per queries file.

    .venv/bin/python benchmarks/generation_quality.py NAME=QUERIES.jsonl [NAME=QUERIES.jsonl ...] \\
        --corpus collections/xquad/corpus/docs.jsonl --split test --json docs/generation_quality.json

Runs are compared on the passages they all cover (of the split). ``--real`` adds XQuAD's own
questions about those passages as a run ("real questions"): the level generated questions aim for. Prints a markdown table (language correctness / self-retrieval at rank 1 with multilingual-e5-small
among all corpus passages / distinct-query rate) and a few examples per language.
"""
from __future__ import annotations

import argparse
import json


def real_questions_file() -> str:
    """XQuAD's own questions in the generated-queries format (a temporary file), per passage and language."""
    import tempfile

    from xqg_pyserini.data.benchmarks import load_squad_dir
    from xqg_pyserini.data.languages import XQUAD_LANGUAGES

    bench = load_squad_dir(None, XQUAD_LANGUAGES)
    handle = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")
    with handle:
        for lang in XQUAD_LANGUAGES:
            groups: dict[str, list[str]] = {}
            for q in bench._select(lang, None):
                groups.setdefault(q.docid, []).append(q.text)
            for docid, texts in groups.items():
                for i, text in enumerate(texts):
                    handle.write(json.dumps({"docid": docid, "lang": lang, "i": i, "query": text, "generator": "real"},
                                            ensure_ascii=False) + "\n")
    return handle.name


def generation_record(path: str) -> dict | None:
    """How a queries file was made (its ``.meta.json``): generator, n, sampling, CPU, dtype, threads, seconds."""
    from pathlib import Path

    meta_path = Path(path).with_name(Path(path).name + ".meta.json")
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    settings, summary = meta.get("settings", {}), meta.get("summary", {})
    return {"generator": settings.get("generator"), "n": settings.get("n"), "languages": len(settings.get("languages", [])),
            "sampling": settings.get("sampling"), "complete": meta.get("complete"), **meta.get("machine", {}),
            **{k: summary.get(k) for k in ("passages_in_shard", "queries_written", "seconds", "queries_per_second") if k in summary}}


def main() -> None:
    import xqg_pyserini  # noqa: F401
    from xqg_pyserini.cli import quiet_libraries

    quiet_libraries()  # our output, not the libraries' loading bars
    from xqg_pyserini.evaluation.query_quality import markdown_table, query_quality
    from xqg_pyserini.generation import split_docids

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="NAME=FILE")
    ap.add_argument("--corpus", default="collections/xquad/corpus/docs.jsonl")
    ap.add_argument("--split", default="test")
    ap.add_argument("--json", default=None)
    ap.add_argument("--real", action="store_true", help="add XQuAD's real questions as a run (the ceiling)")
    args = ap.parse_args()
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.generation import read_queries

    docids = split_docids(args.corpus, args.split) if args.split else None
    runs = dict(run.split("=", 1) for run in args.runs)
    if args.real:
        runs["real questions"] = real_questions_file()
    for path in runs.values():  # compare on the passages every run covers
        have = {d for d, _ in read_queries(path)}
        docids = have if docids is None else docids & have
    print(f"{len(docids)} passages")
    encoder = TransformerEncoder("multilingual-e5-small", show_progress=False)
    tables = {name: query_quality(path, args.corpus, docids, encoder) for name, path in runs.items()}
    print(markdown_table(tables))
    for name, table in tables.items():
        print(f"\n{name} examples:")
        for lang, t in table.items():
            for ex in t.get("examples", []):
                print(f"  {lang} {ex['docid']}: {ex['query']}")
    if args.json:  # read by `xqg report` (docs/generation-results.md)
        import sys

        from xqg_pyserini.data.io import write_json

        command = ".venv/bin/python benchmarks/generation_quality.py " + " ".join(sys.argv[1:])
        write_json(args.json, {"command": command, "passages": len(docids), "tables": tables,
                               "files": {name: generation_record(path) for name, path in runs.items()}})


if __name__ == "__main__":
    main()
