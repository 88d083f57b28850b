"""Generation speed of each backend on the same passages, on this machine.

    .venv/bin/python benchmarks/generation_speed.py --generator xqg --passages 8 --languages de zh ru -n 2

Backends: ``plain`` (transformers ``generate(do_sample=True, top_k, num_return_sequences=n)``, the
usual way, float32), ``xqg-fp32`` (our HFGenerator: one prefill per prompt shared by its n rows,
per-row seeds), ``xqg-bf16`` (the same with bfloat16 weights), ``ct2-int8`` (CTranslate2 int8, a fresh
engine per (passage, language) group for its seed; converted once into the cache). Prints passages/s, queries/s and the
ratio to ``plain``; ``--json FILE`` also writes them.
"""
from __future__ import annotations

import argparse
import json
import time

import torch


def plain_generate(gen, requests, n: int) -> list[list[str]]:
    """transformers' own sampling, batched, the baseline every faster path is compared with."""
    from transformers import GenerationConfig

    from xqg_pyserini.generators import clean_query

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


def main() -> None:
    import xqg_pyserini  # noqa: F401
    from xqg_pyserini.generation import read_corpus, split_docids
    from xqg_pyserini.generators import Request, Sampling, load_generator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="xqg")
    ap.add_argument("--corpus", default="collections/xquad/corpus/docs.jsonl")
    ap.add_argument("--split", default="test")
    ap.add_argument("--passages", type=int, default=8)
    ap.add_argument("--languages", nargs="+", default=["de", "zh", "ru"])
    ap.add_argument("-n", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--backends", nargs="+", default=["plain", "xqg-fp32", "xqg-bf16", "ct2-int8"])
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 is best on a shared, busy CPU)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    keep = split_docids(args.corpus, args.split) if args.split else None
    passages = [p for p in read_corpus(args.corpus) if keep is None or p[0] in keep][:args.passages]
    requests = [Request(d, lang, t, x) for d, t, x in passages for lang in args.languages]
    sampling = Sampling(max_new_tokens=args.max_new_tokens)
    results = {}
    for backend in args.backends:
        spec = f"ct2:{args.generator}" if backend == "ct2-int8" else args.generator
        gen = load_generator(spec, sampling, bf16=backend.endswith("bf16"))
        run = (lambda reqs: plain_generate(gen, reqs, args.n)) if backend == "plain" else (lambda reqs: gen.generate(reqs, args.n))
        run(requests[:1])  # warm-up
        started = time.perf_counter()
        queries = []
        for b in range(0, len(requests), args.batch_size):
            queries += run(requests[b:b + args.batch_size])
        seconds = time.perf_counter() - started
        results[backend] = {"seconds": round(seconds, 1), "passages_per_s": round(len(passages) / seconds, 4),
                            "queries_per_s": round(len(requests) * args.n / seconds, 3),
                            "example": queries[0][0]}
        print(backend, json.dumps(results[backend], ensure_ascii=False), flush=True)
        if args.threads:
            torch.set_num_threads(args.threads)  # a backend (CTranslate2) may have reset it
    base = results.get("plain")
    for name, r in results.items():
        ratio = f"{r['queries_per_s'] / base['queries_per_s']:.2f}x plain" if base else ""
        print(f"{name:10s} {r['passages_per_s']:8.3f} passages/s {r['queries_per_s']:8.3f} queries/s  {ratio}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2,
                      ensure_ascii=False)


if __name__ == "__main__":
    main()
