"""The one training checkpoint format, shared by both trainers, and its fingerprint.

``<work>/checkpoint/`` holds the trainable weights (``model.safetensors``), the AdamW moments
(``optimizer.safetensors``) and ``state.json`` (step, history, fingerprint); it is replaced
atomically. The fingerprint names the run (settings that change the result, and the data): a
checkpoint of another run is refused with an InputError instead of being resumed into this one.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from xqg_pyserini.data.io import InputError, atomic_dir, cache_dir, write_json
from xqg_pyserini.train.config import NOT_FINGERPRINTED


def trainable(model) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def fingerprint(cfg, **data) -> dict:
    """What identifies a run: ``cfg`` without the fields that do not change the result, plus ``data``."""
    return {"config": {k: v for k, v in asdict(cfg).items() if k not in NOT_FINGERPRINTED}, **data}


def digest(rows) -> str:
    """A short checksum of JSON-able training data (for a fingerprint)."""
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def work_dir(out: Path, work: str | Path | None, resume: bool = True) -> Path:
    """The run's checkpoint and log directory (default ``cache_dir("train")/<out name>``); without
    ``resume`` an existing checkpoint is removed first."""
    path = Path(work) if work else cache_dir("train", out.name)
    path.mkdir(parents=True, exist_ok=True)
    if not resume:
        shutil.rmtree(path / "checkpoint", ignore_errors=True)
    return path


def save_checkpoint(work: Path, model, optimizer, step: int, history: list[dict], fingerprint: dict) -> None:
    """Trainable weights and AdamW moments as safetensors, the rest as JSON; replaced atomically."""
    with atomic_dir(work / "checkpoint") as tmp:
        save_file({n: p.detach().contiguous() for n, p in trainable(model).items()}, str(tmp / "model.safetensors"))
        state = optimizer.state_dict()["state"]
        save_file({f"{i}.{k}": v.contiguous() for i, s in state.items() for k, v in s.items() if torch.is_tensor(v)},
                  str(tmp / "optimizer.safetensors"))
        write_json(tmp / "state.json", {"step": step, "history": history, "fingerprint": fingerprint})


def load_checkpoint(work: Path, model, optimizer, fingerprint: dict) -> tuple[int, list[dict]]:
    """(step, history) of the run's checkpoint, its weights and moments loaded; (0, []) without one."""
    ckpt = work / "checkpoint"
    if not (ckpt / "state.json").exists():
        return 0, []
    state = json.loads((ckpt / "state.json").read_text())
    if state.get("fingerprint") != fingerprint:
        raise InputError(ckpt, "checkpoint of a different training run (settings or data differ); "
                               "restart (--restart) or choose another --work-dir")
    params = trainable(model)
    with torch.no_grad():
        for name, value in load_file(str(ckpt / "model.safetensors")).items():
            params[name].copy_(value)
    moments: dict[int, dict] = {}
    for key, value in load_file(str(ckpt / "optimizer.safetensors")).items():
        index, name = key.split(".", 1)
        moments.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": moments, "param_groups": optimizer.state_dict()["param_groups"]})
    return int(state["step"]), list(state["history"])
