"""Honest statistics for parallel benchmarks: the question id, not (language, id), is the unit."""
from __future__ import annotations

import math

import pytest

from xqg_pyserini.evaluation.significance import mean_by_id, paired_report

# Two languages, three parallel question ids. Differences a - b:
#   de: x 0.2, y 0.4, z 0.0      ru: x 0.0, y 0.2, z 0.4
# by id (mean over languages): x 0.1, y 0.3, z 0.2
A = {"de": {"x": 0.7, "y": 0.9, "z": 0.5}, "ru": {"x": 0.5, "y": 0.6, "z": 0.8}}
B = {"de": {"x": 0.5, "y": 0.5, "z": 0.5}, "ru": {"x": 0.5, "y": 0.4, "z": 0.4}}


def test_mean_by_id_averages_each_id_over_the_languages_both_systems_have():
    a, b = mean_by_id({**A, "el": {"x": 1.0, "only_a": 1.0}}, {**B, "el": {"x": 0.0}, "th": {"x": 9.0}})
    assert set(a) == set(b) == {"x", "y", "z"}
    assert a["x"] == pytest.approx((0.7 + 0.5 + 1.0) / 3) and b["x"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert a["z"] == pytest.approx(0.65) and b["z"] == pytest.approx(0.45)


def test_by_id_t_test_golden_values():
    report = paired_report(A, B, trials=20000, seed=1)
    by_id = report["by_id"]
    # d = [0.1, 0.3, 0.2]: mean 0.2, s = 0.1, t = 0.2 / (0.1 / sqrt 3) = 2 sqrt 3 on 2 degrees of freedom,
    # where the two-sided p is 1 - t / sqrt(t^2 + 2) = 1 - sqrt(6/7).
    assert by_id["ids"] == 3 and by_id["diff"] == pytest.approx(0.2, abs=1e-12)
    assert by_id["p"] == pytest.approx(1 - math.sqrt(6 / 7), abs=1e-9)
    assert by_id["p"] == pytest.approx(0.0741799, abs=1e-7)
    # Exact sign-flip distribution over 3 ids: only all-plus and all-minus reach |mean| 0.2, p = 2/8.
    assert by_id["p_randomization"] == pytest.approx(0.25, abs=0.015)


def test_pooled_test_overstates_against_by_id():
    from scipy.stats import t as student_t

    report = paired_report(A, B)
    # Pooled d = [0.2, 0.4, 0.0, 0.0, 0.2, 0.4]: mean 0.2, s^2 = 0.16 / 5, t = 0.2 / sqrt(0.032 / 6), df 5.
    t = 0.2 / math.sqrt(0.032 / 6)
    assert t == pytest.approx(2.738613, abs=1e-6)
    assert report["queries"] == 6 and report["diff"] == pytest.approx(0.2, abs=1e-12)
    assert report["p"] == pytest.approx(2 * student_t.sf(t, df=5), abs=1e-12)
    assert report["p"] == pytest.approx(0.040859, abs=1e-6)
    assert report["p"] < 0.05 < report["by_id"]["p"]  # significant only if translations count as independent
    # Per language: de d = [0.2, 0.4, 0.0], ru d = [0.0, 0.2, 0.4]: both mean 0.2, s = 0.2, t = sqrt 3, df 2.
    for lang in ("de", "ru"):
        assert report["per_language"][lang]["diff"] == pytest.approx(0.2, abs=1e-12)
        assert report["per_language"][lang]["p"] == pytest.approx(1 - math.sqrt(3 / 5), abs=1e-9)


def test_report_tables_show_pooled_and_by_id_for_each_measure():
    from xqg_pyserini.experiments.report import macro_table, significance_table

    sig = paired_report(A, B)
    row = {"nDCG@10": 0.5, "R@1": 0.4, "R@10": 0.9, "MRR@10": 0.6}
    table = {"columns": list(row), "rows": {"de": row, "ru": row, "macro": row}}
    tables = {"dense": table, "dense+xQG": table}
    for stored in (sig, {"nDCG@10": sig, "R@1": sig}):  # a v1 result (nDCG@10 only) and a v2 one (by measure)
        text = macro_table(tables, {"dense+xQG": stored})
        assert "| Δ nDCG@10 vs dense | p pooled | p by id |" in text and "| dense+xQG | " in text
        assert f"| +0.2000 | {sig['p']:.4f} | {sig['by_id']['p']:.4f} |" in text  # the macro table's test columns
        assert ("Δ R@1 vs dense" in text) is (stored is not sig)
        text = significance_table({"dense+xQG": stored})
        assert f"| {sig['by_id']['p']:.4f} | " in text and "| 3 |" in text  # the significance table's ids
        assert "0.0409" in text and "0.0742" in text
    assert "| Δ R@1 |" in significance_table({"x": {"nDCG@10": sig, "R@1": sig}}, "R@1")
