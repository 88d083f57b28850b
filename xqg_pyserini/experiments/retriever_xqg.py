"""xQG and retriever fine-tuning together: generated queries as index augmentation, as extra training
pairs for the retriever, or both (issue 9, part 3).

Rows, each scored on the XQuAD TEST questions (articles 36-47, 11 languages) against all 240 English
passages:

* ``e5-small`` and ``e5-small+xQG``: the off-the-shelf model, without and with augmentation;
* ``FT`` and ``FT+xQG``: fine-tuned on real TRAIN questions (epoch chosen on held-out TRAIN articles);
* ``FT-gen`` and ``FT-gen+xQG``: fine-tuned on real TRAIN questions plus the generated queries of
  TRAIN passages as extra pairs (same hold-out, same epoch choice).

``+xQG`` is the study's pooled variant (mean fusion, L2-normalised). Its weight is chosen per model
by a sweep (:func:`~xqg_pyserini.experiments.variants.sweep`, :func:`~xqg_pyserini.experiments.variants.choose`)
on the validation questions: the held-out TRAIN articles, which no model was trained on. TEST
questions choose nothing. Significance: :func:`~xqg_pyserini.experiments.study.compare` (paired tests
on nDCG@10 and R@1 per language, pooled and by question id) of every row against ``FT``, and of
every ``+xQG`` row against its own model.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Mapping, Sequence

from xqg_pyserini.data.benchmarks import Benchmark
from xqg_pyserini.data.io import InputError
from xqg_pyserini.experiments.variants import MEASURES, Grids, choose, sweep

REFERENCE = "FT"
#: Model labels in table order, and what each means.
MODELS = {"e5-small": "multilingual-e5-small, off the shelf",
          "FT": "fine-tuned on real TRAIN questions",
          "FT-gen": "fine-tuned on real TRAIN questions + generated queries of TRAIN passages"}
XQG = "+xQG"
SHOWN = ["nDCG@10", "R@1", "MRR@10", "R@10", "R@2kt", "R@5kt"]


def model_info(model: str) -> dict:
    """What a trained model's ``xqg_model.json`` says about its epochs and data (empty for others)."""
    marker = Path(model).expanduser() / "xqg_model.json"
    if not marker.is_file():
        return {}
    info = json.loads(marker.read_text(encoding="utf-8"))
    selection = info.get("epoch_selection") or {}
    return {"training_examples": info.get("training_examples"), "steps": info.get("steps"),
            "epochs_planned": (info.get("training") or {}).get("epochs"),
            "chosen_epoch": selection.get("chosen_epoch"), "chosen_step": selection.get("chosen_step"),
            "validation": selection.get("chosen"), "epochs": selection.get("epochs")}


def tune_weight(plan, docids: Sequence[str], topics, qrels: Mapping[str, Mapping], weights: Sequence[float]
                ) -> tuple[dict, list[dict]]:
    """The mean-fusion weight with the best validation nDCG@10, and the sweep that chose it."""
    rows = sweep(lambda weight: plan.vectors("mean", weight, normalize=True), docids, topics, qrels, weights)
    return choose(rows), rows


def run_rows(queries: str | Path, models: Mapping[str, str], test: Benchmark, corpus: str | Path,
             validation: Benchmark, indexes: str | Path, runs_dir: str | Path | None = None,
             grids: Grids = Grids(), k: int = 100, log: Callable[[str], None] = print) -> dict:
    """Every row's TEST runs, tables and tests; ``models`` maps labels of :data:`MODELS` to checkpoints.

    ``test`` supplies the TEST questions (and answers, for R@kt); ``corpus`` is the JsonCollection that
    is indexed; ``validation`` (held-out TRAIN articles, checked by
    :func:`~xqg_pyserini.train.epochs.load_validation`) chooses each fusion weight.
    """
    from xqg_pyserini.encode.adapters import XqgQueryEncoder
    from xqg_pyserini.encode.encoders import TransformerEncoder
    from xqg_pyserini.encode.queries import embed_queries
    from xqg_pyserini.evaluation.measures import evaluate_languages
    from xqg_pyserini.experiments.study import compare, embed_topics
    from xqg_pyserini.index.augment import AugmentationPlan
    from xqg_pyserini.index.faiss import ensure_faiss
    from xqg_pyserini.search.searchers import dense_searcher, search, search_to_file
    from xqg_pyserini.train.epochs import describe_validation, load_validation

    unknown = sorted(set(models) - set(MODELS))
    if unknown or REFERENCE not in models:
        raise InputError(None, f"models must include {REFERENCE} and be among {', '.join(MODELS)}; got {sorted(models)}")
    validation = load_validation(validation)
    if set(validation.passages) != set(test.passages):
        raise InputError(None, "the validation set and the benchmark have different passages")
    langs = test.languages
    tests = {l: test.topics(l, "test") for l in langs}
    qrels = {l: test.qrels(l, "test") for l in langs}
    val_topics = {l: validation.topics(l) for l in validation.languages}
    val_qrels = {l: validation.qrels(l) for l in validation.languages}
    runs, chosen, sweeps, info = {}, {}, {}, {}
    for label in MODELS:
        if label not in models:
            continue
        encoder = TransformerEncoder(models[label], show_progress=False)
        slug = Path(models[label].rstrip("/")).name.replace("multilingual-", "")
        index = ensure_faiss(corpus, encoder, Path(indexes) / slug)
        docids = (index / "docid").read_text(encoding="utf-8").split()
        plan = AugmentationPlan(index, embed_queries(queries, encoder))
        chosen[label], sweeps[label] = tune_weight(plan, docids, embed_topics(encoder, val_topics), val_qrels,
                                                   grids.weights)
        weight = chosen[label]["weight"]
        augmented = Path(indexes) / f"{slug}.xqg-mean-{weight:g}-norm"
        plan.write(augmented, "mean", weight, normalize=True)
        log(f"[retriever-xqg] {label}: weight {weight:g} chosen on validation (nDCG@10 "
            f"{chosen[label]['train_nDCG@10']:.4f}); searching TEST")
        qenc = XqgQueryEncoder(encoder)
        vectors = embed_topics(encoder, tests)
        for lang in langs:
            qenc.remember([tests[lang][q] for q in vectors.qids[lang]], vectors.vectors[lang])
        for system, where in ((label, index), (label + XQG, augmented)):
            searcher = dense_searcher(where, qenc)
            runs[system] = {l: (search_to_file(searcher, tests[l], Path(runs_dir) / f"{system}.{l}.trec", system, k)
                                if runs_dir else search(searcher, tests[l], k)) for l in langs}
        info[label] = {"model": str(models[label]), **model_info(models[label])}
    passages = {d: p.text for d, p in test.passages.items()}
    answers = {l: test.answers(l, "test") for l in langs}
    tables = {s: evaluate_languages(r, qrels, answers=answers, passages=passages) for s, r in runs.items()}
    pairs = [(s, REFERENCE) for s in runs if s != REFERENCE]
    pairs += [(s, s[:-len(XQG)]) for s in runs if s.endswith(XQG) and s[:-len(XQG)] != REFERENCE]
    significance = {f"{a} vs {b}": compare(runs[b], runs[a], qrels) for a, b in pairs}
    return {"systems": list(runs), "models": info, "queries_file": str(queries),
            "fusion": {"fusion": "mean", "normalize": True, "grid": list(grids.weights), "chosen": chosen,
                       "sweeps": sweeps, "chosen_on": {"questions": "validation (held-out TRAIN articles)",
                                                       **describe_validation(validation)}},
            "tables": {s: {"columns": t.columns, "rows": t.rows, "counts": t.counts} for s, t in tables.items()},
            "significance": significance, "reference": REFERENCE,
            "questions": {l: len(t) for l, t in tests.items()}, "passages": len(test.passages),
            "measures_tested": list(MEASURES)}


# ----------------------------------------------------------------------------- the page

def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def render(result: dict, command: str) -> str:
    """Markdown of a :func:`run_rows` result: per-language and macro tables, the weights and epochs
    chosen on validation, and the tests against FT (by question id: the honest unit)."""
    systems, tables = result["systems"], result["tables"]
    langs = [l for l in tables[systems[0]]["rows"] if l != "macro"]
    n = sum(result["questions"].values())
    out = [f"TEST questions of the XQuAD test articles (36-47): {n} in {len(langs)} languages, against all "
           f"{result.get('passages', 240)} English passages. Fusion weights and epochs were chosen on held-out TRAIN "
           "articles only.", ""]
    for measure in MEASURES:
        marks = {s: result["significance"].get(f"{s} vs {REFERENCE}", {}).get(measure) for s in systems}
        out += [f"{measure} per language (`*`: p < 0.05 against {REFERENCE}, paired t-test per language; macro row: "
                "by question id):", "", "| lang | " + " | ".join(systems) + " |", "|---|" + "---:|" * len(systems)]
        for lang in [*langs, "macro"]:
            cells = []
            for s in systems:
                test = marks[s]
                p = None if test is None else (test["by_id"]["p"] if lang == "macro" else test["per_language"][lang]["p"])
                cells.append(f"{tables[s]['rows'][lang][measure]:.4f}" + ("*" if p is not None and p < 0.05 else ""))
            out.append(f"| {lang} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["Macro averages:", "", "| system | " + " | ".join(SHOWN) + " |", "|---|" + "---:|" * len(SHOWN)]
    for s in systems:
        macro = tables[s]["rows"]["macro"]
        out.append(f"| {s} | " + " | ".join("-" if macro.get(c) is None else f"{macro[c]:.2f}" if c.endswith("kt")
                                             else f"{macro[c]:.4f}" for c in SHOWN) + " |")
    out += ["", "Paired tests (Δ = mean difference; p: t-test by question id / pooled over languages / "
                "randomization by id):", "", "| comparison | measure | Δ | p by id | p pooled | p rand. by id | "
                "languages p < 0.05 |", "|---|---|---:|---:|---:|---:|---|"]
    for name, tests in result["significance"].items():
        for measure in MEASURES:
            t = tests[measure]
            sig = [f"{l} ({v['diff']:+.3f})" for l, v in t["per_language"].items() if v["p"] < 0.05]
            out.append(f"| {name} | {measure} | {t['by_id']['diff']:+.4f} | {_p(t['by_id']['p'])} | {_p(t['p'])} | "
                       f"{_p(t['by_id']['p_randomization'])} | {', '.join(sig) or '-'} |")
    out += ["", "Chosen on validation (held-out TRAIN articles; never TEST):", "",
            "| model | what | epoch (of planned) | validation nDCG@10 of the epoch | xQG weight | validation nDCG@10 "
            "at that weight |", "|---|---|---:|---:|---:|---:|"]
    for label, info in result["models"].items():
        fusion = result["fusion"]["chosen"][label]
        epoch = "-" if info.get("chosen_epoch") is None else f"{info['chosen_epoch']:g} of {info.get('epochs_planned')}"
        val = "-" if not info.get("validation") else f"{info['validation']['nDCG@10']:.4f}"
        out.append(f"| {label} | {MODELS[label]} | {epoch} | {val} | {fusion['weight']:g} | "
                   f"{fusion['train_nDCG@10']:.4f} |")
    for label, info in result["models"].items():
        if info.get("epochs"):
            cells = ", ".join(f"{r['epoch']:g}: {r['nDCG@10']:.4f}" for r in info["epochs"])
            out.append(f"\n{label}, validation nDCG@10 after each epoch: {cells}.")
    out += ["", "Made by:", "", "```sh", command, "```"]
    return "\n".join(out)
