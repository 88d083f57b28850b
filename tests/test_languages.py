"""All 26 MKQA languages: named for the generator, accepted by the CLI, checked by script, warned about when untrained."""
from __future__ import annotations

import gzip
import json

from xqg_pyserini.cli import build_parser
from xqg_pyserini.data.benchmarks import default_data_dir
from xqg_pyserini.data.languages import LANGUAGE_NAMES, XQUAD_LANGUAGES, is_language
from xqg_pyserini.data.mkqa import MKQA_LANGUAGES
from xqg_pyserini.generation.prompts import suffix_ids

SAMPLE = default_data_dir() / "mkqa_sample" / "test_mkqa.jsonl.gz"
TITLE_HEAVY = "2904274678882358283"  # "keeping up with the kardashians kylie and kendall": an English title in every language


def _sample() -> list[dict]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_every_mkqa_code_is_named_and_accepted_by_generate():
    args = build_parser().parse_args(["generate", "--corpus", "c", "--languages", *MKQA_LANGUAGES])
    assert args.languages == list(MKQA_LANGUAGES)
    assert {code: LANGUAGE_NAMES[code] for code in ("zh_cn", "zh_hk", "km", "no")} == {
        "zh_cn": "Simplified Chinese", "zh_hk": "Traditional Chinese (Hong Kong)", "km": "Khmer", "no": "Norwegian"}

    class Words:  # the prompt's language part names the language
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": text.split()}

    assert suffix_ids(Words(), "zh_tw") == ["Traditional", "Chinese", "(Taiwan)", "question:"]


def test_mkqa_queries_pass_the_check_in_their_language():
    rows = _sample()
    results = {(str(r["example_id"]), lang): is_language(q, lang) for r in rows for lang, q in r["queries"].items()}
    assert len(results) == 156
    # Queries that are not mostly an English title pass in all 26 languages but three:
    # nl, fi and no quote "game of thrones" with no letter or function word of their own.
    failing = {key for key, ok in results.items() if not ok and key[0] != TITLE_HEAVY}
    assert failing == {("-7449157003522518870", "nl"), ("-7449157003522518870", "fi"),
                       ("-7449157003522518870", "no")}
    for r in rows:  # and no English query passes as another language
        assert not any(is_language(r["queries"]["en"], lang) for lang in MKQA_LANGUAGES if lang != "en")


def test_script_letters_and_chinese_variants():
    assert is_language("誰是2000年上映的神鬼戰士的導演", "zh_tw") and is_language("誰是2000年上映的神鬼戰士的導演", "zh_hk")
    assert not is_language("誰是2000年上映的神鬼戰士的導演", "zh_cn")
    assert is_language("2000年发布的电影角斗士的导演是谁", "zh_cn") and not is_language("2000年发布的电影角斗士的导演是谁", "zh_tw")
    assert is_language("影片", "zh_tw") and is_language("影片", "zh_cn")  # no telling character: lenient
    assert not is_language("2000年に公開された映画", "zh_cn") and is_language("2000年に公開された映画", "ja")
    assert not is_language("映画監督", "ja")  # no kana: Chinese, not Japanese
    assert is_language("누가 글래디에이터를 감독했나요", "ko") and is_language("מי ביים את גלדיאטור", "he")
    for lang, text in {"da": "Hvem instruerede filmen", "no": "hvem regisserte filmen", "sv": "vem regisserade filmen",
                       "fi": "kuka ohjasi elokuvan", "hu": "Ki rendezte a filmet", "pl": "Kto wyreżyserował film",
                       "ms": "siapakah pengarah filem", "nl": "wie regisseerde de film", "it": "chi ha diretto il film",
                       "fr": "qui a réalisé le film", "pt": "quem dirigiu o filme"}.items():
        assert is_language(text, lang), lang
        assert not is_language("who directed the film", lang), lang


def test_untrained_languages_warn_once_on_stderr(tmp_path, capsys):
    from xqg_pyserini.generation.loading import trained_languages
    from xqg_pyserini.generation.runner import warn_untrained

    trained = tmp_path / "gen"
    trained.mkdir()
    (trained / "generator.json").write_text(json.dumps({"id": "g", "base": "x", "languages": ["ar", "ja"]}))
    assert trained_languages(str(trained)) == ["ar", "ja"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "generator.json").write_text(json.dumps({"id": "g", "base": "x"}))
    assert trained_languages(str(tmp_path / "old")) == XQUAD_LANGUAGES  # before generator.json had "languages"
    assert trained_languages("precomputed:queries.jsonl") is None

    assert warn_untrained(str(trained), ["ar", "ja", "ko", "fi"]) == ["ko", "fi"]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"xqg: warning: generator '{trained}' was not trained on ko fi (trained: ar ja)")
    assert warn_untrained(str(trained), ["ar"]) == [] and capsys.readouterr().err == ""
