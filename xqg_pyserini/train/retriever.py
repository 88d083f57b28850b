"""Retriever training: a shared bi-encoder fine-tuned contrastively, as Tevatron trains DPR.

One network embeds queries and passages (through :class:`~xqg_pyserini.encode.encoders.TransformerEncoder`,
so pooling, prefixes and normalisation follow the same settings as at search time). Each query is
scored against every passage of its micro-batch: its positive, the other queries' positives
(in-batch negatives) and the sampled hard negatives; the loss is cross-entropy over those scores
(dot product, or cosine divided by a temperature). Other positives of a query are masked, never
treated as negatives.

Batches can group several queries sharing a positive passage (``queries_per_passage``): XQuAD has
about 55 questions per training paragraph, and on a CPU the passages (192+ tokens) cost far more
than the questions (about 25 tokens), so grouping buys many more queries per second of training.
With ``queries_per_passage=1`` sampling is Tevatron's (one query, its positive and its negatives).

Optional cross-lingual distillation (after DR.DECR): the embedding of a question in language L is
pulled (squared L2) toward the embedding of its parallel English question computed once by the
frozen starting model.

The data order is a function of the seed alone and checkpoints (:mod:`xqg_pyserini.train.checkpoint`,
shared with the generator's trainer) are written atomically every few steps, so a killed run resumes
from its last checkpoint and ends where an uninterrupted run would. The result is a plain Hugging Face
checkpoint plus ``xqg_model.json``. Settings are :class:`~xqg_pyserini.train.config.RetrieverTrainConfig`.
With a validation set, every epoch is evaluated on held-out TRAIN-article questions and the best epoch
is exported (:mod:`xqg_pyserini.train.epochs`).
"""
from __future__ import annotations

import json
import math
import random
import shutil
import time
import warnings
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from xqg_pyserini.data.benchmarks import Benchmark
from xqg_pyserini.data.io import InputError, atomic_dir, cache_dir, umask, write_json
import xqg_pyserini.train.epochs as epochs
from xqg_pyserini.train.checkpoint import fingerprint, load_checkpoint, save_checkpoint, trainable, work_dir as run_dir
from xqg_pyserini.train.config import RetrieverTrainConfig, check_retriever_config
from xqg_pyserini.train.data import PassageRef, TrainingExample, read_training_file

DEFAULT_NAME = "xqg-e5-small-xquad"


# ----------------------------------------------------------------------------- batches

def plan_batches(examples: Sequence[TrainingExample], cfg: RetrieverTrainConfig) -> list[list[int]]:
    """Micro-batches (example indices) of every epoch, from the seed alone.

    Queries are cut into chunks of ``queries_per_passage`` that share a positive; each passage's
    chunks are spread evenly over the epoch at a random phase, so a micro-batch rarely holds the
    same passage twice, and chunks are packed ``batch_size // queries_per_passage`` to a batch.
    """
    rng = random.Random(cfg.seed)
    size = min(cfg.queries_per_passage, cfg.batch_size)
    by_positive: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_positive.setdefault(ex.positives[0].docid, []).append(i)
    per_batch = max(1, cfg.batch_size // size)
    batches: list[list[int]] = []
    for _ in range(cfg.epochs):
        keyed = []
        for docid in sorted(by_positive):
            members = list(by_positive[docid])
            rng.shuffle(members)
            chunks = [members[j:j + size] for j in range(0, len(members), size)]
            phase = rng.random()
            keyed += [((k + phase) / len(chunks), rng.random(), chunk) for k, chunk in enumerate(chunks)]
        keyed.sort(key=lambda item: item[:2])
        chunks = [chunk for *_, chunk in keyed]
        batches += [[i for chunk in chunks[j:j + per_batch] for i in chunk] for j in range(0, len(chunks), per_batch)]
    return batches


def batch_passages(examples: Sequence[TrainingExample], batch: Sequence[int], negatives: int,
                   rng: random.Random) -> tuple[list[PassageRef], torch.Tensor, torch.Tensor]:
    """(unique passages, target column per query, mask of non-target positives) for one micro-batch.

    Every positive passage brings ``negatives`` hard negatives, drawn from the negative lists of the
    queries that share it (a passage hard for several of them is likelier to be drawn).
    """
    passages: dict[str, PassageRef] = {}
    groups: dict[str, list[int]] = {}
    for i in batch:
        groups.setdefault(examples[i].positives[0].docid, []).append(i)
    positives_of = {i: {p.docid for p in examples[i].positives} for i in batch}
    for docid, members in groups.items():
        passages.setdefault(docid, examples[members[0]].positives[0])
        shared = set().union(*(positives_of[i] for i in members))
        pool = [n for i in members for n in examples[i].negatives if n.docid not in shared]
        for _ in range(negatives):
            if not pool:
                break
            pick = rng.choice(pool)
            passages.setdefault(pick.docid, pick)
            pool = [n for n in pool if n.docid != pick.docid]
    column = {docid: j for j, docid in enumerate(passages)}
    targets = [column[examples[i].positives[0].docid] for i in batch]
    mask = torch.zeros(len(batch), len(passages), dtype=torch.bool)
    for row, i in enumerate(batch):
        for docid in positives_of[i]:
            if docid in column and column[docid] != targets[row]:
                mask[row, column[docid]] = True
    return list(passages.values()), torch.tensor(targets), mask


def contrastive_loss(queries: torch.Tensor, passages: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                     similarity: str = "dot", temperature: float = 1.0) -> torch.Tensor:
    """Cross-entropy of each query's scores over the batch's passages (masked entries excluded)."""
    if similarity == "cos":
        scores = F.normalize(queries, dim=-1) @ F.normalize(passages, dim=-1).T / temperature
    else:
        scores = queries @ passages.T
    return F.cross_entropy(scores.masked_fill(mask, float("-inf")), targets)


class Teacher:
    """Embeddings of the English (pivot) questions by the frozen starting model, computed once."""

    def __init__(self, encoder, examples: Sequence[TrainingExample]):
        texts = sorted({ex.pivot_query for ex in examples if ex.pivot_query})
        if not texts:
            raise InputError(None, "distillation needs parallel English questions (pivot_query) in the training "
                                   "file; build it with `xqg build-training-data`")
        self.row = {t: j for j, t in enumerate(texts)}
        self.vectors = torch.from_numpy(encoder.encode_queries(texts, show_progress=False))

    def loss(self, embedded: torch.Tensor, batch_examples: Sequence[TrainingExample]) -> torch.Tensor | None:
        pairs = [(k, self.row[ex.pivot_query]) for k, ex in enumerate(batch_examples)
                 if ex.pivot_query and ex.pivot_query != ex.query]
        if not pairs:
            return None
        rows, targets = zip(*pairs)
        return (embedded[list(rows)] - self.vectors[list(targets)]).pow(2).sum(-1).mean()


def _micro_loss(encoder, examples: Sequence[TrainingExample], batch: list[int], cfg: RetrieverTrainConfig,
                similarity: str, teacher: Teacher | None, rng: random.Random) -> tuple[torch.Tensor, dict]:
    passages, targets, mask = batch_passages(examples, batch, cfg.negatives_per_passage, rng)
    s = encoder.settings
    queries = encoder.embed(encoder.tokenize([s.query_prefix + examples[i].query for i in batch], s.query_max_length))
    texts = [s.passage_prefix + (f"{p.title} {p.text}" if p.title else p.text) for p in passages]
    docs = encoder.embed(encoder.tokenize(texts, s.passage_max_length))
    loss = contrastive_loss(queries, docs, targets, mask, similarity, cfg.temperature)
    parts = {"contrastive": loss.item(), "passages": len(passages)}
    distill = teacher.loss(queries, [examples[i] for i in batch]) if teacher else None
    if distill is not None:
        parts["distill"] = distill.item()
        loss = loss + cfg.distill_weight * distill
    return loss, parts


# ----------------------------------------------------------------------------- training

def _family(settings) -> str | None:
    """The preset whose conventions the trained model follows (what ``xqg_model.json`` records)."""
    from xqg_pyserini.encode.encoders import PRESETS

    key = lambda s: (s.pooling, s.l2_norm, s.query_prefix, s.passage_prefix)
    return next((name for name, preset in PRESETS.items() if key(preset) == key(settings)), None)


def train_retriever(examples: Sequence[TrainingExample], out_dir: str | Path | None = None,
                    cfg: RetrieverTrainConfig | None = None, work_dir: str | Path | None = None,
                    resume: bool = True, log: Callable[[str], None] = print,
                    validation: str | Path | Benchmark | None = None) -> Path:
    """Fine-tune ``cfg.base`` on ``examples`` and write the model to ``out_dir`` (atomically).

    ``out_dir`` defaults to ``cache_dir("models")/xqg-e5-small-xquad``; ``work_dir`` (default
    ``cache_dir("train")/<out name>``) holds the resumable checkpoint and ``train.log`` (JSON per step).
    With ``validation`` (a held-out benchmark directory, :mod:`xqg_pyserini.train.epochs`) every epoch
    is evaluated and the best one by validation nDCG@10 is exported, not the last.
    """
    from xqg_pyserini.encode.encoders import TransformerEncoder

    cfg = cfg or RetrieverTrainConfig()
    check_retriever_config(cfg)
    if not examples:
        raise InputError(None, "no training examples")
    held_out = epochs.load_validation(validation) if validation is not None else None
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(out_dir) if out_dir else cache_dir("models") / DEFAULT_NAME
    work = run_dir(out, work_dir, resume)
    encoder = TransformerEncoder(cfg.base, cfg.preset, show_progress=False, pooling=cfg.pooling, l2_norm=cfg.l2_norm,
                                 query_max_length=cfg.query_max_length, passage_max_length=cfg.passage_max_length)
    similarity = cfg.similarity or ("cos" if encoder.settings.l2_norm else "dot")
    teacher = Teacher(encoder, examples) if cfg.distill_weight > 0 else None
    model = encoder.model
    if cfg.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    optimizer = torch.optim.AdamW(list(trainable(model).values()), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = plan_batches(examples, cfg)
    total = math.ceil(len(batches) / cfg.accumulation_steps)
    total = min(total, cfg.max_steps) if cfg.max_steps else total
    warmup = max(1, round(cfg.warmup_ratio * total))
    run = fingerprint(cfg, examples=len(examples), first=examples[0].query_id, last=examples[-1].query_id)
    step, history = load_checkpoint(work, model, optimizer, run)
    if step:
        log(f"[train-retriever] resuming at step {step} of {total} from {work / 'checkpoint'}")
    spent = history[-1]["seconds"] if history else 0.0
    table, ends, settings = None, {}, None
    if held_out is not None:
        table = epochs.EpochTable(work, run, epochs.describe_validation(held_out, validation), fresh=step == 0)
        ends = epochs.epoch_ends(len(batches), cfg.epochs, cfg.accumulation_steps, total)
        settings = epochs.export_settings(encoder.settings)
        missed = [e for s_, e in ends.items() if s_ <= step and e not in {r["epoch"] for r in table.rows}]
        if missed:
            log(f"[train-retriever] epochs {missed} ended before this resume without evaluation: not candidates")
    model.train()
    with open(work / "train.log", "a" if step else "w", encoding="utf-8") as logf:
        while step < total:
            if cfg.max_minutes is not None and spent >= cfg.max_minutes * 60:
                log(f"[train-retriever] time limit reached after {step} of {total} steps")
                break
            started = time.perf_counter()
            for group in optimizer.param_groups:  # linear warm-up, then linear decay to 0 (Tevatron/HF)
                group["lr"] = cfg.lr * min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
            micro = range(step * cfg.accumulation_steps, min((step + 1) * cfg.accumulation_steps, len(batches)))
            parts = []
            for m in micro:
                torch.manual_seed(cfg.seed * 1_000_003 + m)  # dropout: the same masks after a resume
                loss, info = _micro_loss(encoder, examples, batches[m], cfg, similarity, teacher,
                                         random.Random(cfg.seed * 1_000_003 + m))
                (loss / cfg.accumulation_steps).backward()
                parts.append({**info, "loss": loss.item()})
            torch.nn.utils.clip_grad_norm_(list(trainable(model).values()), cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            spent += time.perf_counter() - started
            entry = {"step": step, "of": total, "lr": optimizer.param_groups[0]["lr"], "seconds": round(spent, 1),
                     **{k: round(sum(p[k] for p in parts) / len(parts), 4) for k in parts[0]}}
            history.append(entry)
            logf.write(json.dumps(entry) + "\n")
            logf.flush()
            log(f"[train-retriever] step {step}/{total} loss {entry['loss']:.4f} "
                f"({spent / step * (total - step) / 60:.1f} min left)")
            if step in ends:  # weights and table first: a kill before the checkpoint only repeats this epoch
                row = epochs.evaluate_epoch(table, encoder, held_out, settings, ends[step], step, spent)
                log(f"[train-retriever] epoch {row['epoch']:g} (step {step}): validation nDCG@10 "
                    f"{row['nDCG@10']:.4f} R@1 {row['R@1']:.4f}")
            if (step % cfg.checkpoint_every == 0 or step in ends) and step < total:
                save_checkpoint(work, model, optimizer, step, history, run)
    save_checkpoint(work, model, optimizer, step, history, run)
    selection = None
    if table is not None:
        best = table.load_best(model)
        selection = table.summary(best)
        log(f"[train-retriever] exporting epoch {best['epoch']:g} (validation nDCG@10 {best['nDCG@10']:.4f})" if best
            else "[train-retriever] no epoch was evaluated: exporting the last weights")
    return _export(encoder, out, cfg, similarity, history, len(examples), total, selection)


def _export(encoder, out: Path, cfg: RetrieverTrainConfig, similarity: str, history: list[dict],
            n_examples: int, total: int, selection: dict | None = None) -> Path:
    """A plain Hugging Face checkpoint, the base's tokenizer files verbatim, and ``xqg_model.json``."""
    from xqg_pyserini.models.e5 import MARKER, model_family

    family = _family(encoder.settings)
    if family is None:
        family = model_family(encoder.path) or "dpr"
        warnings.warn(f"settings {encoder.settings} match no preset: loaders must be given --pooling/--l2-norm "
                      f"(recorded in {MARKER} under encoder_settings)")
    encoder.model.eval()
    base_dir = Path(encoder.path)
    with atomic_dir(out, command="train-retriever", legacy=(MARKER,)) as tmp:  # never a foreign dir
        encoder.model.save_pretrained(tmp, safe_serialization=True)
        copied = [f for f in base_dir.glob("*") if f.is_file() and (f.name.startswith(("tokenizer", "sentencepiece",
                  "vocab", "spiece")) or f.name == "special_tokens_map.json")] if base_dir.is_dir() else []
        for f in copied:
            shutil.copyfile(f, tmp / f.name)
        if not copied:
            encoder.tokenizer.save_pretrained(tmp)
        mode = 0o666 & ~umask()
        for f in tmp.iterdir():  # save_pretrained may leave 0600 files; outputs should look like ordinary files
            f.chmod(mode)
        write_json(tmp / MARKER, {
            "format_version": 1, "family": family, "name": out.name, "base": cfg.base,
            "encoder_settings": asdict(encoder.settings), "similarity": similarity,
            "training": asdict(cfg), "training_examples": n_examples, "steps": len(history), "planned_steps": total,
            "train_seconds": history[-1]["seconds"] if history else 0.0,
            "final_loss": round(sum(h["loss"] for h in history[-10:]) / len(history[-10:]), 4) if history else None,
            **({"epoch_selection": selection} if selection is not None else {}),
        })
    return out


def train_from_file(train_file: str | Path, out_dir: str | Path | None = None,
                    cfg: RetrieverTrainConfig | None = None, corpus: str | Path | None = None,
                    work_dir: str | Path | None = None, resume: bool = True,
                    log: Callable[[str], None] = print, validation: str | Path | None = None) -> Path:
    """Read (and validate) a Tevatron-layout file, optionally against a corpus, then train (choosing
    the epoch on ``validation`` when given)."""
    check_retriever_config(cfg or RetrieverTrainConfig())
    if validation is not None:
        epochs.load_validation(validation)  # a bad set fails before the file is read
    passages = None
    if corpus is not None:
        from xqg_pyserini.data.benchmarks import Passage
        from xqg_pyserini.data.corpus import read_corpus

        passages = {p.docid: Passage(p.docid, p.title, p.text) for p in read_corpus(corpus)}
    examples = read_training_file(train_file, passages)
    counts = Counter(ex.source or "real" for ex in examples)
    log(f"[train-retriever] {len(examples)} training queries: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return train_retriever(examples, out_dir, cfg, work_dir, resume, log, validation)
