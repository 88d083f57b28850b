"""Stage 1, data: what every later stage reads and writes.

``io`` (atomic writes, JSONL/TSV readers, cache paths, mapped float32 matrices), ``trec`` (run,
qrels and topics files), ``corpus`` (the one JsonCollection reader, ``read_corpus``), ``benchmarks``
(SQuAD/XQuAD and XOR-Retrieve into a Pyserini-style benchmark directory, :class:`Benchmark`) and
``mkqa`` (MKQA's 26 languages as topics and answers files), ``languages`` (codes, names, an offline
script check), ``parts`` (a corpus cut by byte ranges: the unit of distributed runs) and
``cluster`` (Ray, optional: parts as a Ray Dataset through a pool of model actors). Standard library only at import.
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".io": "InputError MappedMatrix OUTPUT_MARKER atomic_dir atomic_file cache_dir claim_output clean_stale_temps "
           "mark_output npy_matrix read_jsonl read_tsv require_file scratch_dir "
           "resources_dir sha256_file write_json",
    ".trec": "Qrels Run is_run_file ranked read_qrels read_run read_topics run_path write_run",
    ".corpus": "CorpusPassage clean_text corpus_file corpus_files corpus_sha256 passage_of read_corpus",
    ".parts": "DEFAULT_PART_BYTES Part corpus_layout corpus_parts line_number part_path read_part",
    ".cluster": "Pool connect plan_pool require_ray run_parts",
    ".benchmarks": "Benchmark PIVOT Passage Question TRAIN_ARTICLES default_data_dir find_squad_files load_squad_dir "
                   "read_xor_retrieve xquad_training_pairs",
    ".mkqa": "MKQA_LANGUAGES prepare_mkqa read_mkqa",
    ".languages": "LANGUAGE_NAMES XQUAD_LANGUAGES check_languages dominant_script is_language language_name "
                  "script_counts",
})
