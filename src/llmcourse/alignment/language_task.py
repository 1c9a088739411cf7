"""The RL task of 8.2: write in the language the prompt asks for, judged by a language identifier.

The course GPT was pre-trained on text in seven languages with no instructions, so asked
"Thai:" it continues in whichever language it likes. The *verifiable* reward is the
probability that a language identifier (langid.py, restricted to the task's languages)
gives the requested language for the response: no human labels, no reward model, and it
cannot be argued with. An empty response scores 0.

The learned variant is the course's one `RewardModel` (Bradley-Terry, `alignment.reward`)
trained on `language_preference_pairs`: a text in the requested language preferred to one
in another language. A learned reward is only as good as its pairs: it never
saw degenerate text, so nothing stops it from liking some; `true_quality` (right language
*and* not a loop of a few tokens) is what a person would check.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from llmcourse.data.langid import language_probabilities
from llmcourse.languages import language_names

__all__ = ["TASK_LANGS", "distinct_ratio", "language_preference_pairs", "language_prompts", "language_reward",
           "true_quality"]

TASK_LANGS = language_names(("en", "id", "th", "vi", "ta"))


def language_prompts() -> list[tuple[str, str]]:
    """(prompt, language code) pairs: "Thai:" asks for Thai."""
    return [(f"{name}:", code) for code, name in TASK_LANGS.items()]


def language_probability(text: str, lang: str) -> float:
    """P(text is in `lang`) among the task's languages, by langid.py; 0 for empty text."""
    if lang not in TASK_LANGS:
        raise ValueError(f"unknown task language {lang!r}; use one of {list(TASK_LANGS)}")
    if not text.strip():
        return 0.0
    return language_probabilities(text, tuple(TASK_LANGS))[lang]


def language_reward(texts: Sequence[str], langs: Sequence[str]) -> list[float]:
    """The verifiable reward of each response: the identifier's probability of the requested language."""
    return [language_probability(t, l) for t, l in zip(texts, langs)]


def distinct_ratio(text: str) -> float:
    """Distinct characters bigrams / all bigrams (1 = no repetition; a loop scores low)."""
    grams = [text[i : i + 2] for i in range(len(text) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def true_quality(texts: Sequence[str], langs: Sequence[str]) -> list[float]:
    """What a person wants: the right language and not a loop (language probability x min(1, 2 x distinct ratio))."""
    return [language_probability(t, l) * min(1.0, 2 * distinct_ratio(t)) for t, l in zip(texts, langs)]


# ----------------------------------------------------------------------------- pairs for the reward model
def language_preference_pairs(n: int, chars: int = 40, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """(prompt, chosen, rejected, lang): chosen is a real snippet in the prompt's language, rejected in another."""
    from llmcourse.assets.multilingual import multilingual_sample

    rng = np.random.default_rng(seed)
    texts = {code: multilingual_sample(code, 20_000, seed=seed) for code in TASK_LANGS}
    codes = list(TASK_LANGS)

    def snippet(code: str) -> str:
        t = texts[code]
        start = int(rng.integers(0, len(t) - chars))
        return t[start : start + chars]

    out = []
    for _ in range(n):
        lang = codes[rng.integers(len(codes))]
        other = codes[(codes.index(lang) + rng.integers(1, len(codes))) % len(codes)]
        out.append((f"{TASK_LANGS[lang]}:", " " + snippet(lang), " " + snippet(other), lang))
    return out
