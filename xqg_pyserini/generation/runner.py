"""Generate queries for every passage of a corpus: validation, sharding, batching, resume.

Output: JSONL, one line per query ``{"docid", "lang", "i", "query", "generator"}`` (read back with
:func:`xqg_pyserini.generation.queries.read_queries`). Lines of one
(docid, lang) group are appended together, group by group, and flushed after every chunk of
batches; on restart a trailing partial line or incomplete group (a kill mid-write) is cut off and
the finished groups are skipped, so kill -9 and a restart lose and duplicate nothing. A sidecar
``<out>.meta.json`` records the settings; resuming with different settings is refused.

Shards split passages by a stable hash of the docid, so ``--shard i --num-shards N`` runs are
disjoint and their union equals a single run (queries are seeded per (seed, docid, lang, i)).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from xqg_pyserini.data.corpus import CorpusPassage, corpus_files, corpus_sha256, read_corpus
from xqg_pyserini.data.io import InputError, cache_dir, write_json
from xqg_pyserini.data.languages import XQUAD_LANGUAGES, check_languages
from xqg_pyserini.generation.config import QueryGenerator, Request, Sampling, check_vocabulary, settings_dict


@dataclass
class CorpusReport:
    """What reading the corpus kept and skipped (nothing is dropped without a count)."""
    passages: int = 0
    skipped_empty: list[str] = field(default_factory=list)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_output(corpus: str | Path, target: Path) -> None:
    """``target`` may be written (resumed, or replaced with overwrite): it is not the corpus nor holds
    it, and if it exists it is an earlier generation output (its ``.meta.json`` is beside it)."""
    if any(_inside(Path(f).resolve(), target.resolve()) for f in [corpus, *corpus_files(corpus)]):
        raise InputError(target, f"is or contains the corpus ({corpus}); choose another --out")
    if os.path.lexists(target) and not target.with_name(target.name + ".meta.json").exists():
        raise InputError(target, "exists and is not an output of `xqg generate` (no .meta.json beside it); "
                                 "refusing to touch it (choose another --out)")


def shard_of(docid: str, num_shards: int) -> int:
    """Stable shard of a docid (independent of Python's hash seed and of the corpus order)."""
    return int.from_bytes(hashlib.sha1(docid.encode("utf-8")).digest()[:8], "big") % num_shards


def default_output(corpus: str | Path, generator_id: str, settings: Mapping) -> Path:
    """``cache_dir("queries")/<corpus name>.<content sha8>.<generator id>.<settings sha8>.jsonl`` (outside git).

    Keyed by the corpus's CONTENT (not its directory name), the generator and the settings, so two
    corpora, or two runs asking for different languages, n or sampling, never share or mix a file;
    the name stays readable.
    """
    path = Path(corpus).resolve()
    names = [path.stem if path.is_file() else path.name] + [p.name for p in path.parents]
    name = next((x for x in names if x not in ("corpus", "docs", "")), "corpus")
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    generator = re.sub(r"[^0-9A-Za-z_.+-]+", "_", generator_id)
    return cache_dir("queries") / f"{name}.{corpus_sha256(corpus)[:8]}.{generator}.{digest[:8]}.jsonl"


def resume_state(out: Path, n: int) -> set[tuple[str, str]]:
    """Finished (docid, lang) groups of an existing output; cuts off an unfinished tail in place."""
    if not out.exists():
        return set()
    done: set[tuple[str, str]] = set()
    good_end = 0
    group: tuple[str, str] | None = None
    count = 0
    with open(out, "rb") as handle:
        offset = 0
        for raw in handle:
            offset += len(raw)
            if not raw.endswith(b"\n"):
                break  # a partial last line: the writer was killed mid-line
            try:
                row = json.loads(raw)
                key, i = (row["docid"], row["lang"]), int(row["i"])
            except (ValueError, KeyError, TypeError):
                raise InputError(out, "existing output has a malformed line; delete it or pass --overwrite") from None
            if key != group:
                if group is not None and count != n:
                    raise InputError(out, f"existing output has an incomplete group {group} before the end; pass --overwrite")
                group, count = key, 0
            if i != count:
                raise InputError(out, f"existing output is out of order at {key} i={i}; pass --overwrite")
            count += 1
            if count == n:
                done.add(key)
                good_end = offset
    if good_end != out.stat().st_size:
        with open(out, "r+b") as handle:
            handle.truncate(good_end)
    return done


@dataclass
class GenerationSettings:
    generator: str
    languages: list[str]
    n: int
    sampling: dict
    shard: int
    num_shards: int
    docids: int | None  # size of a docid filter, if any


#: The command whose outputs these are (a directory output carries it in its marker).
COMMAND = "generate"

#: Rows (language x sample) decoding together by default. A step's matrix products get more efficient
#: up to a few hundred rows on these CPUs (AVX2 EPYC, 2 threads, 11 languages x 36 passages, n=1:
#: 6.01 questions/s at 110 rows, 6.31 at 176, continuous batching, one run each); 165 = 15 passages
#: at n=1 or 3 at n=5 over 11 languages.
BATCH_ROWS = 165


def default_batch_size(languages: int, n: int) -> int:
    """Prompts per model call: whole passages (all their languages) filling about BATCH_ROWS rows."""
    return languages * max(1, BATCH_ROWS // (languages * n))


def _machine(generator) -> dict:
    """Which CPU, dtype and threads produced an output (speed and, off float32, samples depend on them)."""
    import torch

    from xqg_pyserini.models.cpu import cpu_label

    return {"cpu": cpu_label(), "dtype": getattr(generator, "dtype", "float32"), "threads": torch.get_num_threads(),
            "decoder": type(getattr(generator, "inner", generator)).__name__}


def generate_corpus(corpus: str | Path, generator: QueryGenerator, languages: Sequence[str], n: int = 5,
                    out: str | Path | None = None, batch_size: int = 8, shard: int = 0, num_shards: int = 1,
                    docids: Iterable[str] | None = None, overwrite: bool = False, progress: bool = True,
                    sampling: Sampling | None = None, chunk_batches: int = 4) -> dict:
    """Generate ``n`` queries per passage and language into ``out`` (resuming it); returns a summary.

    ``batch_size`` counts (passage, language) prompts per model call (each yields ``n`` rows);
    requests are length-bucketed within chunks of ``chunk_batches`` batches, and each chunk is
    written (and flushed) when done. ``docids`` restricts generation to those passages.
    """
    languages = check_languages(list(languages))
    if n < 1 or batch_size < 1:
        raise InputError(None, "n and batch_size must be at least 1")
    if not 0 <= shard < num_shards:
        raise InputError(None, f"shard must be in [0, {num_shards})")
    everything = read_corpus(corpus)
    passages = [p for p in everything if p.text]
    if not passages:
        raise InputError(corpus, f"no passage has text ({len(everything)} empty); nothing to generate queries for")
    report = CorpusReport(len(passages), [p.docid for p in everything if not p.text])
    wanted = set(docids) if docids is not None else None
    if wanted is not None:
        unknown = wanted - {p.docid for p in everything}
        if unknown:
            raise InputError(corpus, f"{len(unknown)} requested docid(s) not in the corpus, e.g. {sorted(unknown)[:3]}")
        passages = [p for p in passages if p.docid in wanted]
    mine = [p for p in passages if shard_of(p.docid, num_shards) == shard]
    settings = GenerationSettings(generator.id, languages, n, settings_dict(sampling or getattr(generator, "sampling", Sampling())),
                                  shard, num_shards, len(wanted) if wanted is not None else None)
    target = Path(out) if out else default_output(
        corpus, generator.id, {**asdict(settings), "docids": sorted(wanted) if wanted is not None else None})
    check_output(corpus, target)
    stats = generate_into(target, mine, generator, languages, n, asdict(settings), str(corpus), batch_size,
                          chunk_batches, progress, overwrite)
    summary = {"out": str(target), "passages_in_corpus": report.passages + len(report.skipped_empty),
               "skipped_empty_passages": report.skipped_empty, "passages_in_shard": len(mine), **stats}
    mark_complete(target, summary)
    return summary


def _meta_path(target: Path) -> Path:
    return target.with_name(target.name + ".meta.json")


def generate_into(target: Path, passages: Sequence[CorpusPassage], generator: QueryGenerator, languages: Sequence[str],
                  n: int, settings: dict, source: str, batch_size: int = 8, chunk_batches: int = 4,
                  progress: bool = True, overwrite: bool = False) -> dict:
    """Generate ``n`` queries per passage and language into the file ``target``, resuming it: the one
    writing loop behind :func:`generate_corpus` (a shard of a corpus) and distributed generation
    (a part of a corpus). Its ``.meta.json`` records ``settings`` (resuming with others is refused)
    and says ``complete: false`` until :func:`mark_complete` marks it done."""
    meta_path = _meta_path(target)
    settings = json.loads(json.dumps(settings))
    if overwrite:
        target.unlink(missing_ok=True)
    elif target.exists() and meta_path.exists():
        if json.loads(meta_path.read_text()).get("settings") != settings:
            raise InputError(target, "exists with different settings (generator, languages, n, sampling or shard); "
                                     "pass --overwrite or choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    machine = _machine(generator)
    write_json(meta_path, {"settings": settings, "corpus": source, "complete": False, "machine": machine})
    done = resume_state(target, n)
    todo = [Request(p.docid, lang, p.title, p.text) for p in passages if p.text for lang in languages
            if (p.docid, lang) not in done]
    before = {key: getattr(generator, key, 0) for key in ("truncated", "resampled", "off_language")}
    stats = _run(generator, todo, n, batch_size, chunk_batches, target, progress)
    stats = {"groups_resumed": len(done), **stats,
             "truncated_passages": getattr(generator, "truncated", 0) - before["truncated"]}
    if hasattr(generator, "resampled"):  # language-checked: rows sampled again, questions kept off-language
        stats.update(language_resampled=generator.resampled - before["resampled"],
                     off_language_kept=generator.off_language - before["off_language"])
    return stats


def mark_complete(target: Path, summary: dict) -> None:
    """Mark an output complete (readers refuse it until then), with its summary."""
    meta_path = _meta_path(target)
    write_json(meta_path, {**json.loads(meta_path.read_text()), "complete": True, "summary": summary})


def _run(generator: QueryGenerator, todo: list[Request], n: int, batch_size: int, chunk_batches: int,
         target: Path, progress: bool) -> dict:
    """The generation loop: length-bucketed batches, one append + fsync per chunk."""
    from tqdm.auto import tqdm

    # a continuous generator takes a whole chunk per call, keeping batch_size * n rows decoding (each
    # call ends with a tail of few rows: one per chunk instead of one per batch)
    continuous = getattr(generator, "continuous", False)
    chunk = batch_size * chunk_batches
    written = empty = 0
    started = time.perf_counter()
    bar = tqdm(total=len(todo), unit="group", desc=f"generate x{n}", disable=not progress, smoothing=0.1)
    with open(target, "a", encoding="utf-8") as handle:
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            order = sorted(range(len(part)), key=lambda j: len(part[j].title) + len(part[j].text))
            results: dict[int, list[str]] = {}
            if continuous:
                queries = generator.generate([part[j] for j in order], n, max_rows=batch_size * n,
                                             on_request_done=bar.update)
                results.update(zip(order, queries))
            else:
                for b in range(0, len(order), batch_size):
                    idx = order[b:b + batch_size]
                    results.update(zip(idx, generator.generate([part[j] for j in idx], n)))
                    bar.update(len(idx))
            lines = []
            for j, req in enumerate(part):
                for i, q in enumerate(results[j]):
                    empty += not q
                    lines.append(json.dumps({"docid": req.docid, "lang": req.lang, "i": i, "query": q,
                                             "generator": generator.id}, ensure_ascii=False) + "\n")
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
            written += len(lines)
            seconds = time.perf_counter() - started
            bar.set_postfix(q_per_s=f"{written / max(seconds, 1e-9):.2f}")
    bar.close()
    seconds = time.perf_counter() - started
    return {"groups_generated": len(todo), "queries_written": written, "empty_queries": empty,
            "seconds": round(seconds, 1), "queries_per_second": round(written / seconds, 3) if seconds else None}


def split_docids(corpus: str | Path, split: str) -> set[str]:
    """Docids of one split from the benchmark's ``split.tsv`` beside ``corpus/`` (XQuAD: train|test)."""
    path = Path(corpus).resolve()
    for parent in [path, *path.parents][:3]:
        table = parent / "split.tsv"
        if table.exists():
            rows = [line.rstrip("\n").split("\t") for line in table.read_text(encoding="utf-8").splitlines() if line.strip()]
            chosen = {r[0] for r in rows if len(r) == 2 and r[1] == split}
            if not chosen:
                raise InputError(table, f"no passages of split {split!r}")
            return chosen
    raise InputError(corpus, "no split.tsv found beside the corpus (write one with: xqg prepare)")


def warn_untrained(generator: str, languages: Sequence[str]) -> list[str]:
    """Print one warning line on stderr for target languages the generator was not trained on (they
    are allowed: the prompt names any language, but the queries may be poor); returns them."""
    from xqg_pyserini.generation.loading import trained_languages

    known = trained_languages(generator)
    untrained = [lang for lang in languages if known is not None and lang not in known]
    if untrained:
        print(f"xqg: warning: generator {generator!r} was not trained on {' '.join(untrained)} (trained: "
              f"{' '.join(known)}); their queries may be off-language or poor. A trimmed-vocabulary generator "
              f"may lack their letters: --vocabulary full (or language, for a Latin-script one)", file=sys.stderr)
    return untrained


def generate(corpus: str | Path, generator: str = "xqg", languages: Sequence[str] | None = None, n: int = 5,
             out: str | Path | None = None, batch_size: int | None = None, top_k: int | None = None,
             temperature: float | None = None, max_new_tokens: int | None = None,
             max_input_tokens: int | None = None, seed: int | None = None, shard: int = 0,
             num_shards: int = 1, split: str | None = None, overwrite: bool = False, progress: bool = True,
             few_shot: int = 0, bf16: bool = False, threads: int | None = None, dtype: str = "auto",
             vocabulary: str = "trimmed", contrast: float | None = None,
             language_retries: int | None = None) -> dict:
    """What ``xqg generate`` does: load a generator by name and generate over a corpus.

    ``generator``: ``xqg`` (our trained adapter), ``gemma-3-270m`` (untuned base; use ``few_shot``),
    a local Hugging Face or trained-generator directory, or ``precomputed:FILE``. Sampling settings
    left at None take :class:`~xqg_pyserini.generation.backends.Sampling`'s defaults; ``dtype`` auto
    picks bfloat16 only on CPUs with AMX/AVX512-BF16 (else float32), ``threads`` defaults to the
    cores available, ``batch_size`` (prompts per model call) to whole passages filling about
    ``BATCH_ROWS`` rows. Every check of the inputs runs before a model is loaded.
    """
    from dataclasses import replace

    from xqg_pyserini.models.cpu import DTYPES, available_cores

    langs = check_languages(list(languages) if languages else list(XQUAD_LANGUAGES))
    if n < 1 or batch_size is not None and batch_size < 1 or threads is not None and threads < 1:
        raise InputError(None, "n, batch_size and threads must be at least 1")
    if not 0 <= shard < num_shards:
        raise InputError(None, f"shard must be in [0, {num_shards})")
    if dtype not in DTYPES:
        raise InputError(None, f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    check_vocabulary(vocabulary)
    given = dict(top_k=top_k, temperature=temperature, max_new_tokens=max_new_tokens,
                 max_input_tokens=max_input_tokens, seed=seed, contrast=contrast, language_retries=language_retries)
    if contrast is not None and contrast < 0:
        raise InputError(None, f"contrast must be at least 0, not {contrast}")
    if language_retries is not None and language_retries < 0:
        raise InputError(None, f"language_retries must be at least 0, not {language_retries}")
    sampling = replace(Sampling(), **{k: v for k, v in given.items() if v is not None})
    if not any(p.text for p in read_corpus(corpus)):  # bad corpus lines fail before a model is loaded
        raise InputError(corpus, "no passage has text; nothing to generate queries for")
    if out is not None:
        check_output(corpus, Path(out))
    docids = split_docids(corpus, split) if split else None
    import torch

    torch.set_num_threads(threads or available_cores())
    from xqg_pyserini.generation.loading import load_generator, resolve_sampling

    warn_untrained(generator, langs)
    sampling = resolve_sampling(generator, sampling)
    gen = load_generator(generator, sampling, few_shot, langs, bf16, dtype, vocabulary=vocabulary)
    if batch_size is None:
        batch_size = default_batch_size(len(langs), n)
    return generate_corpus(corpus, gen, langs, n, out, batch_size, shard, num_shards, docids, overwrite, progress, sampling)
