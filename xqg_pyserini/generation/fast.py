"""Prefix-shared generation: a passage is prefilled once and every (language, sample) row of it
decodes on top of that one copy.

For gemma-3-270m on a 2-core CPU the costs of a decode step are the output layer (262k x 640), the
linear layers, and, with transformers' DynamicCache, growing the KV cache by ``torch.cat`` for every
row. This decoder therefore

- prefills each passage once (batch 1) and keeps that KV cache as a single shared copy per layer;
  rows attend to it through one matrix product per passage instead of holding copies of it;
- keeps each row's own tokens (language suffix + question) in a small preallocated buffer;
- lets finished rows leave the batch;
- samples from a trimmed output head: the generator's stored vocabulary plus the tokens of the
  passages in the batch (a row slice of the same tied matrix, so kept ids keep their logits).

Rows from several passages may share a batch (``batch_rows``); each attends to its own passage.
Sampling is per row with its own seeded ``torch.Generator`` (top-k, temperature), so a question
depends on (seed, docid, language, i) and not on its batch: exactly so in float32, where the same
seed gives the same questions as the unshared HF path (tested on a tiny model); with bf16 or int8
weights rounding depends on the batch shape and a rare sample can change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from xqg_pyserini.generation.backends import clean_query, row_seed
from xqg_pyserini.generation.config import Request, Sampling
from xqg_pyserini.generation.prompts import PASSAGE_FIRST, prefix_ids, suffix_ids
from xqg_pyserini.generation.vocab import OutputHead
from xqg_pyserini.models.cpu import apply_dtype, pack_linear_layers


@dataclass
class _Rows:
    """Per-row decoding state (rows sorted by group; groups are passages)."""
    group: torch.Tensor  # (B,) passage index of each row
    length: torch.Tensor  # (B,) tokens in the row's own buffer so far
    keys: list[torch.Tensor]  # per layer (B, kv_heads, T, head_dim)
    values: list[torch.Tensor]
    out: list[list[int]]  # generated ids per row
    index: list[int]  # original row number
    gens: list[torch.Generator]


class SharedPrefixDecoder:
    """Decodes Gemma-3-style causal LMs (pre/post norms, q/k norms, RoPE per layer type) with a
    shared passage prefix. ``model`` is a ``*ForCausalLM`` in eval mode (LoRA merged)."""

    def __init__(self, model, tokenizer, vocab: Sequence[int] | None = None, template: str = PASSAGE_FIRST,
                 quantize_head: bool = False):
        core = model.model
        needed = ("embed_tokens", "layers", "norm", "rotary_emb")
        if not all(hasattr(core, n) for n in needed) or not hasattr(core.layers[0], "pre_feedforward_layernorm"):
            raise ValueError(f"{type(model).__name__} is not a Gemma-3-style decoder; use the HF path")
        self.model, self.core, self.tokenizer, self.template = model, core, tokenizer, template
        self.config = core.config
        self.vocab = list(vocab) if vocab is not None else None
        self.head = OutputHead(model, self.vocab, quantize=quantize_head)
        self.layer_types = list(getattr(self.config, "layer_types", ["full_attention"] * len(core.layers)))
        self.window = getattr(self.config, "sliding_window", None)
        eos = {tokenizer.eos_token_id} | set(getattr(self.config, "eos_token_id", None) or [] if isinstance(
            getattr(self.config, "eos_token_id", None), list) else [])
        self.stop_ids = {i for i in eos if i is not None}
        self._newline_ids: set[int] | None = None

    # ------------------------------------------------------------------ heads
    def head_for(self, prompts: Sequence[list[int]]) -> OutputHead:
        """The trimmed head for a batch: stored ids + the batch's prompt tokens + stop tokens."""
        return self.head.extended({t for p in prompts for t in p} | self.stop_ids)

    def _stops(self, head: OutputHead) -> torch.Tensor:
        """Boolean per kept id: EOS, or a token holding a newline (a causal LM's question ends there)."""
        if self._newline_ids is None:
            self._newline_ids = {i for t, i in self.tokenizer.get_vocab().items() if "\n" in t or "<0x0A>" in t}
        full = torch.zeros(head.vocab_size, dtype=torch.bool)
        full[list(self.stop_ids | self._newline_ids)] = True
        return full if head.ids is None else full[head.ids]

    # ------------------------------------------------------------------ model pieces
    def _rope(self, x: torch.Tensor, positions: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {t: self.core.rotary_emb(x, positions, t) for t in set(self.layer_types)}

    def _attention(self, layer, i: int, h: torch.Tensor, rope, rows: _Rows, prefix_kv, spans, start: torch.Tensor):
        """Self-attention of new tokens ``h`` (B, s, d) at buffer columns ``start + [0, s)``."""
        from transformers.models.gemma3.modeling_gemma3 import apply_rotary_pos_emb

        attn = layer.self_attn
        B, s, _ = h.shape
        hd, kvh = attn.head_dim, self.config.num_key_value_heads
        groups = self.config.num_attention_heads // kvh
        q = attn.q_norm(attn.q_proj(h).view(B, s, -1, hd).transpose(1, 2))
        k = attn.k_norm(attn.k_proj(h).view(B, s, kvh, hd).transpose(1, 2))
        v = attn.v_proj(h).view(B, s, kvh, hd).transpose(1, 2)
        cos, sin = rope[self.layer_types[i]]
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        cols = start[:, None] + torch.arange(s)  # (B, s) where the new tokens go
        rows_idx = torch.arange(B)[:, None].expand(B, s)
        rows.keys[i][rows_idx, :, cols] = k.transpose(1, 2).to(rows.keys[i].dtype)
        rows.values[i][rows_idx, :, cols] = v.transpose(1, 2).to(rows.values[i].dtype)
        # queries as (B, kv_heads, groups * s, hd): one product per kv head covers its query heads
        q = q.reshape(B, kvh, groups * s, hd) * attn.scaling
        T = int((start + s).max())
        own_k, own_v = rows.keys[i][:, :, :T], rows.values[i][:, :, :T]
        own = q @ own_k.transpose(-1, -2)  # (B, kvh, G*s, T)
        qpos = (cols[:, None, :].expand(B, groups, s).reshape(B, 1, groups * s, 1))
        visible = torch.arange(T).view(1, 1, 1, T) <= qpos  # causal within the row's own tokens
        own = own.masked_fill(~visible, float("-inf"))
        out = torch.empty(B, kvh, groups * s, hd, dtype=q.dtype)
        for g, (a, b) in enumerate(spans):
            if a == b:
                continue
            pk, pv = prefix_kv[g][i]  # (1, kvh, P, hd)
            pre = q[a:b] @ pk.transpose(-1, -2)  # (n, kvh, G*s, P)
            scores = torch.cat([pre, own[a:b]], dim=-1)
            if attn.attn_logit_softcapping:
                cap = attn.attn_logit_softcapping
                scores = torch.tanh(scores / cap) * cap
            probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
            P = pk.shape[2]
            out[a:b] = probs[..., :P] @ pv + probs[..., P:] @ own_v[a:b]
        out = out.reshape(B, kvh * groups, s, hd).transpose(1, 2).reshape(B, s, -1)
        return attn.o_proj(out)

    def _forward(self, ids: torch.Tensor, rows: _Rows, prefix_kv, spans, prefix_len: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, s, d) of new tokens ``ids`` (B, s) appended to every row's buffer."""
        start = rows.length
        positions = prefix_len[rows.group][:, None] + start[:, None] + torch.arange(ids.shape[1])
        h = self.core.embed_tokens(ids)
        rope = self._rope(h, positions)
        for i, layer in enumerate(self.core.layers):
            x = layer.input_layernorm(h)
            x = self._attention(layer, i, x, rope, rows, prefix_kv, spans, start)
            h = h + layer.post_attention_layernorm(x)
            x = layer.mlp(layer.pre_feedforward_layernorm(h))
            h = h + layer.post_feedforward_layernorm(x)
        rows.length = start + ids.shape[1]
        return self.core.norm(h)

    def _prefill(self, prefix: list[int]):
        """Per layer (keys, values) of one passage, shape (1, kv_heads, P, hd)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.config)
        self.core(input_ids=torch.tensor([prefix]), cache=cache, use_cache=True)
        return [(layer.keys, layer.values) for layer in cache.layers]

    # ------------------------------------------------------------------ decoding
    @torch.inference_mode()
    def generate(self, requests: Sequence[Request], n: int, sampling: Sampling = Sampling()) -> list[list[str]]:
        """``n`` questions per request; requests of the same passage share one prefill."""
        if not requests:
            return []
        passages: dict[tuple[str, str, str], int] = {}
        prefixes: list[list[int]] = []
        for r in requests:
            key = (r.docid, r.title, r.text)
            if key not in passages:
                passages[key] = len(prefixes)
                prefixes.append(prefix_ids(self.tokenizer, r.title, r.text, sampling.max_input_tokens, self.template)[0])
        suffix_cache: dict[str, list[int]] = {}
        row_specs = []  # (group, suffix, request index, sample i)
        for j, r in enumerate(requests):
            if r.lang not in suffix_cache:
                suffix_cache[r.lang] = suffix_ids(self.tokenizer, r.lang, self.template)
            for i in range(n):
                row_specs.append((passages[(r.docid, r.title, r.text)], suffix_cache[r.lang], j, i))
        row_specs.sort(key=lambda x: x[0])
        longest = max(len(s) for _, s, _, _ in row_specs) + sampling.max_new_tokens
        if self.window and max(len(p) for p in prefixes) + longest > self.window:
            raise ValueError(f"prompt + question exceed the sliding window ({self.window}); lower max_input_tokens")
        head = self.head_for(prefixes)
        stops = self._stops(head)
        prefix_kv = [self._prefill(p) for p in prefixes]
        prefix_len = torch.tensor([len(p) for p in prefixes])
        dtype = prefix_kv[0][0][0].dtype
        kvh, hd = self.config.num_key_value_heads, self.config.head_dim
        B = len(row_specs)
        rows = _Rows(group=torch.tensor([g for g, _, _, _ in row_specs]), length=torch.zeros(B, dtype=torch.long),
                     keys=[torch.zeros(B, kvh, longest, hd, dtype=dtype) for _ in self.core.layers],
                     values=[torch.zeros(B, kvh, longest, hd, dtype=dtype) for _ in self.core.layers],
                     out=[[] for _ in range(B)], index=list(range(B)),
                     gens=[torch.Generator().manual_seed(row_seed(sampling.seed, requests[j].docid, requests[j].lang, i))
                           for _, _, j, i in row_specs])
        # the language suffixes, right-padded: causal attention keeps pads out of real tokens
        width = max(len(s) for _, s, _, _ in row_specs)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([s + [pad] * (width - len(s)) for _, s, _, _ in row_specs])
        ends = torch.tensor([len(s) - 1 for _, s, _, _ in row_specs])
        hidden = self._forward(ids, rows, prefix_kv, self._spans(rows.group, len(prefixes)), prefix_len)
        rows.length = ends + 1  # the pads' columns are overwritten by the first generated tokens
        last = hidden[torch.arange(B), ends]
        finished: dict[int, list[int]] = {}
        for step in range(sampling.max_new_tokens):
            kept = self._sample(head.logits(last), rows.gens, sampling)
            done = stops[kept]
            for r, token in enumerate(head.to_full(kept).tolist()):
                rows.out[r].append(token)
            if step + 1 == sampling.max_new_tokens:
                break
            alive = (~done).nonzero().flatten()
            for r in done.nonzero().flatten().tolist():
                finished[rows.index[r]] = rows.out[r]
            if len(alive) == 0:
                break
            if len(alive) < len(rows.index):
                rows = self._select(rows, alive)
                kept = kept[alive]
            hidden = self._forward(head.to_full(kept)[:, None], rows, prefix_kv,
                                   self._spans(rows.group, len(prefixes)), prefix_len)
            last = hidden[:, -1]
        for r, original in enumerate(rows.index):
            finished.setdefault(original, rows.out[r])
        self.last_tokens = [finished[r] for r in range(B)]  # generated ids per row (for inspection)
        texts: list[list[str]] = [[""] * n for _ in requests]
        for original, (_, _, j, i) in enumerate(row_specs):
            tokens = [t for t in finished[original] if t not in self.stop_ids]
            texts[j][i] = clean_query(self.tokenizer.decode(tokens, skip_special_tokens=True))
        return texts

    @staticmethod
    def _spans(group: torch.Tensor, groups: int) -> list[tuple[int, int]]:
        """(first, end) row of each group in a group-sorted batch."""
        counts = torch.bincount(group, minlength=groups).tolist()
        ends = [sum(counts[:g + 1]) for g in range(groups)]
        return [(e - c, e) for c, e in zip(counts, ends)]

    @staticmethod
    def _select(rows: _Rows, alive: torch.Tensor) -> _Rows:
        keep = alive.tolist()
        return _Rows(group=rows.group[alive], length=rows.length[alive],
                     keys=[k[alive] for k in rows.keys], values=[v[alive] for v in rows.values],
                     out=[rows.out[r] for r in keep], index=[rows.index[r] for r in keep],
                     gens=[rows.gens[r] for r in keep])

    @staticmethod
    def _sample(logits: torch.Tensor, gens: list[torch.Generator], s: Sampling) -> torch.Tensor:
        """One kept-vocabulary index per row: top-k, temperature, the row's own generator."""
        scores = logits.float() / max(s.temperature, 1e-6)
        k = min(s.top_k, scores.shape[-1]) if s.top_k > 0 else scores.shape[-1]
        top, idx = scores.topk(k, dim=-1)
        probs = torch.softmax(top, dim=-1)
        choice = torch.stack([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(gens)])
        return idx.gather(1, choice).flatten()


class FastGenerator:
    """The :class:`~xqg_pyserini.generators.QueryGenerator` face of :class:`SharedPrefixDecoder`."""

    def __init__(self, model, tokenizer, generator_id: str, sampling: Sampling = Sampling(),
                 template: str = PASSAGE_FIRST, vocab: Sequence[int] | None = None, dtype: str = "float32"):
        self.dtype = apply_dtype(model.eval(), dtype)
        if self.dtype == "float32":
            pack_linear_layers(model)
        self.decoder = SharedPrefixDecoder(model, tokenizer, vocab, template, quantize_head=self.dtype == "int8")
        self.id, self.sampling, self.truncated = generator_id, sampling, 0
        self._seen: set[str] = set()

    def generate(self, requests: Sequence[Request], n: int) -> list[list[str]]:
        for r in requests:
            if r.docid not in self._seen:
                self._seen.add(r.docid)
                self.truncated += prefix_ids(self.decoder.tokenizer, r.title, r.text, self.sampling.max_input_tokens,
                                             self.decoder.template)[1]
        return self.decoder.generate(requests, n, self.sampling)
