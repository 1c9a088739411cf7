"""BPE training that scales to megabytes: count pairs once, then update only what a merge touches.

The naive trainer (`bpe_basic.train_naive`) recounts every pair of the whole text before
each merge: O(text length) work per merge, thousands of merges. Two observations make it
fast while learning *exactly* the same merges:

1. Chunks repeat. " the" appears thousands of times; count each distinct chunk once and
   weight its pairs by how often the chunk occurs (`words`: chunk -> frequency).
2. A merge of (a, b) changes only the chunks that contain (a, b), and in them only the
   pairs next to each replaced position: (x, a), (a, b), (b, y) disappear and (x, ab),
   (ab, y) appear. Everything else keeps its count.

So we keep `counts` (pair -> count over all chunks), `where` (pair -> the chunks that may
contain it) and a max-heap of (count, pair). Each merge pops the best pair, rewrites only
the chunks in `where[pair]` and applies the count changes; stale heap entries (whose
count changed since they were pushed) are skipped when they reach the top.

Tie rule (the same as `base.best_pair`): the highest count wins; among equal counts, the
smallest pair (first id, then second). Heap entries are (-count, pair) tuples, so Python's
tuple order gives exactly that rule.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import Iterable, Mapping

from llmcourse.tokenization.base import Pair, render_token


def _merge_positions(seq: list[int], a: int, b: int, idx: int) -> tuple[list[int], list[int], list[int]]:
    """Like base.merge, but also return where replacements happened in the old and new lists."""
    out: list[int] = []
    old_pos: list[int] = []
    new_pos: list[int] = []
    i, n = 0, len(seq)
    while i < n:
        if i < n - 1 and seq[i] == a and seq[i + 1] == b:
            old_pos.append(i)
            new_pos.append(len(out))
            out.append(idx)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out, old_pos, new_pos


def train_fast(words: Mapping[bytes | tuple[int, ...], int], num_merges: int, first_id: int = 256,
               progress: bool = False, verbose: bool = False,
               vocab: dict[int, bytes] | None = None, min_count: int = 1) -> list[tuple[Pair, int]]:
    """Learn `num_merges` BPE merges from `words` ({chunk: frequency}); chunks are bytes or id tuples.

    Returns [((a, b), count), ...] in merge order; the k-th pair becomes id `first_id + k`.
    Stops early (returning fewer merges) when no adjacent pair occurs `min_count` times or more.
    `vocab` (id -> bytes) is only used to print merges when `verbose`.
    """
    seqs: list[list[int]] = []
    freqs: list[int] = []
    for word, freq in words.items():
        if len(word) >= 2 and freq > 0:  # a one-token chunk has no pair to merge
            seqs.append(list(word))
            freqs.append(int(freq))

    counts: dict[Pair, int] = {}
    where: dict[Pair, set[int]] = {}
    for i, (seq, f) in enumerate(zip(seqs, freqs)):
        for pair in zip(seq, seq[1:]):
            counts[pair] = counts.get(pair, 0) + f
            where.setdefault(pair, set()).add(i)
    heap = [(-c, p) for p, c in counts.items()]
    heapq.heapify(heap)

    if verbose:
        vocab = dict(vocab) if vocab else {i: bytes([i]) for i in range(256)}
    bar = _progress_bar(num_merges, progress)
    merges: list[tuple[Pair, int]] = []
    for k in range(num_merges):
        while heap and counts.get(heap[0][1], 0) != -heap[0][0]:
            heapq.heappop(heap)  # stale: this pair's count changed after the entry was pushed
        if not heap or -heap[0][0] < min_count:
            break
        neg_count, pair = heapq.heappop(heap)
        idx = first_id + k
        merges.append((pair, -neg_count))
        a, b = pair

        delta: dict[Pair, int] = {}
        for w in where.pop(pair):
            seq = seqs[w]
            new, old_pos, new_pos = _merge_positions(seq, a, b, idx)
            if not old_pos:
                continue  # `where` may list chunks the pair has since left
            f = freqs[w]
            n_old, n_new = len(seq), len(new)
            # pairs that touched a replaced position disappear ...
            touched = set()
            for i in old_pos:
                touched.update((i - 1, i, i + 1))
            for j in touched:
                if 0 <= j < n_old - 1:
                    p = (seq[j], seq[j + 1])
                    delta[p] = delta.get(p, 0) - f
            # ... and the pairs around each new token appear
            touched = set()
            for i in new_pos:
                touched.update((i - 1, i))
            for j in touched:
                if 0 <= j < n_new - 1:
                    p = (new[j], new[j + 1])
                    delta[p] = delta.get(p, 0) + f
                    where.setdefault(p, set()).add(w)
            seqs[w] = new

        for p, d in delta.items():
            if d == 0:
                continue
            c = counts.get(p, 0) + d
            if c > 0:
                counts[p] = c
                heapq.heappush(heap, (-c, p))
            else:
                counts.pop(p, None)

        if verbose:
            vocab[idx] = vocab[a] + vocab[b]
            print(f"merge {k + 1}/{num_merges}: {pair} -> {idx} ({render_token(vocab[idx])!r}) "
                  f"had {-neg_count} occurrences")
        bar.update(1)
    bar.close()
    return merges


def train_merges_fast(chunks: Iterable[Iterable[int]], num_merges: int) -> dict[Pair, int]:
    """`bpe_basic.train_merges` with incremental pair counts: the same merge table, far less work."""
    words = Counter(tuple(c) for c in chunks)
    return {pair: 256 + k for k, (pair, _) in enumerate(train_fast(words, num_merges))}


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="BPE merges", unit="merge", disable=not enabled, mininterval=0.5)


def count_chunks(chunks: Iterable[str]) -> dict[bytes, int]:
    """{UTF-8 bytes of a chunk: how often it occurs}: the input `train_fast` wants."""
    return dict(Counter(ch.encode("utf-8") for ch in chunks))
