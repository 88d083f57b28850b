"""The two trainers' settings, one style: a dataclass per trainer whose fields carry their defaults
and help text. ``xqg train-generator`` and ``xqg train-retriever`` build their options from these
fields (:mod:`xqg_pyserini.cli.options`), so the command line and the Python API cannot drift.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from xqg_pyserini.errors import InputError
from xqg_pyserini.models.gemma import GEMMA_BASE

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
SIMILARITIES = ("dot", "cos")
#: Fields that change neither the data order nor the result: a run may resume with other values.
NOT_FINGERPRINTED = ("max_minutes", "threads", "checkpoint_every")


def _opt(default, help: str, **kw):
    """A field with its help text (``metadata["help"]``), read by the CLI."""
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class GeneratorTrainConfig:
    """Fine-tuning the query generator (LoRA or full) on (passage -> question in L) pairs."""

    base: str = _opt(GEMMA_BASE, "gemma-3-270m or a local causal/seq2seq (mT5) checkpoint")
    lora_r: int = _opt(8, "LoRA rank; 0 = full fine-tuning")
    lora_alpha: int = _opt(16, "LoRA scaling alpha")
    lora_targets: list[str] = field(default_factory=lambda: list(ATTENTION), metadata={"help": "LoRA target modules"})
    lr: float = _opt(6e-4, "peak learning rate (linear warm-up, cosine decay to 10%%)")
    prefix_shared: bool = _opt(True, "causal LMs: one forward over a passage serves all its (language, question) "
                                     "targets (passage-first prompt); off = batches of independent pairs")
    epochs: float = _opt(2.0, "passes over the training pairs")
    max_pairs: int | None = _opt(None, "cap on the pairs seen in total (default: epochs x pairs)")
    max_targets: int = _opt(32, "prefix-shared: targets of one passage per optimizer step (more: several steps)")
    batch_size: int = _opt(8, "pairs per optimizer step without prefix sharing")
    trim_vocabulary: bool = _opt(True, "prefix-shared: output layer restricted to the ids the languages need")
    max_minutes: float | None = _opt(None, "stop (and save) after this much training time")
    warmup_steps: int = _opt(10, "learning-rate warm-up steps")
    max_input_tokens: int = _opt(256, "prompt tokens; passages are cut to fit (paper: 256)")
    max_target_tokens: int = _opt(64, "question tokens kept")
    template: str | None = _opt(None, "prompt template (default: passage-first when prefix-shared, else by model kind)")
    seed: int = _opt(0, "data order, LoRA initialisation and dropout")
    checkpoint_every: int = _opt(25, "optimizer steps between checkpoints")
    threads: int | None = _opt(None, "torch threads (default: the cores available)")
    bf16: bool = _opt(False, "bfloat16 autocast (about 4x faster on AVX512-BF16 CPUs)")
    init: str | None = _opt(None, "continue from a trained LoRA generator (xqg or xqg-v3, the shipped ones, or a directory) "
                                  "instead of a fresh adapter; its LoRA settings and base must match")


#: The old name of :class:`GeneratorTrainConfig`; kept for one release.
TrainConfig = GeneratorTrainConfig


@dataclass
class RetrieverTrainConfig:
    """Contrastive fine-tuning of the shared bi-encoder (in-batch and hard negatives)."""

    base: str = _opt("multilingual-e5-small", "starting checkpoint, name or directory")
    preset: str | None = _opt(None, "encoder settings family, e5 or dpr (default: the base model's)")
    pooling: str | None = _opt(None, "cls or mean (default: the preset's)")
    l2_norm: bool | None = _opt(None, "L2-normalise embeddings (default: the preset's)")
    similarity: str | None = _opt(None, "dot or cos (default: cos if L2-normalised, else dot)")
    temperature: float = _opt(0.02, "for cos similarity")
    query_max_length: int = _opt(64, "query tokens")
    passage_max_length: int = _opt(192, "passage tokens")
    batch_size: int = _opt(64, "queries per micro-batch")
    queries_per_passage: int = _opt(8, "queries sharing a positive in a micro-batch (1 = Tevatron's sampling)")
    negatives_per_passage: int = _opt(1, "hard negatives per positive passage of a micro-batch")
    accumulation_steps: int = _opt(1, "micro-batches per optimizer step")
    epochs: int = _opt(1, "passes over the training file")
    max_steps: int | None = _opt(None, "optimizer steps (default: all epochs)")
    lr: float = _opt(5e-5, "peak learning rate (linear warm-up and decay)")
    warmup_ratio: float = _opt(0.1, "share of steps spent warming up")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    max_grad_norm: float = _opt(1.0, "gradient clipping")
    freeze_word_embeddings: bool = _opt(True, "keep the word embedding matrix (96M of e5-small's 118M) frozen")
    distill_weight: float = _opt(0.0, "> 0: pull each question toward the frozen embedding of its English version")
    seed: int = _opt(0, "data order, negatives and dropout")
    checkpoint_every: int = _opt(10, "optimizer steps between checkpoints")
    max_minutes: float | None = _opt(None, "stop, save and export after this long")
    threads: int | None = _opt(None, "torch threads")


def check_generator_config(cfg: GeneratorTrainConfig) -> None:
    """Bad settings fail before a model is loaded."""
    for name in ("lora_alpha", "batch_size", "max_pairs", "max_targets", "max_input_tokens", "max_target_tokens",
                 "checkpoint_every"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise InputError(None, f"{name} must be at least 1, not {getattr(cfg, name)}")
    if cfg.epochs <= 0:
        raise InputError(None, f"epochs must be positive, not {cfg.epochs}")
    if cfg.lora_r < 0 or cfg.warmup_steps < 0 or cfg.lr <= 0:
        raise InputError(None, "lora_r and warmup_steps must not be negative, lr must be positive")
    if cfg.threads is not None and cfg.threads < 1 or cfg.max_minutes is not None and cfg.max_minutes <= 0:
        raise InputError(None, "threads and max_minutes must be positive")


def check_retriever_config(cfg: RetrieverTrainConfig) -> None:
    """Bad settings fail before a model is loaded."""
    if cfg.similarity not in (None, *SIMILARITIES):
        raise InputError(None, f"similarity must be one of {SIMILARITIES}, not {cfg.similarity!r}")
    for name in ("batch_size", "queries_per_passage", "accumulation_steps", "epochs", "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise InputError(None, f"{name} must be at least 1")
    if cfg.temperature <= 0 or cfg.lr <= 0 or cfg.negatives_per_passage < 0 or cfg.distill_weight < 0:
        raise InputError(None, "temperature and lr must be positive; negatives and distill_weight not negative")
    if cfg.threads is not None and cfg.threads < 1 or cfg.max_minutes is not None and cfg.max_minutes <= 0:
        raise InputError(None, "threads and max_minutes must be positive")


#: The old name of :func:`check_retriever_config`.
check_config = check_retriever_config
