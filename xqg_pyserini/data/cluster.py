"""Ray for the distributed stages (optional: ``pip install 'xqg-pyserini[ray]'``).

Every distributed stage has the same shape, built here once: the corpus's parts
(:mod:`xqg_pyserini.data.parts`) become a Ray Dataset whose rows are whole parts of passages (read
in parallel by Ray tasks, each seeking to its byte range), and ``map_batches`` with a pool of actors
(one model per actor, loaded once) turns each part into its output with the single-process code. A
row is one part and a batch one row, so a part is never split between actors; each part's output is
written and resumed by that code, so a killed actor's part is redone (Ray Data restarts a dead actor
and retries the part it held, without limit) and a killed driver's run is resumed by running it
again, part by part.

Actors take one GPU each when the cluster has GPUs, else ``cpus_per_actor`` CPUs; the pool leaves
room for the read tasks (:data:`READ_CPUS`), or the actors would hold every CPU while waiting for
parts nobody can read. Ray's own logging and progress bars are turned off: the driver reports parts.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, fields
from typing import Iterator, Sequence

from xqg_pyserini.data.io import InputError
from xqg_pyserini.data.parts import Part, read_part

__all__ = ["READ_CPUS", "Pool", "connect", "plan_pool", "run_parts", "shutdown"]

#: Logical CPUs a part-reading task asks for (reading is light next to a model).
READ_CPUS = 0.25
_PART_FIELDS = [f.name for f in fields(Part)]


def require_ray():
    """The ``ray`` module, or a one-line error saying how to install the optional extra."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InputError(None, "distributed runs need Ray: pip install 'xqg-pyserini[ray]'") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the Ray cluster at ``address`` (``auto``: the running one), or start a local one;
    returns whether this call started Ray (then :func:`shutdown` it when done)."""
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # before the core worker starts: no C++ log lines
    ray = require_ray()
    quiet_ray()
    if ray.is_initialized():
        return False
    ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
             log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    return True


def shutdown(started: bool) -> None:
    if started:
        require_ray().shutdown()


def quiet_ray() -> None:
    """Ray's info lines and progress bars are not for our users (errors still reach them)."""
    import warnings

    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", module=r"ray(\.|$)")
    for name in ("ray", "ray.data", "ray.data._internal"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.enable_operator_progress_bars = False


class Pool:
    """The actor pool's shape: how many actors, and what each asks Ray for."""

    def __init__(self, actors: int, resources: dict, device: str, threads: int):
        self.actors, self.resources, self.device, self.threads = actors, resources, device, threads

    def describe(self) -> dict:
        return {"actors": self.actors, "device": self.device, "threads_per_actor": self.threads, **self.resources}


def plan_pool(actors: int | None = None, cpus_per_actor: float = 1.0, gpus: bool | None = None) -> Pool:
    """One GPU per actor when the cluster has GPUs (``gpus=None``), else ``cpus_per_actor`` CPUs.

    ``actors`` defaults to the GPUs, or to the CPUs left after the read tasks' share; asking for
    more CPU actors than fit at once is refused (they would wait for each other forever)."""
    ray = require_ray()
    total = ray.cluster_resources()
    if cpus_per_actor <= 0:
        raise InputError(None, f"CPUs per actor must be positive, not {cpus_per_actor}")
    use_gpus = bool(total.get("GPU", 0)) if gpus is None else gpus
    threads = max(1, math.floor(cpus_per_actor))
    if use_gpus:
        count = actors or int(total.get("GPU", 0))
        if count < 1:
            raise InputError(None, "GPUs were asked for but the Ray cluster has none")
        return Pool(count, {"num_gpus": 1, "num_cpus": min(cpus_per_actor, 1.0)}, "cuda", threads)
    room = int((total.get("CPU", 0) - READ_CPUS) // cpus_per_actor)
    if room < 1 or actors is not None and actors > room:
        raise InputError(None, f"{actors or 1} actor(s) of {cpus_per_actor:g} CPU(s) do not fit in the cluster's "
                               f"{total.get('CPU', 0):g} CPUs with {READ_CPUS} left for reading parts; "
                               f"ask for fewer actors or fewer CPUs per actor")
    return Pool(actors or room, {"num_cpus": cpus_per_actor}, "cpu", threads)


def read_row(row: dict) -> dict:
    """A Ray Dataset row naming a part -> the same row with the part's passages as list columns."""
    passages = read_part(Part(**{k: row[k] for k in _PART_FIELDS}))
    return {**row, "docids": [p.docid for p in passages], "titles": [p.title for p in passages],
            "texts": [p.text for p in passages]}


def batch_parts(batch: dict) -> Iterator[tuple[Part, list]]:
    """(part, passages) of each row of an actor's batch (one row per batch by construction)."""
    from xqg_pyserini.data.corpus import CorpusPassage

    for j in range(len(batch["docids"])):
        part = Part(**{k: (batch[k][j].item() if hasattr(batch[k][j], "item") else batch[k][j]) for k in _PART_FIELDS})
        yield part, [CorpusPassage(str(d), str(t), str(x))
                     for d, t, x in zip(batch["docids"][j], batch["titles"][j], batch["texts"][j])]


def _input_error(err: BaseException) -> InputError | None:
    """The InputError a worker raised, from inside Ray's wrappers."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, InputError):
            return InputError(err.path, err.problem, err.line)
        err = err.__cause__ or err.__context__ or getattr(err, "cause", None)
    return None


def run_parts(parts: Sequence[Part], actor: type, pool: Pool) -> Iterator[dict]:
    """Stream every part through a pool of ``actor`` (a class whose ``__call__`` maps a one-row batch
    to a one-row summary); yields the summaries as parts finish."""
    ray = require_ray()
    rows = [asdict(p) for p in parts]
    if not rows:
        return
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map(read_row, num_cpus=READ_CPUS)
    results = dataset.map_batches(actor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=pool.actors),
                                  num_cpus=pool.resources.get("num_cpus"), num_gpus=pool.resources.get("num_gpus"))
    try:
        for row in results.iter_rows():
            yield row
    except Exception as err:  # a worker's bad input reaches the user as one line, like everywhere else
        found = _input_error(err)
        if found is None:
            raise
        raise found from None
