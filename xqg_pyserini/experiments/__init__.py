"""Stage 8, experiments: the whole pipeline run on XQuAD, and the pages its results become.

``demo`` (``xqg demo``: BM25, dense, hybrid, with and without xQG, per-language tables), ``study``
(``xqg study``: every condition with significance, sweeps, robustness, transfer) and ``report``
(docs/study.md and docs/reproduction.md rendered from results files). Index builders come from
:mod:`xqg_pyserini.index`.
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".demo": "BenchmarkResult DemoResult XQG_WEIGHT run_benchmark run_demo",
    ".study": "StudyResult run_study",
    ".variants": "Grids best_variant headline sweep tune_variants variant_vectors",
    ".report": "write_reproduction",
    ".study_report": "render_stored_study write_study_report",
})
