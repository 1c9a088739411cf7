"""A character vocabulary with one special token, ".", that marks where a name starts and ends.

makemore models a name as a sequence of characters followed by an end marker:
"anna" is read as  . a n n a .  and the model learns P(next character | previous ones).
Using a single token for both "start" and "end" keeps the table small; the context
of the first character is all dots, and predicting a dot means "the name is over".

A character is a Unicode code point, so the Thai name "สมชาย" is five tokens and a
Tamil vowel sign is a token of its own. The alphabet is fixed when the vocabulary is
built (usually from every split of the data: the alphabet is known up front, only the
counts must come from training data). A character outside it is an error, never a
silent drop: `UnknownCharacterError` names the character and says what to do.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Iterable

BOUNDARY = "."


class UnknownCharacterError(ValueError):
    """A name holds a character the vocabulary has never seen."""


def _describe(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')})"


@dataclass(frozen=True)
class CharVocab:
    """The alphabet of a names data set; index 0 is the boundary token "."."""

    chars: tuple[str, ...]
    stoi: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chars or self.chars[0] != BOUNDARY:
            raise ValueError(f"a CharVocab starts with the boundary token {BOUNDARY!r}")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("a CharVocab holds each character once")
        object.__setattr__(self, "stoi", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_names(cls, names: Iterable[str]) -> "CharVocab":
        """The vocabulary of every character in `names`, sorted by code point, after "."."""
        alphabet: set[str] = set()
        for name in names:
            if BOUNDARY in name:
                raise ValueError(
                    f"name {name!r} contains {BOUNDARY!r}, the start/end token; remove it from the names first"
                )
            alphabet.update(name)
        if not alphabet:
            raise ValueError("no characters: build a vocabulary from at least one non-empty name")
        return cls((BOUNDARY, *sorted(alphabet)))

    @property
    def itos(self) -> dict[int, str]:
        return dict(enumerate(self.chars))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self.stoi

    def unknown(self, text: str) -> list[str]:
        """The characters of `text` that are not in the vocabulary (in order, once each)."""
        return list(dict.fromkeys(ch for ch in text if ch not in self.stoi))

    def encode(self, name: str) -> list[int]:
        """Token ids of the characters of `name` (no boundary tokens added).

        Raises UnknownCharacterError for a character outside the alphabet.
        """
        missing = self.unknown(name)
        if missing:
            shown = ", ".join(_describe(c) for c in missing[:5])
            raise UnknownCharacterError(
                f"{name!r} has characters outside this vocabulary of {len(self) - 1} characters: {shown}. "
                "Build the vocabulary from names that include them (CharVocab.from_names(train + dev + test)) "
                "or leave such names out."
            )
        return [self.stoi[c] for c in name]

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of token ids (boundary tokens included as ".")."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.chars):
                raise IndexError(f"token id {i} is outside this vocabulary of size {len(self.chars)}")
            out.append(self.chars[i])
        return "".join(out)
