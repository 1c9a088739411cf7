"""Byte-level BPE, the shared part: pair counts, merges, and a Tokenizer base class.

A byte-level BPE tokenizer starts from the 256 byte values and learns *merges*: "the
pair of tokens (a, b), wherever it appears, becomes the new token idx". Training picks
the most frequent adjacent pair, merges it everywhere, and repeats. Encoding replays the
merges in the order they were learned; decoding concatenates the bytes of each token.

This module holds the two primitives (`get_stats`, `merge`), the rule that picks the
pair to merge next (`best_pair`), and `Tokenizer`, the base class with everything that
does not depend on how text is split: special tokens, encode/decode, vocab, save/load.
"""

from __future__ import annotations

import json
import operator
import os
import unicodedata
from pathlib import Path
from typing import Iterable

FORMAT = "llmcourse-bpe"
FORMAT_VERSION = 1

Pair = tuple[int, int]


# ----------------------------------------------------------------------------- primitives

def get_stats(ids: list[int], counts: dict[Pair, int] | None = None) -> dict[Pair, int]:
    """Count adjacent pairs: [1, 2, 3, 1, 2] -> {(1, 2): 2, (2, 3): 1, (3, 1): 1}.

    Overlapping pairs all count: [7, 7, 7] -> {(7, 7): 2}. Pass `counts` to add to an
    existing dict (to count over many chunks).
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids: list[int], pair: Pair, idx: int) -> list[int]:
    """Replace every occurrence of `pair` by `idx`, left to right, without overlaps.

    merge([1, 2, 3, 1, 2], (1, 2), 4) -> [4, 3, 4];  merge([7, 7, 7], (7, 7), 8) -> [8, 7]
    """
    out = []
    i, n = 0, len(ids)
    a, b = pair
    while i < n:
        if i < n - 1 and ids[i] == a and ids[i + 1] == b:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def best_pair(stats: dict[Pair, int]) -> Pair:
    """The pair to merge next: the most frequent; on a tie, the smallest pair.

    "Smallest" compares the first id, then the second: (32, 116) before (32, 119) before
    (101, 32). Both trainers (naive and fast) use this rule, so they learn the same merges.
    """
    return min(stats, key=lambda p: (-stats[p], p))


def bpe(ids: list[int], merges: dict[Pair, int]) -> list[int]:
    """Apply `merges` to `ids` the way encoding does: repeatedly merge the adjacent pair
    that was learned first (lowest merged id), until no adjacent pair has a merge."""
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: merges.get(p, float("inf")))
        idx = merges.get(pair)
        if idx is None:
            break  # no pair left that has a merge
        ids = merge(ids, pair, idx)
    return ids


def bpe_encode(text: str, merges: dict[Pair, int]) -> list[int]:
    """Token ids of `text` under `merges` ({(a, b): idx}; ids 0..255 are the bytes): its UTF-8
    bytes, then the merges replayed earliest-learned first (`bpe`)."""
    return bpe(list(text.encode("utf-8")), merges)


def decode_ids(ids: Iterable[int], vocab: dict[int, bytes]) -> str:
    """Text of token ids under `vocab` ({id: bytes}): join the bytes first, then decode UTF-8
    once (a character may be split across tokens); invalid UTF-8 becomes U+FFFD, as in tiktoken."""
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------- display

def replace_control_characters(s: str) -> str:
    """Show control characters as \\uXXXX so a printed token cannot mess up the output."""
    return "".join(ch if unicodedata.category(ch)[0] != "C" else f"\\u{ord(ch):04x}" for ch in s)


def render_token(t: bytes) -> str:
    """A token's bytes as printable text (invalid UTF-8 becomes U+FFFD)."""
    return replace_control_characters(t.decode("utf-8", errors="replace"))


# ----------------------------------------------------------------------------- base class

class Tokenizer:
    """What every byte-level BPE tokenizer here shares.

    State: `merges` ({(a, b): idx}, in the order they apply), `special_tokens`
    ({text: id}), `pattern` (the split regex; "" for none) and `byte_ids` (the id of each
    byte value; 0..255 for our own tokenizers, tiktoken's ranks for loaded ones).
    Subclasses define how ordinary text is cut into chunks (`_chunks`) and `train`.
    """

    def __init__(self) -> None:
        self.merges: dict[Pair, int] = {}
        self.special_tokens: dict[str, int] = {}
        self.pattern: str = ""
        self.byte_ids: list[int] = list(range(256))
        self._rebuild()

    # ------------------------------------------------------------------ vocabulary
    def _rebuild(self) -> None:
        """Recompute the vocabulary and lookup tables after the merges or specials change."""
        vocab = {self.byte_ids[b]: bytes([b]) for b in range(256)}
        for (a, b), idx in self.merges.items():  # dicts keep insertion order: parents first
            vocab[idx] = vocab[a] + vocab[b]
        for text, idx in self.special_tokens.items():
            vocab[idx] = text.encode("utf-8")
        self.vocab: dict[int, bytes] = vocab
        self.inverse_special_tokens = {v: k for k, v in self.special_tokens.items()}
        self._byte_table = bytes(self.byte_ids) if max(self.byte_ids) < 256 else None
        self._cache: dict[bytes, list[int]] = {}
        self._special_regexes: dict[frozenset, object] = {}

    def _set_trained(self, merges: dict[Pair, int]) -> None:
        """Install freshly learned merges (ids 256...) over the 256 plain bytes."""
        clash = {t: i for t, i in self.special_tokens.items() if i < 256 + len(merges)}
        if clash:
            raise ValueError(f"special tokens {clash} would collide with the learned merges (ids up to "
                             f"{255 + len(merges)}); register special tokens after training, with larger ids")
        self.merges, self.byte_ids = merges, list(range(256))
        self._rebuild()

    @classmethod
    def from_merges(cls, merges: dict[Pair, int], *args, special_tokens: dict[str, int] | None = None,
                    **kwargs) -> "Tokenizer":
        """A tokenizer with these learned merges ({(a, b): idx}, idx = 256, 257, ... in merge order).

        `args`/`kwargs` go to the constructor (RegexTokenizer's split pattern, say). The
        table is checked: ids must run 256, 257, ... and each pair must use known ids.
        """
        merges = dict(merges)
        known = set(range(256))
        for k, ((a, b), idx) in enumerate(merges.items()):
            if idx != 256 + k:
                raise ValueError(f"merge {k + 1} {(a, b)} -> {idx}: merged ids must run 256, 257, ... in order "
                                 f"(expected {256 + k}); build the table as merges[pair] = 256 + k")
            if a not in known or b not in known:
                raise ValueError(f"merge {(a, b)} -> {idx} uses an id that is neither a byte nor an earlier merge")
            known.add(idx)
        tok = cls(*args, **kwargs)
        tok._set_trained(merges)
        if special_tokens:
            tok.register_special_tokens(special_tokens)
        return tok

    @property
    def vocab_size(self) -> int:
        """Number of tokens: 256 bytes + merges + special tokens."""
        return len(self.vocab)

    def __len__(self) -> int:
        return self.vocab_size

    def register_special_tokens(self, special_tokens: dict[str, int]) -> None:
        """Add special tokens, e.g. {"<|endoftext|>": 100257}. Their ids must be new."""
        if not isinstance(special_tokens, dict):
            raise TypeError(f"register_special_tokens takes a dict {{text: id}}, got {type(special_tokens).__name__}")
        for text, idx in special_tokens.items():
            if not isinstance(text, str) or not text:
                raise ValueError(f"a special token must be a non-empty string, got {text!r}")
            if not isinstance(idx, int) or idx < 0:
                raise ValueError(f"special token {text!r}: id must be a non-negative int, got {idx!r}")
            owner = self.vocab.get(idx)
            if owner is not None and self.special_tokens.get(text) != idx:
                raise ValueError(
                    f"special token {text!r}: id {idx} is already token {render_token(owner)!r}; "
                    f"use an id >= {max(self.vocab) + 1}"
                )
        self.special_tokens.update(special_tokens)
        self._rebuild()

    # ------------------------------------------------------------------ encoding
    def _chunks(self, text: str) -> Iterable[str]:
        """Cut ordinary text into chunks that BPE encodes separately (subclasses)."""
        return [text] if text else []

    def _encode_chunk(self, chunk: bytes) -> list[int]:
        """BPE on one chunk: apply merges, earliest-learned first, until none applies."""
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        ids = list(chunk.translate(self._byte_table)) if self._byte_table else [self.byte_ids[b] for b in chunk]
        ids = bpe(ids, self.merges)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[chunk] = ids
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode `text`, treating special-token text as ordinary text."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}; decode bytes first")
        text = _fix_surrogates(text)
        out: list[int] = []
        for chunk in self._chunks(text):
            out.extend(self._encode_chunk(chunk.encode("utf-8")))
        return out

    def encode(self, text: str, allowed_special: str | set | frozenset | list | tuple = "none_raise",
               disallowed_special: str | set | frozenset | list | tuple = "all") -> list[int]:
        """Encode `text` to token ids, with tiktoken's rules for special tokens.

        allowed_special: special tokens whose text becomes the special token id:
          "all", "none" (treat them as ordinary text), "none_raise" (the default: like
          tiktoken, raise if the text contains any), or a set of token strings.
        disallowed_special: specials whose appearance raises ValueError. "all" (default)
          means every special not allowed; pass () to encode them as ordinary text.
        So text you did not write yourself can never smuggle in "<|endoftext|>".
        """
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}; decode bytes first")
        specials = set(self.special_tokens)
        if allowed_special == "all":
            allowed = specials
        elif allowed_special in ("none", "none_raise"):
            allowed = set()
            if allowed_special == "none":
                disallowed_special = ()
        elif isinstance(allowed_special, (set, frozenset, list, tuple)):
            allowed = set(allowed_special)
            unknown = allowed - specials
            if unknown:
                raise ValueError(f"allowed_special has tokens this tokenizer does not have: {sorted(unknown)}; "
                                 f"its special tokens: {sorted(specials) or 'none'}")
        else:
            raise ValueError(f"allowed_special must be 'all', 'none', 'none_raise' or a set, got {allowed_special!r}")
        if disallowed_special == "all":
            disallowed = specials - allowed
        elif isinstance(disallowed_special, (set, frozenset, list, tuple)):
            disallowed = set(disallowed_special)
        else:
            raise ValueError(f"disallowed_special must be 'all' or a set, got {disallowed_special!r}")
        if disallowed:
            found = self._special_regex(frozenset(disallowed)).search(text)
            if found:
                raise ValueError(
                    f"text contains the special token {found.group()!r}, which is not allowed here. "
                    f"To encode it as the special token pass allowed_special={{{found.group()!r}}} "
                    f"(or 'all'); to encode it as ordinary text pass allowed_special='none'."
                )
        if not allowed:
            return self.encode_ordinary(text)
        out: list[int] = []
        start = 0
        for m in self._special_regex(frozenset(allowed)).finditer(text):
            out.extend(self.encode_ordinary(text[start:m.start()]))
            out.append(self.special_tokens[m.group()])
            start = m.end()
        out.extend(self.encode_ordinary(text[start:]))
        return out

    def _special_regex(self, tokens: frozenset):
        import regex

        if tokens not in self._special_regexes:  # longest first, so a prefix never wins
            alts = sorted(tokens, key=lambda s: (-len(s), s))
            self._special_regexes[tokens] = regex.compile("|".join(regex.escape(t) for t in alts))
        return self._special_regexes[tokens]

    # ------------------------------------------------------------------ decoding
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of the tokens, concatenated. `ids` may be a list, a 1-D tensor or array."""
        vocab = self.vocab
        ids = _as_id_list(ids)
        try:
            return b"".join(vocab[i] for i in ids)
        except (KeyError, TypeError):
            bad = next(i for i in ids if not isinstance(i, int) or i not in vocab)
            raise ValueError(f"unknown token id {bad!r}: this tokenizer has {len(vocab)} tokens "
                             f"(ids {min(vocab)}..{max(vocab)})") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids back to text. Bytes that are not valid UTF-8 (a token sequence cut in the
        middle of a character) become U+FFFD, exactly as tiktoken's decode does."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ save / load
    def to_dict(self) -> dict:
        identity = self.byte_ids == list(range(256))
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "class": type(self).__name__,
            "pattern": self.pattern, "byte_ids": None if identity else self.byte_ids,
            "special_tokens": self.special_tokens,
            "merges": [[a, b, idx] for (a, b), idx in self.merges.items()],
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tokenizer as JSON (atomically: an existing file is only replaced when done)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        tmp.replace(path)
        return path

    def load(self, path: str | os.PathLike) -> "Tokenizer":
        """Read a file written by `save` into this tokenizer (returns self)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ValueError(f"{path} is not a tokenizer file written by llmcourse (not JSON)") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a tokenizer file written by llmcourse (format {FORMAT!r} missing)")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path} has tokenizer format version {data.get('version')!r}, this llmcourse "
                             f"reads version {FORMAT_VERSION}; re-save it with the llmcourse that wrote it "
                             f"or train it again")
        if data.get("class") != type(self).__name__:
            raise ValueError(f"{path} holds a {data.get('class')}; load it with {data.get('class')}().load(path)")
        try:
            merges = {(int(a), int(b)): int(idx) for a, b, idx in data["merges"]}
            byte_ids = list(range(256)) if data["byte_ids"] is None else [int(i) for i in data["byte_ids"]]
            specials = {str(k): int(v) for k, v in data["special_tokens"].items()}
            pattern = str(data["pattern"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path} is a damaged tokenizer file ({err!r}); train or save it again") from None
        if len(byte_ids) != 256 or len(set(byte_ids)) != 256:
            raise ValueError(f"{path} is a damaged tokenizer file (byte_ids must be 256 distinct ids)")
        self.merges, self.byte_ids, self.special_tokens, self.pattern = merges, byte_ids, specials, pattern
        self._rebuild()
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, merges={len(self.merges)}, " \
               f"special_tokens={len(self.special_tokens)})"


def _as_id_list(ids) -> list[int]:
    """Token ids as a list of Python ints: accepts lists, tuples, 1-D torch tensors and NumPy arrays.

    A tensor's elements are 0-d tensors, not ints (and hash differently), so they are
    converted with .tolist(); floats and booleans are refused rather than truncated.
    """
    if hasattr(ids, "tolist") and hasattr(ids, "dtype"):  # torch.Tensor or numpy.ndarray
        kind = str(ids.dtype)
        if "float" in kind or "bool" in kind or "complex" in kind:
            raise TypeError(f"token ids must be integers, got a {type(ids).__name__} of dtype {kind}")
        if getattr(ids, "ndim", 1) != 1:
            raise ValueError(f"decode takes one sequence of ids (1-D), got shape {tuple(ids.shape)}; "
                             "decode each row separately, e.g. [tok.decode(row) for row in ids]")
        return ids.tolist()
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"decode takes token ids, got {type(ids).__name__}; to encode text use encode()")
    return [_index(i) for i in ids]


def _index(i):
    """An int for anything integer-like (numpy ints, 0-d integer tensors); anything else unchanged,
    so the lookup reports it as an unknown id instead of truncating a float."""
    if isinstance(i, int):
        return i
    try:
        return operator.index(i)
    except TypeError:
        return i


def _fix_surrogates(text: str) -> str:
    """Lone surrogates cannot be UTF-8; like tiktoken, replace them by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
