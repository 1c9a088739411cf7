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
    """The n-grams (hashed) of some texts, per source, to look other texts up in.

    Both directions of the contamination question use it: benchmark items looked up in the
    training corpus (7.1: what fraction of the item is there?), and training examples looked up
    in the evaluation sets (5.3's decontamination: does the example share any n-gram?).
    A source is one text or a list of texts (no n-gram then spans two of them).
    """

    def __init__(self, sources: dict[str, str | Iterable[str]], n: int = 8):
        if n < 2:
            raise ValueError(f"n-grams of length {n} match everything: use n >= 2 (8 to 13 is usual)")
        if not sources:
            raise ValueError("no text given: pass {source name: text or list of texts}")
        self.n = n
        self.texts = {name: [t] if isinstance(t, str) else list(t) for name, t in sources.items()}
        self.grams = {name: set().union(*(self._grams(t) for t in texts)) for name, texts in self.texts.items()}
        self._short: dict[str, set[int]] = {}  # built the first time a short text is looked up

    def _grams(self, text: str) -> set[int]:
        return _word_grams(_words(text), self.n) | _char_grams(text, 3 * self.n)

    def _short_windows(self, name: str) -> set[int]:
        # a text shorter than n words is checked as a whole: every shorter window of the source
        if name not in self._short:
            windows: set[int] = set()
            for text in self.texts[name]:
                words = _words(text)
                if len(words) < 200_000:
                    windows.update(hash(tuple(words[i:i + k])) for k in range(1, self.n)
                                   for i in range(len(words) - k + 1))
            self._short[name] = windows
        return self._short[name]

    def _found(self, text: str) -> dict[str, float]:
        words = _words(text)
        grams = self._grams(text)
        if not grams:
            return {}
        short = len(words) < self.n
        return {name: sum(g in index or (short and g in self._short_windows(name)) for g in grams) / len(grams)
                for name, index in self.grams.items()}

    def overlap(self, text: str) -> tuple[float, str | None]:
        """(fraction of the text's n-grams found in some source, the source with the most of them)."""
        best, where = 0.0, None
        for name, frac in self._found(text).items():
            if frac > best:
                best, where = frac, name
        return best, where

    def hits(self, text: str) -> list[str]:
        """The sources sharing at least one n-gram with `text` (empty: clean)."""
        return sorted(name for name, frac in self._found(text).items() if frac > 0)


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
