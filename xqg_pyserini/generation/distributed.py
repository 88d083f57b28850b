"""xQG generation on Ray: the same generator and output format as ``xqg generate``, over a cluster.

The corpus's parts (:mod:`xqg_pyserini.data.parts`) are read as a Ray Dataset and generated in
``map_batches`` by a pool of actors, each holding one generator (one GPU each when the cluster has
GPUs, else CPUs: :mod:`xqg_pyserini.data.cluster`). Each part is written by
:func:`~xqg_pyserini.generation.runner.generate_into`, the single-process loop, to
``OUT/part-<file>-<k>.jsonl`` with its ``.meta.json``: the format every reader takes, file by file
or as the whole directory (:func:`~xqg_pyserini.generation.queries.query_files`).

Resume: a part whose ``.meta.json`` says complete is skipped by a rerun; an unfinished part is cut
back to its last whole (docid, lang) group and continued (a killed actor's part is retried by Ray at
once, a killed driver's by the next run). A part is written under an exclusive lock on its file, so
a late worker of a dead driver and the rerun never write it together. Queries are seeded per
(seed, docid, lang, i), so in float32 the union of the parts equals a single-process run, line for line.
``OUT/generation.json`` records the settings (a rerun with others is refused) and, at the end,
``complete: true`` with the totals; ``augment``/``expand`` refuse the directory until then.
"""
from __future__ import annotations

import fcntl
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator, Sequence

from xqg_pyserini.data.io import InputError
from xqg_pyserini.data.languages import XQUAD_LANGUAGES, check_languages
from xqg_pyserini.data.parts import (DEFAULT_PART_BYTES, Part, corpus_layout, corpus_parts, finish_parts_output,
                                     open_parts_output, part_path)
from xqg_pyserini.generation.config import QueryGenerator, Sampling, check_vocabulary, settings_dict
from xqg_pyserini.generation.queries import RUN_FILE
from xqg_pyserini.generation.runner import COMMAND, default_batch_size, generate_into, mark_complete

__all__ = ["generate_ray", "part_complete"]


def part_complete(target: Path) -> bool:
    """Whether a part's output is finished (its ``.meta.json`` says so)."""
    try:
        return json.loads(Path(f"{target}.meta.json").read_text(encoding="utf-8")).get("complete") is True
    except (OSError, ValueError, AttributeError):
        return False


@contextmanager
def _exclusive(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on a part's output file (released by the kernel if the process dies)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class GenerationActor:
    """One generator per actor; ``__call__`` turns a batch of parts (one, by construction) into
    their query files. Settings come as the class attribute ``config`` (a subclass per run), so
    nothing waits in Ray's object store for a restarted actor."""

    config: dict = {}

    def __init__(self):
        import torch

        from xqg_pyserini.generation.loading import load_generator

        c = self.config
        torch.set_num_threads(c["threads"])
        factory = c.get("factory")
        self.generator: QueryGenerator = factory() if factory else load_generator(
            c["generator"], Sampling(**c["sampling"]), c["few_shot"], c["languages"], dtype=c["dtype"],
            vocabulary=c["vocabulary"], device=c["device"])

    def __call__(self, batch: dict) -> dict:
        from xqg_pyserini.data.cluster import actor_call

        return actor_call(batch, self.part)

    def part(self, part: Part, passages: list) -> dict:
        """Write one part's queries (resuming it) under an exclusive lock; its summary."""
        c, target, started = self.config, part_path(self.config["out"], part, ".jsonl"), time.perf_counter()
        with _exclusive(target):
            stats = generate_into(target, passages, self.generator, c["languages"], c["n"],
                                  {**c["settings"], "generator": self.generator.id, "part": part.name},
                                  f"{part.path}:{part.start}-{part.stop}", c["batch_size"], progress=False)
            mark_complete(target, {"part": part.name, "passages": len(passages), **stats})
        return {"part": part.name, "passages": len(passages), "queries_written": stats["queries_written"],
                "empty_queries": stats["empty_queries"], "groups_resumed": stats["groups_resumed"],
                "seconds": round(time.perf_counter() - started, 3)}


def generate_ray(corpus: str | Path, out: str | Path, generator: str = "xqg", languages: Sequence[str] | None = None,
                 n: int = 5, sampling: Sampling | None = None, batch_size: int | None = None, few_shot: int = 0,
                 dtype: str = "auto", vocabulary: str = "trimmed", part_bytes: int = DEFAULT_PART_BYTES,
                 actors: int | None = None, cpus_per_actor: float = 1.0, gpus: bool | None = None,
                 address: str | None = None, overwrite: bool = False, progress: bool = True,
                 generator_factory: Callable[[], QueryGenerator] | None = None) -> dict:
    """Generate ``n`` queries per passage and language for ``corpus`` into the directory ``out`` on
    Ray (``address``: a cluster, ``auto``, or None for a local one); returns the run's totals.

    ``dtype`` ``auto`` is decided here, once, so every actor samples alike; ``part_bytes`` sets the
    unit of work and resume. ``generator_factory`` (a picklable callable) replaces loading
    ``generator`` by name in the actors (tests wrap a tiny model with it).
    """
    from xqg_pyserini.data.cluster import require_ray
    from xqg_pyserini.models.cpu import DTYPES, pick_dtype

    require_ray()  # before anything is written
    langs = check_languages(list(languages) if languages else list(XQUAD_LANGUAGES))
    if n < 1 or batch_size is not None and batch_size < 1:
        raise InputError(None, "n and batch_size must be at least 1")
    if dtype not in DTYPES:
        raise InputError(None, f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    check_vocabulary(vocabulary)
    dtype = pick_dtype() if dtype == "auto" else dtype
    sampling = sampling or Sampling()
    if generator_factory is None:
        from xqg_pyserini.generation.loading import resolve_sampling

        sampling = resolve_sampling(generator, sampling)
    parts, out = corpus_parts(corpus, part_bytes), Path(out)
    settings = {"generator": generator if generator_factory is None else "factory", "languages": langs, "n": n,
                "sampling": settings_dict(sampling), "dtype": dtype, "few_shot": few_shot,
                "full_vocabulary": vocabulary == "full", "corpus": corpus_layout(corpus, part_bytes)}
    if vocabulary == "language":  # recorded only when used: runs made before it keep their settings
        settings["vocabulary"] = vocabulary
    open_parts_output(out, COMMAND, RUN_FILE, corpus, settings, overwrite)
    todo = [p for p in parts if not part_complete(part_path(out, p, ".jsonl"))]
    config = {"generator": generator, "factory": generator_factory, "sampling": asdict(sampling), "few_shot": few_shot,
              "languages": langs, "n": n, "dtype": dtype, "vocabulary": vocabulary, "out": str(out.resolve()),
              "batch_size": batch_size or default_batch_size(len(langs), n),
              "settings": {k: settings[k] for k in ("languages", "n", "sampling", "dtype")}}
    started = time.perf_counter()
    totals, pool = _generate_parts(todo, config, address, actors, cpus_per_actor, gpus, progress)
    seconds = time.perf_counter() - started
    summary = {"out": str(out), "parts": len(parts), "parts_done_before": len(parts) - len(todo), **totals,
               "seconds": round(seconds, 1), "queries_per_second": round(totals["queries_written"] / seconds, 3),
               "pool": pool}
    finish_parts_output(out, RUN_FILE, summary=summary)
    return summary


def _generate_parts(todo: Sequence[Part], config: dict, address: str | None, actors: int | None,
                    cpus_per_actor: float, gpus: bool | None, progress: bool) -> tuple[dict, dict | None]:
    """Run the unfinished parts through a pool of generation actors; (totals, the pool's shape)."""
    from xqg_pyserini.data.cluster import connect, plan_pool, run_parts, shutdown

    totals = {"passages": 0, "queries_written": 0, "empty_queries": 0}
    if not todo:
        return totals, None
    ray_started = connect(address)
    try:
        pool = plan_pool(actors, cpus_per_actor, gpus)
        actor = type("GenerationActor", (GenerationActor,),
                     {"config": {**config, "device": pool.device, "threads": pool.threads}})
        for done, row in enumerate(run_parts(todo, actor, pool), start=1):
            for key in totals:
                totals[key] += int(row[key])
            if progress:
                print(f"xqg generate: {row['part']} done ({row['passages']} passages, {row['queries_written']} "
                      f"queries, {row['seconds']:.0f} s); {done}/{len(todo)} parts", file=sys.stderr, flush=True)
    finally:
        shutdown(ray_started)
    return totals, pool.describe()
