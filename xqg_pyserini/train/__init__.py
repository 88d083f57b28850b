"""Stage 7, train: the query generator and the retriever, trained on XQuAD TRAIN articles.

``config`` (:class:`GeneratorTrainConfig` and :class:`RetrieverTrainConfig`: every default and its
help text, which the CLI reads), ``checkpoint`` (the one fingerprinted, resumable checkpoint format
both trainers write), ``pairs`` (the generator's training pairs: XQuAD, a pairs file, or generated questions to distil), ``generator`` (LoRA or
full fine-tuning of gemma-3-270m or an mT5, from scratch or continuing an adapter), ``data``
(Tevatron-layout retriever training files, hard negatives mined with our indexes) and ``retriever``
(contrastive fine-tuning of the shared bi-encoder, optional cross-lingual distillation).
"""
from xqg_pyserini._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".config": "ATTENTION GeneratorTrainConfig RetrieverTrainConfig TrainConfig check_generator_config "
               "check_retriever_config",
    ".checkpoint": "load_checkpoint save_checkpoint",
    ".shared_prefix": "PassageTargets group_pairs shared_prefix_loss step_plan unshared_loss",
    ".pairs": "Pair generated_pairs read_pairs xquad_pairs",
    ".generator": "batch_plan init_source load_base load_init train_from_sources train_generator",
    ".data": "PassageRef TrainingExample build_training_data mine_negatives read_training_file write_training_file",
    ".retriever": "DEFAULT_NAME Teacher batch_passages contrastive_loss plan_batches train_from_file train_retriever",
})
