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
  row's own passage (a row slice of the same tied matrix, so kept ids keep their logits); with
  ``per_language``, each language's rows have their own head: without the other target scripts,
  and for Latin-script languages with every Latin-script token (the stored vocabulary has every
  token of the non-Latin scripts but only the training text's Latin words).

Rows from several passages share a batch, and passages join it as rows finish (``max_rows``); each
row attends to its own passage.
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
from xqg_pyserini.generation.vocab import LanguageHeads, OutputHead
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


@dataclass
class _Plan:
    """A call's passages (prefix ids) and, per passage, its rows (suffix ids, request, sample)."""
    prefixes: list[list[int]]
    members: list[list[tuple[list[int], int, int]]]
    longest: int  # buffer columns per row: longest suffix + max_new_tokens


class SharedPrefixDecoder:
    """Decodes Gemma-3-style causal LMs (pre/post norms, q/k norms, RoPE per layer type) with a
    shared passage prefix. ``model`` is a ``*ForCausalLM`` in eval mode (LoRA merged)."""

    def __init__(self, model, tokenizer, vocab: Sequence[int] | None = None, template: str = PASSAGE_FIRST,
                 quantize_head: bool = False, per_language: bool = False):
        core = model.model
        needed = ("embed_tokens", "layers", "norm", "rotary_emb")
        if not all(hasattr(core, n) for n in needed) or not hasattr(core.layers[0], "pre_feedforward_layernorm"):
            raise ValueError(f"{type(model).__name__} is not a Gemma-3-style decoder; use the HF path")
        self.model, self.core, self.tokenizer, self.template = model, core, tokenizer, template
        self.config = core.config
        self.vocab = list(vocab) if vocab is not None else None
        self.heads = LanguageHeads(model, tokenizer, self.vocab, quantize_head, per_language)
        self.head, self.per_language = self.heads.shared, self.heads.per_language
        self.layer_types = list(getattr(self.config, "layer_types", ["full_attention"] * len(core.layers)))
        self.window = getattr(self.config, "sliding_window", None)
        eos = {tokenizer.eos_token_id} | set(getattr(self.config, "eos_token_id", None) or [] if isinstance(
            getattr(self.config, "eos_token_id", None), list) else [])
        self.stop_ids = {i for i in eos if i is not None}
        self._newline_ids: set[int] | None = None
        self._stop_mask: torch.Tensor | None = None  # per vocabulary id, made with _newline_ids

    # ------------------------------------------------------------------ heads
    def head_for(self, prompts: Sequence[list[int]], lang: str | None = None) -> OutputHead:
        """The trimmed head for a batch: ``lang``'s base head + the batch's prompt tokens + stop tokens."""
        return self._with_prompts(self.heads.base(lang or ""), prompts)

    def _with_prompts(self, base: OutputHead, prompts: Sequence[list[int]]) -> OutputHead:
        return base.extended({t for p in prompts for t in p} | self.stop_ids)

    def _stops(self) -> torch.Tensor:
        """Boolean per vocabulary id: EOS, or a token holding a newline (a causal LM's question ends there)."""
        if self._newline_ids is None:
            self._newline_ids = {i for t, i in self.tokenizer.get_vocab().items() if "\n" in t or "<0x0A>" in t}
            self._stop_mask = torch.zeros(self.head.vocab_size, dtype=torch.bool)
            self._stop_mask[list(self.stop_ids | self._newline_ids)] = True
        return self._stop_mask

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
    def generate(self, requests: Sequence[Request], n: int, sampling: Sampling = Sampling(),
                 max_rows: int | None = None, on_request_done=None) -> list[list[str]]:
        """``n`` questions per request; requests of the same passage share one prefill.

        ``max_rows`` (default: all rows at once) keeps at most that many rows decoding: when rows
        finish, the next passages are prefilled and their rows join the batch (continuous batching),
        so a step never runs for the few rows left at the end of a batch. ``on_request_done(1)`` is
        called as each request's n questions are finished. Every row samples only from its language's
        head (the stored vocabulary, or with ``per_language`` its language's share of it) plus its
        OWN passage's tokens, so its questions do not depend on its batch."""
        if not requests:
            return []
        plan = self._plan(requests, n, sampling)
        # one head per base head the languages use (with per_language: one per script)
        base_of = {r.lang: self.heads.base(r.lang) for r in requests}
        bases = list({id(b): b for b in base_of.values()}.values())
        head_of = {lang: bases.index(base) for lang, base in base_of.items()}
        heads = []  # (head for this batch, which of its added ids each passage may write)
        for base in bases:
            head = self._with_prompts(base, plan.prefixes)
            heads.append((head, self._own_passage_ids(base, head, plan.prefixes)))
        stops = self._stops()
        prefix_kv: list = [None] * len(plan.prefixes)
        prefix_len = torch.tensor([len(p) for p in plan.prefixes])
        # contrast: every row has a twin that reads the same tokens after a passage-free prompt
        blank = self._blank_prompt(sampling) if sampling.contrast else None
        max_rows = max_rows or sum(len(m) for m in plan.members)
        specs: list[tuple[int, int]] = []  # (request j, sample i) of every admitted row, in admission order
        finished: dict[int, list[int]] = {}
        remaining = [n] * len(requests)
        rows, last, twins, twin_last, admitted = None, None, None, None, 0
        while True:
            alive = 0 if rows is None else len(rows.index)
            batch = []  # passages joining now: all that fit (at least one when nothing is decoding)
            while admitted < len(plan.prefixes) and (alive + len(plan.members[admitted]) <= max_rows or alive == 0):
                batch.append(admitted)
                alive += len(plan.members[admitted])
                admitted += 1
            if batch:
                new, new_last, suffixes = self._admit(batch, plan, prefix_kv, prefix_len, specs, requests, sampling)
                rows, last = (new, new_last) if rows is None else (self._merge(rows, new), torch.cat([last, new_last]))
                if blank is not None:
                    new, new_last = self._start(torch.zeros(len(suffixes), dtype=torch.long), suffixes, plan.longest,
                                                *blank)
                    twins, twin_last = (new, new_last) if twins is None else (
                        self._merge(twins, new), torch.cat([twin_last, new_last]))
            if rows is None:
                break
            which = torch.tensor([head_of[requests[specs[x][0]].lang] for x in rows.index])
            chosen = torch.empty(len(rows.index), dtype=torch.long)
            for h, (head, allowed) in enumerate(heads):
                sel = (which == h).nonzero().flatten()
                if len(sel) == 0:
                    continue
                logits = head.logits(last[sel])
                if allowed is not None:
                    logits[:, -allowed.shape[1]:].masked_fill_(~allowed[rows.group[sel]], float("-inf"))
                kept = self._sample(logits, [rows.gens[r] for r in sel.tolist()], sampling,
                                    None if twins is None else (head, twin_last[sel]))
                chosen[sel] = head.to_full(kept)
            for r, token in enumerate(chosen.tolist()):
                rows.out[r].append(token)
            done = stops[chosen] | torch.tensor([len(o) >= sampling.max_new_tokens for o in rows.out])
            for r in done.nonzero().flatten().tolist():
                finished[rows.index[r]] = rows.out[r]
                j = specs[rows.index[r]][0]
                remaining[j] -= 1
                if not remaining[j] and on_request_done is not None:
                    on_request_done(1)
            keep = (~done).nonzero().flatten()
            if len(keep) == 0:
                rows = twins = None
                continue
            if len(keep) < len(rows.index):
                rows, chosen = self._select(rows, keep), chosen[keep]
                twins = None if twins is None else self._select(twins, keep)
                for g in set(range(admitted)) - set(rows.group.tolist()):
                    prefix_kv[g] = None  # a passage whose rows all finished: its cache goes
            tokens = chosen[:, None]
            last = self._forward(tokens, rows, prefix_kv, self._spans(rows.group, len(plan.prefixes)), prefix_len)[:, -1]
            if twins is not None:
                twin_last = self._forward(tokens, twins, blank[0], [(0, len(keep))], blank[1])[:, -1]
        self.last_tokens = [finished[r] for r in range(len(specs))]  # generated ids per row (for inspection)
        texts: list[list[str]] = [[""] * n for _ in requests]
        for r, (j, i) in enumerate(specs):
            tokens = [t for t in finished[r] if t not in self.stop_ids]
            texts[j][i] = clean_query(self.tokenizer.decode(tokens, skip_special_tokens=True))
        return texts

    def _plan(self, requests: Sequence[Request], n: int, sampling: Sampling) -> "_Plan":
        """Passages in order of first appearance, with the (suffix, request, sample) rows of each."""
        index: dict[tuple[str, str, str], int] = {}
        plan = _Plan(prefixes=[], members=[], longest=0)
        suffixes: dict[str, list[int]] = {}
        for j, r in enumerate(requests):
            key = (r.docid, r.title, r.text)
            if key not in index:
                index[key] = len(plan.prefixes)
                plan.prefixes.append(prefix_ids(self.tokenizer, r.title, r.text, sampling.max_input_tokens, self.template)[0])
                plan.members.append([])
            if r.lang not in suffixes:
                suffixes[r.lang] = suffix_ids(self.tokenizer, r.lang, self.template)
            plan.members[index[key]].extend((suffixes[r.lang], j, i) for i in range(n))
        plan.longest = max(len(s) for m in plan.members for s, _, _ in m) + sampling.max_new_tokens
        if self.window and max(len(p) for p in plan.prefixes) + plan.longest > self.window:
            raise ValueError(f"prompt + question exceed the sliding window ({self.window}); lower max_input_tokens")
        return plan

    def _own_passage_ids(self, base_head: OutputHead, head: OutputHead, prefixes: list[list[int]]) -> torch.Tensor | None:
        """(passages, extra ids) mask: which ids ``head`` added to ``base_head`` for the batch each
        passage may write (its own tokens and the stop tokens); None when nothing was added."""
        base = 0 if base_head.ids is None else len(base_head.ids)
        if head.ids is None or len(head.ids) == base:
            return None
        extra = head.ids[base:].tolist()
        mask = torch.zeros(len(prefixes), len(extra), dtype=torch.bool)
        for g, prefix in enumerate(prefixes):
            own = set(prefix) | self.stop_ids
            mask[g] = torch.tensor([t in own for t in extra])
        return mask

    def _admit(self, groups: list[int], plan: "_Plan", prefix_kv: list, prefix_len: torch.Tensor,
               specs: list[tuple[int, int]], requests: Sequence[Request], sampling: Sampling):
        """Prefill ``groups``' passages and run their rows' language suffixes: new rows, their last
        hidden states and their suffixes."""
        for g in groups:
            prefix_kv[g] = self._prefill(plan.prefixes[g])
        members = [(g, s, j, i) for g in groups for s, j, i in plan.members[g]]
        first = len(specs)
        specs.extend((j, i) for _, _, j, i in members)
        suffixes = [s for _, s, _, _ in members]
        rows, last = self._start(torch.tensor([g for g, _, _, _ in members]), suffixes, plan.longest, prefix_kv,
                                 prefix_len)
        rows.index = list(range(first, first + len(members)))
        rows.gens = [torch.Generator().manual_seed(row_seed(sampling.seed, requests[j].docid, requests[j].lang, i))
                     for _, _, j, i in members]
        return rows, last, suffixes

    def _start(self, group: torch.Tensor, suffixes: list[list[int]], longest: int, prefix_kv: list,
               prefix_len: torch.Tensor):
        """New rows (of passages ``group``, already prefilled) after their language suffixes, and
        their last hidden states."""
        dtype = next(kv for kv in prefix_kv if kv is not None)[0][0].dtype
        kvh, hd, B = self.config.num_key_value_heads, self.config.head_dim, len(suffixes)
        rows = _Rows(group=group, length=torch.zeros(B, dtype=torch.long),
                     keys=[torch.zeros(B, kvh, longest, hd, dtype=dtype) for _ in self.core.layers],
                     values=[torch.zeros(B, kvh, longest, hd, dtype=dtype) for _ in self.core.layers],
                     out=[[] for _ in range(B)], index=list(range(B)), gens=[None] * B)
        # the language suffixes, right-padded: causal attention keeps pads out of real tokens
        width = max(len(s) for s in suffixes)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in suffixes])
        ends = torch.tensor([len(s) - 1 for s in suffixes])
        hidden = self._forward(ids, rows, prefix_kv, self._spans(group, len(prefix_kv)), prefix_len)
        rows.length = ends + 1  # the pads' columns are overwritten by the first generated tokens
        return rows, hidden[torch.arange(B), ends]

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
    def _merge(a: _Rows, b: _Rows) -> _Rows:
        """Rows ``a`` then ``b`` (b's groups come after a's, so the batch stays sorted by group)."""
        return _Rows(group=torch.cat([a.group, b.group]), length=torch.cat([a.length, b.length]),
                     keys=[torch.cat([x, y]) for x, y in zip(a.keys, b.keys)],
                     values=[torch.cat([x, y]) for x, y in zip(a.values, b.values)],
                     out=a.out + b.out, index=a.index + b.index, gens=a.gens + b.gens)

    def _blank_prompt(self, sampling: Sampling):
        """([its KV cache], its length) of the passage-free prompt (BOS, empty title and passage) that
        contrast's twin rows read instead of their passage."""
        ids = prefix_ids(self.tokenizer, "", "", sampling.max_input_tokens, self.template)[0]
        return [self._prefill(ids)], torch.tensor([len(ids)])

    @staticmethod
    def _sample(logits: torch.Tensor, gens: list[torch.Generator], s: Sampling, contrast=None) -> torch.Tensor:
        """One kept-vocabulary index per row: top-k, temperature, the row's own generator.

        ``contrast`` = (head, twin hidden states): the top-k tokens (of the passage prompt, so only
        plausible ones) are rescored as (1+w)*logit - w*logit without the passage, w = ``s.contrast``:
        tokens the passage makes likely (its names, numbers, terms) gain over generic question words."""
        k = min(s.top_k, logits.shape[-1]) if s.top_k > 0 else logits.shape[-1]
        top, idx = logits.topk(k, dim=-1)  # before the temperature: dividing the whole row costs as much as top-k
        if contrast is not None:
            head, hidden = contrast
            top = (1 + s.contrast) * top - s.contrast * head.logits_at(hidden, idx).to(top.dtype)
        probs = torch.softmax(top.float() / max(s.temperature, 1e-6), dim=-1)
        choice = torch.stack([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(gens)])
        return idx.gather(1, choice).flatten()


class FastGenerator:
    """The :class:`~xqg_pyserini.generators.QueryGenerator` face of :class:`SharedPrefixDecoder`.

    ``continuous``: the runner may pass many passages in one call with ``max_rows`` rows decoding
    at a time (see :meth:`SharedPrefixDecoder.generate`)."""

    continuous = True

    def __init__(self, model, tokenizer, generator_id: str, sampling: Sampling = Sampling(),
                 template: str = PASSAGE_FIRST, vocab: Sequence[int] | None = None, dtype: str = "float32",
                 per_language: bool = False):
        self.dtype = apply_dtype(model.eval(), dtype)
        if self.dtype == "float32":
            pack_linear_layers(model.model.layers)
        self.decoder = SharedPrefixDecoder(model, tokenizer, vocab, template, quantize_head=self.dtype == "int8",
                                           per_language=per_language)
        self.id, self.sampling, self.truncated = generator_id, sampling, 0
        self._seen: set[str] = set()

    def generate(self, requests: Sequence[Request], n: int, max_rows: int | None = None,
                 on_request_done=None) -> list[list[str]]:
        for r in requests:
            if r.docid not in self._seen:
                self._seen.add(r.docid)
                self.truncated += prefix_ids(self.decoder.tokenizer, r.title, r.text, self.sampling.max_input_tokens,
                                             self.decoder.template)[1]
        return self.decoder.generate(requests, n, self.sampling, max_rows, on_request_done)
