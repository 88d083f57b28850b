"""Which kernels this CPU runs fast: the dtype is chosen from the machine, never assumed.

These machines come as Intel Xeon with AMX (bf16 matrix products about 4x float32), AMD EPYC with
AVX2 only (bf16 2-7x SLOWER than float32) and AMD EPYC with AVX512-BF16 (bf16 matrix products about
4x float32; our decoder 1.24x faster in bf16 at n=1, level at n=5). ``pick_dtype`` reads the CPU flags; every speed figure and
generated-queries file records ``cpu_model()`` beside it.
"""
from __future__ import annotations

import os
import platform

DTYPES = ("auto", "float32", "bfloat16", "int8")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (``/proc/cpuinfo``), empty where unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in ``/proc/cpuinfo``, None where unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name."""
    return _cpuinfo("model name") or platform.processor() or "unknown"


def cpu_kind(flags: set[str] | None = None) -> str:
    """The widest matrix-product units the CPU has: what decides which dtype is fast on it."""
    flags = cpu_flags() if flags is None else flags
    for flag, kind in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2")):
        if flag in flags:
            return kind
    return "baseline x86" if flags else "unknown"


def cpu_label() -> str:
    """Model, kind and family, e.g. ``AMD EPYC (AVX2, family 23)``: virtual machines report EPYCs of
    different generations under one model name, and their speeds differ (2-thread sgemm: about 65-70
    GFLOP/s measured on family 23, about 100 on the family 25 machine of issue 14)."""
    family = _cpuinfo("cpu family")
    return f"{cpu_model()} ({cpu_kind()}{f', family {family}' if family else ''})"


def available_cores() -> int:
    """Cores this process may run on (the default thread count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pick_dtype(flags: set[str] | None = None) -> str:
    """``auto``: bfloat16 where the CPU multiplies bf16 in hardware (AMX or AVX512-BF16: about 4x
    float32 there; measured on the AVX512-BF16 EPYC, 30 TEST passages x 11 languages, n=1: 18.4 vs
    14.8 questions/s, and level at n=5: 21.7 vs 22.5); elsewhere float32. On the AVX2-only EPYC bf16 is 2-7x slower than float32, and
    int8 dynamic quantization, though about 25% faster, wrote degenerate questions (gemma's
    activations have outliers that per-tensor int8 cannot hold; docs/generation-results.md)."""
    flags = cpu_flags() if flags is None else flags
    return "bfloat16" if {"amx_bf16", "avx512_bf16"} & flags else "float32"


def apply_dtype(model, dtype: str) -> str:
    """Cast (bfloat16) or quantize (int8: dynamic int8 linear layers of the decoder, the output layer
    untouched) a float32 causal LM in place; returns the dtype used (``auto`` resolved)."""
    import torch

    if dtype == "auto":
        dtype = pick_dtype()
    if dtype == "bfloat16":
        model.to(torch.bfloat16)
    elif dtype == "int8":
        import warnings

        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch deprecates quantized tensors; the kernels still run
            warnings.simplefilter("ignore")
            quantize_dynamic(model.model.layers, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    elif dtype != "float32":
        raise ValueError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    return dtype


class PackedLinear:
    """Marker base; the real class is made by :func:`_packed_linear_class` (torch imported lazily)."""


_PACKED = None


def _packed_linear_class():
    """``torch.nn.Linear`` whose inference forward multiplies with a oneDNN-packed copy of the
    weight, dense tensors in and out. Still a Linear (peft, state dicts and training see the same
    parameters); with gradients on, or off float32, it is plain ``F.linear``. The packed copy is
    remade when the weight changes in place (an optimizer step)."""
    global _PACKED
    if _PACKED is None:
        import torch
        import torch.nn.functional as F

        class _Packed(torch.nn.Linear, PackedLinear):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                w = self.weight
                if torch.is_grad_enabled() or w.dtype != torch.float32 or x.dtype != torch.float32 or w.is_meta:
                    return F.linear(x, w, self.bias)
                key = (w.data_ptr(), w._version)
                if getattr(self, "_packed_key", None) != key:
                    self._packed = torch.ops.mkldnn._reorder_linear_weight(w.detach(), 128)
                    self._packed_key = key
                return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self._packed, self.bias, "none", [], "")

        _PACKED = _Packed
    return _PACKED


def pack_linear_layers(module) -> int:
    """Inference only: every float32 ``torch.nn.Linear`` under ``module`` multiplies with a oneDNN-packed
    weight (AMD EPYC family 23, AVX2, 2 threads, 165 x 640 @ 640 x 2048: 70 GFLOP/s packed vs 35 for
    MKL's sgemm). The layers keep their parameters (no copy of the module; the packed copy is made on
    first use). Returns how many layers were packed; a no-op without oneDNN."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return 0
    cls = _packed_linear_class()
    packed = 0
    for child in module.modules():
        if type(child) is torch.nn.Linear and child.weight.dtype == torch.float32:
            child.__class__ = cls  # same object and parameters, packed forward
            packed += 1
    return packed
