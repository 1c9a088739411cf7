"""RegexTokenizer: split text with a regex first, then byte-level BPE inside each chunk.

This is how GPT-2, GPT-4 (cl100k) and GPT-4o (o200k) tokenize. Splitting first keeps
merges from crossing the boundaries the pattern draws (words, numbers, punctuation,
whitespace), so " dog." never becomes one token but " dog" and "." do.

`RegexTokenizer.from_tiktoken("cl100k_base")` rebuilds a tiktoken vocabulary as merges:
tiktoken stores only `ranks` (token bytes -> id, lower = learned earlier). For each token
we replay BPE on its own bytes with only the lower-ranked tokens allowed; it stops at
exactly two parts, and those are the pair that was merged into it. Tiktoken's byte
tokens are not numbered 0..255 in byte order, so `byte_ids` maps each byte to its id.
"""

from __future__ import annotations

import regex

from llmcourse.tokenization.base import Pair, Tokenizer
from llmcourse.tokenization.bpe_basic import learn_merges
from llmcourse.tokenization.patterns import GPT4_SPLIT_PATTERN, PATTERNS, compile_pattern

TIKTOKEN_NAMES = ("gpt2", "cl100k_base", "o200k_base")


class RegexTokenizer(Tokenizer):
    """Byte-level BPE with a split pattern (default: GPT-4's) and special tokens."""

    def __init__(self, pattern: str | None = None) -> None:
        """pattern: a regex, or a name in patterns.PATTERNS ("gpt2", "gpt4", "o200k_base")."""
        super().__init__()
        self.pattern = GPT4_SPLIT_PATTERN if pattern is None else PATTERNS.get(pattern, pattern)
        self._rebuild()

    def _rebuild(self) -> None:
        super()._rebuild()
        try:
            self._compiled = compile_pattern(self.pattern) if self.pattern else None
        except regex.error as err:
            raise ValueError(f"the split pattern is not a valid regex ({err}): {self.pattern!r}") from None

    def _chunks(self, text: str) -> list[str]:
        if self._compiled is None:
            return [text] if text else []
        return self._compiled.findall(text)

    def train(self, text: str, vocab_size: int, verbose: bool = False, progress: bool | None = None,
              algorithm: str = "fast") -> "RegexTokenizer":
        """Learn merges on the chunks of `text` until `vocab_size` tokens; returns self.

        algorithm: "fast" (default) or "naive"; they learn the same merges. Special-token
        text in `text` is treated as ordinary text. See BasicTokenizer.train for the rest.
        """
        if not isinstance(text, str):
            raise TypeError(f"train takes a str, got {type(text).__name__}")
        self._set_trained(learn_merges(self._chunks(text), vocab_size, algorithm, verbose, progress))
        return self

    @classmethod
    def from_tiktoken(cls, name: str) -> "RegexTokenizer":
        """A tokenizer with tiktoken's vocabulary, merges and specials: encodes exactly as tiktoken.

        name: "gpt2", "cl100k_base" or "o200k_base" (offline rank files from llmcourse.assets).
        """
        if name not in TIKTOKEN_NAMES:
            raise ValueError(f"unknown tiktoken encoding {name!r}; choose one of {', '.join(TIKTOKEN_NAMES)}")
        from llmcourse.assets import get_encoding

        enc = get_encoding(name)
        tok = cls(pattern=enc._pat_str)
        ranks: dict[bytes, int] = enc._mergeable_ranks
        tok.byte_ids = [ranks[bytes([b])] for b in range(256)]
        tok.merges = recover_merges(ranks)
        tok.special_tokens = dict(enc._special_tokens)
        tok._rebuild()
        return tok


def bpe_split(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """Run rank-based BPE (tiktoken's rule: merge the adjacent pair whose joined bytes have
    the lowest rank) on `token`, allowing only ranks below `max_rank`."""
    parts = [bytes([b]) for b in token]
    while True:
        best, best_rank = -1, max_rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best, best_rank = i, r
        if best < 0:
            return parts
        parts[best:best + 2] = [parts[best] + parts[best + 1]]


def recover_merges(ranks: dict[bytes, int]) -> dict[Pair, int]:
    """tiktoken ranks -> {(id_a, id_b): id}, in rank order (so earlier merges come first)."""
    merges: dict[Pair, int] = {}
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) == 1:
            continue
        parts = bpe_split(ranks, token, max_rank=rank)
        if len(parts) != 2:
            raise ValueError(f"token {token!r} (rank {rank}) is not the merge of two lower-ranked tokens; "
                             f"these ranks are not a BPE vocabulary")
        merges[(ranks[parts[0]], ranks[parts[1]])] = rank
    return merges
