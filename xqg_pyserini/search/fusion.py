"""Reciprocal-rank fusion of TREC run files, by ``pyserini.fusion``."""
from __future__ import annotations

from pathlib import Path

from xqg_pyserini.data.io import InputError, require_file
from xqg_pyserini.data.trec import Run, write_run


def reciprocal_rank_fusion(run_files: list[str | Path], out: str | Path, rrf_k: int = 60, depth: int = 1000,
                           k: int = 1000, tag: str = "rrf") -> Run:
    """RRF of TREC run files with ``pyserini.fusion``; writes ``out`` and returns the fused run."""
    if rrf_k < 1 or depth < 1 or k < 1:
        raise InputError(None, f"rrf_k, depth and k must be at least 1, not {rrf_k}, {depth} and {k}")
    paths = [require_file(p, "run file") for p in run_files]
    from xqg_pyserini._jvm import prepare_jvm

    prepare_jvm()
    from pyserini.fusion import reciprocal_rank_fusion as pyserini_rrf
    from pyserini.trectools import TrecRun

    runs = [TrecRun(str(p)) for p in paths]
    fused = pyserini_rrf(runs, rrf_k=rrf_k, depth=depth, k=k)
    table = fused.to_numpy()
    run: Run = {}
    for row in table:
        run.setdefault(str(row[0]), {})[str(row[2])] = float(row[4])
    write_run(run, out, tag)
    return run
