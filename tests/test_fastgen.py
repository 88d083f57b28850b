"""The prefix-shared decoder against the unshared Hugging Face path, on a tiny Gemma 3."""
import pytest
import torch

from xqg_pyserini.generation.fast import FastGenerator, SharedPrefixDecoder
from xqg_pyserini.models.cpu import apply_dtype, cpu_kind, pick_dtype
from xqg_pyserini.generation import HFGenerator, Request, Sampling
from xqg_pyserini.generation.prompts import PASSAGE_FIRST

REQS = [Request("d1", lang, "Title one", "The river flows north through the old town and into the sea.") for lang in ("de", "ru", "ar")]
REQS += [Request("d2", lang, "Two", "A second, shorter passage about trains and stations.") for lang in ("de", "zh")]


def _load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


@pytest.mark.parametrize("n", [1, 3])
def test_shared_prefix_generation_equals_unshared(tiny_causal, n):
    tok, model = _load(tiny_causal)
    sampling = Sampling(top_k=10, max_new_tokens=12, seed=7)
    reference = HFGenerator(model, tok, "ref", sampling, template=PASSAGE_FIRST).generate(REQS, n)
    fast = FastGenerator(model, tok, "fast", sampling, PASSAGE_FIRST).generate(REQS, n)
    assert fast == reference
    assert len({q for qs in fast for q in qs}) > 1  # the rows really differ


def test_same_seed_same_questions_whatever_the_batch(tiny_causal):
    tok, model = _load(tiny_causal)
    gen = FastGenerator(model, tok, "fast", Sampling(max_new_tokens=10, seed=3), PASSAGE_FIRST)
    together = gen.generate(REQS, 2)
    alone = [gen.generate([r], 2)[0] for r in REQS]
    assert together == alone
    other_seed = FastGenerator(model, tok, "fast", Sampling(max_new_tokens=10, seed=4), PASSAGE_FIRST).generate(REQS, 2)
    assert other_seed != together


def test_trimmed_vocabulary_only_writes_kept_or_prompt_tokens(tiny_causal):
    tok, model = _load(tiny_causal)
    vocab = sorted(set(range(8)) | {tok.eos_token_id})
    dec = SharedPrefixDecoder(model, tok, vocab, PASSAGE_FIRST)
    head = dec.head_for([[20, 21]])
    assert set(head.ids.tolist()) == set(vocab) | {20, 21} and len(head.ids) == len(set(vocab) | {20, 21})
    hidden = torch.randn(3, model.config.hidden_size)
    torch.testing.assert_close(head.logits(hidden), model.lm_head(hidden)[:, head.ids])
    gen = FastGenerator(model, tok, "fast", Sampling(max_new_tokens=8, seed=1), PASSAGE_FIRST, vocab)
    gen.generate(REQS, 2)
    prompts = set(tok(REQS[0].title + " " + REQS[0].text)["input_ids"]) | set(tok(REQS[3].title + " " + REQS[3].text)["input_ids"])
    written = {t for row in gen.decoder.last_tokens for t in row}
    assert written and written <= set(vocab) | prompts
    assert not written <= set(vocab)  # the passages' own tokens are writable too (names copied from the passage)



def test_per_language_heads_keep_own_script_and_widen_latin_ones(tiny_causal):
    """With per_language each language's rows sample from their own head: the stored ids less the
    tokens wholly in another target script, plus every Latin-script token for a Latin-script
    language; kept ids keep their logits, and the questions still do not depend on the batch."""
    from xqg_pyserini.generation.vocab import _script, is_latin_script, language_token_ids, latin_token_ids, token_texts

    assert is_latin_script("de") and is_latin_script("vi") and not is_latin_script("ru") and not is_latin_script("zh")
    tok, model = _load(tiny_causal)
    texts = token_texts(tok)  # byte-level BPE: the vocabulary's strings are mapped bytes, not the text
    assert "Что" in texts or any(t and _script(t[0]) == "CYRILLIC" for t in texts)
    scripts = {i: {_script(c) for c in t} for i, t in enumerate(texts) if t}
    vocab = sorted(set(range(60)) | {tok.eos_token_id} | {i for i, s in scripts.items() if s in ({"CYRILLIC"}, {"ARABIC"})})
    latin = latin_token_ids(tok)
    cyrillic, arabic = ({i for i in vocab if scripts.get(i) == {s}} for s in ("CYRILLIC", "ARABIC"))
    assert cyrillic and arabic and latin - set(vocab)
    ru, de = language_token_ids(tok, vocab, "ru"), language_token_ids(tok, vocab, "de")
    assert cyrillic <= set(ru) and not arabic & set(ru) and set(ru) <= set(vocab)
    assert not (cyrillic | arabic) & set(de) and latin <= set(de)
    gen = FastGenerator(model, tok, "lang", Sampling(max_new_tokens=8, seed=1), PASSAGE_FIRST, vocab, per_language=True)
    dec = gen.decoder
    assert dec.heads.base("ru").ids.tolist() == ru and dec.heads.base("es") is dec.heads.base("de")
    hidden = torch.randn(3, model.config.hidden_size)
    torch.testing.assert_close(dec.heads.base("de").logits(hidden), model.lm_head(hidden)[:, dec.heads.base("de").ids])
    together = gen.generate(REQS, 2)
    own = {r.docid: set(tok(r.title + " " + r.text)["input_ids"]) for r in REQS}
    rows = [(REQS[j], t) for j, t in zip([j for j in range(len(REQS)) for _ in range(2)], dec.last_tokens)]
    for req, tokens in rows:
        assert set(tokens) <= set(dec.heads.base(req.lang).ids.tolist()) | own[req.docid] | dec.stop_ids, req.lang
    assert any(set(t) - set(vocab) - own[r.docid] for r, t in rows if r.lang == "de")  # a Latin word from outside
    assert gen.generate(REQS, 2, max_rows=3) == together == [gen.generate([r], 2)[0] for r in REQS]

@pytest.mark.parametrize("flags,expected", [({"avx2", "fma"}, "float32"), ({"avx512f", "avx512_bf16"}, "bfloat16"),
                                            ({"avx2", "amx_bf16", "amx_tile"}, "bfloat16"), (set(), "float32")])
def test_auto_dtype_picks_bf16_only_with_hardware_support(flags, expected):
    assert pick_dtype(flags) == expected


@pytest.mark.parametrize("flags,kind", [({"avx2", "fma"}, "AVX2"), ({"avx2", "avx512f", "avx512_bf16"}, "AVX512-BF16"),
                                        ({"avx512f", "avx512_bf16", "amx_bf16"}, "AMX"), ({"avx2", "avx512f"}, "AVX-512")])
def test_cpu_kind_names_the_widest_units(flags, kind):
    assert cpu_kind(flags) == kind


def test_int8_and_bf16_decoders_run(tiny_causal):
    for dtype in ("int8", "bfloat16"):
        tok, model = _load(tiny_causal)
        assert apply_dtype(model, dtype) == dtype
        out = FastGenerator(model, tok, "x", Sampling(max_new_tokens=6), PASSAGE_FIRST).generate(REQS[:2], 2)
        assert len(out) == 2 and all(len(qs) == 2 for qs in out)


def test_continuous_batching_gives_the_same_questions(tiny_causal):
    """Rows joining as others finish (max_rows smaller than the call) change nothing in float32,
    also with a trimmed vocabulary, where each row samples only its own passage's extra tokens."""
    tok, model = _load(tiny_causal)
    vocab = sorted(set(range(40)) | {tok.eos_token_id})
    gen = FastGenerator(model, tok, "fast", Sampling(max_new_tokens=10, seed=5), PASSAGE_FIRST, vocab)
    done = []
    together = gen.generate(REQS, 2)
    continuous = gen.generate(REQS, 2, max_rows=3, on_request_done=done.append)
    alone = [gen.generate([r], 2)[0] for r in REQS]
    assert continuous == together == alone
    assert sum(done) == len(REQS)
    assert len({q for qs in together for q in qs}) > 1


def _contrast_reference(model, tok, req: Request, w: float, s: Sampling) -> list[int]:
    """Step by step with the plain model: top-k of the passage prompt's logits, rescored as
    (1+w)*logit - w*logit after the passage-free prompt (BOS + language suffix), row-seeded sampling."""
    from xqg_pyserini.generation.backends import row_seed
    from xqg_pyserini.generation.prompts import prefix_ids, suffix_ids

    suffix = suffix_ids(tok, req.lang, PASSAGE_FIRST)
    with_passage = prefix_ids(tok, req.title, req.text, s.max_input_tokens, PASSAGE_FIRST)[0] + suffix
    blank = prefix_ids(tok, "", "", s.max_input_tokens, PASSAGE_FIRST)[0] + suffix
    gen = torch.Generator().manual_seed(row_seed(s.seed, req.docid, req.lang, 0))
    out: list[int] = []
    with torch.no_grad():
        for _ in range(s.max_new_tokens):
            cond = model(torch.tensor([with_passage + out])).logits[0, -1]
            free = model(torch.tensor([blank + out])).logits[0, -1]
            top, idx = cond.topk(s.top_k)
            score = (1 + w) * top - w * free[idx]
            choice = torch.multinomial(torch.softmax(score / s.temperature, -1), 1, generator=gen)
            out.append(int(idx[choice]))
    return out


def test_contrast_rescoring_equals_the_step_by_step_formula(tiny_causal):
    tok, model = _load(tiny_causal)
    s = Sampling(top_k=5, max_new_tokens=8, seed=2, contrast=1.5)
    dec = FastGenerator(model, tok, "fast", s, PASSAGE_FIRST).decoder
    dec.generate(REQS[:1], 1, s)
    written = dec.last_tokens[0]
    assert written == _contrast_reference(model, tok, REQS[0], 1.5, s)[:len(written)]
    assert len(written) == s.max_new_tokens or written[-1] in dec.stop_ids | dec._newline_ids


def test_contrast_keeps_questions_independent_of_the_batch(tiny_causal):
    tok, model = _load(tiny_causal)
    vocab = sorted(set(range(40)) | {tok.eos_token_id})
    s = Sampling(max_new_tokens=10, seed=5, contrast=0.5)
    gen = FastGenerator(model, tok, "fast", s, PASSAGE_FIRST, vocab)
    together = gen.generate(REQS, 2)
    assert gen.generate(REQS, 2, max_rows=3) == together == [gen.generate([r], 2)[0] for r in REQS]
    plain = FastGenerator(model, tok, "fast", Sampling(max_new_tokens=10, seed=5), PASSAGE_FIRST, vocab)
    assert plain.generate(REQS, 2) != together


def test_contrast_is_recorded_only_when_used():
    from xqg_pyserini.generation.config import settings_dict

    assert "contrast" not in settings_dict(Sampling())  # files written before the option keep their names
    assert settings_dict(Sampling(contrast=0.5))["contrast"] == 0.5


def test_contrast_defaults_to_the_generators_own(tmp_path):
    import json

    from xqg_pyserini.generation.loading import generator_contrast, resolve_sampling

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "generator.json").write_text(json.dumps({"id": "g", "contrast": 0.7}))
    assert resolve_sampling(str(tmp_path), Sampling()).contrast == 0.7
    assert resolve_sampling(str(tmp_path), Sampling(contrast=0.0)).contrast == 0.0  # the user's word wins
    assert generator_contrast("precomputed:/x.jsonl") == 0.0
    assert generator_contrast("xqg") == 0.0  # the shipped generator decodes without it unless asked


def test_contrast_is_refused_where_no_twin_rows_exist(tiny_causal):
    from xqg_pyserini.errors import InputError
    from xqg_pyserini.generation import load_generator

    with pytest.raises(InputError, match="--contrast"):  # a plain causal checkpoint decodes on the HF path
        load_generator(str(tiny_causal), Sampling(contrast=1.0), dtype="float32")
    assert load_generator(str(tiny_causal), Sampling(), dtype="float32").sampling.contrast == 0.0
