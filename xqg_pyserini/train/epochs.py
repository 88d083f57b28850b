"""Choosing how many epochs pay, on held-out TRAIN-article questions (never TEST ones).

After every epoch the trainer saves the epoch's trainable weights (``<work>/epochs/epoch-<e>.safetensors``),
encodes the whole corpus and the validation questions with the model as it will be loaded after
export (the preset's max lengths), searches exactly (inner product, the ranking of a FAISS flat
index) and records macro nDCG@10 and R@1 in ``<work>/epochs.json``. The epoch with the best
validation nDCG@10 (the earlier of equals) is exported. The table is keyed by epoch and written
atomically; a resumed run re-evaluates the epochs its checkpoint had not reached and replaces their
rows, so a kill at any moment leaves no duplicates, and a fresh run starts a fresh table.

The validation set is a benchmark directory written by ``xqg build-training-data --holdout-articles K``
(:func:`xqg_pyserini.train.data.hold_out`): every passage, only the held-out articles' questions.
A directory with questions about TEST passages is refused, so TEST questions cannot choose an epoch.
"""
from __future__ import annotations

import copy
import json
import math
import shutil
import time
from dataclasses import replace
from pathlib import Path

from xqg_pyserini.data.benchmarks import Benchmark
from xqg_pyserini.data.io import InputError, atomic_file, write_json
from xqg_pyserini.train.checkpoint import digest, trainable

#: What chooses the exported epoch (the first) and what is reported with it.
MEASURES = ("nDCG@10", "R@1")
TABLE = "epochs.json"


def load_validation(path: str | Path | Benchmark) -> Benchmark:
    """The validation benchmark; refused if it is empty or asks about TEST passages."""
    bench = path if isinstance(path, Benchmark) else Benchmark.load(path)
    where = None if isinstance(path, Benchmark) else Path(path)
    count = sum(len(qs) for qs in bench.questions.values())
    if not count:
        raise InputError(where, "the validation set has no questions")
    for lang, qs in bench.questions.items():
        for q in qs:
            if q.docid not in bench.passages:
                raise InputError(where, f"validation question {q.qid} ({lang}) has no passage in the corpus")
            if bench.passages[q.docid].split == "test":
                raise InputError(where, f"validation question {q.qid} ({lang}) is about TEST passage {q.docid}: "
                                        "epochs must be chosen on held-out TRAIN articles (build-training-data "
                                        "--holdout-articles writes such a set), never on TEST questions")
    return bench


def describe_validation(bench: Benchmark, path: str | Path | None = None) -> dict:
    """Where the set came from, its size and a checksum (a resumed run must use the same set)."""
    rows = {"passages": sorted((d, p.title, p.text) for d, p in bench.passages.items()),
            "questions": {l: [(q.qid, q.text, q.docid) for q in qs] for l, qs in sorted(bench.questions.items())}}
    return {"path": None if path is None or isinstance(path, Benchmark) else str(path), "digest": digest(rows),
            "passages": len(bench.passages), "questions": {l: len(qs) for l, qs in sorted(bench.questions.items())}}


def export_settings(settings):
    """The settings the exported model is loaded with: its preset's max lengths (training may use
    shorter passages), the rest as trained."""
    from xqg_pyserini.encode.encoders import PRESETS

    key = lambda s: (s.pooling, s.l2_norm, s.query_prefix, s.passage_prefix)
    preset = next((p for p in PRESETS.values() if key(p) == key(settings)), None)
    if preset is None:
        return settings
    return replace(settings, query_max_length=preset.query_max_length, passage_max_length=preset.passage_max_length)


def evaluate_encoder(encoder, validation: Benchmark, settings=None) -> dict:
    """Macro (and per-language) nDCG@10 and R@1 of ``encoder`` on the validation questions against
    every passage, searched exactly; the model is put in eval mode for it and left as it was."""
    from ir_measures import R, nDCG

    from xqg_pyserini.evaluation.measures import evaluate_languages
    from xqg_pyserini.search.exact import search_vectors

    view = copy.copy(encoder)
    view.settings, view.show_progress = settings or encoder.settings, False
    training = encoder.model.training
    encoder.model.eval()
    try:
        docids = list(validation.passages)
        passages = view.encode_passages([validation.passages[d].text for d in docids],
                                        [validation.passages[d].title for d in docids])
        runs, qrels = {}, {}
        for lang, qs in sorted(validation.questions.items()):
            vectors = view.encode_queries([q.text for q in qs])
            runs[lang] = search_vectors(passages, docids, vectors, [q.qid for q in qs], k=10)
            qrels[lang] = {q.qid: {q.docid: 1} for q in qs}
    finally:
        encoder.model.train(training)
    table = evaluate_languages(runs, qrels, [nDCG @ 10, R @ 1])
    return {**{m: table.rows["macro"][m] for m in MEASURES},
            "per_language": {l: {m: row[m] for m in MEASURES} for l, row in table.rows.items() if l != "macro"}}


def epoch_ends(batches: int, epochs: int, accumulation: int, total: int) -> dict[int, float]:
    """Optimizer step -> epoch for each epoch end reached within ``total`` steps (epoch e ends at the
    step holding its last micro-batch); a ``total`` that ends no epoch (``max_steps``) is added as a
    fractional epoch, so the last weights are a candidate too."""
    per_epoch = batches // epochs
    ends = {}
    for e in range(1, epochs + 1):
        step = math.ceil(e * per_epoch / accumulation)
        if step <= total:
            ends[step] = float(e)
    if total and total not in ends:
        ends[total] = round(min(total * accumulation, batches) / per_epoch, 3)
    return ends


class EpochTable:
    """``<work>/epochs.json``: one row per evaluated epoch, plus the epoch weights that go with them."""

    def __init__(self, work: Path, run: dict, validation: dict, fresh: bool):
        self.path, self.weights = work / TABLE, work / "epochs"
        self.head = {"fingerprint": run, "validation": validation, "criterion": f"validation {MEASURES[0]}"}
        self.rows: list[dict] = []
        if fresh:
            self.path.unlink(missing_ok=True)
            shutil.rmtree(self.weights, ignore_errors=True)
        elif self.path.exists():
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            if stored.get("fingerprint") != run:
                raise InputError(self.path, "epoch table of a different training run; restart (--restart) or "
                                            "choose another --work-dir")
            if stored.get("validation", {}).get("digest") != validation["digest"]:
                raise InputError(self.path, "epoch table made with another validation set; resume with the same "
                                            "--validation or restart (--restart)")
            self.rows = list(stored.get("epochs", []))
        self.weights.mkdir(parents=True, exist_ok=True)

    def _file(self, epoch: float) -> Path:
        return self.weights / f"epoch-{epoch:g}.safetensors"

    def record(self, epoch: float, step: int, seconds: float, model, scores: dict, eval_seconds: float) -> dict:
        """Save the epoch's weights, then its row (replacing an earlier row of the same epoch)."""
        from safetensors.torch import save

        with atomic_file(self._file(epoch), "wb") as f:  # bytes, so that the file appears whole or not at all
            f.write(save({n: p.detach().contiguous() for n, p in trainable(model).items()}))
        row = {"epoch": epoch, "step": step, **{m: scores[m] for m in MEASURES}, "train_seconds": round(seconds, 1),
               "eval_seconds": round(eval_seconds, 1), "per_language": scores["per_language"]}
        self.rows = sorted([r for r in self.rows if r["epoch"] != epoch] + [row], key=lambda r: r["step"])
        write_json(self.path, {**self.head, "epochs": self.rows})
        return row

    def best(self) -> dict | None:
        """The row with the best validation nDCG@10; among equals the earliest."""
        return max(self.rows, key=lambda r: (r[MEASURES[0]], -r["step"])) if self.rows else None

    def load_best(self, model) -> dict | None:
        """Put the best epoch's weights into ``model``; its row (None without rows)."""
        import torch
        from safetensors.torch import load_file

        best = self.best()
        if best is None:
            return None
        params = trainable(model)
        with torch.no_grad():
            for name, value in load_file(str(self._file(best["epoch"]))).items():
                params[name].copy_(value)
        return best

    def summary(self, best: dict | None) -> dict:
        """What ``xqg_model.json`` records: the chosen epoch, its validation numbers, every epoch's macro."""
        return {**{k: v for k, v in self.head.items() if k != "fingerprint"},
                "chosen_epoch": best["epoch"] if best else None, "chosen_step": best["step"] if best else None,
                "chosen": {m: best[m] for m in MEASURES} if best else None,
                "chosen_per_language": best["per_language"] if best else None,
                "epochs": [{k: r[k] for k in ("epoch", "step", *MEASURES)} for r in self.rows],
                "table": str(self.path)}


def evaluate_epoch(table: EpochTable, encoder, validation: Benchmark, settings, epoch: float, step: int,
                   seconds: float) -> dict:
    """Evaluate the current weights as ``epoch`` and record them (weights and row)."""
    started = time.perf_counter()
    scores = evaluate_encoder(encoder, validation, settings)
    return table.record(epoch, step, seconds, encoder.model, scores, time.perf_counter() - started)


__all__ = ["EpochTable", "MEASURES", "describe_validation", "epoch_ends", "evaluate_encoder", "evaluate_epoch",
           "export_settings", "load_validation"]
