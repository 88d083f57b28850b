"""Beyond one machine: xQG generation and corpus encoding on Ray (a local cluster here), tiny models.

Ray is optional: this module is skipped without it. One local cluster (2 CPUs) serves the module;
actors take half a CPU each so that two fit beside the part readers.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from xqg_pyserini.data.parts import corpus_parts, read_part  # noqa: E402
from xqg_pyserini.errors import InputError  # noqa: E402
from xqg_pyserini.generation import Sampling, generate_corpus, load_generator, read_queries  # noqa: E402
from xqg_pyserini.generation.distributed import generate_ray  # noqa: E402
from xqg_pyserini.generation.queries import check_complete, query_files  # noqa: E402

from conftest import SAMPLE_PASSAGES  # noqa: E402

ROOT, TESTS = Path(__file__).resolve().parents[1], Path(__file__).resolve().parent
LANGS = ["de", "zh"]
FAST = Sampling(max_new_tokens=5, max_input_tokens=64)
POOL = {"actors": 2, "cpus_per_actor": 0.5}
PART_BYTES = 700  # about five passages a part: several parts, each with several passages


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster whose workers import this checkout; yields its address."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([old] if old else []))
    from xqg_pyserini.data.cluster import connect

    connect(num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture()
def corpus(tmp_path) -> Path:
    rows = [{"id": f"{d}{k}", "title": t, "text": x} for k in range(4) for d, t, x in SAMPLE_PASSAGES]
    rows.insert(3, {"id": "empty", "title": "E", "text": " "})
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(tiny_causal, tmp_path_factory) -> list[str]:
    """A single-process run (float32) over the same passages."""
    tmp = tmp_path_factory.mktemp("reference")
    rows = [{"id": f"{d}{k}", "title": t, "text": x} for k in range(4) for d, t, x in SAMPLE_PASSAGES]
    path = tmp / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    gen = load_generator(str(tiny_causal), FAST, dtype="float32")
    generate_corpus(path, gen, LANGS, n=2, out=tmp / "single.jsonl", batch_size=4, progress=False)
    return sorted((tmp / "single.jsonl").read_text(encoding="utf-8").splitlines())


def union(out: Path) -> list[str]:
    return sorted(line for f in query_files(out) for line in f.read_text(encoding="utf-8").splitlines())


def test_parts_cover_every_line_once(corpus):
    parts = corpus_parts(corpus, 100)  # parts smaller than a line: many are empty
    got = [p.docid for part in parts for p in read_part(part)]
    assert got == [json.loads(x)["id"] for x in corpus.read_text().splitlines()]
    assert [p.name for p in parts] == sorted(p.name for p in parts)
    bad = corpus.with_name("bad.jsonl")
    bad.write_text(corpus.read_text() + '{"title": "no id", "text": "x"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:18: corpus line has no \"id\""):
        [read_part(p) for p in corpus_parts(bad, PART_BYTES)]


SLOW_START = """
import sys, time
sys.path[:0] = [{root!r}]
import ray._private.services as services
services.RAYLET_EXECUTABLE = {wrapper!r}  # Ray's own raylet, started late
from xqg_pyserini.data.cluster import connect, shutdown
started = time.time()
shutdown(connect(num_cpus=1))
open({done!r}, "w").write(str(time.time() - started))
"""


def test_a_local_cluster_whose_raylet_starts_late_still_starts(tmp_path):
    """Ray's start-up gives a raylet 30 s by default (a loaded 2-core machine missed it twice); connect() gives it
    RAYLET_START_WAIT_S. Ray's real raylet, started 35 s late: the cluster comes up (one CPU, no other)."""
    import ray._private.services as services

    from xqg_pyserini.data.cluster import RAYLET_START_WAIT_S

    assert RAYLET_START_WAIT_S > 35
    raylet = getattr(services, "RAYLET_EXECUTABLE", None)
    if raylet is None:
        pytest.skip("this Ray version starts its raylet otherwise")
    wrapper, done = tmp_path / "raylet", tmp_path / "seconds"
    wrapper.write_text(f'#!/bin/sh\nsleep 35\nexec "{raylet}" "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_raylet_start_wait_time_s")}
    run = subprocess.run([sys.executable, "-c", SLOW_START.format(root=str(ROOT), wrapper=str(wrapper), done=str(done))],
                         env=env, capture_output=True, text=True, timeout=RAYLET_START_WAIT_S + 60)
    assert run.returncode == 0 and done.exists(), run.stderr[-2000:]
    assert float(done.read_text()) >= 35


JVM_AFTER_RAY = """
import faulthandler, sys
faulthandler.enable()  # as pytest does, before the JVM starts
sys.path[:0] = [{root!r}]
from xqg_pyserini._jvm import prepare_jvm
prepare_jvm()
from xqg_pyserini.data.cluster import connect, shutdown
started = connect(num_cpus=1)
from jnius import autoclass
ArrayList, Collections, Random = (autoclass("java.util." + n) for n in ("ArrayList", "Collections", "Random"))
words = autoclass("java.util.Arrays").asList(*[str(i * 7919 % 100003) for i in range(20000)])
for seed in range(60):  # String.compareTo and the sort get compiled ...
    rows = ArrayList(words); Collections.shuffle(rows, Random(seed)); Collections.sort(rows)
rows.set(100, None)  # ... and a null in compiled code is a SIGSEGV the JVM turns into an exception
try:
    Collections.sort(rows)
except Exception as err:
    print("NullPointerException" in str(err))
shutdown(started)
"""


def test_a_jvm_keeps_its_fault_handlers_when_ray_starts(tmp_path):
    """The JVM (Pyserini's) takes SIGSEGV in normal work; Ray's driver puts its crash handler over the JVM's,
    which killed such a process (a pytest run on CI: SIGABRT). connect() keeps the JVM's handlers: the
    fault becomes the NullPointerException it is."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["XQG_CACHE"] = os.environ.get("XQG_CACHE") or str(tmp_path)
    run = subprocess.run([sys.executable, "-c", JVM_AFTER_RAY.format(root=str(ROOT))], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "True"


def test_ray_generation_equals_single_process_and_rerun_skips_parts(cluster, tiny_causal, corpus, tmp_path, reference):
    out = tmp_path / "ray-out"
    summary = generate_ray(corpus, out, str(tiny_causal), LANGS, n=2, sampling=FAST, dtype="float32",
                           part_bytes=PART_BYTES, progress=False, **POOL)
    parts = len(corpus_parts(corpus, PART_BYTES))
    assert summary["parts"] == parts >= 3 and summary["parts_done_before"] == 0
    assert union(out) == reference and summary["queries_written"] == len(reference)
    check_complete(out)
    assert len(read_queries(out)) == 16 * len(LANGS)  # the directory is read like one file
    again = generate_ray(corpus, out, str(tiny_causal), LANGS, n=2, sampling=FAST, dtype="float32",
                         part_bytes=PART_BYTES, progress=False, **POOL)
    assert again["parts_done_before"] == parts and again["queries_written"] == 0 and union(out) == reference
    with pytest.raises(InputError, match="other settings"):
        generate_ray(corpus, out, str(tiny_causal), LANGS, n=3, sampling=FAST, dtype="float32",
                     part_bytes=PART_BYTES, progress=False, **POOL)


class DiesOnce:
    """A generator whose worker process is killed (SIGKILL) at its ``calls``-th batch, the first time only."""

    def __init__(self, inner, marker: Path, calls: int | None, delay: float = 0.0):
        self.inner, self.marker, self.calls, self.delay = inner, marker, calls, delay
        self.id, self.sampling = inner.id, inner.sampling

    def generate(self, requests, n):
        if self.calls is not None and not self.marker.exists():
            self.calls -= 1
            if self.calls < 0:
                self.marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.delay)
        return self.inner.generate(requests, n)


def tiny_factory(model: str, marker: Path, calls: int | None = None, delay: float = 0.0):
    """What each actor calls to get its generator: the tiny model, wrapped (pickled by value for the workers)."""
    def make():
        return DiesOnce(load_generator(model, FAST, dtype="float32"), marker, calls, delay)

    return make


ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

DRIVER = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from pathlib import Path
from test_scale import LANGS, tiny_factory, generate_ray
generate_ray({corpus!r}, {out!r}, "tiny", LANGS, n=2, batch_size=1, part_bytes={part_bytes}, progress=False,
             dtype="float32", address={address!r}, generator_factory=tiny_factory({model!r}, Path({marker!r}), 5, 0.2),
             actors=1, cpus_per_actor=0.5)
"""


def test_killed_worker_then_killed_driver_resume_without_loss_or_duplicates(cluster, tiny_causal, corpus, tmp_path,
                                                                             reference):
    """A driver attached to the cluster, with one actor: the actor is SIGKILLed mid-part, after its first chunk
    was written (Ray restarts it and the part is redone from where it stopped); then, once that part is done,
    the driver itself is killed -9; running it again finishes the rest. Every question is there once, as in
    one process."""
    out, marker = tmp_path / "ray-out", tmp_path / "killed"
    script = DRIVER.format(root=str(ROOT), tests=str(TESTS), corpus=str(corpus), out=str(out), part_bytes=PART_BYTES,
                           address=cluster, model=str(tiny_causal), marker=str(marker))
    driver = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def retried() -> bool:  # the killed worker's part, redone and finished while the driver lives
        return any(m.get("complete") and m["summary"]["groups_resumed"] > 0
                   for m in (json.loads(f.read_text()) for f in out.glob("part-*.meta.json")))

    deadline = time.time() + 120
    while time.time() < deadline and driver.poll() is None and not (marker.exists() and retried()):
        time.sleep(0.1)
    assert driver.poll() is None, "the driver ended before it could be killed"
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    assert marker.exists() and retried()
    with pytest.raises(InputError, match="did not finish"):
        check_complete(out)
    summary = generate_ray(corpus, out, "tiny", LANGS, n=2, batch_size=1, part_bytes=PART_BYTES, progress=False,
                           dtype="float32", generator_factory=tiny_factory(str(tiny_causal), marker), **POOL)
    assert 1 <= summary["parts_done_before"] < summary["parts"]
    got = union(out)
    assert got == reference and len(set(got)) == len(got)
    check_complete(out)


def test_ray_encoding_equals_single_process_index(cluster, tiny_bert, corpus, tmp_path):
    from pyserini.search.faiss import FaissSearcher

    from xqg_pyserini.encode import TransformerEncoder, XqgQueryEncoder
    from xqg_pyserini.index.encoded import encode_corpus, index_from_embeddings
    from xqg_pyserini.index.faiss import build_faiss_index

    encoder = TransformerEncoder(str(tiny_bert), "e5", show_progress=False)
    single = build_faiss_index(corpus, encoder, tmp_path / "single")
    summary = encode_corpus(corpus, tmp_path / "emb", str(tiny_bert), "e5", part_bytes=PART_BYTES, ray=True,
                            progress=False, **POOL)
    assert summary["passages_encoded"] == 17 and summary["pool"]["actors"] == 2
    manifest = index_from_embeddings(tmp_path / "emb", tmp_path / "flat")
    assert manifest["encoder"] == encoder.describe()
    assert (tmp_path / "flat" / "docid").read_text() == (single / "docid").read_text()
    got, want = (faiss_vectors(d / "index") for d in (tmp_path / "flat", single))
    np.testing.assert_allclose(got, want, atol=1e-5)
    hits = FaissSearcher(str(tmp_path / "flat"), XqgQueryEncoder(encoder)).search(SAMPLE_PASSAGES[1][2], k=1)
    assert hits[0].docid.startswith("Nile_0")


def faiss_vectors(path: Path) -> np.ndarray:
    import faiss

    index = faiss.read_index(str(path))
    return index.reconstruct_n(0, index.ntotal)
