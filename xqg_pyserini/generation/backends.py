"""Query generators behind one interface: ``generator.generate(requests, n) -> n queries per request``.

Backends: Hugging Face seq2seq models (mT5 family, the paper's prompt, so the released
ielabgroup/xor-tydi-docTquery-mt5-base works unchanged where a hub is reachable), Hugging Face causal
LMs (Gemma 3, Qwen, Llama style; a prompt template, optionally our LoRA adapter), the same causal
LMs through CTranslate2 int8 (measured slower than bf16 torch here, kept as an option), and
precomputed queries read from a file. :mod:`xqg_pyserini.generation.loading` builds one from a spec.

Determinism: query ``i`` of (docid, lang) is sampled with its own ``torch.Generator`` seeded from
(seed, docid, lang, i), inside a logits processor that leaves greedy decoding nothing to choose.
So a query does not depend on which other rows share its batch, on the batch size, on sharding, or
on how many queries are asked for: in float32. With bfloat16 weights (``bf16``) rounding depends on
the batch composition and sampled queries do change with the batch size.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Sequence

import torch

from xqg_pyserini.data.io import InputError, read_jsonl
from xqg_pyserini.generation.config import Request, Sampling
from xqg_pyserini.generation.prompts import (CAUSAL_TEMPLATE, PAPER_PROMPT, causal_prompt, prefix_ids, seq2seq_prompt,
                                           suffix_ids)
from xqg_pyserini.generation.queries import check_query_row

_WS = re.compile(r"\s+")


def row_seed(seed: int, docid: str, lang: str, i: int) -> int:
    """A 63-bit seed from (seed, docid, lang, i): stable across processes and Python versions."""
    digest = hashlib.sha256(f"{seed}\x1f{docid}\x1f{lang}\x1f{i}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def clean_query(text: str) -> str:
    """First line of the generated text, whitespace collapsed (a causal LM may run on)."""
    text = text.strip().split("\n", 1)[0]
    return _WS.sub(" ", text).strip()


class RowSampler:
    """Logits processor that samples each row with its own generator (top-k, temperature) and
    returns scores whose argmax is that sample; run it under greedy decoding."""

    def __init__(self, generators: list[torch.Generator], top_k: int, temperature: float):
        self.generators, self.top_k, self.temperature = generators, top_k, temperature

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.float() / max(self.temperature, 1e-6)
        k = min(self.top_k, scores.shape[-1]) if self.top_k > 0 else scores.shape[-1]
        top, idx = scores.topk(k, dim=-1)
        probs, idx = torch.softmax(top, dim=-1).cpu(), idx.cpu()  # the rows' generators live on the CPU
        out = torch.full_like(scores, float("-inf"))
        for row, gen in enumerate(self.generators):
            choice = torch.multinomial(probs[row], 1, generator=gen)
            out[row, idx[row, choice]] = 0.0
        return out


class HFGenerator:
    """A Hugging Face model (causal or seq2seq) that writes queries by sampling."""

    def __init__(self, model, tokenizer, generator_id: str, sampling: Sampling = Sampling(),
                 template: str | None = None, few_shot: dict[str, str] | None = None, bf16: bool = False):
        if bf16:  # bfloat16 weights: faster on CPUs with AVX512-BF16/AMX (slightly different samples)
            model = model.to(torch.bfloat16)
        self.model, self.tokenizer, self.id, self.sampling = model.eval(), tokenizer, generator_id, sampling
        self.seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        self.template = template or (PAPER_PROMPT if self.seq2seq else CAUSAL_TEMPLATE)
        self.few_shot = few_shot or {}
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.truncated = 0  # passages cut to max_input_tokens so far
        head = self.template.split("{passage}", 1)[0]
        self.passage_first = "{language}" not in head and "{language}" in self.template

    def prompt_ids(self, req: Request) -> list[int]:
        """Token ids of one request's prompt (truncated to ``max_input_tokens``)."""
        s = self.sampling
        if self.seq2seq:
            ids = self.tokenizer(seq2seq_prompt(req.lang, req.title, req.text, self.template))["input_ids"]
            if len(ids) > s.max_input_tokens:
                self.truncated += 1
                ids = ids[:s.max_input_tokens - 1] + ids[-1:]  # keep EOS
            return ids
        if self.passage_first and not self.few_shot:  # the prompt prefix-shared generators learn
            ids, cut = prefix_ids(self.tokenizer, req.title, req.text, s.max_input_tokens, self.template)
            self.truncated += cut
            return ids + suffix_ids(self.tokenizer, req.lang, self.template)
        ids, cut = causal_prompt(self.tokenizer, req.lang, req.title, req.text, s.max_input_tokens,
                                 self.template, self.few_shot.get(req.lang, ""))
        self.truncated += cut
        return ids

    def generate(self, requests: Sequence[Request], n: int) -> list[list[str]]:
        """Each prompt is encoded once (seq2seq: the encoder; causal: a prefill whose cache is
        copied to the ``n`` rows), then ``n`` rows are sampled, each with its own seed."""
        if not requests:
            return []
        s = self.sampling
        prompts = [self.prompt_ids(r) for r in requests]
        gens = [torch.Generator().manual_seed(row_seed(s.seed, r.docid, r.lang, i)) for r in requests for i in range(n)]
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        # Left padding for causal LMs (generation continues at the right edge); right for seq2seq.
        if self.seq2seq:
            ids = torch.tensor([p + [pad] * (width - len(p)) for p in prompts])
            mask = torch.tensor([[1] * len(p) + [0] * (width - len(p)) for p in prompts])
        else:
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        ids, mask = ids.to(self.model.device), mask.to(self.model.device)
        from transformers import GenerationConfig, LogitsProcessorList

        config = GenerationConfig(max_new_tokens=s.max_new_tokens, do_sample=False, num_beams=1,
                                  pad_token_id=pad, eos_token_id=self.tokenizer.eos_token_id,
                                  bos_token_id=self.tokenizer.bos_token_id,
                                  decoder_start_token_id=getattr(self.model.config, "decoder_start_token_id", None))
        sampler = LogitsProcessorList([RowSampler(gens, s.top_k, s.temperature)])
        with torch.inference_mode():
            if self.seq2seq:
                from transformers.modeling_outputs import BaseModelOutput

                hidden = self.model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
                encoded = BaseModelOutput(last_hidden_state=hidden.repeat_interleave(n, 0))
                new = self.model.generate(encoder_outputs=encoded, attention_mask=mask.repeat_interleave(n, 0),
                                          generation_config=config, logits_processor=sampler)
            else:
                cache = self._prefill(ids, mask)
                cache.batch_repeat_interleave(n)
                out = self.model.generate(input_ids=ids.repeat_interleave(n, 0), attention_mask=mask.repeat_interleave(n, 0),
                                          cache=cache, generation_config=config, logits_processor=sampler)
                new = out[:, width:]
        texts = [clean_query(t) for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
        return [texts[j * n:(j + 1) * n] for j in range(len(requests))]

    def _prefill(self, ids: torch.Tensor, mask: torch.Tensor):
        """KV cache of all prompt tokens but the last (generate then starts from that token)."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        self.model.model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                         cache=cache, use_cache=True)
        return cache


class PrecomputedGenerator:
    """Queries read from a file instead of a model: our JSONL (one query per line) or the
    per-passage layout ``{"id"|"docid": ..., "queries": {lang: [q, ...]}}`` (also ``"<lang>_queries"``).

    A request with fewer than ``n`` stored queries is an error naming the passage, not a silent gap.
    """

    def __init__(self, path: str | Path, generator_id: str | None = None):
        self.path = Path(path)
        self.store: dict[tuple[str, str], dict[int, str]] = {}
        ids = set()
        for number, row in read_jsonl(self.path):
            docid = row.get("docid", row.get("id", row.get("_id")))
            if docid is None:
                raise InputError(self.path, "row has no docid/id", line=number)
            if "query" in row:
                docid, lang, i, query = check_query_row(self.path, number, {"i": 0, **row, "docid": str(docid)})
                self.store.setdefault((docid, lang), {})[i] = query
                ids.add(row.get("generator", ""))
                continue
            queries = row.get("queries") or {k[:-len("_queries")]: v for k, v in row.items() if k.endswith("_queries")}
            if not isinstance(queries, dict):
                raise InputError(self.path, "expected 'query' or a 'queries' object {lang: [...]}", line=number)
            for lang, qs in queries.items():
                self.store[(str(docid), lang)] = dict(enumerate(qs))
        self.id = generator_id or (ids.pop() if len(ids) == 1 else self.path.stem)

    def generate(self, requests: Sequence[Request], n: int) -> list[list[str]]:
        out = []
        for r in requests:
            have = self.store.get((r.docid, r.lang), {})
            if any(i not in have for i in range(n)):
                raise InputError(self.path, f"fewer than {n} queries stored for docid {r.docid!r} in {r.lang!r}")
            out.append([have[i] for i in range(n)])
        return out


class Ct2Generator:
    """CTranslate2 (int8) for causal LMs. CTranslate2 seeds its sampler once per worker thread, so
    each (passage, language) group runs on a freshly created generator right after
    ``set_random_seed(seed of (seed, docid, lang))``: output independent of batch size and sharding
    (query i also depends on n). Convert a generator with :func:`ct2_model`."""

    def __init__(self, ct2_dir: Path, tokenizer, generator_id: str, sampling: Sampling = Sampling(),
                 template: str | None = None, threads: int = 0):
        self.dir, self.tokenizer, self.id, self.sampling = ct2_dir, tokenizer, generator_id, sampling
        # 0 would let CTranslate2 reset the process-wide OpenMP thread count (torch's too)
        self.threads = threads or torch.get_num_threads()
        self.template, self.truncated = template or CAUSAL_TEMPLATE, 0

    def generate(self, requests: Sequence[Request], n: int) -> list[list[str]]:
        import ctranslate2

        s, out = self.sampling, []
        for r in requests:
            ids, cut = causal_prompt(self.tokenizer, r.lang, r.title, r.text, s.max_input_tokens, self.template)
            self.truncated += cut
            ctranslate2.set_random_seed(row_seed(s.seed, r.docid, r.lang, 0) % (1 << 31))
            engine = ctranslate2.Generator(str(self.dir), device="cpu", compute_type="int8", intra_threads=self.threads)
            res = engine.generate_batch([self.tokenizer.convert_ids_to_tokens(ids)], max_length=s.max_new_tokens,
                                        sampling_topk=s.top_k, sampling_temperature=s.temperature, num_hypotheses=n,
                                        include_prompt_in_result=False, end_token=self.tokenizer.eos_token)
            out.append([clean_query(self.tokenizer.decode(seq, skip_special_tokens=True)) for seq in res[0].sequences_ids])
        return out
