"""Off-language questions sampled again (generation/language_check.py)."""
import json

import pytest
import torch

from xqg_pyserini.data.languages import is_language
from xqg_pyserini.generation import Request, Sampling
from xqg_pyserini.generation.language_check import LanguageChecked, retry_seed
from xqg_pyserini.generation.prompts import PASSAGE_FIRST

REQS = [Request("d1", "zh", "T", "A passage."), Request("d1", "de", "T", "A passage."),
        Request("d2", "zh", "U", "Another one.")]


class Scripted:
    """A generator whose question is looked up by (seed, docid, lang, i): the test decides which
    attempt writes what, and every call is recorded."""

    def __init__(self, answers: dict, sampling: Sampling = Sampling(seed=3)):
        self.id, self.sampling, self.answers, self.calls, self.truncated = "scripted", sampling, answers, [], 0

    def generate(self, requests, n):
        self.calls.append((self.sampling.seed, [(r.docid, r.lang) for r in requests], n))
        return [[self.answers.get((self.sampling.seed, r.docid, r.lang, i), "What is the river?") for i in range(n)]
                for r in requests]


def test_only_off_language_rows_are_sampled_again_with_their_own_seeds():
    first = {(3, "d1", "zh", 0): "河流在哪里？", (3, "d1", "zh", 1): "河流是什么？", (3, "d1", "de", 0): "Wo ist der Fluss?",
             (3, "d1", "de", 1): "Wie lang ist der Fluss?", (3, "d2", "zh", 0): "火车站在哪里？"}
    # (d2, zh, 1) is English at first; attempt 1 is English again, attempt 2 is Chinese
    later = {(retry_seed(3, 2, 1), "d2", "zh", 0): "车站有多少个？"}
    inner = Scripted({**first, **later})
    checked = LanguageChecked(inner, retries=3)
    out = checked.generate(REQS, 2)
    assert out == [["河流在哪里？", "河流是什么？"], ["Wo ist der Fluss?", "Wie lang ist der Fluss?"],
                   ["火车站在哪里？", "车站有多少个？"]]
    # one first call for everything, then one row per attempt, seeded from (seed, attempt, i)
    assert inner.calls == [(3, [("d1", "zh"), ("d1", "de"), ("d2", "zh")], 2),
                           (retry_seed(3, 1, 1), [("d2", "zh")], 1), (retry_seed(3, 2, 1), [("d2", "zh")], 1)]
    assert (checked.resampled, checked.off_language) == (2, 0)
    assert inner.sampling.seed == 3  # the inner generator's own settings are back


def test_the_last_attempt_is_kept_when_none_passes_and_counted():
    inner = Scripted({(3, "d1", "zh", 0): "河流在哪里？"})
    checked = LanguageChecked(inner, retries=2)
    out = checked.generate(REQS[:1], 2)
    assert out == [["河流在哪里？", "What is the river?"]]  # n questions per group, whatever happens
    assert (checked.resampled, checked.off_language) == (2, 1)
    assert checked.id == "scripted" and checked.truncated == 0  # the rest is the inner generator's


def test_seeds_of_attempts_differ_from_each_other_and_by_question():
    seeds = {retry_seed(0, a, i) for a in (1, 2, 3) for i in range(5)}
    assert len(seeds) == 15 and 0 not in seeds


def test_retried_questions_do_not_depend_on_the_batch(tiny_causal):
    """On a real (tiny) prefix-shared decoder most rows are off-language: the retried questions are
    the same whether a request is generated with others or alone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from xqg_pyserini.generation.fast import FastGenerator

    tok = AutoTokenizer.from_pretrained(tiny_causal)
    model = AutoModelForCausalLM.from_pretrained(tiny_causal, dtype=torch.float32).eval()
    reqs = [Request("d1", lang, "Title", "The river flows north through the old town.") for lang in ("de", "ru", "zh")]
    reqs.append(Request("d2", "zh", "Two", "A second passage about trains."))
    gen = LanguageChecked(FastGenerator(model, tok, "fast", Sampling(max_new_tokens=8, seed=5), PASSAGE_FIRST), 2)
    together = gen.generate(reqs, 3)
    assert gen.resampled > 0
    alone = [gen.generate([r], 3)[0] for r in reqs]
    assert together == alone
    plain = FastGenerator(model, tok, "fast", Sampling(max_new_tokens=8, seed=5), PASSAGE_FIRST).generate(reqs, 3)
    for r, got, first in zip(reqs, together, plain):  # rows that passed at once are left as they were
        assert [g for g, f in zip(got, first) if is_language(f, r.lang)] == [f for f in first if is_language(f, r.lang)]


def test_the_setting_comes_from_the_generator_and_is_recorded_only_when_used(tmp_path):
    from xqg_pyserini.generation.config import settings_dict
    from xqg_pyserini.generation.loading import resolve_sampling

    assert "language_retries" not in settings_dict(resolve_sampling("precomputed:/x.jsonl", Sampling()))
    (tmp_path / "generator.json").write_text(json.dumps({"id": "g", "language_retries": 3}))
    assert resolve_sampling(str(tmp_path), Sampling()).language_retries == 3
    assert resolve_sampling(str(tmp_path), Sampling(language_retries=0)).language_retries == 0  # the user's word
    assert settings_dict(Sampling(language_retries=3))["language_retries"] == 3


def test_generate_records_the_retries_in_the_summary(tiny_causal, sample_corpus, tmp_path):
    from xqg_pyserini.generation.runner import generate

    out = tmp_path / "q.jsonl"
    summary = generate(sample_corpus, str(tiny_causal), ["zh"], n=2, out=out, max_new_tokens=6, progress=False,
                       language_retries=1)
    meta = json.loads(out.with_name(out.name + ".meta.json").read_text())
    assert meta["settings"]["sampling"]["language_retries"] == 1
    assert summary["language_resampled"] >= summary["off_language_kept"] >= 0
    assert meta["machine"]["decoder"] != "LanguageChecked"  # the decoder that did the work
    with pytest.raises(Exception, match="language_retries"):
        generate(sample_corpus, str(tiny_causal), ["zh"], n=1, out=tmp_path / "r.jsonl", language_retries=-1)
