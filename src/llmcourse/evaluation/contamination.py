"""Contamination: did the benchmark leak into the training data? N-gram overlap, item by item.

A model that saw a test item during training can recite its answer: its score then says
nothing about skill. The standard check (GPT-3's paper used 13-grams, PaLM 8-grams) breaks
the training text into n-grams of words, and asks for each benchmark item: what fraction
of *its* n-grams also occur in the training text? Near 0: clean. Near 1: the item (or a
near copy) was in the training data; flag it, report scores with and without flagged items.

Thai is written without spaces between words, so for Thai we use n-grams of characters
(`3n` characters, about n Thai words) instead of words.
"""

from __future__ import annotations

import re
from typing import Iterable

from llmcourse.evaluation.benchmark import Item

__all__ = ["NgramIndex", "contamination_report", "item_text", "ngram_overlap"]

_WORD = re.compile(r"\w+", re.UNICODE)
_THAI_RUN = re.compile(r"[\u0E00-\u0E7F]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _word_grams(words: list[str], n: int) -> set[int]:
    if len(words) < n:
        return {hash(tuple(words))} if words else set()
    return {hash(tuple(words[i:i + n])) for i in range(len(words) - n + 1)}


def _char_grams(text: str, n: int) -> set[int]:
    grams: set[int] = set()
    for run in _THAI_RUN.findall(text):
        if len(run) < n:
            grams.add(hash(("c", run)))
        grams.update(hash(("c", run[i:i + n])) for i in range(len(run) - n + 1))
    return grams


def ngram_overlap(item: str, training: str, n: int = 8) -> float:
    """Fraction of the item's word n-grams (lowercased \\w+ words) that occur in the training text.

    An item shorter than n words counts as one n-gram: is the whole item in the training text?
    """
    words, train = _words(item), _words(training)
    if not words:
        return 0.0
    k = min(n, len(words))
    seen = {tuple(train[i:i + k]) for i in range(len(train) - k + 1)}
    grams = [tuple(words[i:i + k]) for i in range(len(words) - k + 1)]
    return sum(g in seen for g in grams) / len(grams)


class NgramIndex:
    """The set of n-grams (hashed) of a training corpus, per source, to look items up in."""

    def __init__(self, sources: dict[str, str], n: int = 8):
        if n < 2:
            raise ValueError(f"n-grams of length {n} match everything: use n >= 2 (8 to 13 is usual)")
        if not sources:
            raise ValueError("no training text given: pass {source name: text}")
        self.n = n
        self.grams = {name: _word_grams(_words(text), n) | _char_grams(text, 3 * n) for name, text in sources.items()}
        # short items (fewer than n words) are checked as a whole: keep every shorter window too
        self.short = {name: self._short_windows(text) for name, text in sources.items()}

    def _short_windows(self, text: str) -> set[int]:
        words = _words(text)
        return {hash(tuple(words[i:i + k])) for k in range(1, self.n) for i in range(len(words) - k + 1)} \
            if len(words) < 200_000 else set()

    def overlap(self, text: str) -> tuple[float, str | None]:
        """(fraction of the text's n-grams found in some source, the source with the most of them)."""
        words = _words(text)
        grams = _word_grams(words, self.n) | _char_grams(text, 3 * self.n)
        if not grams:
            return 0.0, None
        best, where = 0.0, None
        short = len(words) < self.n
        for name, index in self.grams.items():
            extra = self.short[name] if short else ()
            frac = sum(g in index or g in extra for g in grams) / len(grams)
            if frac > best:
                best, where = frac, name
        return best, where


def item_text(item: Item) -> str:
    """What a model could have memorised: the prompt and the reference answer."""
    return f"{item.prompt} {item.reference}"


def contamination_report(items: Iterable[Item], training: dict[str, str] | NgramIndex, n: int = 8,
                         threshold: float = 0.5) -> dict[str, dict]:
    """Per item: the overlap fraction, the training source it overlaps most, and whether it is flagged."""
    index = training if isinstance(training, NgramIndex) else NgramIndex(training, n)
    out = {}
    for item in items:
        frac, source = index.overlap(item_text(item))
        out[item.id] = {"overlap": round(frac, 4), "source": source, "flagged": frac >= threshold}
    return out
