"""Language sampling: how much of each language the model sees (temperature sampling).

A multilingual crawl is dominated by a few languages: sampled in proportion, a model
barely sees Thai or Tagalog. Sampled uniformly, it would repeat the small languages
for dozens of epochs and overfit them. mT5 and XLM-R sample language i with

    p_i ∝ (n_i / N) ** alpha          (alpha = 1/T: 1 = proportional, 0 = uniform)

with alpha = 0.3 (mT5) or 0.7 (XLM-R): the big languages are *down-sampled* and the
small ones *up-sampled* (repeated). `temperature_weights` gives the shares;
`sample_by_language` draws the documents of a training mixture of a given token budget
(whole documents; a language needing more than it has is repeated, and the table says
how many epochs of it that is).
"""

from __future__ import annotations

import random

__all__ = ["mixture_table", "sample_by_language", "temperature_weights"]


def temperature_weights(token_counts: dict[str, float], alpha: float = 0.3) -> dict[str, float]:
    """Sampling probability of each language: (n_i / N) ** alpha, normalised to sum to 1."""
    if not token_counts:
        raise ValueError("no languages given")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (1 = proportional, 0 = uniform), got {alpha}")
    if any(n <= 0 for n in token_counts.values()):
        raise ValueError(f"every language needs a positive token count, got {token_counts}")
    total = sum(token_counts.values())
    raw = {k: (n / total) ** alpha for k, n in token_counts.items()}
    z = sum(raw.values())
    return {k: v / z for k, v in raw.items()}


def sample_by_language(docs: dict[str, list[tuple[str, int]]], total_tokens: int, alpha: float = 0.3,
                       seed: int = 0) -> list[tuple[str, str]]:
    """Draw a mixture of about `total_tokens` tokens: [(lang, text)], shuffled.

    `docs[lang]` is a list of (text, n_tokens). Each language gets weight * total_tokens
    tokens: whole passes over its documents (shuffled each pass) while it needs more than
    it has (up-sampling), then documents drawn without replacement until its share is
    reached (down-sampling).
    """
    counts = {lang: sum(n for _, n in items) for lang, items in docs.items() if items}
    weights = temperature_weights(counts, alpha)
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for lang in sorted(weights):
        target = weights[lang] * total_tokens
        items = list(docs[lang])
        got = 0
        while got < target:
            rng.shuffle(items)
            for text, n in items:
                if got >= target:
                    break
                out.append((lang, text))
                got += n
    rng.shuffle(out)
    return out


def mixture_table(docs: dict[str, list[tuple[str, int]]], mixture: list[tuple[str, str]],
                  token_of: dict[str, int]) -> dict[str, dict[str, float]]:
    """Per language: tokens available, tokens in the mixture, share of the mixture, epochs (mixture / available)."""
    available = {lang: sum(n for _, n in items) for lang, items in docs.items()}
    used: dict[str, int] = {lang: 0 for lang in docs}
    for lang, text in mixture:
        used[lang] += token_of[text]
    total = sum(used.values()) or 1
    return {lang: {"available": available[lang], "tokens": used[lang], "share": used[lang] / total,
                   "epochs": used[lang] / available[lang] if available[lang] else 0.0} for lang in docs}
