"""Prefix-shared generator training: one forward pass over a passage serves all of its
(language, question) targets.

The prompt puts the passage first and the language last (``PASSAGE_FIRST``), so every target of a
passage starts with the same tokens. A step runs the passage once, expands its KV cache to the
step's targets (gradients flow back through the expansion into the shared prefix), runs each
target's ``"\\n{Language} question:" + question`` on top of it, and computes the loss only on the
question tokens, through the trimmed output head (:mod:`xqg_pyserini.vocab`). XQuAD TRAIN has about
56 targets per passage, so the passage is encoded once instead of 56 times, and the 262k-row output
layer shrinks to the ~40k ids the languages need. Mathematically the loss equals that of running
every (passage + target) sequence on its own (tested on a tiny model).
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch

from xqg_pyserini.generator_training import (Pair, TrainConfig, _load_checkpoint, _save_checkpoint, _trainable,
                                             _wrap, load_base)
from xqg_pyserini.io import InputError, atomic_dir, cache_dir, write_json
from xqg_pyserini.languages import language_name
from xqg_pyserini.vocab import OutputHead, build_vocabulary, coverage, save_vocabulary

#: The passage first, the language last: one prefill serves every language and sample.
PASSAGE_FIRST = "{title} {passage}\n{language} question:"


def split_template(template: str) -> tuple[str, str]:
    """(passage part with ``{title}`` and ``{passage}``, language part with ``{language}``)."""
    if "{passage}" not in template or "{language}" not in template:
        raise InputError(None, "a passage-first template needs {passage} and {language}")
    cut = template.index("{passage}") + len("{passage}")
    head, tail = template[:cut], template[cut:]
    if "{language}" in head:
        raise InputError(None, "the template must name the language after the passage (prefix sharing)")
    return head, tail


def prefix_ids(tokenizer, title: str, passage: str, max_input_tokens: int = 256,
               template: str = PASSAGE_FIRST) -> tuple[list[int], bool]:
    """(BOS + title + passage ids cut to ``max_input_tokens``, whether the passage was cut)."""
    head, _ = split_template(template)
    text = head.format(title=title, passage=passage).strip()
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    budget = max_input_tokens - len(bos)
    return bos + ids[:budget], len(ids) > budget


def suffix_ids(tokenizer, lang: str, template: str = PASSAGE_FIRST) -> list[int]:
    """The language part of the prompt, e.g. ``"\\nArabic question:"``."""
    _, tail = split_template(template)
    return tokenizer(tail.format(language=language_name(lang)), add_special_tokens=False)["input_ids"]


def target_ids(tokenizer, question: str, max_tokens: int = 64) -> list[int]:
    """The question as the continuation: a leading space, then EOS (cut to ``max_tokens``)."""
    ids = tokenizer(" " + question.strip(), add_special_tokens=False)["input_ids"][:max_tokens - 1]
    return ids + [tokenizer.eos_token_id]


@dataclass
class PassageTargets:
    """One passage's prefix and its targets: (language suffix + question ids, index where the question starts)."""
    prefix: list[int]
    rows: list[tuple[list[int], int]]


def group_pairs(tokenizer, pairs: Sequence[Pair], max_input_tokens: int = 256, max_target_tokens: int = 64,
                template: str = PASSAGE_FIRST) -> list[PassageTargets]:
    """Pairs grouped by passage (in first-seen order), tokenized once."""
    groups: dict[tuple[str, str], PassageTargets] = {}
    suffixes: dict[str, list[int]] = {}
    for p in pairs:
        key = (p.title, p.passage)
        if key not in groups:
            groups[key] = PassageTargets(prefix_ids(tokenizer, p.title, p.passage, max_input_tokens, template)[0], [])
        if p.lang not in suffixes:
            suffixes[p.lang] = suffix_ids(tokenizer, p.lang, template)
        suffix = suffixes[p.lang]
        groups[key].rows.append((suffix + target_ids(tokenizer, p.question, max_target_tokens), len(suffix)))
    return list(groups.values())


def _targets(rows: list[tuple[list[int], int]], pad: int, head: OutputHead) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and, per position, the kept-vocabulary index of the next token (or -100)."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for r, (row, start) in enumerate(rows):
        ids[r, :len(row)] = torch.tensor(row)
        # position p predicts token p + 1; the first question token is predicted at start - 1
        nxt = head.to_kept(torch.tensor(row[start:]))
        if (nxt < 0).any():
            raise InputError(None, "a target token is outside the trimmed vocabulary; rebuild the vocabulary from these pairs")
        labels[r, start - 1:len(row) - 1] = nxt
    return ids, labels


def _core(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def shared_prefix_loss(model, head: OutputHead, prefix: list[int], rows: list[tuple[list[int], int]],
                       pad: int = 0) -> tuple[torch.Tensor, int]:
    """(mean cross-entropy over the question tokens of ``rows``, number of those tokens), with the
    prefix run once and its cache expanded to the rows."""
    from transformers import DynamicCache

    core = _core(model)
    cache = DynamicCache(config=core.config)
    core.model(input_ids=torch.tensor([prefix]), cache=cache, use_cache=True)
    cache.batch_repeat_interleave(len(rows))
    ids, labels = _targets(rows, pad, head)
    positions = (len(prefix) + torch.arange(ids.shape[1])).expand(len(rows), -1)
    hidden = core.model(input_ids=ids, position_ids=positions, cache=cache, use_cache=True).last_hidden_state
    keep = labels != -100
    logits = head.logits(hidden[keep])
    return torch.nn.functional.cross_entropy(logits.float(), labels[keep]), int(keep.sum())


def unshared_loss(model, head: OutputHead, prefix: list[int], rows: list[tuple[list[int], int]],
                  pad: int = 0) -> tuple[torch.Tensor, int]:
    """The same loss with every (prefix + row) sequence run on its own (the reference; slow)."""
    core = _core(model)
    full = [(prefix + row, len(prefix) + start) for row, start in rows]
    ids, labels = _targets(full, pad, head)
    hidden = core.model(input_ids=ids).last_hidden_state
    keep = labels != -100
    return torch.nn.functional.cross_entropy(head.logits(hidden[keep]).float(), labels[keep]), int(keep.sum())


@dataclass
class SharedTrainConfig(TrainConfig):
    """Generator training with a shared passage prefix (the defaults of the shipped generator)."""
    template: str | None = PASSAGE_FIRST
    lr: float = 6e-4
    epochs: float = 1.0  # passes over all pairs
    max_targets: int = 32  # targets of one passage per optimizer step (more are split into several steps)
    trim_vocabulary: bool = True
    checkpoint_every: int = 25


def step_plan(groups: Sequence[PassageTargets], cfg: SharedTrainConfig) -> list[tuple[int, list[int]]]:
    """The whole run's steps as (passage index, target indices), from the seed alone: passages in
    a shuffled order each epoch, each passage's targets shuffled and cut into chunks of at most
    ``max_targets`` (balanced sizes). A fractional ``epochs`` ends part-way through the last one."""
    rng = random.Random(cfg.seed)
    steps: list[tuple[int, list[int]]] = []
    epoch_steps: list[tuple[int, list[int]]] = []
    for epoch in range(math.ceil(cfg.epochs)):
        order = list(range(len(groups)))
        rng.shuffle(order)
        epoch_steps = []
        for g in order:
            targets = list(range(len(groups[g].rows)))
            rng.shuffle(targets)
            chunks = math.ceil(len(targets) / cfg.max_targets)
            epoch_steps += [(g, targets[c::chunks]) for c in range(chunks)]
        take = len(epoch_steps) if epoch + 1 <= cfg.epochs else round(len(epoch_steps) * (cfg.epochs - epoch))
        steps += epoch_steps[:take]
    return steps


def train_shared(pairs: Sequence[Pair], out_dir: str | Path, cfg: SharedTrainConfig | None = None,
                 work_dir: str | Path | None = None, generator_id: str | None = None,
                 vocabulary_texts: Sequence[str] = (), languages: Sequence[str] = (), progress: bool = True) -> Path:
    """Fine-tune ``cfg.base`` on ``pairs`` with a shared prefix per passage; write the LoRA
    adapter, ``vocab.json`` (trimmed head) and ``generator.json`` to ``out_dir`` (atomically).

    ``work_dir`` holds the resumable checkpoint and ``train.log`` (one JSON line per step): a killed
    run restarted with the same arguments continues at its last checkpoint and sees the same steps.
    """
    cfg = cfg or SharedTrainConfig()
    if not pairs:
        raise InputError(None, "no training pairs")
    torch.set_num_threads(cfg.threads or len(os.sched_getaffinity(0)))
    out = Path(out_dir)
    work = Path(work_dir) if work_dir else cache_dir("train", out.name)
    work.mkdir(parents=True, exist_ok=True)
    tokenizer, model, seq2seq = load_base(cfg.base)
    if seq2seq:
        raise InputError(None, "prefix-shared training is for causal LMs; use train_generator for seq2seq")
    langs = sorted({p.lang for p in pairs} | set(languages))
    vocab = None
    if cfg.trim_vocabulary:
        texts = [p.question for p in pairs] + sorted({f"{p.title} {p.passage}" for p in pairs}) + list(vocabulary_texts)
        vocab = build_vocabulary(tokenizer, texts, langs)
    head = OutputHead(model, vocab)
    torch.manual_seed(cfg.seed)  # the LoRA initialisation
    model = _wrap(model, cfg, False)
    groups = group_pairs(tokenizer, pairs, cfg.max_input_tokens, cfg.max_target_tokens, cfg.template)
    steps = step_plan(groups, cfg)
    params = list(_trainable(model).values())
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    total = len(steps)

    def lr_scale(step: int, spent: float) -> float:
        """Linear warm-up, then cosine to 10% by the last step or the time limit, whichever first."""
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        if cfg.max_minutes:
            progress = max(progress, spent / (cfg.max_minutes * 60))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    step, log = _load_checkpoint(work, model, optimizer)
    spent = log[-1]["train_seconds"] if log else 0.0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.train()
    with open(work / "train.log", "a", encoding="utf-8") as logf:
        while step < total and not (cfg.max_minutes is not None and spent >= cfg.max_minutes * 60):
            started = time.perf_counter()
            torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout masks: the same after a resume
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_scale(step, spent)
            g, chosen = steps[step]
            loss, tokens = shared_prefix_loss(model, head, groups[g].prefix, [groups[g].rows[i] for i in chosen], pad)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            spent += time.perf_counter() - started
            entry = {"step": step, "of": total, "loss": round(loss.item(), 4), "lr": optimizer.param_groups[0]["lr"],
                     "pairs": len(chosen), "tokens": tokens, "train_seconds": round(spent, 1)}
            log.append(entry)
            logf.write(json.dumps(entry) + "\n")
            logf.flush()
            if progress:
                print(f"\rstep {step}/{total} loss {entry['loss']:.3f} {spent / 60:.1f} min", end="", flush=True)
            if step % cfg.checkpoint_every == 0 and step < total:
                _save_checkpoint(work, model, optimizer, step, log)
    if progress:
        print()
    _save_checkpoint(work, model, optimizer, step, log)
    return export_shared(model, tokenizer, out, cfg, log, pairs, vocab, generator_id or out.name)


def _curve(log: list[dict], points: int = 10) -> list[dict]:
    """The loss curve in ``points`` windows (mean loss per window): small enough for generator.json."""
    if not log:
        return []
    size = max(1, math.ceil(len(log) / points))
    return [{"steps": f"{w[0]['step']}-{w[-1]['step']}", "loss": round(sum(e["loss"] for e in w) / len(w), 4)}
            for w in (log[i:i + size] for i in range(0, len(log), size))]


def cpu_model() -> str:
    """The CPU's model name (for every speed figure and output's metadata)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def export_shared(model, tokenizer, out: Path, cfg: SharedTrainConfig, log: list[dict], pairs: Sequence[Pair],
                  vocab: list[int] | None, generator_id: str) -> Path:
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    seen = sum(e["pairs"] for e in log)
    tail = [e["loss"] for e in log[-20:]]
    meta = {"id": generator_id, "base": cfg.base, "kind": "causal", "template": cfg.template, "prefix_shared": True,
            "config": asdict(cfg), "steps": len(log), "pairs_seen": seen, "training_pairs": len(pairs),
            "epochs_seen": round(seen / max(len(pairs), 1), 3), "passages": len({(p.title, p.passage) for p in pairs}),
            "languages": sorted({p.lang for p in pairs}),
            "first_loss": log[0]["loss"] if log else None, "final_loss_mean20": round(sum(tail) / len(tail), 4) if tail else None,
            "loss_curve": _curve(log), "train_seconds": log[-1]["train_seconds"] if log else 0.0,
            "train_minutes": round((log[-1]["train_seconds"] if log else 0.0) / 60, 1),
            "cpu": cpu_model(), "threads": torch.get_num_threads(), "dtype": "float32",
            "vocabulary": len(vocab) if vocab else None}
    with atomic_dir(out) as tmp:
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in get_peft_model_state_dict(model).items()}
        save_file(state, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
        model.peft_config["default"].save_pretrained(str(tmp))
        if vocab:
            save_vocabulary(tmp, vocab, {"languages": meta["languages"], "built_from": "training questions and passages, script tokens, special tokens"})
        write_json(tmp / "generator.json", meta)
    return out
