"""xQG augmentation: mix the embeddings of generated queries into the passage vectors of a flat index.

Fusion (computed in float64, rounded once to float32; passages without queries keep their vectors):
  ``sum``  (the paper) ``e' = (1-a)*e_p + a*SUM(e_q)``, default a=0.01;
  ``mean``             ``e' = (1-b)*e_p + b*mean(e_q)``, which does not grow with the number of queries;
  ``mixture`` (one index per query language L, :func:`mix_block`)
                       ``e' = (1-a)*e_p + a*normalize(w*mean(e_q in L) + (1-w)*mean(e_q not in L))``:
                       own-language queries weighted above the others';
optionally L2-normalised afterwards; ``roundtrip`` K fuses only the queries that find their own passage
in the top K (:mod:`xqg_pyserini.index.roundtrip`). Memory does not grow with the index: the index is read block by
block through mmap and written block by block (:mod:`xqg_pyserini.index.faiss`), and query embeddings are
cached once per (queries file, encoder) in an ``.npy`` that is mapped, never loaded
(:mod:`xqg_pyserini.encode.queries`). Searching one index per language is
:class:`xqg_pyserini.search.routing.PerLanguageSearcher`.
"""
from __future__ import annotations

import copy
import hashlib
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from xqg_pyserini.data.io import InputError, atomic_dir, require_file, write_json
from xqg_pyserini.encode.queries import QueryEmbeddings, QueryKeys, embed_queries
from xqg_pyserini.index.factory import DEFAULT_FACTORY, check_factory, write_index
from xqg_pyserini.index.faiss import FlatIndex, check_model, docid_rows
from xqg_pyserini.index.roundtrip import check_roundtrip, keep_roundtrip

__all__ = ["AugmentationPlan", "Mixture", "augment_index", "augment_per_language", "check_options", "check_selection",
           "fuse_block", "mix_block"]
FUSIONS = ("sum", "mean")  # one index for all query languages
MIXTURE = "mixture"  # one index per query language (augment_per_language)
COMMAND = "augment"
#: What marks an augmented index written before output markers existed.
LEGACY = ("manifest.json",)
DEFAULT_BLOCK = 4096  # passage vectors per block
QUERY_CHUNK = 1024  # query embeddings gathered at a time
PathLike = str | os.PathLike


# ------------------------------------------------------------------ fusion

def _group_sums(rows: np.ndarray, sources: np.ndarray, embeddings: np.ndarray, lo: int, hi: int,
                chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct rows, float64 sum of their queries, query count) over ``rows[lo:hi]`` (sorted), summed
    in file order ``chunk`` queries at a time, so that the sums do not depend on block sizes."""
    targets, first = np.unique(rows[lo:hi], return_index=True)
    sums = np.zeros((len(targets), embeddings.shape[1]))
    for a in range(lo, hi, chunk):
        r = rows[a:min(hi, a + chunk)]
        seg = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        sums[np.searchsorted(targets, r[seg])] += np.add.reduceat(
            embeddings[sources[a:a + len(r)]].astype(np.float64), seg, axis=0)
    return targets, sums, np.diff(np.append(first, hi - lo))


def _fuse_rows(block: np.ndarray, start: int, targets: np.ndarray, mixed: np.ndarray, weight: float,
               normalize: bool) -> np.ndarray:
    """``(1-a)*e_p + a*mixed`` for the block rows ``targets`` (``mixed`` float64, scaled in place),
    optionally L2-normalised; a float32 copy of the block with those rows replaced."""
    mixed *= weight  # in place, in the order of (1-a)*e_p + a*S: the same bits, fewer temporaries
    fused = block[targets - start].astype(np.float64)
    fused *= 1.0 - weight
    fused += mixed
    if normalize:
        norms = np.linalg.norm(fused, axis=1, keepdims=True)
        fused /= np.where(norms > 0, norms, 1.0)
    out = np.array(block, dtype=np.float32)
    out[targets - start] = fused
    return out


def fuse_block(block: np.ndarray, start: int, rows: np.ndarray, sources: np.ndarray, embeddings: np.ndarray,
               fusion: str = "sum", weight: float = 0.01, normalize: bool = False,
               chunk: int = QUERY_CHUNK) -> np.ndarray:
    """Fuse the passage vectors ``block`` (index rows ``start``...) with their queries.

    ``rows`` (sorted) is the index row of each query, ``sources`` its row in ``embeddings``. Queries
    are summed in file order, ``chunk`` at a time, so the result does not depend on block sizes.
    A block without queries is returned as is (bit for bit); otherwise a new array.
    """
    lo, hi = np.searchsorted(rows, [start, start + len(block)])
    if lo == hi:
        return block
    targets, sums, counts = _group_sums(rows, sources, embeddings, lo, hi, chunk)
    if fusion == "mean":
        sums /= counts[:, None]
    return _fuse_rows(block, start, targets, sums, weight, normalize)


@dataclass(frozen=True)
class Mixture:
    """The mixture fusion of one query language's index: its own queries get ``own_weight`` (w), the
    other languages' queries ``1 - w`` (see :func:`mix_block`)."""

    language: str
    own_weight: float
    normalize_queries: bool = True


def mix_block(block: np.ndarray, start: int, rows: np.ndarray, own: np.ndarray, sources: np.ndarray,
              embeddings: np.ndarray, weight: float, own_weight: float, normalize_queries: bool = True,
              normalize: bool = True, chunk: int = QUERY_CHUNK) -> np.ndarray:
    """The passage vectors of the index for one query language L, from the queries of every language.

    ``e' = (1-a)*e_p + a*m`` with ``m = w*mean(own) + (1-w)*mean(others)`` (``own``: a boolean per query,
    True where its language is L), L2-normalised if ``normalize_queries``; then ``e'`` L2-normalised if
    ``normalize``. Where a passage lacks one of the groups, the other gets the whole weight (so with
    w = n_own / n_all, m is the mean of all its queries); where the groups present have weight 0 (no
    queries, or w = 1 and none in L) the row is kept as is. So w = 1 without ``normalize_queries`` is
    exactly :func:`fuse_block` with L's queries only (``fusion="mean"``). ``rows``, ``sources``,
    ``chunk`` as in :func:`fuse_block`; a block without queries is returned as is.
    """
    lo, hi = np.searchsorted(rows, [start, start + len(block)])
    if lo == hi:
        return block
    targets = np.unique(rows[lo:hi])
    mixed, total = np.zeros((len(targets), block.shape[1])), np.zeros(len(targets))
    for group, share in ((lo + np.flatnonzero(own[lo:hi]), own_weight),
                         (lo + np.flatnonzero(~own[lo:hi]), 1.0 - own_weight)):
        if not len(group) or share == 0:
            continue
        present, sums, counts = _group_sums(rows[group], sources[group], embeddings, 0, len(group), chunk)
        at = np.searchsorted(targets, present)
        sums /= counts[:, None]
        if share != 1:
            sums *= share
        mixed[at] += sums
        total[at] += share
    keep = total > 0
    targets, mixed = targets[keep], mixed[keep] / total[keep, None]
    if normalize_queries:
        norms = np.linalg.norm(mixed, axis=1, keepdims=True)
        mixed /= np.where(norms > 0, norms, 1.0)
    return _fuse_rows(block, start, targets, mixed, weight, normalize) if len(targets) else block


def check_options(fusion: str = "sum", weight: float = 0.0, block_size: int = 1, on_unknown_docid: str = "error",
                  queries_per_language: int | None = None, own_weight: float | None = None,
                  roundtrip: int | None = None) -> None:
    """Every augmentation setting a user gives, checked before anything is read or encoded."""
    check_roundtrip(roundtrip)
    if fusion not in (*FUSIONS, MIXTURE):
        raise InputError(None, f"fusion must be one of {(*FUSIONS, MIXTURE)}, not {fusion!r}")
    if (fusion == MIXTURE) != (own_weight is not None):
        raise InputError(None, f"the own-language weight goes with fusion {MIXTURE!r} and only with it "
                               f"(fusion {fusion!r}, own weight {own_weight})")
    for name, value in (("weight", weight), ("own-language weight", own_weight)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise InputError(None, f"{name} must be in [0, 1], not {value}")
    if block_size < 1:
        raise InputError(None, f"block size must be at least 1, not {block_size}")
    if on_unknown_docid not in ("error", "skip"):
        raise InputError(None, f"on_unknown_docid must be 'error' or 'skip', not {on_unknown_docid!r}")
    if queries_per_language is not None and queries_per_language < 1:
        raise InputError(None, f"queries per language must be at least 1, not {queries_per_language}")


class AugmentationPlan:
    """Which index row each selected query embedding goes to. Built once per (index, embeddings,
    selection), it fuses for any fusion/weight (``write``, ``blocks``, ``vectors``) without re-encoding
    or re-planning: a weight sweep costs one streaming pass over the index per weight."""

    def __init__(self, index_dir: PathLike, embeddings: QueryEmbeddings, languages: Sequence[str] | None = None,
                 queries_per_language: int | None = None, on_unknown_docid: str = "error"):
        check_options(on_unknown_docid=on_unknown_docid)
        self.index_dir, self.embeddings = require_file(index_dir, "index directory"), embeddings
        self.index_path = require_file(self.index_dir / "index", "FAISS index")
        self.docid_path = require_file(self.index_dir / "docid", "docid file")
        with FlatIndex(self.index_path) as index:
            self.dimension, self.ntotal, self.metric = index.dim, index.rows, index.metric
        if embeddings.dimension != self.dimension:
            raise InputError(self.index_path, f"index vectors have dimension {self.dimension}, the query embeddings "
                                              f"({embeddings.encoder.get('model')}) {embeddings.dimension}")
        check_model(self.index_dir / "manifest.json", embeddings.encoder)
        keys = embeddings.keys
        self.selection = {"languages": list(languages) if languages else None,
                          "queries_per_language": queries_per_language, "on_unknown_docid": on_unknown_docid}
        chosen = keys.select(languages, queries_per_language)
        doc_rows, self.docid_sha256 = docid_rows(self.docid_path, keys.docids, self.ntotal)
        rows = doc_rows[keys.table[chosen, 0]]
        unknown = rows < 0
        if unknown.any() and on_unknown_docid == "error":
            k = chosen[np.flatnonzero(unknown)[0]]
            where, line = keys.where(keys.table[k, 3])
            raise InputError(where, f"docid {keys.docids[keys.table[k, 0]]!r} is not in the index "
                                    f"({self.docid_path})", line=line)
        order = np.argsort(rows[~unknown], kind="stable")
        self.rows, self.sources = rows[~unknown][order], chosen[~unknown][order]
        self.langs = keys.table[self.sources, 1]  # each query's language, an index into keys.langs
        self.counts = {"passages": self.ntotal, "queries_skipped": int(unknown.sum()),
                       "queries_not_selected": len(keys) - len(chosen), **self._used()}

    def _used(self) -> dict:
        per_passage = np.unique(self.rows, return_counts=True)[1]
        return {"passages_augmented": len(per_passage), "queries_used": len(self.rows),
                "queries_per_passage": {"min": int(per_passage.min()) if len(per_passage) else 0,
                                        "max": int(per_passage.max(initial=0))}}

    def subset(self, keep: np.ndarray, **selection) -> "AugmentationPlan":
        """A copy fusing only the planned queries where ``keep`` is True; ``selection`` records why
        (e.g. ``roundtrip=1``, :func:`~xqg_pyserini.index.roundtrip.keep_roundtrip`)."""
        out = copy.copy(self)
        out.rows, out.sources, out.langs = self.rows[keep], self.sources[keep], self.langs[keep]
        out.selection = {**self.selection, **selection}
        out.counts = {**self.counts, **out._used(), "queries_filtered": int(len(keep) - np.count_nonzero(keep))}
        return out

    def _own(self, mixture: Mixture) -> np.ndarray:
        """True for each planned query in the mixture's own language."""
        langs = self.embeddings.keys.langs
        if mixture.language not in langs:
            raise InputError(self.embeddings.keys.path, f"no queries in language {mixture.language} (the file has "
                                                        f"{', '.join(sorted(langs))})")
        return self.langs == langs.index(mixture.language)

    def blocks(self, fusion: str = "sum", weight: float = 0.01, normalize: bool = False,
               block_size: int = DEFAULT_BLOCK, hasher=None, mixture: Mixture | None = None) -> Iterator[np.ndarray]:
        """The fused vectors, block by block in index order (views of the input where unchanged);
        ``fusion="mixture"`` takes the ``mixture`` (:func:`mix_block`)."""
        check_options(fusion, weight, block_size, own_weight=mixture.own_weight if mixture else None)
        own = self._own(mixture) if mixture else None
        chunk = min(block_size, QUERY_CHUNK)
        with FlatIndex(self.index_path) as index, self.embeddings.open() as queries:
            for start, block in index.blocks(block_size, hasher):
                if mixture:
                    yield mix_block(block, start, self.rows, own, self.sources, queries.array, weight,
                                    mixture.own_weight, mixture.normalize_queries, normalize, chunk)
                else:
                    yield fuse_block(block, start, self.rows, self.sources, queries.array, fusion, weight, normalize,
                                     chunk)
                queries.release()

    def vectors(self, fusion: str = "sum", weight: float = 0.01, normalize: bool = False,
                mixture: Mixture | None = None) -> np.ndarray:
        """All fused vectors in memory (for small indexes, e.g. a study that searches with numpy)."""
        parts = [np.array(b) for b in self.blocks(fusion, weight, normalize, mixture=mixture)]
        return np.concatenate(parts) if parts else np.zeros((0, self.dimension), np.float32)

    def write(self, out_dir: PathLike, fusion: str = "sum", weight: float = 0.01, normalize: bool = False,
              block_size: int = DEFAULT_BLOCK, started: float | None = None, overwrite: bool = True,
              mixture: Mixture | None = None, index_factory: str = DEFAULT_FACTORY, train_size: int | None = None,
              search_params: str | None = None) -> dict:
        """Write the augmented index (``index``, ``docid``, ``manifest.json``) to ``out_dir``, atomically;
        an existing ``out_dir`` is replaced only if it is an earlier augmented index (and ``overwrite``).

        ``index_factory`` names the kind of index (FAISS's factory strings; ``Flat`` by default):
        anything else is trained on ``train_size`` sampled fused vectors and filled block by block
        (:func:`~xqg_pyserini.index.factory.write_index`), with ``search_params`` (``nprobe=32``...) stored in it."""
        started = time.perf_counter() if started is None else started
        check_options(fusion, weight, block_size, own_weight=mixture.own_weight if mixture else None)
        out = Path(out_dir)
        if out.resolve() == self.index_dir.resolve():
            raise InputError(out, "the output directory must differ from the input index")
        if index_factory != DEFAULT_FACTORY or search_params:
            check_factory(index_factory, self.dimension, self.metric, search_params, self.ntotal)
        if fusion == "sum" and self.counts["queries_per_passage"]["min"] != self.counts["queries_per_passage"]["max"]:
            warnings.warn(f"{self.embeddings.keys.path}: passages have {self.counts['queries_per_passage']} queries; "
                          "with fusion='sum' those with more queries are favoured (fusion='mean' is not)")
        source = hashlib.sha256()
        with atomic_dir(out, overwrite, command=COMMAND, inputs=[self.index_dir, self.embeddings.keys.path],
                        legacy=LEGACY) as tmp:
            built = write_index(tmp / "index", self.dimension, self.ntotal,
                                lambda hasher: self.blocks(fusion, weight, normalize, block_size, hasher, mixture),
                                self.metric, index_factory, train_size, search_params, hasher=source)
            shutil.copyfile(self.docid_path, tmp / "docid")
            flat = index_factory == DEFAULT_FACTORY
            manifest = {
                "kind": ("faiss-flat-ip" if self.metric == 0 else "faiss-flat-l2") if flat else "faiss-index-factory",
                "stage": "xqg-augment",
                "inputs": {"index": {"path": str(self.index_dir), "index_sha256": source.hexdigest(),
                                     "docid_sha256": self.docid_sha256},
                           "queries": {"path": str(self.embeddings.keys.path), "sha256": self.embeddings.queries_sha256,
                                       "embeddings_cache": str(self.embeddings.npy),
                                       "embeddings_reused": self.embeddings.reused}},
                "encoder": self.embeddings.encoder, "fusion": fusion, "weight": weight, "normalize": normalize,
                **({"mixture": asdict(mixture)} if mixture else {}), **self.selection, "block_size": block_size,
                "dimension": self.dimension, "counts": self.counts,
                **({} if flat else {k: v for k, v in built.items() if k != "index_sha256"}),
                "output": {"index_sha256": built["index_sha256"]}, "seconds": round(time.perf_counter() - started, 3),
            }
            write_json(tmp / "manifest.json", manifest)
        return manifest


# ------------------------------------------------------------------ the stage

def check_selection(index_dir: PathLike, queries: PathLike | QueryEmbeddings, languages: Sequence[str] | None = None,
                    queries_per_language: int | None = None, index_factory: str = DEFAULT_FACTORY,
                    search_params: str | None = None) -> None:
    """The index is a flat index with its docid file, the queries file is valid and holds the
    selected languages, and the output's index kind can be built: all checked before any query is encoded."""
    require_file(Path(index_dir) / "docid", "docid file")
    with FlatIndex(Path(index_dir) / "index") as index:
        if index_factory != DEFAULT_FACTORY or search_params:
            check_factory(index_factory, index.dim, index.metric, search_params, index.rows)
    if not isinstance(queries, QueryEmbeddings):
        QueryKeys.read(require_file(queries, "queries file")).select(languages, queries_per_language)


def _embeddings_for(index_dir: PathLike, queries: PathLike | QueryEmbeddings, encoder, cache) -> QueryEmbeddings:
    """Embeddings of ``queries`` (a file, or ready); a dimension mismatch visible up front fails before encoding."""
    with FlatIndex(Path(index_dir) / "index") as index:
        dim = index.dim
    if isinstance(queries, QueryEmbeddings):
        return queries
    from xqg_pyserini.encode.encoders import load_encoder

    enc = load_encoder(encoder)
    if getattr(enc, "dimension", dim) != dim:
        raise InputError(Path(index_dir) / "index", f"index vectors have dimension {dim}, the query encoder "
                                                    f"({enc.describe().get('model')}) {enc.dimension}")
    return embed_queries(queries, enc, cache)


def augment_index(index_dir: PathLike, queries_file: PathLike | QueryEmbeddings, encoder, out_dir: PathLike,
                  fusion: str = "sum", weight: float = 0.01, normalize: bool = False,
                  languages: Sequence[str] | None = None, queries_per_language: int | None = None,
                  on_unknown_docid: str = "error", block_size: int = DEFAULT_BLOCK,
                  cache: PathLike | None = None, overwrite: bool = True, index_factory: str = DEFAULT_FACTORY,
                  train_size: int | None = None, search_params: str | None = None, roundtrip: int | None = None) -> dict:
    """Augment a Pyserini FAISS flat index with generated queries; returns the manifest written.

    ``queries_file`` may also be a :class:`QueryEmbeddings` (then ``encoder`` is unused), or a
    directory of parts from a distributed generation. The output is a flat index unless
    ``index_factory`` names another kind (see :meth:`AugmentationPlan.write`). ``roundtrip`` K fuses
    only the queries that rank their own passage within the top K (:mod:`~xqg_pyserini.index.roundtrip`).
    """
    started = time.perf_counter()
    check_options(fusion, weight, block_size, on_unknown_docid, queries_per_language, roundtrip=roundtrip)
    check_selection(index_dir, queries_file, languages, queries_per_language, index_factory, search_params)
    embeddings = _embeddings_for(index_dir, queries_file, encoder, cache)
    plan = keep_roundtrip(AugmentationPlan(index_dir, embeddings, languages, queries_per_language, on_unknown_docid),
                          roundtrip)
    return plan.write(out_dir, fusion, weight, normalize, block_size, started, overwrite,
                      index_factory=index_factory, train_size=train_size, search_params=search_params)


def augment_per_language(index_dir: PathLike, queries_file: PathLike | QueryEmbeddings, encoder, out_dir: PathLike,
                         languages: Sequence[str] | None = None, fusion: str = "sum", weight: float = 0.01,
                         normalize: bool = False, queries_per_language: int | None = None,
                         on_unknown_docid: str = "error", block_size: int = DEFAULT_BLOCK,
                         cache: PathLike | None = None, overwrite: bool = True, own_weight: float | None = None,
                         normalize_queries: bool = True, index_factory: str = DEFAULT_FACTORY,
                         train_size: int | None = None, search_params: str | None = None,
                         roundtrip: int | None = None) -> dict:
    """One augmented index per target language, ``out_dir/<lang>/`` (all of the file's by default), for
    :class:`~xqg_pyserini.search.routing.PerLanguageSearcher`; queries embedded once. Sum or mean: each
    index fused with its language's queries only; ``fusion="mixture"``: with every language's, its own
    weighted ``own_weight`` (:func:`mix_block`). Index kinds and ``roundtrip`` as in :func:`augment_index`."""
    started = time.perf_counter()
    check_options(fusion, weight, block_size, on_unknown_docid, queries_per_language, own_weight, roundtrip)
    check_selection(index_dir, queries_file, languages, queries_per_language, index_factory, search_params)
    embeddings = _embeddings_for(index_dir, queries_file, encoder, cache)
    langs = list(languages) if languages else sorted(embeddings.keys.langs)
    sources = [index_dir, None if isinstance(queries_file, QueryEmbeddings) else queries_file]

    # mixture: one plan of every language's queries, fused per target language; else one plan per language
    plan = lambda selected: keep_roundtrip(AugmentationPlan(index_dir, embeddings, selected, queries_per_language,
                                                            on_unknown_docid), roundtrip)
    shared = plan(None) if fusion == MIXTURE else None
    with atomic_dir(out_dir, overwrite, command=COMMAND, inputs=sources, legacy=LEGACY) as tmp:
        kinds = {"index_factory": index_factory, "train_size": train_size, "search_params": search_params}
        parts = {}
        for lang in langs:
            if shared is not None:
                parts[lang] = shared.write(tmp / lang, fusion, weight, normalize, block_size,
                                           mixture=Mixture(lang, own_weight, normalize_queries), **kinds)
            else:
                parts[lang] = plan([lang]).write(tmp / lang, fusion, weight, normalize, block_size, **kinds)
        manifest = {"kind": "xqg-per-language", "languages": langs, "index": str(index_dir), "fusion": fusion,
                    "weight": weight, "normalize": normalize, "queries_per_language": queries_per_language,
                    "roundtrip": roundtrip,
                    **({"own_weight": own_weight, "normalize_queries": normalize_queries} if shared is not None else {}),
                    "counts": {lang: m["counts"] for lang, m in parts.items()},
                    "seconds": round(time.perf_counter() - started, 3)}
        write_json(tmp / "manifest.json", manifest)
    return manifest
