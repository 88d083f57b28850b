"""``xqg generate`` (stage: generation)."""
from __future__ import annotations

from xqg_pyserini.cli.options import (count, language, non_negative_float, option, positive_float, positive_int,
                                      ray_options)


def register(sub) -> None:
    from xqg_pyserini.generation.config import VOCABULARIES, Sampling
    from xqg_pyserini.generation.distributed import generate_ray
    from xqg_pyserini.generation.runner import generate
    from xqg_pyserini.models.cpu import DTYPES

    p = sub.add_parser("generate", help="xQG: generate queries in each target language for every passage",
                       description="JSONL out, one line per query {docid, lang, i, query, generator}. Same seed, same "
                                   "output whatever --batch-size or sharding; a killed run resumes where it stopped.")
    p.add_argument("--corpus", required=True, help="Pyserini JsonCollection (.jsonl file or directory)")
    option(p, "--generator", generate,
           help="xqg (our adapter, trained on XQuAD TRAIN; also xqg-v3), xqg-distil (it, distilled from its "
                "contrast decoding, with a language check: sharper questions, a smaller fusion gain), gemma-3-270m "
                "(untuned base), a local HF or trained-generator directory (e.g. an mT5 checkpoint), or precomputed:FILE")
    p.add_argument("--languages", nargs="+", type=language, default=None,
                   help="target languages (default: the 11 XQuAD ones)")
    option(p, "--queries-per-language", generate, "n", aliases=("-n",), type=positive_int,
           help="queries per passage and language (paper: 5)")
    p.add_argument("--out", default=None,
                   help="output .jsonl (default: <cache>/queries/<corpus name>.<content sha8>.<generator>."
                        "<settings sha8>.jsonl, so two corpora or two settings never share a file)")
    p.add_argument("--split", default=None, help="only passages of this split (split.tsv beside corpus/), e.g. test")
    option(p, "--batch-size", generate, type=positive_int,
           help="(passage, language) prompts per model call (default: whole passages, about 110 rows)")
    option(p, "--top-k", Sampling, type=positive_int)
    option(p, "--temperature", Sampling, type=positive_float)
    option(p, "--max-new-tokens", Sampling, type=positive_int)
    option(p, "--max-input-tokens", Sampling, type=positive_int)
    option(p, "--seed", Sampling, type=int)
    option(p, "--contrast", Sampling, type=non_negative_float)
    option(p, "--language-retries", Sampling, type=count)
    option(p, "--shard", generate, type=count, help="this process's shard (0-based)")
    option(p, "--num-shards", generate, type=positive_int, help="split passages by a stable hash of the docid")
    option(p, "--few-shot", generate, type=count, help="worked examples per language in the prompt (base models)")
    option(p, "--dtype", generate, choices=list(DTYPES),
           help="auto: bfloat16 where the CPU has AMX/AVX512-BF16, else float32. int8 (dynamic int8 layers, "
                "prefix-shared generators) is faster but measured to degrade the questions. Only float32 makes the "
                "questions independent of --batch-size")
    p.add_argument("--bf16", action="store_true", help="the same as --dtype bfloat16 (kept for old scripts)")
    option(p, "--vocabulary", generate, choices=list(VOCABULARIES),
           help="the output layer rows sample from: the generator's stored (trimmed) ids; language: a head per "
                "language, without the other target scripts and, for Latin-script languages, with every "
                "Latin-script token (their topic words); full: all 262k (slowest)")
    p.add_argument("--full-vocabulary", dest="vocabulary", action="store_const", const="full",
                   help="the same as --vocabulary full")
    option(p, "--threads", generate, type=positive_int, help="torch threads (default: the cores available)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming --out")
    p.add_argument("--no-progress", action="store_true")
    ray_options(p, "generate", generate_ray)
    p.set_defaults(func=run_generate)


def run_generate(args) -> None:
    from xqg_pyserini.generation.runner import generate

    if args.ray:
        return run_generate_ray(args)

    summary = generate(args.corpus, args.generator, args.languages, args.n, args.out, args.batch_size, args.top_k,
                       args.temperature, args.max_new_tokens, args.max_input_tokens, args.seed, args.shard,
                       args.num_shards, args.split, args.overwrite, not args.no_progress, args.few_shot, args.bf16,
                       args.threads, args.dtype, args.vocabulary, args.contrast, args.language_retries)
    skipped = summary.pop("skipped_empty_passages")
    print(f"wrote {summary['out']}: {summary} (skipped {len(skipped)} empty passages"
          f"{': ' + ' '.join(skipped[:5]) if skipped else ''})")


def run_generate_ray(args) -> None:
    """``xqg generate --ray``: the same generator and format, over a Ray cluster, into a directory of parts."""
    from xqg_pyserini.data.languages import XQUAD_LANGUAGES
    from xqg_pyserini.errors import InputError
    from xqg_pyserini.generation.config import Sampling
    from xqg_pyserini.generation.distributed import generate_ray
    from xqg_pyserini.generation.runner import warn_untrained

    if args.out is None:
        raise InputError(None, "--ray writes a directory of parts: give it with --out")
    if args.num_shards != 1 or args.split is not None or args.threads is not None:
        raise InputError(None, "--ray splits the corpus itself and sets threads per actor (--cpus-per-actor); "
                               "drop --shard/--num-shards, --split and --threads")
    sampling = Sampling(top_k=args.top_k, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                        max_input_tokens=args.max_input_tokens, seed=args.seed, contrast=args.contrast,
                        language_retries=args.language_retries)
    warn_untrained(args.generator, args.languages or XQUAD_LANGUAGES)
    summary = generate_ray(args.corpus, args.out, args.generator, args.languages, args.n, sampling, args.batch_size,
                           args.few_shot, "bfloat16" if args.bf16 else args.dtype, args.vocabulary,
                           args.part_bytes, args.actors, args.cpus_per_actor, address=args.ray_address,
                           overwrite=args.overwrite, progress=not args.no_progress)
    print(f"wrote {summary['out']}: {summary}")
