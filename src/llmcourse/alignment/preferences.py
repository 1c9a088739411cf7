"""Preference pairs from verifiable tasks: for one prompt, a better and a worse answer.

RLHF learns from comparisons: "for this prompt, answer A is better than answer B". People
usually make them; here a *verifier* does, because our tasks have computed answers:

    arithmetic, units   chosen: the right number        rejected: a nearby wrong number
    number (words)      chosen: the right words         rejected: another number's words,
                                                                   or the right number in another language
    country             chosen: the name in the asked   rejected: the name in another language
                        language                                   (right vs wrong language)

A pair whose two answers are the same teaches nothing (and makes the reward margin 0/0 in
some losses): `PreferencePair` refuses it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmcourse.assets.instructions import LANGUAGES, VERIFIABLE, Instruction, instruction_data, verify

__all__ = ["PreferencePair", "preference_pairs"]


@dataclass(frozen=True)
class PreferencePair:
    """A prompt with a preferred (`chosen`) and a dispreferred (`rejected`) answer."""

    prompt: str
    chosen: str
    rejected: str
    kind: str = ""
    lang: str = ""

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise ValueError("a preference pair needs a non-empty prompt")
        if self.chosen.strip() == self.rejected.strip():
            raise ValueError(f"chosen and rejected are the same answer ({self.chosen!r}) for prompt "
                             f"{self.prompt[:60]!r}: the pair says nothing about what is better; drop it")

    def messages(self, which: str) -> list[dict]:
        """The conversation with the chosen or the rejected answer."""
        answer = {"chosen": self.chosen, "rejected": self.rejected}[which]
        return [{"role": "user", "content": self.prompt}, {"role": "assistant", "content": answer}]


def _wrong_answer(item: Instruction, rng: random.Random) -> str:
    from num2words import num2words

    if item.kind in ("arithmetic", "units"):
        value = int(item.answer)
        return str(value + rng.choice([-10, -2, -1, 1, 2, 10]))
    if item.kind == "number":
        n = _number_in(item.prompt)
        if rng.random() < 0.5:  # the right number in the wrong language
            other = rng.choice([l for l in LANGUAGES if l != item.lang])
            return num2words(n, lang=other)
        return num2words(n + rng.choice([-11, -1, 1, 11]) if n > 11 else n + 1, lang=item.lang)
    if item.kind == "country":
        return _other_language_name(item, rng)
    raise ValueError(f"no wrong answer rule for {item.kind}")


def _number_in(prompt: str) -> int:
    import re

    return int(re.search(r"\d+", prompt).group(0))


def _other_language_name(item: Instruction, rng: random.Random) -> str:
    import babel

    en = babel.Locale("en").territories
    # find the territory code from the answer in any language, then name it in another language
    for lang in LANGUAGES:
        names = babel.Locale(lang).territories
        for code, name in names.items():
            if name == item.answer:
                options = [babel.Locale(l).territories.get(code) for l in LANGUAGES]
                options = [o for o in options if o and o != item.answer]
                if options:
                    return rng.choice(options)
                return en.get(code, item.answer) + "?"
    return item.answer + "?"


def preference_pairs(split: str = "train", per_kind: int = 100, seed: int = 0) -> list[PreferencePair]:
    """Pairs for every verifiable instruction of a split; each checked by the verifier (chosen right, rejected wrong)."""
    rng = random.Random(seed)
    pairs = []
    for item in instruction_data(split, per_kind=per_kind, kinds=VERIFIABLE):
        rejected = _wrong_answer(item, rng)
        if rejected.strip() == item.answer.strip() or verify(item, rejected) or not verify(item, item.answer):
            continue  # the verifier must tell them apart
        pairs.append(PreferencePair(item.prompt, item.answer, rejected, item.kind, item.lang))
    return pairs
