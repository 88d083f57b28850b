"""Ray for the distributed stages (optional: ``pip install 'xqg-pyserini[ray]'``).

Every distributed stage has the same shape, built here once: the corpus's parts
(:mod:`xqg_pyserini.data.parts`) become a Ray Dataset whose rows are whole parts of passages (read
in parallel by Ray tasks, each seeking to its byte range), and ``map_batches`` with a pool of actors
(one model per actor, loaded once) turns each part into its output with the single-process code. A
row is one part and a batch one row, so a part is never split between actors; each part's output is
written and resumed by that code, so a killed actor's part is redone (Ray Data restarts a dead actor
and retries the part it held, without limit) and a killed driver's run is resumed by running it
again, part by part. A bad input (a corpus line, an output of other settings) comes back as data and
is raised on the driver as the one-line InputError it was.

Actors take one GPU each when the cluster has GPUs, else ``cpus_per_actor`` CPUs; the pool leaves
room for the read tasks (:data:`READ_CPUS`), or the actors would hold every CPU while waiting for
parts nobody can read. Ray's own logging and progress bars are turned off: the driver reports parts.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import os
import signal
import sys
from dataclasses import asdict, fields
from typing import Callable, Iterable, Iterator, Sequence

from xqg_pyserini.data.io import InputError
from xqg_pyserini.data.parts import Part, read_part

__all__ = ["FAULT_SIGNALS", "RAYLET_START_WAIT_S", "READ_CPUS", "Pool", "actor_call", "connect", "fault_handlers_kept",
           "in_process", "plan_pool", "read_row", "require_ray", "run_parts", "shutdown"]

#: Logical CPUs a part-reading task asks for (reading is light next to a model).
READ_CPUS = 0.25
#: Seconds a starting node may take to register its raylet (Ray's default: 30). On a loaded 2-core
#: machine a local cluster twice missed 30 s. Ray's Python start-up loop hard-codes 30 s, but each of
#: its look-ups retries inside Ray's C++ client for ``RAY_raylet_start_wait_time_s`` (checked with a
#: raylet delayed by 45 s: fails at 31 s by default, starts at 48 s with 120; tests/test_scale.py).
RAYLET_START_WAIT_S = 120
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
    os.environ.setdefault("RAY_raylet_start_wait_time_s", str(RAYLET_START_WAIT_S))  # read once, at Ray's first use
    ray = require_ray()
    quiet_ray()
    if ray.is_initialized():
        return False
    with fault_handlers_kept():
        ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    return True


#: Signals a JVM raises in normal work (safepoint polls, implicit null checks) and handles itself.
FAULT_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL)


@contextlib.contextmanager
def fault_handlers_kept():
    """Whatever handles SIGSEGV & co. before ``ray.init`` handles them after it (Linux).

    Ray's driver installs a crash handler (C++, and Python's faulthandler) over the running JVM's.
    The JVM takes SIGSEGV as a matter of course (a safepoint poll, a null check in compiled code),
    and with Ray's handler in its place the process died instead (SIGSEGV in our reproduction,
    SIGABRT in a CI run of tests/test_scale.py). The raw
    ``struct sigaction`` of each signal is saved and put back, so the JVM keeps its own."""
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    saved = {}
    for sig in FAULT_SIGNALS:
        saved[sig] = ctypes.create_string_buffer(256)  # struct sigaction is 152 bytes on x86-64 glibc
        libc.sigaction(int(sig), None, saved[sig])
    try:
        yield
    finally:
        for sig, action in saved.items():
            libc.sigaction(int(sig), action, None)


def shutdown(started: bool) -> None:
    if started:
        require_ray().shutdown()


def quiet_ray() -> None:
    """Ray's info lines and progress bars are not for our users (errors still reach them)."""
    import warnings

    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", module=r"ray(\.|$)")
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # its failures reach the user as our exceptions
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


def _error(err: InputError) -> str:
    return json.dumps([None if err.path is None else str(err.path), err.problem, err.line])


def read_row(row: dict) -> dict:
    """A Ray Dataset row naming a part -> the same row with the part's passages as list columns (or,
    for a bad line, its error: Ray passes a worker's exceptions on as text, ours travel as data)."""
    try:
        passages, error = read_part(Part(**{k: row[k] for k in _PART_FIELDS})), ""
    except InputError as err:
        passages, error = [], _error(err)
    return {**row, "docids": [p.docid for p in passages], "titles": [p.title for p in passages],
            "texts": [p.text for p in passages], "error": error}


def actor_call(batch: dict, work: Callable[[Part, list], dict]) -> dict:
    """What an actor returns for a batch of parts (one, by construction): ``work(part, passages)``'s
    summary of each, as JSON, or the InputError that reading or working on it raised."""
    from xqg_pyserini.data.corpus import CorpusPassage

    out: dict[str, list] = {"part": [], "result": [], "error": []}
    for j in range(len(batch["docids"])):
        part = Part(**{k: (batch[k][j].item() if hasattr(batch[k][j], "item") else batch[k][j]) for k in _PART_FIELDS})
        result, error = "", str(batch["error"][j])
        if not error:
            passages = [CorpusPassage(str(d), str(t), str(x))
                        for d, t, x in zip(batch["docids"][j], batch["titles"][j], batch["texts"][j])]
            try:
                result = json.dumps(work(part, passages))
            except InputError as err:
                error = _error(err)
        out["part"].append(part.name)
        out["result"].append(result)
        out["error"].append(error)
    return out


def results(rows: Iterable[dict]) -> Iterator[dict]:
    """The summaries of :func:`actor_call` rows; the first error is raised as the InputError it was."""
    for row in rows:
        if row["error"]:
            path, problem, line = json.loads(row["error"])
            raise InputError(path, problem, line)
        yield json.loads(row["result"])


def in_process(parts: Sequence[Part], actor: type) -> Iterator[dict]:
    """The actor's work without Ray: the same code, one part after another, in this process."""
    worker = actor()
    for part in parts:
        out = worker({k: [v] for k, v in read_row(asdict(part)).items()})
        yield from results([{k: v[0] for k, v in out.items()}])


def run_parts(parts: Sequence[Part], actor: type, pool: Pool) -> Iterator[dict]:
    """Stream every part through a pool of ``actor`` (a class whose ``__call__`` returns
    :func:`actor_call`'s batch); yields each part's summary as it finishes."""
    ray = require_ray()
    rows = [asdict(p) for p in parts]
    if not rows:
        return
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map(read_row, num_cpus=READ_CPUS)
    done = dataset.map_batches(actor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=pool.actors),
                               num_cpus=pool.resources.get("num_cpus"), num_gpus=pool.resources.get("num_gpus"))
    yield from results(done.iter_rows())
