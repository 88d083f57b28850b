"""Load a query generator from a spec: ``xqg`` (ours), ``gemma-3-270m``, a directory, ``ct2:SPEC``,
``precomputed:FILE``; and where our trained generator lives (shipped in the package, else the cache).
"""
from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import torch

from xqg_pyserini.data.io import InputError, atomic_dir, cache_dir, resources_dir
from xqg_pyserini.data.languages import XQUAD_LANGUAGES, language_name
from xqg_pyserini.generation.backends import Ct2Generator, HFGenerator, PrecomputedGenerator
from xqg_pyserini.generation.config import QueryGenerator, Sampling
from xqg_pyserini.generation.prompts import CAUSAL_TEMPLATE
from xqg_pyserini.models.gemma import GEMMA_BASE, materialize_gemma, resolve_base

#: The generator ``xqg`` names: the adapter trained on all XQuAD TRAIN pairs (two epochs), also
#: ``xqg-v3``; what ``xqg train-generator`` writes unless told otherwise.
DEFAULT_GENERATOR = TRAINED_GENERATOR = "xqg-gemma-3-270m-v3"
#: v3 continued on its own contrast-decoded questions (docs/generation.md, "Distilling"), decoding with
#: a language check: sharper questions by self-retrieval, but a smaller gain in the study's fusion.
DISTILLED_GENERATOR = "xqg-gemma-3-270m-v3-distil"
#: Shipped generators: the names that select each, its folder under resources/, its id (default first).
SHIPPED = {("xqg", "xqg-v3", DEFAULT_GENERATOR): ("generator", DEFAULT_GENERATOR),
           ("xqg-distil", DISTILLED_GENERATOR): ("generator_distil", DISTILLED_GENERATOR)}


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """peft's ``PeftModel`` reads transformers' deprecated ``is_gradient_checkpointing`` property on
    every adapter it wraps or loads, and transformers answers with a FutureWarning we cannot act on:
    that one warning is ignored here, no other."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def shipped_generator_dir(folder: str = "generator") -> Path:
    """Where the package keeps a trained adapter (present only if small enough to ship)."""
    return resources_dir() / folder


def resolve_generator(spec: str) -> Path:
    """Directory of a generator: ``xqg`` (ours, also ``xqg-v3``: shipped, else the cache),
    ``xqg-distil`` (it, distilled from its contrast decoding), the base ``gemma-3-270m``, or a local
    directory (a trained generator or a Hugging Face checkpoint)."""
    for names, (folder, generator_id) in SHIPPED.items():
        if spec in names:
            for place in (shipped_generator_dir(folder), cache_dir("models") / generator_id):
                if (place / "generator.json").exists():
                    return place
            raise InputError(None, f"generator {spec!r} is not trained yet; build it with: xqg train-generator "
                                   "(docs/generation.md)")
    if spec == GEMMA_BASE:
        return materialize_gemma()
    path = Path(spec)
    if not ((path / "config.json").exists() or (path / "generator.json").exists()):
        raise InputError(path, "not a generator: expected a directory with config.json or generator.json "
                               f"(offline models: 'xqg', 'xqg-distil', {GEMMA_BASE!r})")
    return path


def _generator_parts(spec: str) -> tuple[Path, dict, Path, bool]:
    """(generator dir, its generator.json, base checkpoint dir, whether it is a LoRA adapter)."""
    path = resolve_generator(spec)
    meta = json.loads((path / "generator.json").read_text()) if (path / "generator.json").exists() else {}
    adapter = (path / "adapter_config.json").exists()
    return path, meta, resolve_base(meta["base"]) if adapter else path, adapter


def _own_settings(spec: str) -> dict:
    """The decoding settings a generator's generator.json names (``contrast``, ``language_retries``)."""
    if spec.startswith(("precomputed:", "ct2:")) or spec == GEMMA_BASE:
        return {}
    meta = resolve_generator(spec) / "generator.json"
    return json.loads(meta.read_text()) if meta.exists() else {}


def generator_contrast(spec: str) -> float:
    """The contrast weight a generator decodes with unless told otherwise: its generator.json's
    ``contrast``, else 0 (off; the shipped generator has none, see its ``contrast_note``)."""
    return float(_own_settings(spec).get("contrast", 0.0))


def resolve_sampling(spec: str, sampling: Sampling) -> Sampling:
    """``sampling`` with ``contrast`` and ``language_retries`` left at None replaced by the generator's own."""
    from dataclasses import replace

    if sampling.contrast is not None and sampling.language_retries is not None:
        return sampling
    own = _own_settings(spec)
    return replace(sampling, contrast=float(own.get("contrast", 0.0)) if sampling.contrast is None else sampling.contrast,
                   language_retries=int(own.get("language_retries", 0)) if sampling.language_retries is None
                   else sampling.language_retries)


#: The files whose bytes make a generator what it is (a LoRA adapter, or a full checkpoint).
FINGERPRINTED = ("generator.json", "adapter_model.safetensors", "adapter_config.json", "model.safetensors",
                 "config.json")


def generator_fingerprint(path: Path) -> str:
    """A short sha256 over the generator's own files: retraining under the same id changes it."""
    import hashlib

    from xqg_pyserini.data.io import sha256_file

    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        if (path / name).is_file():
            digest.update(f"{name} {sha256_file(path / name)}\n".encode())
    return digest.hexdigest()[:12]


def ct2_model(spec: str) -> tuple[Path, Path, dict]:
    """(CTranslate2 int8 dir, tokenizer dir, generator.json) for a causal generator; converted
    once into ``cache_dir("models")/<id>-<fingerprint>-ct2-int8`` (a LoRA adapter is merged first),
    so a generator retrained under the same id gets a fresh conversion, never a stale one."""
    import tempfile

    from transformers import AutoModelForCausalLM

    path, meta, base, adapter = _generator_parts(spec)
    target = cache_dir("models") / f"{meta.get('id') or path.name}-{generator_fingerprint(path)}-ct2-int8"
    if not (target / "model.bin").exists():
        from ctranslate2.converters import TransformersConverter

        with tempfile.TemporaryDirectory() as merged, atomic_dir(target) as tmp:
            model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
            if adapter:
                from peft import PeftModel

                with quiet_peft():
                    model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
            model.save_pretrained(merged)
            from transformers import AutoTokenizer

            AutoTokenizer.from_pretrained(base).save_pretrained(merged)
            TransformersConverter(merged).convert(str(tmp), quantization="int8", force=True)
    return target, base, meta


def trained_languages(spec: str) -> list[str] | None:
    """Languages a trained generator learnt (its generator.json "languages"; the 11 XQuAD ones when
    an older generator.json lacks the key), or None for anything else (an untuned base model, a
    plain checkpoint, precomputed queries): read without loading a model."""
    spec = spec[len("ct2:"):] if spec.startswith("ct2:") else spec
    if spec.startswith("precomputed:") or spec == GEMMA_BASE:
        return None
    try:
        path = resolve_generator(spec)
    except InputError:
        return None  # loading the generator reports it
    meta_file = path / "generator.json"
    if not meta_file.exists():
        return None
    return list(json.loads(meta_file.read_text()).get("languages") or XQUAD_LANGUAGES)


# ----------------------------------------------------------------------------- loading

def few_shot_prefixes(languages: Sequence[str], k: int = 2, passage_chars: int = 300) -> dict[str, str]:
    """For the untuned base model: k worked examples per language from XQuAD TRAIN articles,
    passages cut to ``passage_chars`` characters so the prompt stays short."""
    from xqg_pyserini.data.benchmarks import load_squad_dir, xquad_training_pairs

    prefixes = {}
    for lang in languages:
        pairs = xquad_training_pairs(load_squad_dir(None, [lang]), "train", [lang])
        chosen = [pairs[j * (len(pairs) // k)] for j in range(k)]
        prefixes[lang] = "".join(
            CAUSAL_TEMPLATE.format(language=language_name(lang), title=p.title, passage=p.text[:passage_chars])
            + f" {q.text}\n\n" for p, q in chosen)
    return prefixes


def load_generator(spec: str, sampling: Sampling = Sampling(), few_shot: int = 0,
                   languages: Sequence[str] = (), bf16: bool = False, dtype: str = "auto",
                   fast: bool = True, vocabulary: str = "trimmed", device: str = "cpu") -> QueryGenerator:
    """A generator from a spec (see :func:`_load_backend`), re-sampling off-language questions when
    ``sampling.language_retries`` (resolved: the generator's own unless given) asks for it."""
    sampling = resolve_sampling(spec, sampling)
    generator = _load_backend(spec, sampling, few_shot, languages, bf16, dtype, fast, vocabulary, device)
    if not sampling.language_retries or spec.startswith("precomputed:"):  # stored questions do not change
        return generator
    from xqg_pyserini.generation.language_check import LanguageChecked

    return LanguageChecked(generator, sampling.language_retries)


def _load_backend(spec: str, sampling: Sampling, few_shot: int, languages: Sequence[str], bf16: bool, dtype: str,
                  fast: bool, vocabulary: str, device: str) -> QueryGenerator:
    """A generator from a spec: ``precomputed:PATH``; ``ct2:SPEC`` (CTranslate2 int8 of a causal
    generator); a trained-generator directory (generator.json: our LoRA adapter or a full
    checkpoint); a Hugging Face checkpoint directory; ``gemma-3-270m`` (the untuned base, with
    ``few_shot`` examples per language); or ``xqg`` (ours).

    ``dtype``: ``auto`` (bfloat16 only on CPUs with AMX/AVX512-BF16, else float32), ``float32``,
    ``bfloat16`` or ``int8``; ``bf16=True`` is the old spelling of ``dtype="bfloat16"``. A
    prefix-shared generator (generator.json ``prefix_shared``) runs on the fast decoder; its output
    layer is ``vocabulary`` (:data:`VOCABULARIES`): ``trimmed`` (the stored ids), ``language`` (a
    head per language: the stored ids less the other target scripts, plus every Latin-script token
    for Latin-script languages) or ``full``. ``device`` other than
    ``cpu`` (a distributed run's GPU actor) moves the model there and decodes with the Hugging Face
    path (the prefix-shared decoder is written for CPUs); samples stay seeded per row on the CPU."""
    from xqg_pyserini.models.cpu import DTYPES, pick_dtype

    dtype = "bfloat16" if bf16 else dtype
    if dtype not in DTYPES:
        raise InputError(None, f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    dtype = pick_dtype() if dtype == "auto" else dtype
    if spec.startswith("precomputed:"):
        return PrecomputedGenerator(spec.split(":", 1)[1])
    if spec.startswith("ct2:"):
        if sampling.contrast:
            raise InputError(None, "--contrast runs on the prefix-shared CPU decoder only; pass --contrast 0 with ct2:")
        from transformers import AutoTokenizer

        ct2_dir, base, meta = ct2_model(spec.split(":", 1)[1])
        return Ct2Generator(ct2_dir, AutoTokenizer.from_pretrained(base), f"{meta.get('id') or base.name}-ct2-int8",
                            sampling, meta.get("template"))
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path, meta, base, adapter = _generator_parts(spec)
    seq2seq = bool(getattr(AutoConfig.from_pretrained(base), "is_encoder_decoder", False))
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = cls.from_pretrained(base, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if adapter:
        from peft import PeftModel

        with quiet_peft():
            model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    prefixes = few_shot_prefixes(languages, few_shot) if few_shot and not seq2seq else None
    gen_id = meta.get("id") or path.name
    if prefixes:
        gen_id += f"-{few_shot}shot"
    if dtype != "float32":  # other kernels sample slightly different queries: keep the outputs apart
        gen_id += {"bfloat16": "-bf16", "int8": "-int8"}[dtype]
    if device != "cpu":
        model, fast = model.to(device), False
    if meta.get("prefix_shared") and fast and not prefixes:
        from xqg_pyserini.generation.fast import FastGenerator
        from xqg_pyserini.generation.vocab import load_vocabulary

        vocab = None if vocabulary == "full" else load_vocabulary(path, model.config.vocab_size)
        if vocabulary != "trimmed" and (vocab is not None or vocabulary == "full"):
            gen_id += f"-{vocabulary}vocab"
        return FastGenerator(model, tokenizer, gen_id, sampling, meta["template"], vocab, dtype,
                             per_language=vocabulary == "language")
    if dtype == "int8":
        raise InputError(None, "int8 runs on the prefix-shared decoder only (or use ct2:SPEC)")
    if sampling.contrast:
        raise InputError(None, "--contrast runs on the prefix-shared CPU decoder only (the xqg generator); "
                               "pass --contrast 0 for this one")
    return HFGenerator(model, tokenizer, gen_id, sampling, meta.get("template"), prefixes, dtype == "bfloat16")
