"""Prefix-shared generator training: one forward pass over a passage serves all of its
(language, question) targets.

The prompt puts the passage first and the language last (``PASSAGE_FIRST``), so every target of a
passage starts with the same tokens. A step runs the passage once, expands its KV cache to the
step's targets (gradients flow back through the expansion into the shared prefix), runs each
target's ``"\\n{Language} question:" + question`` on top of it, and computes the loss only on the
question tokens, through the trimmed output head (:mod:`xqg_pyserini.generation.vocab`). XQuAD TRAIN
has about 56 targets per passage, so the passage is encoded once instead of 56 times, and the
262k-row output layer shrinks to the ids the languages need. The loss and its gradients equal those
of running every (passage + target) sequence on its own (``unshared_loss``; tested on a tiny model).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

import torch

from xqg_pyserini.data.io import InputError
from xqg_pyserini.generation.prompts import PASSAGE_FIRST, prefix_ids, suffix_ids, target_ids
from xqg_pyserini.generation.vocab import OutputHead
from xqg_pyserini.train.config import GeneratorTrainConfig


@dataclass
class PassageTargets:
    """One passage's prefix and its targets: (language suffix + question ids, index where the question starts)."""
    prefix: list[int]
    rows: list[tuple[list[int], int]]


def group_pairs(tokenizer, pairs: Sequence, max_input_tokens: int = 256, max_target_tokens: int = 64,
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


def step_plan(groups: Sequence[PassageTargets], cfg: GeneratorTrainConfig) -> list[tuple[int, list[int]]]:
    """The whole run's steps as (passage index, target indices), from the seed alone: passages in
    a shuffled order each epoch, each passage's targets shuffled and cut into chunks of at most
    ``max_targets`` (balanced sizes). A fractional ``epochs`` ends part-way through the last one;
    ``max_pairs`` ends the run at the step that reaches that many pairs."""
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
    if cfg.max_pairs:  # a cap on pairs seen: stop at the step that reaches it
        seen = 0
        for k, (_, chosen) in enumerate(steps):
            seen += len(chosen)
            if seen >= cfg.max_pairs:
                return steps[:k + 1]
    return steps
