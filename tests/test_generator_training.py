"""Generator training on tiny models: LoRA and full, causal and seq2seq, checkpoint-resume, export."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from xqg_pyserini.generation.loading import resolve_generator
from xqg_pyserini.train.config import GeneratorTrainConfig as TrainConfig
from xqg_pyserini.train.generator import Pair, batch_plan, read_pairs, train_generator
from xqg_pyserini.generation import Sampling, generate, load_generator
from xqg_pyserini.errors import InputError

PAIRS = [Pair("Paris", "Paris is the capital of France.", "de", "Was ist die Hauptstadt von Frankreich?"),
         Pair("Nile", "The Nile is a river in Africa.", "ru", "Что такое Нил?"),
         Pair("Jupiter", "Jupiter is the largest planet.", "zh", "木星是什么？")]


def cfg(base: Path, **kw) -> TrainConfig:
    defaults = dict(base=str(base), lora_r=4, lora_alpha=8, lr=1e-2, batch_size=2, max_pairs=24, warmup_steps=1,
                    max_input_tokens=64, checkpoint_every=3, prefix_shared=False)
    defaults.update(kw)
    return TrainConfig(**defaults)


def losses(work: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (work / "train.log").read_text().splitlines()]


@pytest.mark.parametrize("model,lora_r", [("tiny_causal", 4), ("tiny_causal", 0), ("tiny_seq2seq", 4), ("tiny_seq2seq", 0)])
def test_training_lowers_the_loss_and_exports_a_loadable_generator(model, lora_r, tmp_path, request):
    base = request.getfixturevalue(model)
    out = train_generator(PAIRS, tmp_path / "gen", cfg(base, lora_r=lora_r), tmp_path / "work")
    seen = losses(tmp_path / "work")
    assert len(seen) == 12 and sum(seen[-3:]) < sum(seen[:3])
    meta = json.loads((out / "generator.json").read_text())
    assert meta["steps"] == 12 and meta["pairs_seen"] == 24 and meta["id"] == "gen"
    if lora_r:
        weights = load_file(str(out / "adapter_model.safetensors"))
        assert weights and all(w.dtype == torch.float16 for w in weights.values())
        assert not (out / "model.safetensors").exists()
    gen = load_generator(str(out), Sampling(max_new_tokens=4, max_input_tokens=64))
    assert gen.id == "gen" and len(gen.generate([], 2)) == 0
    from xqg_pyserini.generation import Request
    assert len(gen.generate([Request("d", "de", "Paris", "Paris is big.")], 2)[0]) == 2


def test_prefix_shared_training_lowers_the_loss_and_exports_its_vocabulary(tiny_causal, tmp_path):
    """The default loop for causal LMs: one step per passage (3 passages x 4 epochs), trimmed head."""
    out = train_generator(PAIRS, tmp_path / "gen", cfg(tiny_causal, prefix_shared=True, epochs=4, max_pairs=None),
                          tmp_path / "work", languages=["de", "ru", "zh"])
    seen = losses(tmp_path / "work")
    assert len(seen) == 12 and sum(seen[-3:]) < sum(seen[:3])
    meta = json.loads((out / "generator.json").read_text())
    assert meta["prefix_shared"] and meta["pairs_seen"] == 12 and meta["epochs_seen"] == 4.0
    assert (out / "vocab.json").exists() and meta["vocabulary"] and meta["loss_curve"]
    gen = load_generator(str(out), Sampling(max_new_tokens=4, max_input_tokens=64), dtype="float32")
    from xqg_pyserini.generation import FastGenerator, Request
    assert isinstance(gen, FastGenerator)
    assert len(gen.generate([Request("d", "de", "Paris", "Paris is big.")], 2)[0]) == 2
    # --vocabulary: the stored ids (default), a head per language, or the whole layer; each its own cache name
    small = Sampling(max_new_tokens=4, max_input_tokens=64)
    by_language = load_generator(str(out), small, dtype="float32", vocabulary="language")
    full = load_generator(str(out), small, dtype="float32", vocabulary="full")
    assert by_language.id == gen.id + "-languagevocab" and by_language.decoder.per_language
    assert full.id == gen.id + "-fullvocab" and full.decoder.head.ids is None and not gen.decoder.per_language
    with pytest.raises(InputError, match="unknown vocabulary 'latin'"):
        generate(tmp_path / "none.jsonl", str(out), vocabulary="latin")


def test_resumed_training_matches_an_uninterrupted_run(tiny_causal, tmp_path):
    whole = train_generator(PAIRS, tmp_path / "a", cfg(tiny_causal), tmp_path / "wa")
    part = cfg(tiny_causal)
    import xqg_pyserini.train.generator as gt

    calls = {"n": 0}
    real = gt._loss

    def dying_loss(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # a kill after the checkpoint at step 6
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    gt._loss = dying_loss
    try:
        with pytest.raises(KeyboardInterrupt):
            train_generator(PAIRS, tmp_path / "b", part, tmp_path / "wb")
    finally:
        gt._loss = real
    assert json.loads((tmp_path / "wb" / "checkpoint" / "state.json").read_text())["step"] == 6
    resumed = train_generator(PAIRS, tmp_path / "b", part, tmp_path / "wb")
    wa, wb = load_file(str(whole / "adapter_model.safetensors")), load_file(str(resumed / "adapter_model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-3), k
    assert losses(tmp_path / "wa") == pytest.approx(losses(tmp_path / "wb"), abs=1e-3)


def test_batch_plan_is_a_function_of_the_seed():
    c = TrainConfig(batch_size=2, max_pairs=10, seed=3)
    a, b = batch_plan(4, c, [5, 1, 3, 2]), batch_plan(4, c, [5, 1, 3, 2])
    assert a == b and sum(len(x) for x in a) == 10 and {i for x in a for i in x} == {0, 1, 2, 3}
    assert batch_plan(4, TrainConfig(batch_size=2, max_pairs=10, seed=4), [5, 1, 3, 2]) != a


def test_pairs_file_validation(tmp_path):
    good = tmp_path / "p.jsonl"
    good.write_text(json.dumps({"title": "T", "passage": "P", "lang": "de", "question": "Q?"}) + "\n")
    assert read_pairs(good) == [Pair("T", "P", "de", "Q?")]
    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps({"passage": "P", "lang": "xx", "question": "Q?"}) + "\n")
    with pytest.raises(InputError, match=r"b.jsonl:1: unknown language code 'xx'"):
        read_pairs(bad)
    bad.write_text(json.dumps({"passage": "", "lang": "de", "question": "Q?"}) + "\n")
    with pytest.raises(InputError, match="empty field 'passage'"):
        read_pairs(bad)
    with pytest.raises(InputError, match="not a generator"):
        resolve_generator(str(tmp_path))


def test_cli_train_generator_parses_and_calls_the_api(tiny_causal, tmp_path):
    from xqg_pyserini.cli import main

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"title": p.title, "passage": p.passage, "lang": p.lang, "question": p.question},
                                        ensure_ascii=False) + "\n" for p in PAIRS))
    code = main(["train-generator", "--base", str(tiny_causal), "--pairs", str(pairs), "--out", str(tmp_path / "g"),
                 "--work-dir", str(tmp_path / "w"), "--max-pairs", "4", "--batch-size", "2", "--max-input-tokens", "64"])
    assert code == 0 and (tmp_path / "g" / "generator.json").exists()


def test_lora_training_and_loading_pass_on_no_gradient_checkpointing_warning(tiny_causal, tmp_path):
    """peft reads transformers' deprecated ``is_gradient_checkpointing`` (a FutureWarning); the Python
    API, which has no CLI filter in front of it, keeps that warning off the user's terminal."""
    import warnings

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    with pytest.warns(FutureWarning, match="is_gradient_checkpointing"):  # the cause, unfiltered
        get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_causal), LoraConfig(r=2, target_modules=["q_proj"]))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = train_generator(PAIRS, tmp_path / "gen", cfg(tiny_causal, max_pairs=4), tmp_path / "work")
        load_generator(str(out), Sampling(max_new_tokens=4, max_input_tokens=64))
    assert not [w for w in seen if "is_gradient_checkpointing" in str(w.message)]


@pytest.mark.integration
def test_gemma_base_materializes_and_tokenizes():
    from transformers import AutoTokenizer

    from xqg_pyserini.models.gemma import materialize_gemma
    from xqg_pyserini.generation.prompts import causal_prompt_ids, causal_target_ids

    path = materialize_gemma()
    tok = AutoTokenizer.from_pretrained(path)
    ids = causal_prompt_ids(tok, "de", "Paris", "Paris is the capital of France. " * 100, 256)
    assert len(ids) == 256 and ids[0] == tok.bos_token_id
    assert tok.decode(ids[-3:]).endswith("Question:")
    assert causal_target_ids(tok, "Was?")[-1] == tok.eos_token_id


# ----------------------------------------------------------------------------- distillation: generated pairs, --init

def _bench(tmp_path: Path) -> tuple[Path, Path]:
    """A corpus with split.tsv beside it (d1, d2 train; d3 test) and a generated-queries file about it."""
    corpus = tmp_path / "bench" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "docs.jsonl").write_text("".join(json.dumps({"id": d, "title": t, "text": x}) + "\n" for d, t, x in (
        ("d1", "Paris", "Paris is the capital of France."), ("d2", "Nile", "The Nile is a river in Africa."),
        ("d3", "Jupiter", "Jupiter is the largest planet."))))
    (tmp_path / "bench" / "split.tsv").write_text("d1\ttrain\nd2\ttrain\nd3\ttest\n")
    queries = tmp_path / "q.jsonl"
    rows = [("d1", "de", 0, "Was ist Paris?"), ("d1", "ru", 0, "Что такое Париж?"), ("d1", "zh", 0, "巴黎是什么？"),
            ("d2", "de", 0, "  "), ("d2", "ru", 0, "Что такое Нил?"), ("d3", "de", 0, "Was ist Jupiter?")]
    queries.write_text("".join(json.dumps({"docid": d, "lang": l, "i": i, "query": q}, ensure_ascii=False) + "\n"
                               for d, l, i, q in rows))
    return corpus, queries


def test_generated_pairs_are_the_train_passages_questions_in_the_chosen_languages(tmp_path):
    from xqg_pyserini.train.pairs import generated_pairs

    corpus, queries = _bench(tmp_path)
    assert generated_pairs(queries, corpus, "train", ["de", "ru"]) == [
        Pair("Paris", "Paris is the capital of France.", "de", "Was ist Paris?"),
        Pair("Paris", "Paris is the capital of France.", "ru", "Что такое Париж?"),
        Pair("Nile", "The Nile is a river in Africa.", "ru", "Что такое Нил?")]  # d2-de is empty, d3 is test, zh not asked
    assert [p.question for p in generated_pairs(queries, corpus, "test", ["de"])] == ["Was ist Jupiter?"]
    with pytest.raises(InputError, match="no generated questions of 'train' passages in el"):
        generated_pairs(queries, corpus, "train", ["el"])
    with open(queries, "a") as f:
        f.write(json.dumps({"docid": "d9", "lang": "de", "i": 0, "query": "?"}) + "\n")
    with pytest.raises(InputError, match=r"q.jsonl:7: docid 'd9' is not in the corpus"):
        generated_pairs(queries, corpus, "train", ["de"])
    Path(f"{queries}.meta.json").write_text(json.dumps({"complete": False}))
    with pytest.raises(InputError, match="did not finish"):
        generated_pairs(queries, corpus, "train", ["de"])


def test_init_continues_the_adapter_it_names(tiny_causal, tmp_path):
    """--init starts from a trained adapter's weights (exactly, fp16 as stored): its first loss on the
    pairs it learned is below a fresh adapter's; mismatched settings are refused before loading."""
    from peft import get_peft_model_state_dict

    from xqg_pyserini.train.generator import _wrap, init_source, load_base, load_init

    first = train_generator(PAIRS, tmp_path / "g1", cfg(tiny_causal), tmp_path / "w1")
    _, model, _ = load_base(str(tiny_causal))
    model = _wrap(model, cfg(tiny_causal), False)
    load_init(model, init_source(cfg(tiny_causal, init=str(first))))
    stored = load_file(str(first / "adapter_model.safetensors"))
    loaded = get_peft_model_state_dict(model)
    assert set(loaded) == set(stored) and all(torch.equal(loaded[k], stored[k].float()) for k in stored)

    train_generator(PAIRS, tmp_path / "g2", cfg(tiny_causal, init=str(first), max_pairs=4), tmp_path / "w2")
    train_generator(PAIRS, tmp_path / "g3", cfg(tiny_causal, max_pairs=4), tmp_path / "w3")
    assert losses(tmp_path / "w2")[0] < losses(tmp_path / "w3")[0]
    meta = json.loads((tmp_path / "g2" / "generator.json").read_text())
    assert meta["config"]["init"] == str(first)

    with pytest.raises(InputError, match=r"its r 4 \(this run: 8\)"):
        init_source(cfg(tiny_causal, init=str(first), lora_r=8))
    with pytest.raises(InputError, match="needs a LoRA generator"):
        init_source(cfg(tiny_causal, init=str(first), lora_r=0))


def test_cli_distils_generated_questions_into_a_continued_adapter(tiny_causal, tmp_path):
    from xqg_pyserini.cli import main

    corpus, queries = _bench(tmp_path)
    first = train_generator(PAIRS, tmp_path / "g1", cfg(tiny_causal), tmp_path / "w1")
    common = ["train-generator", "--base", str(tiny_causal), "--lora-r", "4", "--lora-alpha", "8",
              "--no-prefix-shared", "--batch-size", "2", "--max-input-tokens", "64", "--no-progress"]
    assert main(common + ["--generated-queries", str(queries), "--pairs", str(queries), "--out", str(tmp_path / "x")]) == 2
    code = main(common + ["--generated-queries", str(queries), "--corpus", str(corpus), "--init", str(first),
                          "--languages", "de", "ru", "--out", str(tmp_path / "g2"), "--work-dir", str(tmp_path / "w2")])
    meta = json.loads((tmp_path / "g2" / "generator.json").read_text())
    assert code == 0 and meta["training_pairs"] == 3 and meta["config"]["init"] == str(first)


def test_shipped_generators_resolve_by_name_and_continue_one_base():
    """``xqg`` (also ``xqg-v3``) and ``xqg-distil`` are the package's two adapters; the distilled one
    continues the default (same base and LoRA shape), and says how it was made."""
    from xqg_pyserini.generation.loading import DEFAULT_GENERATOR, DISTILLED_GENERATOR

    v3, default = resolve_generator("xqg-v3"), resolve_generator("xqg")  # default: the first of the pair below
    distil = resolve_generator("xqg-distil")
    assert v3 == default == resolve_generator(DEFAULT_GENERATOR) and resolve_generator(DISTILLED_GENERATOR) == distil
    metas = [json.loads((d / "generator.json").read_text()) for d in (default, distil)]
    assert [m["id"] for m in metas] == [DEFAULT_GENERATOR, DISTILLED_GENERATOR]
    assert metas[1]["command"][:4] == ["xqg", "train-generator", "--init", "xqg-v3"]
    assert metas[1]["language_retries"] == 3 and not metas[0].get("language_retries")
    configs = [json.loads((d / "adapter_config.json").read_text()) for d in (default, distil)]
    shapes = [(c["r"], c["lora_alpha"], sorted(c["target_modules"])) for c in configs]
    assert shapes[0] == shapes[1] and metas[0]["base"] == metas[1]["base"]
