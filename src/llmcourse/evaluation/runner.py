"""Evaluate a model on benchmark items: one record per item, a summary with confidence intervals.

    records = evaluate_lm(lm, items)            # [{"id", "category", "correct", "pred", ...}, ...]
    summary = summarize_results(records)        # accuracy overall, per category and per language, 95% CIs
    write_results(records, summary, "out/")     # results.jsonl + summary.json (atomic writes)

Graders: "choice" items are scored together in one batched log-likelihood pass (the most
likely choice is the prediction; `acc_norm` divides by the choice's length, as
lm-evaluation-harness does); "math" items are generated with a few worked examples in the
item's language, then extracted and compared; "code" items are completed and run against
their tests in the sandbox; "exact" items are generated and compared as stripped strings.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from llmcourse.evaluation.benchmark import Item
from llmcourse.evaluation.stats import bootstrap_ci

__all__ = ["MATH_STOPS", "evaluate_lm", "summarize_results", "write_results", "accuracy_matrix"]

MATH_STOPS = ("\n\n", "\nQuestion:", "\nSoal:", "\nโจทย์:")
OUTPUT_CHARS = 2000  # of a generated output, the part kept in the record


def _shots() -> dict[str, list]:
    from llmcourse.evaluation.math_problems import math_problems

    pool = math_problems(n=12, seed=99, difficulties=(1, 2))  # never the seed the benchmark uses
    return {lang: [p for p in pool if p.language == lang][:3] for lang in ("en", "id", "th")}


def _record(item: Item, model: str, correct: bool, pred: str, **extra) -> dict:
    return {"id": item.id, "model": model, "category": item.category, "language": item.language,
            "difficulty": item.difficulty, "grader": item.grader, "correct": int(bool(correct)),
            "pred": pred[:OUTPUT_CHARS], **extra}


def evaluate_lm(lm, items: Sequence[Item], max_new_tokens: dict | None = None, code_timeout: float = 5.0,
                progress: bool = False) -> list[dict]:
    """Run every item through `lm` (an `EvalLM`); records in the items' order."""
    from llmcourse.evaluation.code_eval import STOP_SEQUENCES, check_completion, truncate_completion
    from llmcourse.evaluation.math_grader import extract_answer, is_equivalent
    from llmcourse.evaluation.math_problems import MathProblem, few_shot_prompt

    budget = {"math": 96, "code": 256, "exact": 32, **(max_new_tokens or {})}
    records: dict[str, dict] = {}
    choice = [it for it in items if it.grader == "choice"]
    if choice:
        requests = [(it.prompt, c) for it in choice for c in it.choices]
        scores = lm.loglikelihood(requests)
        k = 0
        for it in choice:
            ll = np.array([s for s, _ in scores[k:k + len(it.choices)]])
            k += len(it.choices)
            lengths = np.array([len(c) for c in it.choices], dtype=float)
            pred = int(np.argmax(ll))
            records[it.id] = _record(it, lm.name, pred == it.answer_index, it.choices[pred],
                                     logprobs=[round(float(x), 4) for x in ll],
                                     acc_norm=int(int(np.argmax(ll / lengths)) == it.answer_index),
                                     margin=float(ll[it.answer_index] - np.max(np.delete(ll, it.answer_index))))
    rest = [it for it in items if it.grader != "choice"]
    shots = _shots() if any(it.grader == "math" for it in rest) else {}
    iterator = rest
    if progress and rest:
        from tqdm.auto import tqdm

        iterator = tqdm(rest, desc=f"{lm.name}: generating", leave=False)
    for it in iterator:
        if it.grader == "math":
            problem = MathProblem(it.language, it.difficulty, "", it.prompt, it.reference, "")
            text = lm.generate([few_shot_prompt(problem, shots.get(it.language, []))], budget["math"], MATH_STOPS)[0]
            answer = extract_answer(text)
            records[it.id] = _record(it, lm.name, is_equivalent(answer, it.reference, lang=it.language), text,
                                     answer=answer)
        elif it.grader == "code":
            body = truncate_completion(lm.generate([it.prompt], budget["code"], STOP_SEQUENCES)[0])
            problem = {"task_id": it.meta["task_id"], "prompt": it.prompt, "test": it.meta["test"],
                       "entry_point": it.meta["entry_point"]}
            res = check_completion(problem, body, timeout=code_timeout)
            records[it.id] = _record(it, lm.name, res["passed"], body, result=res["result"])
        else:
            text = lm.generate([it.prompt], budget["exact"], ("\n",))[0]
            records[it.id] = _record(it, lm.name, text.strip() == it.reference.strip(), text)
    return [records[it.id] for it in items]


def summarize_results(records: Sequence[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """Accuracy (x100) overall, per category, per language and per difficulty, each with a 95% bootstrap CI."""
    if not records:
        raise ValueError("no results to summarise: evaluate some items first")

    def block(rows):
        vals = np.array([r["correct"] for r in rows], dtype=float) * 100
        lo, hi = bootstrap_ci(vals, n_boot=n_boot, seed=seed)
        return {"accuracy": float(vals.mean()), "ci": [lo, hi], "n": len(vals)}

    out = {"model": records[0].get("model"), "overall": block(records)}
    for key in ("category", "language", "difficulty"):
        groups: dict = {}
        for r in records:
            groups.setdefault(str(r[key]), []).append(r)
        out[f"by_{key}"] = {k: block(v) for k, v in sorted(groups.items())}
    return out


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_results(records: Sequence[dict], summary: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """results.jsonl (one line per item) and summary.json in `out_dir`, each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_item, summ = out / "results.jsonl", out / "summary.json"
    _atomic_write(per_item, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    _atomic_write(summ, json.dumps(summary, indent=1, ensure_ascii=False))
    return per_item, summ


def accuracy_matrix(results: dict[str, Sequence[dict]]) -> tuple[list[str], list[str], np.ndarray]:
    """{model: records} -> (models, item ids, (M, N) 0/1 correctness), items in the first model's order."""
    models = list(results)
    if not models:
        raise ValueError("no models")
    ids = [r["id"] for r in results[models[0]]]
    mat = np.zeros((len(models), len(ids)), dtype=np.int8)
    for m, name in enumerate(models):
        got = {r["id"]: r["correct"] for r in results[name]}
        missing = [i for i in ids if i not in got]
        if missing:
            raise KeyError(f"model {name} has no result for items {missing[:3]}")
        mat[m] = [got[i] for i in ids]
    return models, ids, mat
