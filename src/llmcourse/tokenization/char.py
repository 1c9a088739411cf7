"""A character-level tokenizer: one token per Unicode character.

The simplest tokenizer there is, and the one karpathy's char-level GPT starts with: the
vocabulary is the sorted set of characters seen in the training text, a token id is a
position in that list. Shakespeare needs about 85 characters, Indonesian text adds none,
Thai adds its whole script. Sequences are long (one token per character), which is why
real models use subword tokenizers (week 1's BPE) instead.

    tok = CharTokenizer.train(text)
    ids = tok.encode("To be, or not to be")
    assert tok.decode(ids) == "To be, or not to be"

A character outside the vocabulary is an error, unless the tokenizer was built with
`unk=...`, a character of its vocabulary that stands in for every unseen one.

It follows the course's one tokenizer protocol, the same as the byte-level BPE of 1.2:
`encode(text) -> list[int]`, `decode(ids) -> str` (a list, or a 1-D tensor or array),
and the `vocab_size` property; code written for one runs on the other.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """Characters <-> ids. `chars` is the vocabulary in id order."""

    def __init__(self, chars: Iterable[str], unk: str | None = None) -> None:
        self.chars = list(chars)
        if not self.chars:
            raise ValueError("a character tokenizer needs at least one character; train it on non-empty text")
        if any(len(c) != 1 for c in self.chars) or len(set(self.chars)) != len(self.chars):
            raise ValueError("chars must be distinct single characters")
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        if unk is not None and unk not in self.stoi:
            raise ValueError(f"unk={unk!r} must be one of the vocabulary's characters")
        self.unk = unk

    @classmethod
    def train(cls, text: str, unk: str | None = None) -> CharTokenizer:
        """The sorted set of characters in `text` (plus `unk` if given) as the vocabulary."""
        if not text:
            raise ValueError("cannot build a vocabulary from empty text")
        chars = set(text) | ({unk} if unk else set())
        return cls(sorted(chars), unk=unk)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Text -> ids. Unseen characters map to `unk`, or raise ValueError without one."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}; decode bytes first")
        if self.unk is not None:
            u = self.stoi[self.unk]
            return [self.stoi.get(c, u) for c in text]
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            unseen = sorted({c for c in text if c not in self.stoi})
            raise ValueError(
                f"{len(unseen)} character(s) not in the vocabulary: {unseen[:10]!r}; train on text that "
                "contains them, or build the tokenizer with unk=<a known character>"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text: a list of ints, or a 1-D tensor/array. Ids outside the vocabulary raise ValueError."""
        if hasattr(ids, "ndim") and ids.ndim != 1:
            raise ValueError(f"decode takes one sequence of ids (1-D), got shape {tuple(ids.shape)}; "
                             "decode each row of a batch separately")
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.chars):
                raise ValueError(f"id {i} is outside the vocabulary [0, {len(self.chars)})")
            out.append(self.chars[i])
        return "".join(out)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the vocabulary as JSON, atomically (a temp file renamed over `path`)."""
        path = Path(path)
        text = json.dumps({"format": "llmcourse-char", "chars": self.chars, "unk": self.unk}, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        """A tokenizer written by `save`; a damaged or foreign file is a ValueError saying so."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a readable CharTokenizer file ({err}); save the tokenizer again") from None
        if not isinstance(data, dict) or data.get("format") != "llmcourse-char" or not isinstance(data.get("chars"), list):
            raise ValueError(f"{path} is not a saved CharTokenizer")
        return cls(data["chars"], unk=data.get("unk"))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
