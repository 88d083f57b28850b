"""The package's shape: stages that import only earlier stages, no JVM (or torch) on import, thin
re-exports at the old flat paths, modules of a readable size."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xqg_pyserini"
#: Pipeline order: a module may import its own stage or an earlier one (top-level helpers: any).
STAGES = ["data", "models", "generation", "encode", "index", "search", "evaluation", "train", "experiments", "cli"]
TOP = {"errors", "_jvm", "_lazy"}
#: The old flat modules, kept one release as lazy re-exports.
DEPRECATED = {"augmentation", "doc2query", "encoders", "flatindex", "generation_quality", "generator_training",
              "generators", "indexing", "io", "jvm", "languages", "passthrough", "pipeline", "prompts",
              "query_embeddings", "report", "study", "training", "training_data"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """Every ``xqg_pyserini.<x>`` a module imports: import statements anywhere (also inside functions)
    and the module names of ``lazy_exports`` tables."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "lazy_exports":
            table = node.args[1]
            out += [(node.lineno, k.value) for k in table.keys if k.value.startswith("xqg_pyserini.")]
    return [(line, name) for line, name in out if name.split(".")[0] == "xqg_pyserini"]


def test_no_module_imports_a_later_stage():
    wrong = []
    for path, parts in _modules():
        if parts[0] in DEPRECATED or parts == ("__init__",):
            continue
        own = STAGES.index(parts[0]) if parts[0] in STAGES else -1
        for line, name in _imported(ast.parse(path.read_text())):
            target = name.split(".")[1] if "." in name else ""
            if target in TOP or target not in STAGES and target not in DEPRECATED:
                continue
            if target in DEPRECATED or STAGES.index(target) > own:
                wrong.append(f"{'/'.join(parts)}.py:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_stages_are_subpackages_and_modules_stay_small():
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file()
    sizes = {"/".join(parts): len(path.read_text().splitlines()) for path, parts in _modules()}
    assert {name: n for name, n in sizes.items() if n > 400} == {}
    for old in DEPRECATED:
        text = (PACKAGE / f"{old}.py").read_text()
        assert "Deprecated" in text and len(text.splitlines()) < 30


def test_importing_starts_no_jvm_and_loads_no_torch():
    code = ("import sys, xqg_pyserini, xqg_pyserini.data.languages, xqg_pyserini.languages, xqg_pyserini.search, "
            "xqg_pyserini.generators, xqg_pyserini.augmentation, xqg_pyserini.encode, xqg_pyserini.train\n"
            "from xqg_pyserini.cli import build_parser\n"
            "build_parser()\n"
            "import threading\n"
            "print(json.dumps({'jnius': 'jnius' in sys.modules, 'torch': 'torch' in sys.modules,\n"
            "                  'threads': [t.name for t in threading.enumerate()]}))")
    done = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {"jnius": False, "torch": False, "threads": ["MainThread"]}


def test_old_import_paths_still_work():
    from xqg_pyserini.augmentation import AugmentationPlan, PerLanguageSearcher, read_queries
    from xqg_pyserini.data import load_squad_dir
    from xqg_pyserini.encode.queries import QueryKeys
    from xqg_pyserini.experiments.demo import DemoResult, run_demo
    from xqg_pyserini.generation.queries import iter_query_rows
    from xqg_pyserini.generator_training import TrainConfig, materialize_gemma, resolve_generator
    from xqg_pyserini.index.augment import AugmentationPlan as Plan
    from xqg_pyserini.io import InputError as OldError
    from xqg_pyserini.pipeline import BenchmarkResult, run_benchmark
    from xqg_pyserini.query_embeddings import QueryKeys as OldKeys, read_queries as old_rows
    from xqg_pyserini.search.routing import PerLanguageSearcher as Router
    from xqg_pyserini.train.config import GeneratorTrainConfig

    import xqg_pyserini.data.benchmarks as benchmarks
    from xqg_pyserini.errors import InputError

    assert AugmentationPlan is Plan and PerLanguageSearcher is Router and OldKeys is QueryKeys
    assert read_queries is iter_query_rows and old_rows is iter_query_rows
    assert TrainConfig is GeneratorTrainConfig and OldError is InputError and load_squad_dir is benchmarks.load_squad_dir
    assert run_benchmark is run_demo and BenchmarkResult is DemoResult
    assert callable(materialize_gemma) and callable(resolve_generator)
    import xqg_pyserini.indexing as indexing

    with pytest.raises(AttributeError, match="moved to"):
        indexing.no_such_name


def test_old_hybrid_name_is_our_guarded_class():
    import xqg_pyserini.search as search
    from pyserini.search.hybrid import HybridSearcher as Pyserini

    assert search.HybridSearcher is search.GuardedHybridSearcher and issubclass(search.HybridSearcher, Pyserini)
