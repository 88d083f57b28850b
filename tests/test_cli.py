"""The thin CLI: every subcommand has help, bad input is one line on stderr with exit status 2."""
from __future__ import annotations

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


def test_prepare_then_eval_round_trip(tmp_path, capsys):
    import json

    data = tmp_path / "squad"
    data.mkdir()
    for lang, q in (("en", "Who?"), ("de", "Wer?")):
        (data / f"{lang}.json").write_text(json.dumps({"data": [{"title": "T", "paragraphs": [
            {"context": "Ann was here.", "qas": [{"id": "q1", "question": q, "answers": [{"text": "Ann"}]}]}]}]}))
    assert main(["prepare", "--data", str(data), "--out", str(tmp_path / "bench")]) == 0
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "m.de.trec").write_text("q1 Q0 T_0 1 1.0 m\n")
    assert main(["eval", "--benchmark", str(tmp_path / "bench"), "--runs-dir", str(runs), "--name", "m",
                 "--split", "all"]) == 0
    out = capsys.readouterr().out
    assert "de " in out and "1.0000" in out and "100.00" in out  # nDCG@10 = 1 and R@2kt = 100
