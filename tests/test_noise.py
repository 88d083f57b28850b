"""Misspelled queries (data/noise.py, xqg misspell): seeded, about the requested share of words, script kept."""
from __future__ import annotations

import pytest

from xqg_pyserini.cli import main
from xqg_pyserini.data.languages import script_of
from xqg_pyserini.data.noise import misspell, misspell_text

TEXTS = {
    "ar": "متى كانت إدارة ولاية كاليفورنيا تنفد من المال في ذلك العام",
    "ja": "2000年に公開された映画「グラディエーター」の監督は誰ですか？",
    "ru": "кто является режиссером фильма гладиатор который был выпущен в двухтысячном году",
    "th": "ใครคือผู้กำกับภาพยนตร์นักรบผู้กล้าผ่าแผ่นดินทรราชที่ออกในปี 2000",
}


def _scripts(text: str) -> set[str]:
    return {s for s in map(script_of, text) if s}


def test_seeded_and_rate_zero_is_identity():
    for text in TEXTS.values():
        assert misspell(text, 0.3, seed=7) == misspell(text, 0.3, seed=7)
        assert misspell(text, 0.0, seed=7) == text
    assert len({misspell(TEXTS["ru"], 0.5, seed=s) for s in range(5)}) == 5


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_script_kept_and_no_new_letters(lang):
    text = TEXTS[lang]
    for seed in range(20):
        noisy = misspell(text, 0.5, seed)
        assert _scripts(noisy) <= _scripts(text)
        assert set(noisy) <= set(text), "every letter comes from the query itself"


def test_about_the_requested_share_of_words_changes():
    for rate in (0.1, 0.3):
        for lang, text in TEXTS.items():
            runs = [misspell_text(text, rate, seed) for seed in range(300)]
            share = sum(m.changed for m in runs) / sum(m.words for m in runs)
            assert share == pytest.approx(rate, abs=0.03), lang
    every = misspell_text(TEXTS["ar"], 1.0)
    assert every.changed == every.words == 11


def test_spaced_scripts_change_exactly_the_counted_words():
    """In Arabic and Russian a word is a whitespace token here: the tokens that differ are the words counted."""
    for lang in ("ar", "ru"):
        for seed in range(30):
            m = misspell_text(TEXTS[lang], 0.2, seed)
            clean, noisy = TEXTS[lang].split(), m.text.split()
            assert len(noisy) == len(clean)  # a word never vanishes
            assert sum(a != b for a, b in zip(clean, noisy)) == m.changed


def test_unspaced_scripts_count_characters():
    m = misspell_text(TEXTS["ja"], 0.2)
    assert m.words == 25  # 2000 and the brackets are not words; each kana and kanji is
    thai = misspell_text("ผู้กำกับ", 0.0)
    assert thai.words == 5  # ผู้ ก ำ กั บ: the vowel and tone marks stay on their letter


def test_cli_is_deterministic_and_reports_the_share(tmp_path, capsys):
    topics = tmp_path / "topics.ru.tsv"
    topics.write_text("".join(f"q{i}\t{TEXTS['ru']} {i}\n" for i in range(40)), encoding="utf-8")
    outs = [tmp_path / "a.tsv", tmp_path / "b.tsv"]
    for out in outs:
        assert main(["misspell", str(topics), "--rate", "0.1", "--seed", "3", "--out", str(out)]) == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()
    rows = [line.split("\t") for line in outs[0].read_text(encoding="utf-8").splitlines()]
    assert [r[0] for r in rows] == [f"q{i}" for i in range(40)]
    assert "of 440 words misspelled" in capsys.readouterr().out


@pytest.mark.parametrize("content, problem", [
    ("q1 no tab\n", ":1: expected 2 columns, found 1"),
    ("", ": no topics (expected lines: qid<TAB>query)"),
])
def test_cli_bad_input_is_one_line_naming_the_file(tmp_path, capsys, content, problem):
    topics = tmp_path / "topics.tsv"
    topics.write_text(content, encoding="utf-8")
    assert main(["misspell", str(topics), "--out", str(tmp_path / "out.tsv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"xqg misspell: error: {topics}{problem}"
    assert not (tmp_path / "out.tsv").exists()
