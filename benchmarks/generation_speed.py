"""Generation speed: plain transformers ``generate`` against our prefix-shared decoder, in ONE run,
on the same passages, languages, n, sampling and threads. Run it with nothing else heavy beside it.

    .venv/bin/python benchmarks/generation_speed.py                      # 6 TEST passages x 11 languages x n=5
    .venv/bin/python benchmarks/generation_speed.py --backends plain fast fast-int8 fast-fullvocab fast-fp32

Backends:
- ``plain``: ``model.generate(do_sample=True, top_k, num_return_sequences=n)`` on the merged model,
  in bfloat16 with AMX/AVX512-BF16, else float32: the usual way, the baseline. ``plain-float32`` /
  ``plain-bfloat16`` force a dtype; with several plain rows the FASTEST is the baseline of the ratios
  (on the AVX512-BF16 EPYC plain bf16 generate falls back from oneDNN on the 262k-wide output layer). Both paths get the same calls (the default batching: whole passages,
  about 110 rows per call).
- ``fast``: the default path (``--dtype auto``, trimmed vocabulary, one prefill per passage, the
  generator's own contrast and language check: off-language questions sampled again; the stored
  AVX2 run of 2026-12-02 was made while the shipped default's contrast was 1.0, and its contrast
  column says so).
- ``fast-nocontrast``: the same with ``--contrast 0`` (the shipped default since): the cost of the contrast.
- ``fast-nocheck``: the same with ``--language-retries 0``: the cost of the language check.
- ``fast-<dtype>`` / ``fast-fullvocab`` / ``fast-languagevocab``: the same decoder with another dtype, the whole
  262k head, or a head per language (``--vocabulary language``).

``plain`` samples without the contrast (transformers has no prefix-shared twin rows) and without the
language check, so its ratio to ``fast`` compares a plain decoder doing less work per question.

Prints a table with the CPU model, questions/s and the ratio to ``plain``; ``--json`` merges the
results into a file keyed by CPU model (so runs on different CPUs sit side by side), from which
``xqg report`` renders docs/generation.md's speed table.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch


def plain_generate(gen, requests, n: int) -> list[list[str]]:
    """transformers' own sampling, batched: the baseline every faster path is compared with."""
    from transformers import GenerationConfig

    from xqg_pyserini.generation import clean_query

    prompts = [gen.prompt_ids(r) for r in requests]
    pad = gen.tokenizer.pad_token_id
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    s = gen.sampling
    config = GenerationConfig(max_new_tokens=s.max_new_tokens, do_sample=True, top_k=s.top_k, top_p=1.0,
                              num_return_sequences=n, pad_token_id=pad, eos_token_id=gen.tokenizer.eos_token_id)
    with torch.inference_mode():
        out = gen.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    texts = [clean_query(t) for t in gen.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)]
    return [texts[j * n:(j + 1) * n] for j in range(len(requests))]


def _loader(backend: str, generator: str, sampling):
    from dataclasses import replace

    from xqg_pyserini.models.cpu import pick_dtype
    from xqg_pyserini.generation import load_generator

    if backend.startswith("plain"):  # plain torch has no int8 generate path, and no contrast
        dtype = backend.split("-", 1)[1] if "-" in backend else "bfloat16" if pick_dtype() == "bfloat16" else "float32"
        plain = replace(sampling, contrast=0.0, language_retries=0)
        return load_generator(generator, plain, dtype=dtype, fast=False), "plain", dtype
    if backend == "fast-nocontrast":
        gen = load_generator(generator, replace(sampling, contrast=0.0), dtype="auto")
    elif backend == "fast-nocheck":
        gen = load_generator(generator, replace(sampling, language_retries=0), dtype="auto")
    elif backend in ("fast-fullvocab", "fast-languagevocab"):
        gen = load_generator(generator, sampling, dtype="auto", vocabulary=backend[5:-5])
    else:
        gen = load_generator(generator, sampling, dtype=backend.split("-", 1)[1] if "-" in backend else "auto")
    return gen, "fast", gen.dtype


def main() -> None:
    from xqg_pyserini.cli import quiet_libraries

    quiet_libraries()  # our output, not the libraries' loading bars
    from xqg_pyserini.generation import read_corpus, split_docids
    from xqg_pyserini.generation.runner import default_batch_size
    from xqg_pyserini.generation import Request, Sampling
    from xqg_pyserini.languages import XQUAD_LANGUAGES
    from xqg_pyserini.models.cpu import cpu_label

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="xqg")
    ap.add_argument("--corpus", default="collections/xquad/corpus/docs.jsonl")
    ap.add_argument("--split", default="test")
    ap.add_argument("--passages", type=int, default=6)
    ap.add_argument("--languages", nargs="+", default=XQUAD_LANGUAGES)
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--backends", nargs="+", default=["plain", "fast", "fast-nocontrast"])
    ap.add_argument("--json", default=None, help="merge results into this file (keyed by CPU model)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    keep = split_docids(args.corpus, args.split) if args.split else None
    passages = [p for p in read_corpus(args.corpus) if keep is None or p[0] in keep][:args.passages]
    sampling = Sampling(max_new_tokens=args.max_new_tokens)
    cpu = cpu_label()
    results = {}
    for backend in args.backends:
        gen, kind, dtype = _loader(backend, args.generator, sampling)
        run = (lambda reqs: plain_generate(gen, reqs, args.n)) if kind == "plain" else (lambda reqs: gen.generate(reqs, args.n))
        run([Request(passages[0][0], args.languages[0], passages[0][1], passages[0][2])])  # warm-up
        started = time.perf_counter()
        queries = []
        requests = [Request(d, lang, t, x) for d, t, x in passages for lang in args.languages]
        step = default_batch_size(len(args.languages), args.n)  # the default path's batches, for both
        for b in range(0, len(requests), step):
            queries += run(requests[b:b + step])
        seconds = time.perf_counter() - started
        count = len(passages) * len(args.languages) * args.n
        empty = sum(1 for qs in queries for q in qs if not q)
        results[backend] = {"generator": gen.id, "dtype": dtype, "contrast": gen.sampling.contrast or 0.0,
                            "language_retries": gen.sampling.language_retries or 0, "seconds": round(seconds, 1), "questions": count, "empty": empty,
                            "questions_per_s": round(count / seconds, 3), "example": queries[0][0]}
        print(backend, json.dumps(results[backend], ensure_ascii=False), flush=True)
        del gen
    plain = [r for name, r in results.items() if name.startswith("plain")]
    base = max(plain, key=lambda r: r["questions_per_s"]) if plain else None  # the fastest plain dtype is the baseline
    print(f"\n{cpu}, {args.threads} threads, {len(passages)} passages x {len(args.languages)} languages x n={args.n}")
    print("| path | dtype | questions/s | vs plain |\n|---|---|---|---|")
    for name, r in results.items():
        ratio = f"{r['questions_per_s'] / base['questions_per_s']:.1f}x" if base else "-"
        print(f"| {name} | {r['dtype']} | {r['questions_per_s']:.2f} | {ratio} |")
    if args.json:
        from xqg_pyserini.io import write_json

        path = Path(args.json)
        stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if "results" in stored and "args" in stored:  # the single-run layout of earlier versions
            stored = {}
        stored[cpu] = {"threads": args.threads, "passages": len(passages), "languages": list(args.languages), "n": args.n,
                       "max_new_tokens": args.max_new_tokens, "generator": args.generator, "results": results,
                       "date": time.strftime("%Y-%m-%d")}
        write_json(path, stored)


if __name__ == "__main__":
    main()
