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
