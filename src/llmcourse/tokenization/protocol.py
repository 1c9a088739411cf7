"""The one tokenizer protocol of the course: `encode`, `decode`, `vocab_size`.

Every tokenizer the course builds follows it, whatever its unit: the byte-level BPE
tokenizers (`BasicTokenizer`, `RegexTokenizer`), the character tokenizer of week 2,
word2vec's vocabulary and CLIP's caption vocabulary. Code that only needs to turn text
into ids and back (a data loader, a GPT's sampler, an evaluation) takes any of them.

    encode(text: str) -> list[int]          ids, each in range(vocab_size)
    decode(ids) -> str                       ids may be a list, a 1-D tensor or array
    vocab_size: int                          how many ids there are
"""

from __future__ import annotations

from typing import Iterable, Protocol, runtime_checkable

__all__ = ["TokenizerProtocol", "check_tokenizer"]


@runtime_checkable
class TokenizerProtocol(Protocol):
    """Anything with `encode(text) -> list[int]`, `decode(ids) -> str` and `vocab_size`."""

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...


def check_tokenizer(tok, text: str, round_trip: bool = True) -> list[int]:
    """Raise a clear error unless `tok` follows the protocol on `text`; returns its ids.

    Checks the three members exist, `encode` gives a list of ints in range(vocab_size), and
    (when `round_trip`) `decode(encode(text)) == text`.
    """
    missing = [m for m in ("encode", "decode", "vocab_size") if not hasattr(tok, m)]
    if missing:
        raise TypeError(f"{type(tok).__name__} does not follow the tokenizer protocol: it lacks {missing}")
    size = tok.vocab_size
    if not isinstance(size, int) or size <= 0:
        raise TypeError(f"{type(tok).__name__}.vocab_size must be a positive int, got {size!r}")
    ids = tok.encode(text)
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise TypeError(f"{type(tok).__name__}.encode must return a list of ints, got {type(ids).__name__}")
    bad = [i for i in ids if not 0 <= i < size]
    if bad:
        raise ValueError(f"{type(tok).__name__}.encode gave ids {bad[:5]} outside range({size})")
    text_back = tok.decode(ids)
    if not isinstance(text_back, str):
        raise TypeError(f"{type(tok).__name__}.decode must return a str, got {type(text_back).__name__}")
    if round_trip and text_back != text:
        raise ValueError(f"{type(tok).__name__}: decode(encode(text)) gives {text_back!r}, not {text!r}")
    return ids
