"""Prefix-shared training and the trimmed head, against the unshared reference on a tiny Gemma 3."""
import pytest
import torch

from xqg_pyserini.train.generator import Pair
from xqg_pyserini.train.config import GeneratorTrainConfig
from xqg_pyserini.train.shared_prefix import group_pairs, shared_prefix_loss, step_plan, unshared_loss
from xqg_pyserini.generation.vocab import OutputHead, build_vocabulary, coverage

PAIRS = [Pair("Title one", "The river flows north through the old town and into the sea.", "de", "Wohin fliesst der Fluss?"),
         Pair("Title one", "The river flows north through the old town and into the sea.", "ru", "Куда течёт река?"),
         Pair("Title one", "The river flows north through the old town and into the sea.", "de", "Was ist alt?"),
         Pair("Title two", "A second passage about trains.", "ar", "ما هو القطار؟")]


def _load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


@pytest.mark.parametrize("trim", [False, True])
def test_shared_prefix_loss_and_gradients_equal_unshared(tiny_causal, trim):
    tok, model = _load(tiny_causal)
    groups = group_pairs(tok, PAIRS, max_input_tokens=64)
    assert [len(g.rows) for g in groups] == [3, 1]
    vocab = build_vocabulary(tok, [p.question for p in PAIRS], ["de", "ru", "ar"]) if trim else None
    head = OutputHead(model, vocab)
    results = []
    for fn in (shared_prefix_loss, unshared_loss):
        model.zero_grad()
        loss, tokens = fn(model, head, groups[0].prefix, groups[0].rows, tok.pad_token_id)
        loss.backward()
        results.append((loss.item(), tokens, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (l1, t1, g1), (l2, t2, g2) = results
    assert t1 == t2 > 0
    assert l1 == pytest.approx(l2, rel=1e-5)
    assert g1.keys() == g2.keys() and len(g1) > 10
    for name in g1:
        torch.testing.assert_close(g1[name], g2[name], rtol=1e-4, atol=1e-6, msg=name)


def test_trimmed_head_keeps_logits_of_kept_ids(tiny_causal):
    tok, model = _load(tiny_causal)
    ids = build_vocabulary(tok, ["Wohin fliesst der Fluss?"], ["de"])
    assert len(ids) < len(tok)
    hidden = torch.randn(5, model.config.hidden_size)
    full, trimmed = OutputHead(model).logits(hidden), OutputHead(model, ids).logits(hidden)
    torch.testing.assert_close(trimmed, full[:, ids])
    assert torch.equal(model.lm_head(hidden)[:, ids], trimmed)
    head = OutputHead(model, ids)
    kept = head.to_kept(torch.tensor(ids[:3]))
    assert kept.tolist() == [0, 1, 2] and head.to_full(kept).tolist() == ids[:3]


def test_vocabulary_covers_its_texts(tiny_causal):
    tok, _ = _load(tiny_causal)
    texts = [p.question for p in PAIRS]
    cov = coverage(tok, build_vocabulary(tok, texts, ["de", "ru", "ar"]), texts)
    assert cov["token_coverage"] == 1.0 and cov["text_coverage"] == 1.0


def test_step_plan_covers_every_target_once_per_epoch():
    from types import SimpleNamespace

    groups = [SimpleNamespace(rows=[None] * n) for n in (70, 3, 33)]
    plan = step_plan(groups, GeneratorTrainConfig(max_targets=32, epochs=1.0, seed=3))
    seen = sorted((g, i) for g, chosen in plan for i in chosen)
    assert seen == sorted((g, i) for g, grp in enumerate(groups) for i in range(len(grp.rows)))
    assert max(len(c) for _, c in plan) <= 32 and len(plan) == 3 + 1 + 2
    assert plan == step_plan(groups, GeneratorTrainConfig(max_targets=32, epochs=1.0, seed=3))
    assert len(step_plan(groups, GeneratorTrainConfig(max_targets=32, epochs=1.5, seed=3))) == 6 + 3
