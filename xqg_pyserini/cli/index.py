"""``xqg index``, ``xqg augment``, ``xqg expand`` (stage: index)."""
from __future__ import annotations

from xqg_pyserini.cli.options import (CORPUS_HELP, allow_incomplete_option, encoder_options, fraction,
                                      index_kind_options, make_encoder, option, overwrite_option,
                                      positive_int, ray_options)


def register(sub) -> None:
    p = sub.add_parser("index", help="build a BM25 (Lucene) or dense (FAISS) index in Pyserini's layout",
                       description="BM25: Anserini's IndexCollection over a JsonCollection. Dense: encode every "
                                   "passage ('title text') into a FAISS IndexFlatIP with a docid file, or build any "
                                   "FAISS index from precomputed embeddings (--embeddings, e.g. from `xqg encode`).")
    p.add_argument("kind", choices=["bm25", "dense"])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", help=CORPUS_HELP)
    source.add_argument("--embeddings", metavar="DIR",
                        help="dense: precomputed passage embeddings instead of a corpus: the output of `xqg encode`, "
                             "any directory of Pyserini index shards (index + docid each), or one flat index")
    p.add_argument("--out", required=True, help="index directory to write (new, empty, or an earlier index of this "
                                                "kind with --overwrite; swapped in only when complete)")
    overwrite_option(p, "index")
    encoder_options(p)
    index_kind_options(p)
    p.set_defaults(func=run_index)
    _add_encode(sub)
    _add_augment(sub)
    _add_expand(sub)


def run_index(args) -> None:
    from xqg_pyserini.data.corpus import read_corpus

    from xqg_pyserini.data.io import claim_output
    from xqg_pyserini.errors import InputError
    import xqg_pyserini.index.faiss as faiss
    import xqg_pyserini.index.lucene as lucene

    if args.embeddings is not None:
        if args.kind != "dense":
            raise InputError(None, "--embeddings builds a dense index: xqg index dense --embeddings DIR")
        from xqg_pyserini.index.encoded import index_from_embeddings

        manifest = index_from_embeddings(args.embeddings, args.out, args.index_factory, args.train_size,
                                         args.search_params, overwrite=args.overwrite)
        print(f"wrote {args.out}: {manifest['corpus']['passages']} vectors, {manifest['index_factory']}")
        return
    if args.index_factory != "Flat" or args.search_params:
        raise InputError(None, "--index-factory applies to --embeddings (and to xqg augment); encode first with "
                               "`xqg encode`, then `xqg index dense --embeddings DIR --index-factory ...`")
    read_corpus(args.corpus)  # a bad corpus or output fails before a model is loaded or Java started
    kind = lucene if args.kind == "bm25" else faiss
    claim_output(args.out, kind.COMMAND, overwrite=args.overwrite, inputs=[args.corpus], legacy=kind.LEGACY)
    if args.kind == "bm25":
        out = lucene.build_bm25_index(args.corpus, args.out, overwrite=args.overwrite)
    else:
        out = faiss.build_faiss_index(args.corpus, make_encoder(args), args.out, overwrite=args.overwrite)
    print(f"wrote {out}")


def _add_encode(sub) -> None:
    from xqg_pyserini.index.encoded import encode_corpus

    p = sub.add_parser("encode", help="encode a corpus into index shards (Pyserini's sharded layout), on Ray or here",
                       description="One flat FAISS index per corpus part (OUT/part-*/index + docid) and "
                                   "OUT/embeddings.json; a rerun encodes only the missing parts. Build the index with "
                                   "`xqg index dense --embeddings OUT [--index-factory ...]`.")
    p.add_argument("--corpus", required=True, help=CORPUS_HELP)
    p.add_argument("--out", required=True, help="directory of index shards to write (resumed if it is ours)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming --out (only if ours)")
    p.add_argument("--no-progress", action="store_true")
    encoder_options(p)
    ray_options(p, "encode", encode_corpus)
    p.set_defaults(func=run_encode)


def run_encode(args) -> None:
    from xqg_pyserini.index.encoded import encode_corpus

    summary = encode_corpus(args.corpus, args.out, args.encoder, args.preset, args.pooling, args.l2_norm,
                            args.batch_size, args.part_bytes, args.ray, args.actors, args.cpus_per_actor,
                            address=args.ray_address, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"wrote {summary['out']}: {summary}")


def query_selection(p, source) -> None:
    p.add_argument("--queries", required=True, help="generated queries (JSONL: docid, lang, i, query, generator), or the "
                                                    "directory of parts `xqg generate --ray` writes")
    p.add_argument("--languages", nargs="+", default=None, help="query languages to use (default: all)")
    option(p, "--per-language", source, "queries_per_language", type=positive_int,
           help="first N queries (by i) per passage and language (default: all)")
    p.add_argument("--skip-unknown", action="store_true", help="skip (and count) queries whose docid is unknown")
    allow_incomplete_option(p)


def _add_augment(sub) -> None:
    from xqg_pyserini.index.augment import FUSIONS, augment_index

    p = sub.add_parser("augment", help="xQG: fuse generated-query embeddings into a FAISS flat index (out: any kind)",
                       description="e' = (1-a)*e_p + a*SUM(e_q) (--fusion sum, the paper, a=0.01) or "
                                   "(1-b)*e_p + b*mean(e_q) (--fusion mean); streams the index in blocks. "
                                   "Query embeddings are cached, so another --weight does not re-encode.")
    p.add_argument("--index", required=True, help="Pyserini FAISS index directory (index + docid), or the parts "
                                                  "`xqg encode` writes (then --queries: `xqg generate --ray` parts)")
    p.add_argument("--out", required=True, help="augmented index directory to write (appears only when complete)")
    overwrite_option(p, "augmented index")
    query_selection(p, augment_index)
    option(p, "--fusion", augment_index, choices=FUSIONS, help="sum (the paper) or mean")
    option(p, "--weight", augment_index, type=fraction, help="a (sum) or b (mean), in [0, 1]")
    p.add_argument("--normalize", action="store_true", help="L2-normalise augmented vectors after fusion")
    p.add_argument("--per-language-indexes", action="store_true",
                   help="write OUT/<lang>/ per language, each with only that language's queries")
    option(p, "--roundtrip", augment_index, type=positive_int, metavar="K",
           help="fuse only the queries whose own passage is in the top K when they search the input index "
                "(round-trip filter; default: every query)")
    option(p, "--block-size", augment_index, type=positive_int, help="passage vectors per block")
    encoder_options(p)
    index_kind_options(p)
    p.set_defaults(func=run_augment)


def run_augment(args) -> None:
    from xqg_pyserini.index.augment import augment_index, augment_per_language, check_selection
    from xqg_pyserini.index.augment_parts import augment_parts, check_parts_options, is_parts_dir

    from xqg_pyserini.data.io import claim_output
    from xqg_pyserini.errors import InputError
    from xqg_pyserini.generation.queries import check_complete

    run = augment_per_language if args.per_language_indexes else augment_index
    # the queries file, the index, the selection and the output are checked before a model is loaded
    check_complete(args.queries, args.allow_incomplete)
    if is_parts_dir(args.index):  # `xqg encode` parts with `xqg generate --ray` parts: one part at a time
        if args.per_language_indexes or args.roundtrip:
            raise InputError(args.index, "--per-language-indexes and --roundtrip need one index; build it with "
                                         "xqg index dense --embeddings")
        check_parts_options(args.fusion, args.queries)
        claim_output(args.out, "augment", overwrite=args.overwrite, inputs=[args.index, args.queries])
        manifest = augment_parts(args.index, args.queries, make_encoder(args), args.out, args.fusion, args.weight,
                                 args.normalize, args.languages, args.queries_per_language,
                                 "skip" if args.skip_unknown else "error", args.block_size, overwrite=args.overwrite,
                                 index_factory=args.index_factory, train_size=args.train_size,
                                 search_params=args.search_params)
        print(f"wrote {args.out}: {manifest['counts']}")
        return
    check_selection(args.index, args.queries, args.languages, args.queries_per_language, args.index_factory,
                    args.search_params)
    claim_output(args.out, "augment", overwrite=args.overwrite, inputs=[args.index, args.queries], legacy=("manifest.json",))
    manifest = run(args.index, args.queries, make_encoder(args), args.out, fusion=args.fusion, weight=args.weight,
                   normalize=args.normalize, languages=args.languages, queries_per_language=args.queries_per_language,
                   on_unknown_docid="skip" if args.skip_unknown else "error", block_size=args.block_size,
                   overwrite=args.overwrite, index_factory=args.index_factory, train_size=args.train_size,
                   search_params=args.search_params, roundtrip=args.roundtrip)
    print(f"wrote {args.out}: {manifest['counts']}")


def _add_expand(sub) -> None:
    from xqg_pyserini.index.expand import expand_corpus

    p = sub.add_parser("expand", help="cross-lingual doc2query: append generated queries to passages (for BM25)",
                       description="Writes a JsonCollection .jsonl whose contents end with each passage's "
                                   "generated queries; index it with `xqg index bm25`.")
    p.add_argument("--corpus", required=True, help="JsonCollection .jsonl file, or a directory holding exactly one")
    p.add_argument("--out", required=True, help=".jsonl file to write (index it with: xqg index bm25 --corpus OUT)")
    overwrite_option(p, "expanded corpus")
    query_selection(p, expand_corpus)
    p.set_defaults(func=run_expand)


def run_expand(args) -> None:
    from xqg_pyserini.index.expand import expand_corpus

    from xqg_pyserini.generation.queries import check_complete

    check_complete(args.queries, args.allow_incomplete)
    counts = expand_corpus(args.corpus, args.queries, args.out, args.languages, args.queries_per_language,
                           "skip" if args.skip_unknown else "error", overwrite=args.overwrite)
    print(f"wrote {args.out}: {counts}")

