"""The naive BPE trainer and BasicTokenizer: BPE on raw bytes, no splitting.

`train_naive` is the algorithm in its plainest form, and the reference the fast trainer
must agree with, merge for merge:

    repeat num_merges times:
        count every adjacent pair in every chunk          (get_stats)
        take the most frequent pair, ties -> smallest     (best_pair)
        replace it everywhere by a new id                 (merge)

`BasicTokenizer` treats the whole text as one byte sequence, so merges can cross spaces
and punctuation ("e t" may become one token). It is the simplest tokenizer; the
RegexTokenizer (bpe_regex.py) splits text first, which is what GPT-2 and later do.
"""

from __future__ import annotations

import warnings
from typing import Iterable

from llmcourse.tokenization.base import Pair, Tokenizer, best_pair, get_stats, merge, render_token
from llmcourse.tokenization.train_fast import _progress_bar, count_chunks, train_fast

ALGORITHMS = ("fast", "naive")


def train_naive(chunks: Iterable[Iterable[int]], num_merges: int, first_id: int = 256,
                progress: bool = False, verbose: bool = False) -> list[tuple[Pair, int]]:
    """Learn `num_merges` merges by recounting every pair before every merge.

    chunks: sequences of ids (e.g. the UTF-8 bytes of each chunk). Returns [((a, b), count)]
    in merge order, the k-th pair becoming id `first_id + k`; stops early when no pair is left.
    """
    ids = [list(c) for c in chunks]
    vocab = {i: bytes([i]) for i in range(256)} if verbose else {}
    bar = _progress_bar(num_merges, progress)
    merges: list[tuple[Pair, int]] = []
    for k in range(num_merges):
        stats: dict[Pair, int] = {}
        for chunk in ids:
            get_stats(chunk, stats)
        if not stats:
            break
        pair = best_pair(stats)
        idx = first_id + k
        ids = [merge(chunk, pair, idx) for chunk in ids]
        merges.append((pair, stats[pair]))
        if verbose:
            vocab[idx] = vocab.get(pair[0], b"?") + vocab.get(pair[1], b"?")
            print(f"merge {k + 1}/{num_merges}: {pair} -> {idx} ({render_token(vocab[idx])!r}) "
                  f"had {stats[pair]} occurrences")
        bar.update(1)
    bar.close()
    return merges


def train_merges(chunks: Iterable[Iterable[int]], num_merges: int) -> dict[Pair, int]:
    """The naive training loop as a merge table: {(a, b): idx}, idx = 256, 257, ... in merge order.

    chunks: id sequences (the UTF-8 bytes of each chunk); a pair never spans two chunks.
    Before each merge every pair of every chunk is counted again (`get_stats`), the most
    frequent one (ties: the smallest pair, `best_pair`) becomes the next id and is merged
    everywhere (`merge`). Stops early when no chunk has two tokens left.
    """
    return {pair: 256 + k for k, (pair, _) in enumerate(train_naive(chunks, num_merges))}


def learn_merges(chunks: list[str], vocab_size: int, algorithm: str = "fast", verbose: bool = False,
                 progress: bool | None = None) -> dict[Pair, int]:
    """Train merges on text chunks up to `vocab_size` tokens (256 bytes + merges); checks the input.

    Raises ValueError for empty text, a vocab_size below 256, or one the text cannot reach
    (a chunk of n bytes allows at most n - 1 merges). If training runs out of pairs before
    `vocab_size` (every chunk already one token), it stops there and warns.
    """
    if not isinstance(vocab_size, int) or vocab_size < 256:
        raise ValueError(f"vocab_size must be an int >= 256 (the 256 byte values come first), got {vocab_size!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if not any(chunks):
        raise ValueError("cannot train a tokenizer on empty text; pass some text")
    words = count_chunks(chunks)
    num_merges = vocab_size - 256
    most = sum(len(w) - 1 for w in words)  # each merge shortens some distinct chunk by >= 1
    if num_merges > most:
        raise ValueError(f"vocab_size={vocab_size} is more than this text allows: at most {256 + most} "
                         f"({most} merges for {sum(len(w) for w in words)} distinct bytes in "
                         f"{len(words)} distinct chunks); use more text or a smaller vocab_size")
    if progress is None:
        progress = sum(len(w) * f for w, f in words.items()) >= 200_000 and not verbose
    if algorithm == "fast":
        learned = train_fast(words, num_merges, progress=progress, verbose=verbose)
    else:
        learned = train_naive((c.encode("utf-8") for c in chunks), num_merges, progress=progress, verbose=verbose)
    if len(learned) < num_merges:
        warnings.warn(f"training stopped after {len(learned)} merges: every chunk is a single token, so the "
                      f"vocabulary has {256 + len(learned)} tokens, not {vocab_size}; use more text for more",
                      stacklevel=3)
    return {pair: 256 + k for k, (pair, _) in enumerate(learned)}


class BasicTokenizer(Tokenizer):
    """Byte-level BPE over the whole text as one sequence (minbpe's BasicTokenizer)."""

    def train(self, text: str, vocab_size: int, verbose: bool = False, progress: bool | None = None,
              algorithm: str = "fast") -> "BasicTokenizer":
        """Learn merges from `text` until the vocabulary has `vocab_size` tokens; returns self.

        algorithm: "fast" (incremental pair counts) or "naive" (recount everything), same
        merges either way. verbose prints each merge; progress shows a tqdm bar (by default
        for texts of 200 kB and more). Special tokens registered before are kept.
        """
        if not isinstance(text, str):
            raise TypeError(f"train takes a str, got {type(text).__name__}")
        self._set_trained(learn_merges([text], vocab_size, algorithm, verbose, progress))
        return self
