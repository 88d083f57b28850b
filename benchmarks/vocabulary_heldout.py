"""TRAIN-side test of ``--vocabulary``: is a head per language better than the trimmed head on words
the vocabulary never saw?

The stored vocabulary was built from the TRAIN questions, so on TRAIN passages it already holds
their words and any comparison there favours it. Here the vocabulary is rebuilt WITHOUT the
questions of TRAIN shard 0 of 4 (every passage stays: its tokens are added at generation anyway),
and on shard 0's passages the rebuilt trimmed head and the per-language heads made from it generate
n=2 questions in the 11 languages. The adapter saw those questions in both arms; only the vocabulary
is held out. Run with nothing else heavy, then score:

    .venv/bin/python benchmarks/vocabulary_heldout.py --out /tmp/vexp
    .venv/bin/python benchmarks/generation_quality.py trimmed-heldout=/tmp/vexp/heldout_trimmed.jsonl \\
        language-heldout=/tmp/vexp/heldout_language.jsonl --split train --json FILE
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from xqg_pyserini.data.corpus import read_corpus
from xqg_pyserini.data.languages import XQUAD_LANGUAGES
from xqg_pyserini.generation import Sampling, generate_corpus, load_generator, shard_of, split_docids
from xqg_pyserini.generation.fast import SharedPrefixDecoder
from xqg_pyserini.generation.vocab import build_vocabulary
from xqg_pyserini.models.cpu import available_cores
from xqg_pyserini.train.generator import xquad_pairs


def main() -> None:
    from xqg_pyserini.cli import quiet_libraries

    quiet_libraries()  # our output, not the libraries' loading bars
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="collections/xquad/corpus")
    ap.add_argument("--out", required=True, help="directory for heldout_trimmed.jsonl and heldout_language.jsonl")
    ap.add_argument("-n", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(available_cores())
    train = split_docids(args.corpus, "train")
    shard0 = {p.text for p in read_corpus(args.corpus) if p.docid in train and shard_of(p.docid, 4) == 0}
    pairs = xquad_pairs("train")
    kept = [p for p in pairs if p.passage not in shard0]
    print(f"{len(pairs)} TRAIN pairs, {len(pairs) - len(kept)} of shard 0's {len(shard0)} passages held out of the vocabulary")
    gen = load_generator("xqg", Sampling(), dtype="float32")
    decoder = gen.decoder
    texts = [p.question for p in kept] + sorted({f"{p.title} {p.passage}" for p in pairs})
    vocab = build_vocabulary(decoder.tokenizer, texts, list(XQUAD_LANGUAGES))
    print(f"held-out vocabulary: {len(vocab)} ids (stored: {len(decoder.vocab)})")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name, per_language in (("trimmed", False), ("language", True)):
        gen.decoder = SharedPrefixDecoder(decoder.model, decoder.tokenizer, vocab, decoder.template, per_language=per_language)
        gen.id = f"xqg-heldout-{name}"
        s = generate_corpus(args.corpus, gen, list(XQUAD_LANGUAGES), n=args.n, out=Path(args.out) / f"heldout_{name}.jsonl",
                            batch_size=22, shard=0, num_shards=4, docids=train, overwrite=True, progress=False)
        print(f"{name}: {s['queries_written']} questions in {s['seconds']} s ({s['queries_per_second']} questions/s)")


if __name__ == "__main__":
    main()
