"""The README's demo block keeps the last generating demo of each CPU kind."""
import json

from xqg_pyserini.experiments.report import record_demo_time


def _results(cpu, generate=None, qps=None):
    seconds = {"prepare": 1.0, "index": 59.0, **({"generate": generate} if generate is not None else {})}
    return {"cpu": cpu, "seconds": seconds,
            "xqg": {"summary": {"queries_per_second": qps}, "machine": {"dtype": "float32"}, "settings": {"generator": "g"}}}


def test_demo_times_per_cpu_and_cached_runs_do_not_replace(tmp_path):
    path = tmp_path / "demo_times.json"
    record_demo_time(path, _results("AMD EPYC (AVX2)", generate=420.0, qps=6.3))
    record_demo_time(path, _results("Intel Xeon (AMX)", generate=120.0, qps=22.0))
    record_demo_time(path, _results("AMD EPYC (AVX2)"))  # a cached run: no generation, no entry
    times = json.loads(path.read_text())
    assert set(times) == {"AMD EPYC (AVX2)", "Intel Xeon (AMX)"}
    assert times["AMD EPYC (AVX2)"] == {"minutes": 8.0, "generate_seconds": 420.0, "queries_per_second": 6.3,
                                        "dtype": "float32", "generator": "g", "contrast": 0.0}


def test_generation_report_renders_each_stored_comparison_under_its_heading(tmp_path):
    """Stored generation_quality.py results (with why and how they were generated) each get their section."""
    import json

    from xqg_pyserini.experiments.report import write_generation_report

    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "generator.json").write_text(json.dumps({"id": "g", "base": "b", "config": {"lora_r": 8}}))
    docs = tmp_path / "docs"
    docs.mkdir()
    row = {"language": 1.0, "self@1": 0.625, "distinct": 0.99}
    (docs / "generation_distil_test.json").write_text(json.dumps({
        "command": "score it", "passages": 60, "why": "Distilled.", "generate_commands": ["xqg generate A"],
        "tables": {"student": {"de": row, "all": row}}, "files": {}}))
    text = write_generation_report(docs, [gen]).read_text()
    assert "## The contrast distilled into the adapter" in text and "## A head per language" not in text
    assert "Distilled. Generated with `xqg generate A`; scored with `score it` (60 TEST passages" in text
    assert "| de | 1.00 / 0.62 / 0.99 |" in text
