"""Stage 3a, generation: queries in each target language for every passage (xQG).

``config`` (:class:`Request`, :class:`Sampling`), ``prompts`` (the generator's input, shared with
training), ``backends`` (Hugging Face seq2seq and
causal LMs, CTranslate2, precomputed files, behind one ``generate(requests, n)``), ``language_check`` (off-language questions sampled again), ``fast`` (the prefix-shared decoder: one prefill per passage, rows
leave when done), ``vocab`` (the trimmed output head), ``loading`` (a generator from a spec such as ``xqg``), ``runner`` (sharding, batching, resume: ``generate``) and
``queries`` (the generated-query format and its one reader, ``read_queries``; a file or a directory of
parts) and ``distributed`` (``generate_ray``: the same generation on a Ray cluster). No torch at import.
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".runner": "CorpusReport GenerationSettings default_output generate generate_corpus generate_into mark_complete "
               "resume_state shard_of split_docids",
    ".distributed": "GenerationActor generate_ray part_complete",
    ".queries": "check_complete check_query_row iter_query_rows locate queries_sha256 query_files read_queries",
    ".config": "VOCABULARIES QueryGenerator Request Sampling check_vocabulary",
    ".backends": "Ct2Generator HFGenerator PrecomputedGenerator RowSampler clean_query row_seed",
    ".language_check": "LanguageChecked retry_seed",
    ".loading": "DEFAULT_GENERATOR TRAINED_GENERATOR ct2_model few_shot_prefixes generator_fingerprint load_generator resolve_generator "
                "shipped_generator_dir",
    ".prompts": "CAUSAL_TEMPLATE PAPER_PROMPT PASSAGE_FIRST causal_prompt causal_prompt_ids causal_target_ids prefix_ids "
                "seq2seq_prompt suffix_ids target_ids",
    ".fast": "FastGenerator SharedPrefixDecoder",
    ".vocab": "LanguageHeads OutputHead build_vocabulary coverage is_latin_script language_token_ids latin_token_ids load_vocabulary script_key token_texts save_vocabulary",
    "xqg_pyserini.data.corpus": "corpus_files read_corpus",
})
