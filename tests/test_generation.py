"""xQG generation: backends, determinism across batch sizes and shards, kill-and-resume, bad input."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xqg_pyserini.generation import default_output, generate_corpus, read_corpus, read_queries, resume_state, shard_of
from xqg_pyserini.generation import HFGenerator, PrecomputedGenerator, Request, Sampling, load_generator, row_seed
from xqg_pyserini.errors import InputError
from xqg_pyserini.data.languages import is_language, language_name

from conftest import SAMPLE_PASSAGES

LANGS = ["de", "zh"]
FAST = Sampling(max_new_tokens=5, max_input_tokens=64)


def write_corpus(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "docs.jsonl", [{"id": d, "title": t, "text": x} for d, t, x in SAMPLE_PASSAGES])


@pytest.fixture(scope="module")
def causal(tiny_causal):
    return load_generator(str(tiny_causal), FAST)


@pytest.fixture(scope="module")
def seq2seq(tiny_seq2seq):
    return load_generator(str(tiny_seq2seq), FAST)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("backend", ["causal", "seq2seq"])
def test_same_seed_same_output_whatever_the_batch_size(backend, corpus, tmp_path, request):
    gen = request.getfixturevalue(backend)
    outs = []
    for bs in (1, 3, 8):
        out = tmp_path / f"q{bs}.jsonl"
        summary = generate_corpus(corpus, gen, LANGS, n=2, out=out, batch_size=bs, progress=False)
        assert summary["queries_written"] == len(SAMPLE_PASSAGES) * len(LANGS) * 2
        outs.append(lines(out))
    assert outs[0] == outs[1] == outs[2]
    row = json.loads(outs[0][0])
    assert set(row) == {"docid", "lang", "i", "query", "generator"} and row["generator"] == gen.id


def test_query_i_does_not_depend_on_n_and_seed_changes_output(causal):
    req = [Request("Paris_0", "de", "Paris", SAMPLE_PASSAGES[0][2])]
    three = causal.generate(req, 3)[0]
    assert causal.generate(req, 1)[0] == three[:1]
    other = HFGenerator(causal.model, causal.tokenizer, "x", Sampling(max_new_tokens=5, seed=7))
    assert other.generate(req, 3)[0] != three
    assert row_seed(0, "a", "de", 0) != row_seed(0, "a", "de", 1) != row_seed(1, "a", "de", 0)


def test_shards_are_disjoint_and_union_equals_single_run(causal, corpus, tmp_path):
    single = tmp_path / "all.jsonl"
    generate_corpus(corpus, causal, LANGS, n=2, out=single, batch_size=4, progress=False)
    parts = []
    for i in range(3):
        out = tmp_path / f"s{i}.jsonl"
        generate_corpus(corpus, causal, LANGS, n=2, out=out, batch_size=2, shard=i, num_shards=3, progress=False)
        parts.append(lines(out))
    docs = [{json.loads(x)["docid"] for x in p} for p in parts]
    assert not (docs[0] & docs[1]) and not (docs[0] & docs[2]) and not (docs[1] & docs[2])
    assert sorted(x for p in parts for x in p) == sorted(lines(single))
    assert shard_of("Paris_0", 3) == shard_of("Paris_0", 3) and 0 <= shard_of("x", 5) < 5


class Dies:
    """A generator wrapper that raises after ``calls`` batches, like a killed process."""

    def __init__(self, inner, calls: int):
        self.inner, self.calls, self.id, self.sampling = inner, calls, inner.id, inner.sampling

    def generate(self, requests, n):
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return self.inner.generate(requests, n)


def test_resume_after_interrupt_and_torn_tail(causal, corpus, tmp_path):
    ref = tmp_path / "ref.jsonl"
    generate_corpus(corpus, causal, LANGS, n=2, out=ref, batch_size=2, progress=False)
    out = tmp_path / "run.jsonl"
    with pytest.raises(KeyboardInterrupt):
        generate_corpus(corpus, Dies(causal, 2), LANGS, n=2, out=out, batch_size=2, chunk_batches=1, progress=False)
    done = lines(out)
    assert 0 < len(done) < len(lines(ref))
    with open(out, "a", encoding="utf-8") as f:  # a torn write: one whole line of a group, then half a line
        f.write(lines(ref)[len(done)] + "\n" + lines(ref)[len(done) + 1][:15])
    summary = generate_corpus(corpus, causal, LANGS, n=2, out=out, batch_size=3, progress=False)
    assert summary["groups_resumed"] == len(done) // 2
    assert lines(out) == lines(ref)
    again = generate_corpus(corpus, causal, LANGS, n=2, out=out, batch_size=3, progress=False)
    assert again["queries_written"] == 0 and lines(out) == lines(ref)


KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from xqg_pyserini.generation import generate_corpus
from xqg_pyserini.generation import Sampling, load_generator
gen = load_generator({model!r}, Sampling(max_new_tokens=5, max_input_tokens=64), dtype="float32")
inner = gen.generate
def slow(reqs, n):
    time.sleep(0.3)
    return inner(reqs, n)
gen.generate = slow
generate_corpus({corpus!r}, gen, ["de", "zh", "ru"], n=2, out={out!r}, batch_size=1, chunk_batches=1, progress=False)
"""


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(tiny_causal, causal, tmp_path):
    rows = [{"id": f"{d}{k}", "title": t, "text": x} for k in range(3) for d, t, x in SAMPLE_PASSAGES]
    corpus = write_corpus(tmp_path / "docs.jsonl", rows)
    ref = tmp_path / "ref.jsonl"
    generate_corpus(corpus, causal, ["de", "zh", "ru"], n=2, out=ref, batch_size=4, progress=False)
    out = tmp_path / "killed.jsonl"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), model=str(tiny_causal), corpus=str(corpus), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or len(lines(out)) < 6):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(lines(out))
    assert 6 <= partial < len(lines(ref))
    generate_corpus(corpus, causal, ["de", "zh", "ru"], n=2, out=out, batch_size=4, progress=False)
    got = lines(out)
    assert got == lines(ref) and len(set(got)) == len(got)


def test_resume_with_other_settings_is_refused(causal, corpus, tmp_path):
    out = tmp_path / "q.jsonl"
    generate_corpus(corpus, causal, ["de"], n=1, out=out, progress=False)
    with pytest.raises(InputError, match="different settings"):
        generate_corpus(corpus, causal, ["de"], n=2, out=out, progress=False)
    assert generate_corpus(corpus, causal, ["de"], n=2, out=out, overwrite=True, progress=False)["queries_written"] == 8


def test_bad_input_is_reported(causal, tmp_path):
    long_text = "word " * 500
    corpus = write_corpus(tmp_path / "docs.jsonl", [{"id": "a", "title": "A", "text": "A short passage."},
                                                    {"id": "empty", "title": "E", "text": "  "},
                                                    {"id": "long", "title": "L", "text": long_text}])
    summary = generate_corpus(corpus, causal, ["de"], n=1, out=tmp_path / "q.jsonl", progress=False)
    assert summary["skipped_empty_passages"] == ["empty"] and summary["truncated_passages"] >= 1
    assert summary["queries_written"] == 2
    with pytest.raises(InputError, match="unknown language code 'xx'"):
        generate_corpus(corpus, causal, ["xx"], n=1, out=tmp_path / "q2.jsonl", progress=False)
    no_id = write_corpus(tmp_path / "bad.jsonl", [{"id": "a", "contents": "x"}, {"contents": "no id here"}])
    with pytest.raises(InputError, match=r"bad.jsonl:2: corpus line has no \"id\""):
        read_corpus(no_id)
    dup = write_corpus(tmp_path / "dup.jsonl", [{"id": "a", "contents": "x"}, {"id": "a", "contents": "y"}])
    with pytest.raises(InputError, match="duplicate id"):
        read_corpus(dup)


def test_contents_only_corpus_and_default_output(tmp_path, monkeypatch):
    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))
    (tmp_path / "xquad" / "corpus").mkdir(parents=True)
    corpus = write_corpus(tmp_path / "xquad" / "corpus" / "docs.jsonl", [{"id": "p", "contents": "Paris Paris is big."}])
    assert read_corpus(corpus) == [("p", "", "Paris Paris is big.")]
    out = default_output(corpus, "gen", {"n": 1})
    assert out.parent == tmp_path / "cache" / "queries"
    assert re.fullmatch(r"xquad\.[0-9a-f]{8}\.gen\.[0-9a-f]{8}\.jsonl", out.name)
    assert default_output(corpus.parent, "gen", {"n": 1}) == out  # the directory and its one file: same content
    assert default_output(corpus, "gen", {"n": 2}) != out


def test_two_corpora_with_one_name_never_share_a_queries_file(tmp_path, monkeypatch):
    """Same directory name, overlapping docids, different passages: each gets its own cached file."""
    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))
    stored = write_corpus(tmp_path / "stored.jsonl", [
        {"docid": d, "lang": "de", "i": 0, "query": f"Frage zu {d}?", "generator": "g"} for d in ("p0", "p1", "p2")])
    outs = []
    for where, docids in (("a", ("p0", "p1")), ("b", ("p1", "p2"))):
        (tmp_path / where / "xquad" / "corpus").mkdir(parents=True)
        corpus = write_corpus(tmp_path / where / "xquad" / "corpus" / "docs.jsonl",
                              [{"id": d, "title": where, "text": f"{where} passage {d}"} for d in docids])
        outs.append(Path(generate_corpus(corpus, PrecomputedGenerator(stored), ["de"], n=1, progress=False)["out"]))
        assert sorted(read_queries(outs[-1])) == [(d, "de") for d in docids]
    assert outs[0] != outs[1] and outs[0].name.startswith("xquad.") and outs[1].name.startswith("xquad.")


def test_precomputed_reader_both_layouts(corpus, causal, tmp_path):
    ours = tmp_path / "ours.jsonl"
    generate_corpus(corpus, causal, LANGS, n=2, out=ours, progress=False)
    again = tmp_path / "again.jsonl"
    generate_corpus(corpus, PrecomputedGenerator(ours), LANGS, n=2, out=again, progress=False)
    assert lines(again) == lines(ours)
    per_passage = write_corpus(tmp_path / "pp.jsonl", [{"id": d, "queries": {"de": ["q1", "q2"]}} for d, _, _ in SAMPLE_PASSAGES])
    gen = PrecomputedGenerator(per_passage)
    assert gen.generate([Request("Paris_0", "de", "", "")], 2) == [["q1", "q2"]]
    with pytest.raises(InputError, match="fewer than 3"):
        gen.generate([Request("Paris_0", "de", "", "")], 3)
    assert read_queries(ours)[("Paris_0", "de")] == [json.loads(x)["query"] for x in lines(ours)[:2]]


def test_language_checks():
    assert is_language("Что такое Нил?", "ru") and not is_language("What is the Nile?", "ru")
    assert is_language("尼罗河在哪里？", "zh") and is_language("ما هو النيل؟", "ar")
    assert is_language("Wann wurde die Stadt gegründet?", "de") and not is_language("When was the city founded?", "de")
    assert is_language("¿Dónde está el río?", "es") and is_language("Sông Nile ở đâu?", "vi")
    assert is_language("किस Peyton Manning ने अपना करियर शुरू किया?", "hi")  # Latin names are fine
    assert not is_language("В чем управляет городская администрация?", "zh") and not is_language("", "de")
    assert language_name("el") == "Greek"
    with pytest.raises(ValueError):
        language_name("xx")


def test_cli_generate_calls_the_api(corpus, causal, tmp_path):
    from xqg_pyserini.cli import main

    ours = tmp_path / "ours.jsonl"
    generate_corpus(corpus, causal, LANGS, n=2, out=ours, progress=False)
    out = tmp_path / "cli.jsonl"
    code = main(["generate", "--corpus", str(corpus), "--generator", f"precomputed:{ours}", "--languages", *LANGS,
                 "--queries-per-language", "2", "--out", str(out), "--no-progress"])
    assert code == 0 and lines(out) == lines(ours)
    assert main(["generate", "--corpus", str(corpus), "--generator", f"precomputed:{ours}", "--languages", "xx",
                 "--out", str(tmp_path / "x.jsonl")]) == 2


def test_ctranslate2_backend_is_deterministic(tiny_causal, corpus, tmp_path, monkeypatch):
    pytest.importorskip("ctranslate2")
    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))
    gen = load_generator(f"ct2:{tiny_causal}", FAST)
    assert gen.id.endswith("-ct2-int8")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    generate_corpus(corpus, gen, LANGS, n=2, out=a, batch_size=1, progress=False)
    generate_corpus(corpus, load_generator(f"ct2:{tiny_causal}", FAST), LANGS, n=2, out=b, batch_size=3, progress=False)
    assert lines(a) == lines(b) and len(lines(a)) == 16


def test_query_quality_scores_language_self_retrieval_and_distinctness(tiny_bert, corpus, tmp_path):
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.evaluation.query_quality import markdown_table, query_quality

    rows = [{"docid": "Paris_0", "lang": "de", "i": 0, "query": "Paris capital of France?", "generator": "g"},
            {"docid": "Paris_0", "lang": "de", "i": 1, "query": "Paris capital of France?", "generator": "g"},
            {"docid": "Nile_0", "lang": "ru", "i": 0, "query": "Что такое Нил?", "generator": "g"},
            {"docid": "Nile_0", "lang": "ru", "i": 1, "query": "", "generator": "g"}]
    queries = write_corpus(tmp_path / "q.jsonl", rows)
    table = query_quality(queries, corpus, None, TransformerEncoder(str(tiny_bert), show_progress=False))
    assert table["de"]["distinct"] == 0.0 and table["ru"]["distinct"] == 1.0
    assert table["ru"]["language"] == 0.5 and table["de"]["queries"] == 2
    assert 0.0 <= table["all"]["self@1"] <= 1.0
    assert "| de |" in markdown_table({"g": table})
