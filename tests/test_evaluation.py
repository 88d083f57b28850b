"""Tests for xqg_pyserini.evaluation: hand-computed golden values, trec_eval agreement, R@kt quirks."""
from __future__ import annotations

import itertools
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from xqg_pyserini.evaluation import (
    DEFAULT_MEASURES, evaluate_languages, evaluate_run, paired_randomization_test, paired_test, per_query,
    ranked, read_qrels, read_run, recall_at_k_tokens, write_run, xor_recall,
)
from xqg_pyserini.errors import InputError

L2 = math.log2

# ----------------------------------------------------------------------------- golden values
# q1: the one relevant doc (a) is ranked first.
#     nDCG@10 = 1, R@1 = 1, R@10 = 1, R@100 = 1, RR@10 = 1
# q2: relevant b, c (rel 1). x and b tie at 0.8: trec_eval puts the larger docid first, so the
#     ranking is x, b, y, z, c.
#     DCG = 1/log2(3) + 1/log2(6); IDCG = 1/log2(2) + 1/log2(3)
#     R@1 = 0, R@10 = 1 (2 of 2), R@100 = 1, RR@10 = 1/2
# q3: relevant d (rel 2), e (rel 1); e ranked 1st, d 12th (outside the top 10).
#     DCG@10 = 1/log2(2) = 1; IDCG = 2/log2(2) + 1/log2(3)  (trec_eval gain = relevance)
#     R@1 = 1/2, R@10 = 1/2, R@100 = 1, RR@10 = 1
GOLD_QRELS = {"q1": {"a": 1}, "q2": {"b": 1, "c": 1}, "q3": {"d": 2, "e": 1}}
GOLD_RUN = {
    "q1": {"a": 0.9, "n1": 0.5, "n2": 0.4},
    "q2": {"x": 0.8, "b": 0.8, "y": 0.7, "z": 0.6, "c": 0.5},
    "q3": {"e": 10.0, **{f"f{i:02d}": 9.0 - i * 0.5 for i in range(10)}, "d": 1.0},
}
NDCG = [1.0, (1 / L2(3) + 1 / L2(6)) / (1 + 1 / L2(3)), 1 / (2 + 1 / L2(3))]
GOLD = {
    "nDCG@10": sum(NDCG) / 3,
    "R@1": (1 + 0 + 0.5) / 3,
    "R@10": (1 + 1 + 0.5) / 3,
    "R@100": 1.0,
    "RR@10": (1 + 0.5 + 1) / 3,
}


def test_golden_values():
    assert ranked(GOLD_RUN["q3"])[-1] == ("d", 1.0)  # d really is 12th
    scores = evaluate_run(GOLD_RUN, GOLD_QRELS)
    assert list(scores) == [str(m) for m in DEFAULT_MEASURES]
    for name, value in GOLD.items():
        assert scores[name] == pytest.approx(value, abs=1e-9), name


def test_golden_per_query_and_missing_query_counts_zero():
    pq = per_query(GOLD_RUN, GOLD_QRELS, DEFAULT_MEASURES)
    assert pq["nDCG@10"] == pytest.approx(dict(zip(["q1", "q2", "q3"], NDCG)), abs=1e-9)
    assert pq["RR@10"] == pytest.approx({"q1": 1.0, "q2": 0.5, "q3": 1.0}, abs=1e-9)
    # q4 is judged but absent from the run: it scores 0 and the means are taken over 4 queries.
    qrels = {**GOLD_QRELS, "q4": {"g": 1}}
    scores = evaluate_run(GOLD_RUN, qrels)
    for name, value in GOLD.items():
        assert scores[name] == pytest.approx(value * 3 / 4, abs=1e-9), name
    assert per_query(GOLD_RUN, qrels)["R@10"]["q4"] == 0.0
    # A query in the run but not in the qrels is ignored.
    assert evaluate_run({**GOLD_RUN, "zz": {"a": 1.0}}, GOLD_QRELS) == pytest.approx(GOLD, abs=1e-9)


def test_ties_are_broken_like_trec_eval_for_every_measure():
    # Without re-scoring, ir_measures' msmarco provider (RR@k) would put b before x here.
    scores = evaluate_run({"q": {"b": 1.0, "x": 1.0}}, {"q": {"b": 1}})
    assert scores["RR@10"] == 0.5 and scores["R@1"] == 0.0


# ----------------------------------------------------------------------------- TREC files
def test_write_read_roundtrip(tmp_path):
    run = {"q2": {"d1": 0.1 + 0.2, "d2": 1e-300, "d3": -3.5}, "q1": {"b": 1.0, "a": 1.0, "c": 2.0}}
    path = write_run(run, tmp_path / "runs" / "r.trec", tag="xqg")
    lines = path.read_text().splitlines()
    assert lines[:3] == ["q1 Q0 c 1 2.0 xqg", "q1 Q0 b 2 1.0 xqg", "q1 Q0 a 3 1.0 xqg"]
    assert read_run(path) == run  # scores survive exactly
    assert [p.name for p in path.parent.iterdir()] == ["r.trec"]  # no temporary left behind
    with pytest.raises(ValueError):
        write_run(run, tmp_path / "x.trec", tag="two words")


@pytest.mark.parametrize("bad, problem", [
    ("q1 Q0 d3 3 0.5", "expected 6 columns"),
    ("q1 Q0 d3 3 high t", "not a number"),
    ("q1 Q0 d3 3 nan t", "not finite"),
    ("q1 Q0 d1 3 0.5 t", "appears twice"),
])
def test_malformed_run_line(tmp_path, bad, problem):
    path = tmp_path / "bad.trec"
    path.write_text(f"q1 Q0 d1 1 0.9 t\n\nq1 Q0 d2 2 0.8 t\n{bad}\n")
    with pytest.raises(InputError) as info:
        read_run(path)
    assert info.value.line == 4 and problem in str(info.value)
    assert str(info.value).startswith(f"{path}:4: ")


def test_read_qrels(tmp_path):
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 d1 1\nq1 0 d2 0\nq2 Q0 d9 2\n")
    assert read_qrels(path) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d9": 2}}
    path.write_text("q1 0 d1 1\nq1 0 d2 yes\n")
    with pytest.raises(InputError, match=r"qrels.txt:2: relevance"):
        read_qrels(path)
    with pytest.raises(InputError, match="does not exist"):
        read_run(tmp_path / "missing.trec")


def _realistic(seed: int = 13):
    """20 queries x 30 docs from a 200-doc pool, scores rounded so that ties occur."""
    rng = random.Random(seed)
    pool = [f"doc{i:03d}" for i in range(200)]
    run, qrels = {}, {}
    for q in range(20):
        qid = f"q{q:02d}"
        docs = rng.sample(pool, 30)
        run[qid] = {d: round(rng.random() * 10, 1) for d in docs}
        relevant = rng.sample(docs, rng.randint(0, 2)) + rng.sample(pool, rng.randint(1, 2))
        qrels[qid] = {d: rng.choice([1, 1, 2]) for d in relevant}
        qrels[qid].update({d: 0 for d in rng.sample(docs, 3) if d not in qrels[qid]})
    qrels["q98"] = {"doc001": 1}  # judged, never retrieved: counts as 0 under -c
    run["q99"] = {"doc002": 1.0}  # retrieved, never judged: ignored
    return run, qrels


def test_ir_measures_agree_with_pyserini_trec_eval(tmp_path, capsys):
    import ir_measures
    from ir_measures import RR, R, nDCG
    from pyserini.eval.trec_eval import trec_eval

    run, qrels = _realistic()
    assert any(len(set(docs.values())) < len(docs) for docs in run.values())  # ties present
    run_path = write_run(run, tmp_path / "run.trec", tag="test")
    qrels_path = tmp_path / "qrels.txt"
    qrels_path.write_text("".join(f"{q} 0 {d} {r}\n" for q in qrels for d, r in qrels[q].items()))

    ours = evaluate_run(read_run(run_path), read_qrels(qrels_path), [nDCG @ 10, R @ 10, R @ 100, RR, RR @ 10])
    # pyserini's wrapper takes argv-like args (args[0] is ignored), shells out to `java -cp
    # anserini-fatjar trec_eval`, and returns only the LAST "all" value: one call per measure.
    # trec_eval has no RR@k; "-M 10" (keep the top 10 per topic after sorting) gives it.
    cases = {"nDCG@10": ["-m", "ndcg_cut.10"], "R@10": ["-m", "recall.10"], "R@100": ["-m", "recall.100"],
             "RR": ["-m", "recip_rank"], "RR@10": ["-M", "10", "-m", "recip_rank"]}
    for name, args in cases.items():
        theirs = trec_eval(["trec_eval", "-c", *args, str(qrels_path), str(run_path)])
        assert ours[name] == pytest.approx(theirs, abs=5e-5), name  # trec_eval prints 4 decimals
    capsys.readouterr()
    # ir_measures reading the file itself (no tie re-scoring) agrees too on pytrec_eval measures.
    direct = ir_measures.calc_aggregate([nDCG @ 10, R @ 100], ir_measures.read_trec_qrels(str(qrels_path)),
                                        ir_measures.read_trec_run(str(run_path)))
    assert direct[nDCG @ 10] == pytest.approx(ours["nDCG@10"], abs=1e-9)
    assert direct[R @ 100] == pytest.approx(ours["R@100"], abs=1e-9)


# ----------------------------------------------------------------------------- R@kt
def words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}x" for i in range(n))


def test_rkt_cut_inside_a_passage():
    texts = [words("w", 10)]  # tokens w0x .. w9x
    assert recall_at_k_tokens(texts, ["w4x"], 5) is True  # 5th token: just inside
    assert recall_at_k_tokens(texts, ["w5x"], 5) is False  # 6th token: just outside
    assert recall_at_k_tokens(texts, ["w4x w5x"], 5) is False  # straddles the cut
    assert recall_at_k_tokens(texts, ["w3x w4x"], 5) is True  # spans tokens, joined by one space


def test_rkt_second_passage_fills_up_and_later_ones_are_not_read():
    def passages():
        yield words("w", 3)
        yield words("v", 10)
        raise AssertionError("a third passage must not be tokenized once k tokens are reached")

    assert recall_at_k_tokens(passages(), ["v1x"], 5) is True  # tokens 4 and 5 come from passage 2
    assert recall_at_k_tokens(passages(), ["v2x"], 5) is False
    assert recall_at_k_tokens(passages(), ["w2x v0x"], 5) is True  # passages joined by a space
    assert recall_at_k_tokens([words("w", 3)], ["w2x"], 2000) is True  # fewer than k tokens in all
    assert recall_at_k_tokens([], ["w2x"], 5) is False


def test_rkt_yes_no_answers_are_dropped():
    texts = ["yes no maybe Yes"]
    assert recall_at_k_tokens(texts, ["yes"], 10) is None
    assert recall_at_k_tokens(texts, ["no", "yes"], 10) is None
    assert recall_at_k_tokens(texts, [], 10) is None
    assert recall_at_k_tokens(texts, ["yes", "maybe"], 10) is True
    assert recall_at_k_tokens(texts, ["yes", "never"], 10) is False  # "yes" cannot hit
    assert recall_at_k_tokens(texts, ["Yes"], 10) is True  # only the exact lower-case strings go


def test_rkt_raw_case_sensitive_substring_on_tokenized_text():
    texts = ['Paris lies in Maharashtra, India, they can\'t say. He said "hello" in 1990. A U.S.-based firm.']
    assert recall_at_k_tokens(texts, ["paris"], 100) is False
    assert recall_at_k_tokens(texts, ["Paris"], 100) is True
    assert recall_at_k_tokens(texts, ["Par"], 100) is True  # substring, not whole token
    assert recall_at_k_tokens(texts, ["Maharashtra, India"], 100) is False  # "Maharashtra , India"
    assert recall_at_k_tokens(texts, ["Maharashtra , India"], 100) is True
    assert recall_at_k_tokens(texts, ["can't"], 100) is False  # "ca n't"
    assert recall_at_k_tokens(texts, ['"hello"'], 100) is False  # `` hello ''
    assert recall_at_k_tokens(texts, ["1990."], 100) is False  # "1990 ."
    assert recall_at_k_tokens(texts, ["U.S.-based"], 100) is True  # kept as one token


def test_xor_recall_counts_like_the_official_script():
    passages = {"p1": "Paris is in France.", "p2": "Berlin is in Germany.", "p3": "Rome is in Italy."}
    run = {
        "q1": {"p1": 0.1, "p2": 0.9},  # p2 first (5 tokens), so "Paris" is token 6
        "q2": {"p3": 1.0},  # yes/no only: not counted
        "q3": {"p3": 1.0},  # miss
        "q5": {"p1": 1.0},  # no answers known: not counted
    }
    answers = {"q1": ["Paris"], "q2": ["yes"], "q3": ["Madrid"], "q4": ["Rome"]}  # q4 not in the run
    result = xor_recall(run, passages, answers, k=6)
    assert (result["hits"], result["counted"], result["score"]) == (1, 2, 50.0)
    assert result["per_query"] == {"q1": 1.0, "q3": 0.0}
    assert xor_recall(run, passages, answers, k=5)["hits"] == 0  # p2 alone is 5 tokens
    assert xor_recall({"q2": {"p1": 1.0}}, passages, answers, k=5)["score"] is None
    with pytest.raises(InputError, match="unknown"):
        xor_recall({"q1": {"unknown": 1.0}}, passages, answers, k=5)


# ----------------------------------------------------------------------------- tables
def test_evaluate_languages_table(tmp_path):
    passages = {"a": "The answer is Alpha.", "b": "Nothing here.", "c": "Gamma it is.", "x": "Filler text."}
    runs = {"fi": {"q1": {"a": 2.0, "b": 1.0}, "q2": {"b": 2.0, "c": 1.0}}, "ar": {"q3": {"x": 1.0, "c": 0.5}}}
    qrels = {"fi": {"q1": {"a": 1}, "q2": {"c": 1}}, "ar": {"q3": {"c": 1}}}
    answers = {"fi": {"q1": ["Alpha"], "q2": ["Beta"]}, "ar": {"q3": ["Gamma"]}}
    table = evaluate_languages(runs, qrels, DEFAULT_MEASURES, answers=answers, passages=passages)
    assert table.columns == ["nDCG@10", "R@1", "R@10", "R@100", "MRR@10", "R@2kt", "R@5kt"]
    assert table.rows["fi"]["MRR@10"] == pytest.approx(0.75)  # (1 + 1/2) / 2
    assert table.rows["ar"]["MRR@10"] == pytest.approx(0.5)
    assert table.rows["macro"]["MRR@10"] == pytest.approx(0.625)  # plain mean over languages
    assert table.rows["fi"]["R@2kt"] == 50.0 and table.rows["ar"]["R@2kt"] == 100.0
    assert table.rows["macro"]["R@5kt"] == 75.0
    assert table.counts["fi"] == {"queries": 2, "R@2kt counted": 2, "R@5kt counted": 2}

    text = table.format()
    lines = text.splitlines()
    assert lines[0].split() == ["lang", *table.columns]
    assert [line.split()[0] for line in lines[1:]] == ["ar", "fi", "-" * len(lines[0]), "macro"]
    assert len({len(line) for line in lines}) == 1  # fixed width
    assert "0.6250" in lines[-1] and "75.00" in lines[-1]

    table.to_json(tmp_path / "t.json")
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["rows"]["macro"]["R@2kt"] == 75.0 and saved["columns"] == table.columns

    plain = evaluate_languages(runs, qrels)
    assert "R@2kt" not in plain.columns and "R@2kt" not in plain.format()
    with pytest.raises(ValueError, match="passages"):
        evaluate_languages(runs, qrels, answers=answers)
    with pytest.raises(InputError, match="no qrels"):
        evaluate_languages(runs, {"fi": qrels["fi"]})


def test_nltk_punkt_ships_with_the_package(tmp_path):
    """Without $NLTK_DATA and without ../shared/data, the packaged punkt_tab copy is used."""
    env = {k: v for k, v in os.environ.items() if k != "NLTK_DATA"}
    env.update(XQG_DATA=str(tmp_path / "nowhere"), HOME=str(tmp_path), PYTHONPATH=str(Path(__file__).parents[1]))
    code = ("import nltk; from xqg_pyserini.evaluation import recall_at_k_tokens as r; "
            "assert r(['Maharashtra, India.'], ['Maharashtra , India'], 10); "
            "print(nltk.data.find('tokenizers/punkt_tab/english/'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "xqg_pyserini/resources/nltk_data" in out.stdout


# ----------------------------------------------------------------------------- significance
def test_paired_t_test_by_hand():
    from scipy.stats import t as student_t

    a = {"q1": 0.5, "q2": 0.7, "q3": 0.2, "q4": 0.9, "only_a": 1.0}
    b = {"q1": 0.4, "q2": 0.4, "q3": 0.3, "q4": 0.6, "only_b": 0.0}
    # d = [0.1, 0.3, -0.1, 0.3], mean 0.15; deviations -0.05, 0.15, -0.25, 0.15
    # s^2 = (0.0025 + 0.0225 + 0.0625 + 0.0225) / 3 = 0.11 / 3; t = 0.15 / (s / sqrt(4))
    t = 0.15 / (math.sqrt(0.11 / 3) / 2)
    assert t == pytest.approx(1.5667, abs=1e-4)
    mean_diff, p = paired_test(a, b)
    assert mean_diff == pytest.approx(0.15, abs=1e-12)
    assert p == pytest.approx(2 * student_t.sf(t, df=3), abs=1e-12)
    assert paired_test(a, a) == (0.0, 1.0)
    with pytest.raises(ValueError):
        paired_test({"q1": 1.0}, {"q1": 0.0, "q2": 1.0})


def test_paired_randomization_test_matches_exact_enumeration():
    a = {"q1": 0.5, "q2": 0.7, "q3": 0.2, "q4": 0.9, "q5": 0.8}
    b = {"q1": 0.4, "q2": 0.4, "q3": 0.3, "q4": 0.6, "q5": 0.8}
    d = [a[q] - b[q] for q in sorted(a)]
    observed = abs(sum(d)) / len(d)
    flips = list(itertools.product([-1, 1], repeat=len(d)))
    exact = sum(abs(sum(s * x for s, x in zip(signs, d))) / len(d) >= observed - 1e-12 for signs in flips) / len(flips)
    mean_diff, p = paired_randomization_test(a, b, trials=20000, seed=1)
    assert mean_diff == pytest.approx(0.12, abs=1e-12)
    assert p == pytest.approx(exact, abs=0.01)
    assert paired_randomization_test(a, b, trials=500, seed=3) == paired_randomization_test(a, b, trials=500, seed=3)
