"""Train our own query generator: (English passage -> question in language L) pairs, LoRA or full.

Offline the base is google/gemma-3-270m, materialized from its PyPI GGUF by
:mod:`xqg_pyserini.models.gemma`; settings are :class:`~xqg_pyserini.train.config.GeneratorTrainConfig`.
Causal LMs learn only on the question tokens, and logits are computed only at those positions: the
262k-token output layer would otherwise cost more than the rest of the network. mT5-style seq2seq
models train with the usual label loss. Training checkpoints every few steps and resumes from the
last checkpoint (:mod:`xqg_pyserini.train.checkpoint`, shared with the retriever's trainer); the data
order is a function of the seed alone, so a resumed run sees the same batches an uninterrupted one would.
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import save_file

from xqg_pyserini.data.io import InputError, atomic_dir, cache_dir, write_json
from xqg_pyserini.data.languages import XQUAD_LANGUAGES, check_languages
from xqg_pyserini.generation.loading import TRAINED_GENERATOR, generator_fingerprint, quiet_peft, resolve_generator
from xqg_pyserini.generation.prompts import (CAUSAL_TEMPLATE, PAPER_PROMPT, PASSAGE_FIRST, causal_prompt_ids,
                                             causal_target_ids, seq2seq_prompt)
from xqg_pyserini.generation.vocab import OutputHead, build_vocabulary, save_vocabulary
from xqg_pyserini.models.cpu import available_cores, cpu_label
from xqg_pyserini.models.gemma import resolve_base
from xqg_pyserini.train.checkpoint import (digest, fingerprint, load_checkpoint, save_checkpoint, trainable,
                                           work_dir as run_dir)
from xqg_pyserini.train.config import ATTENTION, GeneratorTrainConfig, check_generator_config
from xqg_pyserini.train.pairs import Pair, generated_pairs, read_pairs, xquad_pairs
from xqg_pyserini.train.shared_prefix import group_pairs, shared_prefix_loss, step_plan

__all__ = ["Pair", "batch_plan", "generated_pairs", "init_source", "load_base", "load_init", "loss_curve",
           "read_pairs", "train_from_sources", "train_generator", "xquad_pairs"]


def load_base(name: str):
    """(tokenizer, model, is_seq2seq) for a base checkpoint, on CPU in float32."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = resolve_base(name)
    seq2seq = bool(getattr(AutoConfig.from_pretrained(path), "is_encoder_decoder", False))
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    return AutoTokenizer.from_pretrained(path), cls.from_pretrained(path, dtype=torch.float32), seq2seq


# ----------------------------------------------------------------------------- encoding

def _encode(tokenizer, pair: Pair, seq2seq: bool, cfg: GeneratorTrainConfig) -> tuple[list[int], list[int]]:
    """(input ids, target ids) of one pair."""
    if seq2seq:
        text = seq2seq_prompt(pair.lang, pair.title, pair.passage, cfg.template or PAPER_PROMPT)
        src = tokenizer(text, truncation=True, max_length=cfg.max_input_tokens)["input_ids"]
        tgt = tokenizer(pair.question, truncation=True, max_length=cfg.max_target_tokens)["input_ids"]
        return src, tgt
    src = causal_prompt_ids(tokenizer, pair.lang, pair.title, pair.passage, cfg.max_input_tokens,
                            cfg.template or CAUSAL_TEMPLATE)
    tgt = causal_target_ids(tokenizer, pair.question)
    return src, tgt[-cfg.max_target_tokens:] if len(tgt) > cfg.max_target_tokens else tgt


def batch_plan(n_pairs: int, cfg: GeneratorTrainConfig, lengths: Sequence[int]) -> list[list[int]]:
    """The batches of the whole run, from the seed alone: shuffled epochs cut to ``max_pairs``,
    then windows of 8 batches sorted by length (less padding), batches shuffled within a window."""
    rng = random.Random(cfg.seed)
    total = cfg.max_pairs or round(cfg.epochs * n_pairs)
    order: list[int] = []
    while len(order) < total:
        epoch = list(range(n_pairs))
        rng.shuffle(epoch)
        order += epoch
    order = order[:total]
    window = cfg.batch_size * 8
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        group = [chunk[j:j + cfg.batch_size] for j in range(0, len(chunk), cfg.batch_size)]
        rng.shuffle(group)
        batches += group
    return batches


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def _loss(model, tokenizer, encoded: list[tuple[list[int], list[int]]], seq2seq: bool) -> torch.Tensor:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if seq2seq:
        src = _pad([s for s, _ in encoded], pad)
        labels = _pad([t for _, t in encoded], -100)
        return model(input_ids=src, attention_mask=_mask(encoded, 0), labels=labels).loss
    rows = [s + t for s, t in encoded]
    ids = _pad(rows, pad)
    attention = _mask(encoded, None)
    targets = torch.full_like(ids, -100)
    for b, (s, t) in enumerate(encoded):  # position p predicts token p + 1
        targets[b, len(s) - 1:len(s) + len(t) - 1] = torch.tensor(t)
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = core.model(input_ids=ids, attention_mask=attention).last_hidden_state
    keep = targets != -100
    logits = core.lm_head(hidden[keep])
    cap = getattr(core.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def _mask(encoded, which: int | None) -> torch.Tensor:
    """Attention mask of the padded rows: source only (which=0) or source + target (None)."""
    lengths = [len(s) if which == 0 else len(s) + len(t) for s, t in encoded]
    width = max(lengths)
    return torch.tensor([[1] * n + [0] * (width - n) for n in lengths], dtype=torch.long)


# ----------------------------------------------------------------------------- training

def _wrap(model, cfg: GeneratorTrainConfig, seq2seq: bool):
    if cfg.lora_r <= 0:
        return model
    from peft import LoraConfig, get_peft_model

    targets = cfg.lora_targets if not seq2seq or cfg.lora_targets != ATTENTION else ["q", "k", "v", "o"]
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.05, target_modules=targets,
                      task_type="SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM")
    with quiet_peft():
        return get_peft_model(model, lora)


def init_source(cfg: GeneratorTrainConfig) -> Path | None:
    """The trained generator ``cfg.init`` names, checked against ``cfg`` before any model is loaded:
    it must be a LoRA adapter of the same base, rank, alpha and target modules."""
    if not cfg.init:
        return None
    path = resolve_generator(cfg.init)
    if cfg.lora_r <= 0 or not (path / "adapter_config.json").is_file():
        raise InputError(path, "--init continues a LoRA adapter: it needs a LoRA generator (adapter_config.json) "
                               "and --lora-r above 0")
    adapter = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
    meta = json.loads((path / "generator.json").read_text(encoding="utf-8")) if (path / "generator.json").is_file() else {}
    mine = {"base": cfg.base, "r": cfg.lora_r, "lora_alpha": cfg.lora_alpha, "target_modules": sorted(cfg.lora_targets)}
    theirs = {"base": meta.get("base"), "r": adapter.get("r"), "lora_alpha": adapter.get("lora_alpha"),
              "target_modules": sorted(adapter.get("target_modules") or [])}
    differ = [f"{k} {theirs[k]} (this run: {mine[k]})" for k in mine if mine[k] != theirs[k]]
    if differ:
        raise InputError(path, "cannot continue this adapter: its " + ", ".join(differ))
    return path


def load_init(model, path: Path) -> None:
    """Start from the adapter at ``path`` (safetensors, never a pickle): every LoRA weight of ``model``
    is replaced, and a weight missing on either side is an error rather than a silent fresh start."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = load_file(str(path / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, state)
    missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
    if missing or getattr(result, "unexpected_keys", None):
        raise InputError(path, f"adapter does not fit the model: {len(missing)} LoRA weights missing, "
                               f"{len(result.unexpected_keys)} unexpected")


def _steps(model, tokenizer, pairs: Sequence[Pair], cfg: GeneratorTrainConfig, seq2seq: bool,
           languages: Sequence[str]) -> tuple[list, object, list[int] | None]:
    """(the run's steps, ``loss_of(step) -> (loss, pairs)``, kept vocabulary) for either loop:
    prefix-shared (causal LMs, default) or batches of independent pairs."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if cfg.prefix_shared and not seq2seq:
        langs = sorted({p.lang for p in pairs} | set(languages))
        vocab = None
        if cfg.trim_vocabulary:
            texts = [p.question for p in pairs] + sorted({f"{p.title} {p.passage}" for p in pairs})
            vocab = build_vocabulary(tokenizer, texts, langs)
        head = OutputHead(model, vocab)
        groups = group_pairs(tokenizer, pairs, cfg.max_input_tokens, cfg.max_target_tokens, cfg.template or PASSAGE_FIRST)
        plan = step_plan(groups, cfg)

        def loss_of(step: int):
            g, chosen = plan[step]
            return shared_prefix_loss(model, head, groups[g].prefix, [groups[g].rows[i] for i in chosen], pad)[0], len(chosen)
        return plan, loss_of, vocab
    encoded = [_encode(tokenizer, p, seq2seq, cfg) for p in pairs]
    batches = batch_plan(len(pairs), cfg, [len(s) + len(t) for s, t in encoded])

    def loss_of(step: int):
        return _loss(model, tokenizer, [encoded[i] for i in batches[step]], seq2seq), len(batches[step])
    return batches, loss_of, None


def train_generator(pairs: Sequence[Pair], out_dir: str | Path, cfg: GeneratorTrainConfig | None = None,
                    work_dir: str | Path | None = None, generator_id: str | None = None,
                    log_every: int = 1, resume: bool = True, languages: Sequence[str] = (),
                    progress: bool = False) -> Path:
    """Fine-tune ``cfg.base`` on ``pairs`` and write the generator to ``out_dir`` (atomically).

    Causal LMs train prefix-shared by default (:mod:`xqg_pyserini.train.shared_prefix`), with the
    output layer trimmed to the ids ``languages`` (and the pairs) need. LoRA runs write a fp16
    adapter (adapter_config.json + adapter_model.safetensors); full runs a whole checkpoint. Both
    get ``generator.json`` (base, prompt, settings, loss curve, time, CPU) and, when trimmed,
    ``vocab.json``. ``work_dir`` holds the resumable checkpoint and ``train.log`` (one JSON line per
    step): a killed run restarted with the same arguments continues from its last checkpoint.
    """
    cfg = cfg or GeneratorTrainConfig()
    check_generator_config(cfg)
    if not pairs:
        raise InputError(None, "no training pairs")
    torch.set_num_threads(cfg.threads or available_cores())
    out = Path(out_dir)
    work = run_dir(out, work_dir, resume)
    init = init_source(cfg)
    run = fingerprint(cfg, pairs=len(pairs), data=digest([asdict(p) for p in pairs]), languages=sorted(languages),
                      **({"init": generator_fingerprint(init)} if init else {}))
    tokenizer, model, seq2seq = load_base(cfg.base)
    torch.manual_seed(cfg.seed)  # the LoRA initialisation, so that a run is a function of its config
    model = _wrap(model, cfg, seq2seq)
    if init:
        load_init(model, init)
    plan, loss_of, vocab = _steps(model, tokenizer, pairs, cfg, seq2seq, languages)
    optimizer = torch.optim.AdamW(list(trainable(model).values()), lr=cfg.lr, weight_decay=0.0)
    total = len(plan)

    def lr_at(step: int, spent: float) -> float:
        """Linear warm-up, then cosine decay to 10% by the last step or by the time limit,
        whichever comes first, so a time-capped run still ends with a small learning rate."""
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        if cfg.max_minutes:
            progress = max(progress, spent / (cfg.max_minutes * 60))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    step, log = load_checkpoint(work, model, optimizer, run)
    spent = log[-1]["train_seconds"] if log else 0.0
    seen = log[-1]["pairs"] if log else 0
    model.train()
    with open(work / "train.log", "a", encoding="utf-8") as logf:
        while step < total:
            if cfg.max_minutes is not None and spent >= cfg.max_minutes * 60:
                break
            started = time.perf_counter()
            torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout: same masks after a resume
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_at(step, spent)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                loss, count = loss_of(step)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(trainable(model).values()), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step, seen = step + 1, seen + count
            spent += time.perf_counter() - started
            entry = {"step": step, "of": total, "loss": round(loss.item(), 4), "lr": optimizer.param_groups[0]["lr"],
                     "pairs": seen, "train_seconds": round(spent, 1)}
            log.append(entry)
            if step % log_every == 0 or step == total:
                logf.write(json.dumps(entry) + "\n")
                logf.flush()
            if progress:
                print(f"\rstep {step}/{total}  loss {entry['loss']:.3f}  {spent / 60:.1f} min", end="", flush=True)
            if step % cfg.checkpoint_every == 0 and step < total:
                save_checkpoint(work, model, optimizer, step, log, run)
    if progress:
        print()
    save_checkpoint(work, model, optimizer, step, log, run)
    return _export(model, tokenizer, out, cfg, seq2seq, log, pairs, generator_id or out.name, vocab)


def loss_curve(log: list[dict], points: int = 10) -> list[dict]:
    """The loss curve in ``points`` windows (mean loss per window): small enough for generator.json."""
    if not log:
        return []
    size = max(1, math.ceil(len(log) / points))
    return [{"steps": f"{w[0]['step']}-{w[-1]['step']}", "loss": round(sum(e["loss"] for e in w) / len(w), 4)}
            for w in (log[i:i + size] for i in range(0, len(log), size))]


def _export(model, tokenizer, out: Path, cfg: GeneratorTrainConfig, seq2seq: bool, log: list[dict],
            pairs: Sequence[Pair], generator_id: str, vocab: list[int] | None = None) -> Path:
    shared = cfg.prefix_shared and not seq2seq
    template = cfg.template or (PAPER_PROMPT if seq2seq else PASSAGE_FIRST if shared else CAUSAL_TEMPLATE)
    tail = [e["loss"] for e in log[-20:]]
    seen = log[-1]["pairs"] if log else 0
    seconds = log[-1]["train_seconds"] if log else 0.0
    meta = {"id": generator_id, "base": cfg.base, "kind": "seq2seq" if seq2seq else "causal", "template": template,
            "prefix_shared": shared, "config": asdict(cfg), "steps": len(log), "pairs_seen": seen,
            "training_pairs": len(pairs), "epochs_seen": round(seen / max(len(pairs), 1), 3),
            "passages": len({(p.title, p.passage) for p in pairs}), "languages": sorted({p.lang for p in pairs}),
            "first_loss": log[0]["loss"] if log else None,
            "final_loss_mean20": round(sum(tail) / len(tail), 4) if tail else None, "loss_curve": loss_curve(log),
            "train_seconds": seconds, "train_minutes": round(seconds / 60, 1), "cpu": cpu_label(),
            "threads": torch.get_num_threads(), "dtype": "bfloat16 autocast" if cfg.bf16 else "float32",
            "vocabulary": len(vocab) if vocab else None}
    with atomic_dir(out, command="train-generator", legacy=("generator.json",)) as tmp:  # never a foreign dir
        if cfg.lora_r > 0:
            from peft import get_peft_model_state_dict

            state = {k: v.detach().to(torch.float16).contiguous() for k, v in get_peft_model_state_dict(model).items()}
            save_file(state, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
            model.peft_config["default"].save_pretrained(str(tmp))
        else:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        if vocab:
            save_vocabulary(tmp, vocab, {"languages": meta["languages"],
                                         "built_from": "training questions and passages, script tokens, special tokens"})
        write_json(tmp / "generator.json", meta)
    return out


# ----------------------------------------------------------------------------- entry point

def train_from_sources(out: str | Path | None = None, pairs_file: str | Path | None = None,
                       data_dir: str | Path | None = None, split: str = "train",
                       languages: Sequence[str] = XQUAD_LANGUAGES, cfg: GeneratorTrainConfig | None = None,
                       work_dir: str | Path | None = None, resume: bool = True, progress: bool = False,
                       generated_queries: str | Path | None = None, corpus: str | Path = "collections/xquad/corpus",
                       allow_incomplete: bool = False) -> Path:
    """What ``xqg train-generator`` does: pairs from a JSONL file, from generated queries of a corpus's
    ``split`` passages, or from XQuAD's ``split`` articles; then train. Settings, the ``init``
    adapter, languages and pairs are checked before the base model is loaded."""
    if pairs_file and generated_queries:
        raise InputError(None, "give training pairs (--pairs) or generated queries (--generated-queries), not both")
    check_generator_config(cfg or GeneratorTrainConfig())
    init_source(cfg or GeneratorTrainConfig())
    check_languages(list(languages))
    if generated_queries:
        pairs = generated_pairs(generated_queries, corpus, split, languages, allow_incomplete)
    else:
        pairs = read_pairs(pairs_file) if pairs_file else xquad_pairs(split, languages, data_dir)
    target = Path(out) if out else cache_dir("models") / TRAINED_GENERATOR
    return train_generator(pairs, target, cfg, work_dir, resume=resume, languages=languages, progress=progress)
