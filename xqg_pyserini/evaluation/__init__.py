"""Stage 6, evaluation: how good are the runs (and the generated queries)?

``measures`` (ir_measures scores per language and a macro-averaged :class:`Table`), ``rkt`` (the
official XOR-Retrieve R@kt), ``answers`` (R@kt and top-k answer accuracy of any run over any streamed corpus), ``significance`` (paired t-test and randomization test) and
``query_quality`` (language, self@1 and distinctness of generated queries). Run and qrels files are
read and written by :mod:`xqg_pyserini.data.trec` (re-exported here).
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".measures": "DEFAULT_MEASURES LABELS Table evaluate_languages evaluate_run per_query",
    ".rkt": "KT recall_at_k_tokens xor_recall",
    ".answers": "evaluate_answers format_answer_table",
    ".significance": "mean_by_id paired_randomization_test paired_report paired_test",
    ".query_quality": "markdown_table query_quality",
    "xqg_pyserini.data.trec": "Qrels Run ranked read_qrels read_run write_run",
})
