"""The thin CLI: every subcommand has help, bad input is one line on stderr with exit status 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from xqg_pyserini.cli import build_parser, main


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"prepare", "index", "search", "eval", "fuse", "demo", "augment", "generate", "study"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
    assert main(["pyserini", "--help"]) == 0
    assert "xqg pyserini search.faiss" in capsys.readouterr().out


def test_missing_input_is_one_line_error(tmp_path, capsys):
    assert main(["prepare", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith("nowhere: data directory does not exist")
    assert not (tmp_path / "b").exists()


def test_malformed_run_line_names_file_and_line(tmp_path, capsys):
    run, qrels = tmp_path / "r.trec", tmp_path / "q.txt"
    run.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 oops t\n")
    qrels.write_text("q1 0 d1 1\n")
    assert main(["eval", "--run", str(run), "--qrels", str(qrels)]) == 2
    assert f"{run}:2:" in capsys.readouterr().err


def _squad(tmp_path):
    """A two-language SQuAD directory with one question."""
    data = tmp_path / "squad"
    data.mkdir()
    for lang, q in (("en", "Who?"), ("de", "Wer?")):
        (data / f"{lang}.json").write_text(json.dumps({"data": [{"title": "T", "paragraphs": [
            {"context": "Ann was here.", "qas": [{"id": "q1", "question": q, "answers": [{"text": "Ann"}]}]}]}]}))
    return data


def test_prepare_then_eval_round_trip(tmp_path, capsys):
    data = _squad(tmp_path)
    assert main(["prepare", "--data", str(data), "--out", str(tmp_path / "bench")]) == 0
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "m.de.trec").write_text("q1 Q0 T_0 1 1.0 m\n")
    assert main(["eval", "--benchmark", str(tmp_path / "bench"), "--runs-dir", str(runs), "--name", "m",
                 "--split", "all"]) == 0
    out = capsys.readouterr().out
    assert "de " in out and "1.0000" in out and "100.00" in out  # nDCG@10 = 1 and R@2kt = 100


# ----------------------------------------------------------------------------- defaults from one place

def _actions():
    parser = build_parser()
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        for action in sub._actions:
            yield name, action


def test_cli_defaults_come_from_the_dataclasses_and_signatures():
    from dataclasses import fields

    from xqg_pyserini.cli.options import defaults
    from xqg_pyserini.train.config import GeneratorTrainConfig, RetrieverTrainConfig

    for name, action in _actions():
        source = getattr(action, "default_from", None)
        if source is not None:
            assert action.default == defaults(source[0])[source[1]], (name, action.dest)
        elif isinstance(action.default, (int, float)) and not isinstance(action.default, bool):
            pytest.fail(f"xqg {name} {action.option_strings}: numeric default {action.default!r} has no source")
    by_command = {}
    for name, action in _actions():
        by_command.setdefault(name, {})[action.dest] = action.default
    for command, cls in (("train-generator", GeneratorTrainConfig), ("train-retriever", RetrieverTrainConfig)):
        made = cls()
        shown = {f.name: by_command[command][f.name] for f in fields(cls) if f.name in by_command[command]}
        assert len(shown) >= 11 and shown == {k: getattr(made, k) for k in shown}
    assert by_command["train-generator"]["lr"] == GeneratorTrainConfig.lr == 6e-4


def test_help_shows_the_dataclass_default(capsys):
    with pytest.raises(SystemExit):
        main(["train-generator", "--help"])
    assert "peak learning rate" in capsys.readouterr().out.replace("\n", " ")


# ----------------------------------------------------------------------------- one way to fail

WALK = r'''
import contextlib, io, json, sys
from xqg_pyserini.cli import main

cases = json.loads(sys.argv[1])
out = []
for argv in cases:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    out.append({"argv": argv, "code": code, "err": err.getvalue(), "torch": "torch" in sys.modules,
                "jvm": "jnius" in sys.modules})
print(json.dumps(out))
'''


def _bad_values(tmp_path) -> list[list[str]]:
    """A bad value for every subcommand; the first group must fail before torch or the JVM is loaded."""
    import numpy as np

    from xqg_pyserini.index.faiss import write_flat_index

    data = _squad(tmp_path)
    assert main(["prepare", "--data", str(data), "--out", str(tmp_path / "bench")]) == 0
    corpus, bad, queries = tmp_path / "bench" / "corpus", tmp_path / "bad.jsonl", tmp_path / "q.jsonl"
    bad.write_text('{"id": "a", "contents": "x"}\n{"contents": "no id"}\n')
    queries.write_text(json.dumps({"docid": "T_0", "lang": "de", "i": 0, "query": "Wer?", "generator": "g"}) + "\n")
    index = tmp_path / "index"
    index.mkdir()
    write_flat_index(index / "index", 4, 1, [np.ones((1, 4), np.float32)])
    (index / "docid").write_text("T_0\n")
    (tmp_path / "afile").write_text("")
    missing, out = str(tmp_path / "missing"), str(tmp_path / "out")
    augment = ["augment", "--index", str(index), "--queries", str(queries), "--out", out]
    light = [
        ["prepare", "--data", missing],
        ["prepare", "--data", str(data), "--languages", "xx"],
        ["index", "bm25", "--corpus", str(bad), "--out", out],
        ["index", "dense", "--corpus", missing, "--out", out],
        ["index", "dense", "--corpus", str(corpus), "--out", out, "--encoder", str(tmp_path / "no" / "model")],
        ["index", "dense", "--corpus", str(corpus), "--out", out, "--batch-size", "0"],
        ["search", "--bm25", str(index), "--benchmark", str(tmp_path / "bench"), "--output-dir", out,
         "--languages", "xx"],
        ["search", "--dense", str(index), "--topics", missing, "--output", out],
        ["search", "--dense", str(index), "--k", "0"],
        ["search", "--dense", str(index), "--alpha", "2"],
        ["eval", "--run", missing, "--qrels", missing],
        ["eval", "--benchmark", str(tmp_path / "bench")],
        ["fuse", "--runs", missing, "--output", out],
        ["fuse", "--runs", missing, "--output", out, "--rrf-k", "0"],
        ["demo", "--data", str(data), "--languages", "xx"],
        ["demo", "--xqg-weight", "5"],
        ["run", "--data", missing],
        ["run", "--data", str(data), "--split", "train"],  # not XQuAD: no train articles
        [*augment, "--per-language", "0"],
        [*augment, "--weight", "5"],
        [*augment, "--languages", "xx"],
        [*augment, "--fusion", "max"],
        ["augment", "--index", missing, "--queries", str(queries), "--out", out],
        ["expand", "--corpus", missing, "--queries", str(queries), "--out", out],
        ["expand", "--corpus", str(corpus), "--queries", str(queries), "--out", out, "--per-language", "0"],
        ["generate", "--corpus", str(corpus), "--languages", "xx"],
        ["generate", "--corpus", str(bad)],
        ["generate", "--corpus", str(corpus), "-n", "0"],
        ["train-generator", "--languages", "xx"],
        ["train-generator", "--lr", "-1"],
        ["build-training-data", "--data", str(data), "--languages", "xx"],
        ["build-training-data", "--data", str(data), "--miner", "magic"],
        ["train-retriever", "--train", missing, "--batch-size", "0"],
        ["study", "--queries", missing],
        ["study", "--queries", str(queries), "--held-out", "xx"],
        ["report", "--docs", str(tmp_path / "afile")],
        ["models", "--only", "llama"],
        ["mkqa", missing, "--out", out],
        ["mkqa", missing, "--out", out, "--languages", "zh"],
        ["eval", "--run", missing, "--answers", missing],
        ["eval", "--run", missing, "--answers", missing, "--corpus", missing],
        ["misspell", missing, "--out", out],
        ["misspell", str(tmp_path / "afile"), "--out", out, "--rate", "2"],
        ["robustness", "--benchmark", str(tmp_path / "bench"), "--bm25", str(index), "--output-dir", out,
         "--languages", "xx"],
        ["robustness", "--benchmark", str(tmp_path / "bench"), "--bm25", str(index), "--output-dir", out,
         "--measure", "nosuch@3"],
        ["generate", "--corpus", str(corpus), "--dtype", "fp8"],
        ["generate", "--corpus", str(corpus), "--ray"],
        ["encode", "--corpus", missing, "--out", out],
        ["index", "dense", "--embeddings", missing, "--out", out],
        ["index", "dense", "--corpus", str(corpus), "--out", out, "--index-factory", "HNSW32"],
        ["train-generator", "--epochs", "0"],
        ["train-generator", "--max-targets", "0"],
        ["nosuchcommand"],
    ]
    heavy = [
        ["generate", "--corpus", str(corpus), "--generator", str(tmp_path / "no" / "generator")],
        ["train-generator", "--pairs", missing],
        ["train-retriever", "--train", missing],
        ["pyserini", "nosuchmodule"],
    ]
    return light, heavy


def test_every_subcommand_fails_cleanly_on_a_bad_value(tmp_path):
    light, heavy = _bad_values(tmp_path)
    done = subprocess.run([sys.executable, "-c", WALK, json.dumps(light + heavy)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.splitlines()[-1])
    covered = {r["argv"][0] for r in results}
    assert set(build_parser()._subparsers._group_actions[0].choices) | {"pyserini"} <= covered
    for r in results:
        err = r["err"].strip()
        assert r["code"] == 2 and err.startswith("xqg") and "\n" not in err and "Traceback" not in err, r
    for r in results[:len(light)]:
        assert not r["torch"] and not r["jvm"], f"{r['argv']} loaded torch or started the JVM before failing"


def test_mkqa_then_answer_eval_round_trip(tmp_path, capsys):
    """xqg mkqa on the official-format sample, then xqg eval --answers over a corpus that holds one answer."""
    from xqg_pyserini.data.benchmarks import default_data_dir

    sample = default_data_dir() / "mkqa_sample" / "test_mkqa.jsonl.gz"
    assert main(["mkqa", str(sample), "--out", str(tmp_path / "mkqa"), "--languages", "ja", "fi"]) == 0
    assert "ja=3" in capsys.readouterr().out
    topics = (tmp_path / "mkqa" / "topics.ja.tsv").read_text(encoding="utf-8").splitlines()
    answers = [json.loads(line) for line in (tmp_path / "mkqa" / "answers.ja.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(topics) == len(answers) == 3
    first = answers[0]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "hit", "contents": f"it says {first['answers'][0]} here"}) + "\n"
                      + json.dumps({"id": "miss", "contents": "nothing relevant"}) + "\n", encoding="utf-8")
    run = tmp_path / "run.trec"
    run.write_text("".join(f"{a['id']} Q0 {d} {r} {9 - r} x\n" for a in answers
                           for r, d in enumerate(["miss", "hit"] if a is first else ["miss"], 1)))
    out = tmp_path / "scores.json"
    assert main(["eval", "--run", str(run), "--answers", str(tmp_path / "mkqa" / "answers.ja.jsonl"),
                 "--corpus", str(corpus), "--json", str(out)]) == 0
    scores = json.loads(out.read_text())["languages"]["ja"]
    assert scores["Acc@1"] == 0.0 and scores["Acc@5"] == pytest.approx(100 / 3, abs=0.01)
