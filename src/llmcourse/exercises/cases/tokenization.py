"""Exercises of notebook 1.2 (tokenizers): pair counts, merge, the training loop, encode, decode.

Oracles: `collections.Counter` over zipped pairs (pair counts); Python's own `str.replace`
on a text spelling of the ids (merge: the same left-to-right, non-overlapping rule);
tiktoken's educational trainer `tiktoken._educational.bpe_train` (the training loop, on
texts whose every merge is an untied maximum) and merges counted by hand (the tie rule);
tiktoken's Rust BPE and decoder, given the very merges the case uses (encode, decode).
Answers never come from the functions under test.
"""

from __future__ import annotations

import random
from collections import Counter
from functools import lru_cache

from llmcourse.exercises.registry import Case, exercise

TEXTS = {
    "English": "The tokenizer splits text into tokens; tokens become ids.",
    "Indonesian": "Selamat pagi! Apa kabar? Saya belajar tokenisasi hari ini.",
    "Thai": "สวัสดีครับ วันนี้อากาศดีมาก",
    "Vietnamese": "Xin chào, tôi đang học về tokenizer.",
    "emoji and spaces": "ok  👍🏽\n\n\tend ",
}


# ----------------------------------------------------------------------------- pair counts
def _pairs_oracle(ids: list[int]) -> dict:
    return dict(Counter(zip(ids, ids[1:])))


def _stats_assign(ids):
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = 1  # `=` instead of `+=`
    return counts


def _stats_non_overlapping(ids):
    counts = {}
    for i in range(0, len(ids) - 1, 2):  # steps over every other pair
        counts[(ids[i], ids[i + 1])] = counts.get((ids[i], ids[i + 1]), 0) + 1
    return counts


def _stats_misses_last(ids):
    counts = {}
    for i in range(len(ids) - 2):  # off by one: the last pair is never counted
        counts[(ids[i], ids[i + 1])] = counts.get((ids[i], ids[i + 1]), 0) + 1
    return counts


@exercise("tokenization.get_stats", difficulty=1, minutes=10,
          reference="llmcourse.tokenization.base:get_stats",
          wrong={"= instead of +=": _stats_assign, "non-overlapping pairs only": _stats_non_overlapping,
                 "misses the last pair": _stats_misses_last},
          hint="walk over zip(ids, ids[1:]) and add 1 to counts[pair]; overlapping pairs all count "
               "([7, 7, 7] has (7, 7) twice); a list shorter than 2 has no pairs")
def _get_stats():
    rng = random.Random(0)
    yield Case("bytes of 'hello world'", args=(list(b"hello world"),), expected=_pairs_oracle(list(b"hello world")))
    yield Case("overlapping [7, 7, 7]", args=([7, 7, 7],), expected={(7, 7): 2})
    yield Case("empty list", args=([],), expected={})
    yield Case("one id", args=([42],), expected={})
    thai = list("สวัสดีครับ".encode("utf-8"))
    yield Case("UTF-8 bytes of Thai", args=(thai,), expected=_pairs_oracle(thai))
    ids = [rng.randrange(6) for _ in range(2000)]
    yield Case("2,000 random ids", args=(ids,), expected=_pairs_oracle(ids))


# ----------------------------------------------------------------------------- merge
def _merge_oracle(ids: list[int], pair: tuple[int, int], idx: int) -> list[int]:
    # spell each id as one character; str.replace is left-to-right and non-overlapping
    spelled = "".join(chr(0x1000 + i) for i in ids)
    out = spelled.replace(chr(0x1000 + pair[0]) + chr(0x1000 + pair[1]), chr(0x1000 + idx))
    return [ord(c) - 0x1000 for c in out]


def _merge_no_skip(ids, pair, idx):
    out, i = [], 0
    while i < len(ids):
        if i < len(ids) - 1 and (ids[i], ids[i + 1]) == pair:
            out.append(idx)
        else:
            out.append(ids[i])
        i += 1  # does not jump past the replaced pair
    return out


def _merge_drops_last(ids, pair, idx):
    out, i = [], 0
    while i < len(ids) - 1:  # the last id is never copied
        if (ids[i], ids[i + 1]) == pair:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _merge_in_place(ids, pair, idx):
    i = 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == pair:
            ids[i:i + 2] = [idx]  # rewrites the caller's list
        i += 1
    return ids


@exercise("tokenization.merge", difficulty=1, minutes=15,
          reference="llmcourse.tokenization.base:merge",
          wrong={"doesn't skip past a replaced pair": _merge_no_skip, "drops the last id": _merge_drops_last,
                 "modifies its input": _merge_in_place},
          hint="build a new list: at position i, if ids[i], ids[i+1] == pair, append idx and jump 2, "
               "else append ids[i] and move 1; don't run past the end, don't change the input list")
def _merge():
    rng = random.Random(1)
    cases = [
        ("middle and end", [1, 2, 3, 1, 2], (1, 2), 4),
        ("overlap [7, 7, 7]", [7, 7, 7], (7, 7), 8),
        ("four in a row", [7, 7, 7, 7], (7, 7), 8),
        ("pair absent", [1, 3, 2, 1], (1, 2), 9),
        ("empty list", [], (1, 2), 9),
        ("last id alone", [5, 1, 2, 1], (1, 2), 300),
    ]
    for name, ids, pair, idx in cases:
        yield Case(name, args=(list(ids), pair, idx), expected=_merge_oracle(ids, pair, idx))
    ids = [rng.randrange(4) for _ in range(3000)]
    yield Case("3,000 random ids", args=(list(ids), (2, 2), 256), expected=_merge_oracle(ids, (2, 2), 256))

    def leaves_input_alone(fn):
        ids = [1, 2, 1, 2]
        fn(ids, (1, 2), 3)
        assert ids == [1, 2, 1, 2], f"merge changed its input list to {ids}; build and return a new list"
    yield Case("does not modify its input", test=leaves_input_alone)


# ----------------------------------------------------------------------------- the training loop
def _as_ranks(merges) -> dict[bytes, int]:
    """A merge table {(a, b): idx} as tiktoken's ranks {token bytes: idx} (merged tokens only)."""
    vocab = {i: bytes([i]) for i in range(256)}
    ranks = {}
    for (a, b), idx in sorted(dict(merges).items(), key=lambda kv: kv[1]):
        if a not in vocab or b not in vocab:
            raise AssertionError(f"merge ({a}, {b}) -> {idx} uses an id that is neither a byte nor an earlier merge")
        vocab[idx] = vocab[a] + vocab[b]
        ranks[vocab[idx]] = idx
    return ranks


def _same_merges(got, expected_ranks) -> str | None:
    if not isinstance(got, dict):
        return f"expected a dict {{(a, b): new_id}}, got {type(got).__name__}"
    try:
        ranks = _as_ranks(got)
    except AssertionError as err:
        return str(err)
    if ranks == expected_ranks:
        return None
    want = sorted(expected_ranks.items(), key=lambda kv: kv[1])
    have = sorted(ranks.items(), key=lambda kv: kv[1])
    for k, (w, h) in enumerate(zip(want, have)):
        if w != h:
            return f"merge {k + 1} differs: got {h[0]!r} as id {h[1]}, expected {w[0]!r} as id {w[1]}"
    return f"{len(have)} merges learned, expected {len(want)}"


def _untied_merges(chunks_text: list[str], most: int) -> int:
    """How many merges (up to `most`) the training text allows before two pairs tie for most frequent."""
    words = [[bytes([b]) for b in c.encode("utf-8")] for c in chunks_text]
    for k in range(most):
        stats = Counter(p for w in words for p in zip(w, w[1:]))
        if not stats:
            return k
        ranked = stats.most_common(2)
        if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
            return k
        words = [_merge_bytes(w, ranked[0][0]) for w in words]
    return most


def _educational_oracle(chunks_text: list[str], num_merges: int) -> dict[bytes, int]:
    """tiktoken's educational trainer on the same chunks (merged tokens only). Its tie rule is
    first-seen, the course's the smallest pair: use it only for merges that are not ties."""
    from tiktoken._educational import bpe_train

    data = "\x00".join(chunks_text)  # NUL never occurs in the chunks: the pattern splits at it
    ranks = bpe_train(data, 256 + num_merges, pat_str=r"[^\x00]+", visualise=None)
    return {t: r for t, r in ranks.items() if r >= 256}


def _merge_bytes(word: list[bytes], pair: tuple[bytes, bytes]) -> list[bytes]:
    out, i = [], 0
    while i < len(word):
        if i < len(word) - 1 and (word[i], word[i + 1]) == pair:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def _count(chunks, assign=False):
    counts = {}
    for ids in chunks:
        for pair in zip(ids, ids[1:]):
            counts[pair] = 1 if assign else counts.get(pair, 0) + 1
    return counts


def _train_variant(chunks, num_merges, *, assign=False, first_seen=False, update=True, join=False):
    from llmcourse.tokenization.base import merge

    chunks = [list(c) for c in chunks]
    if join:
        chunks = [[i for c in chunks for i in c]]
    merges, work = {}, chunks
    for k in range(num_merges):
        stats = _count(work, assign)
        if not stats:
            break
        pair = max(stats, key=stats.get) if first_seen else min(stats, key=lambda p: (-stats[p], p))
        merges[pair] = 256 + k
        if update:
            work = [merge(c, pair, 256 + k) for c in work]
    return merges


def _training_cases():
    from llmcourse.assets.multilingual import multilingual_sample
    from llmcourse.tokenization.patterns import split_chunks

    # counted by hand: (9, 8) and (1, 2) tie at 2; the smaller pair, (1, 2), goes first
    yield Case("tie: the smaller pair first", args=([[9, 8, 9, 8, 1, 2, 1, 2]], 3),
               expected=_as_ranks({(1, 2): 256, (9, 8): 257, (256, 256): 258}), compare=_same_merges)
    # by hand: (7, 7) occurs 2 + 1 times over the two chunks; no pair spans chunks, so training stops at 2
    yield Case("pairs never span chunks", args=([[7, 7, 7], [7, 7]], 3),
               expected=_as_ranks({(7, 7): 256, (256, 7): 257}), compare=_same_merges)
    yield Case("two chunks, nothing in common", args=([[3, 4], [1, 2]], 3),
               expected=_as_ranks({(1, 2): 256, (3, 4): 257}), compare=_same_merges)
    for lang, seed in [("en", 11), ("th", 10), ("ta", 11)]:
        chunks = split_chunks(multilingual_sample(lang, 3_000, seed=seed), "gpt4")
        n = _untied_merges(chunks, 15)  # as many merges as the text allows before a tie
        yield Case(f"{lang} sample, {n} merges (tiktoken's trainer)",
                   args=([list(c.encode("utf-8")) for c in chunks], n),
                   expected=_educational_oracle(chunks, n), compare=_same_merges)


@exercise("tokenization.train", difficulty=2, minutes=20,
          reference="llmcourse.tokenization.bpe_basic:train_merges",
          wrong={"= instead of += when counting": lambda c, n: _train_variant(c, n, assign=True),
                 "ties broken by first occurrence": lambda c, n: _train_variant(c, n, first_seen=True),
                 "ids not updated after a merge": lambda c, n: _train_variant(c, n, update=False),
                 "chunks joined into one sequence": lambda c, n: _train_variant(c, n, join=True)},
          hint="for k in range(num_merges): count pairs over every chunk (get_stats), stop if none; "
               "pair = best_pair(stats) (most frequent, ties -> smallest); merges[pair] = 256 + k; "
               "replace it in every chunk (merge)")
def _train():
    yield from _training_cases()


# ----------------------------------------------------------------------------- the stretch: train fast
def _incremental(chunks, num_merges, *, decrement=True, first_seen=False):
    """Incremental pair counts: after a merge, recount only the chunks that contained the pair."""
    from llmcourse.tokenization.base import merge

    words = Counter(tuple(c) for c in chunks)
    seqs, freqs = [list(w) for w in words], list(words.values())
    counts: Counter = Counter()
    for s, f in zip(seqs, freqs):
        for p in zip(s, s[1:]):
            counts[p] += f
    merges = {}
    for k in range(num_merges):
        counts = +counts  # drop pairs whose count fell to zero
        if not counts:
            break
        pair = max(counts, key=counts.get) if first_seen else min(counts, key=lambda p: (-counts[p], p))
        merges[pair] = 256 + k
        if not decrement:
            del counts[pair]
        for w, s in enumerate(seqs):
            if pair not in set(zip(s, s[1:])):
                continue
            if decrement:
                for p in zip(s, s[1:]):
                    counts[p] -= freqs[w]
            seqs[w] = s = merge(s, pair, 256 + k)
            for p in zip(s, s[1:]):
                counts[p] += freqs[w]  # without the decrement above, old neighbours keep their counts
    return merges


@exercise("tokenization.train_fast", difficulty=3, minutes=45, stretch=True,
          reference="llmcourse.tokenization.train_fast:train_merges_fast",
          wrong={"old neighbour pairs not decremented": lambda c, n: _incremental(c, n, decrement=False),
                 "ties broken by first occurrence": lambda c, n: _incremental(c, n, first_seen=True)},
          hint="count each distinct chunk once (Counter of tuples) and weight its pairs by its frequency; keep "
               "the pair counts between merges; a merge changes only the chunks that contain the pair: "
               "subtract their old pairs, merge, add their new pairs; same tie rule as train")
def _train_fast():
    yield from _training_cases()
    from llmcourse.assets.multilingual import multilingual_sample
    from llmcourse.tokenization.patterns import split_chunks

    # a real text, checked against the naive algorithm's tie rule through merges counted by
    # Counter on the chunks (a trainer of its own, in bytes, written out below)
    text = multilingual_sample("id", 3_000, seed=3)
    chunks = [list(c.encode("utf-8")) for c in split_chunks(text, "gpt4")]
    yield Case("3,000 characters of Indonesian, 150 merges", args=(chunks, 150),
               expected=_bytes_trainer(chunks, 150), compare=_same_merges)


def _bytes_trainer(chunks, num_merges) -> dict[bytes, int]:
    """The training loop on byte strings with collections.Counter: ties -> the smallest pair of ids."""
    words = [[bytes([b]) for b in c] for c in chunks]
    ids = {bytes([i]): i for i in range(256)}
    ranks = {}
    for k in range(num_merges):
        stats = Counter(p for w in words for p in zip(w, w[1:]))
        if not stats:
            break
        pair = min(stats, key=lambda p: (-stats[p], ids[p[0]], ids[p[1]]))
        ids[pair[0] + pair[1]] = ranks[pair[0] + pair[1]] = 256 + k
        words = [_merge_bytes(w, pair) for w in words]
    return ranks


# ----------------------------------------------------------------------------- encode / decode
@lru_cache(maxsize=1)
def _trained():
    """A merge table learned on a little multilingual text (the input of the encode cases)."""
    from llmcourse.tokenization import BasicTokenizer

    text = " ".join(TEXTS.values()) * 3 + " the tokens are the ids of the text"
    tok = BasicTokenizer().train(text, 256 + 120)
    return dict(tok.merges), dict(tok.vocab)


@lru_cache(maxsize=1)
def _tiktoken_oracle():
    """tiktoken with the same vocabulary: ranks = merge order, one chunk = the whole text."""
    import tiktoken

    merges, vocab = _trained()
    ranks = {vocab[i]: i for i in vocab}
    assert len(ranks) == len(vocab), "the oracle needs distinct token bytes"
    return tiktoken.Encoding("exercise-bpe", pat_str=r"[\s\S]+", mergeable_ranks=ranks, special_tokens={})


def _encode_most_frequent(text, merges):
    from llmcourse.tokenization.base import merge

    ids = list(text.encode("utf-8"))
    while len(ids) >= 2:
        stats = Counter(p for p in zip(ids, ids[1:]) if p in merges)
        if not stats:
            break
        pair = max(stats, key=stats.get)  # the most frequent pair in THIS text, not the earliest merge
        ids = merge(ids, pair, merges[pair])
    return ids


def _encode_latest_first(text, merges):
    from llmcourse.tokenization.base import merge

    ids = list(text.encode("utf-8"))
    while len(ids) >= 2:
        known = [p for p in zip(ids, ids[1:]) if p in merges]
        if not known:
            break
        pair = max(known, key=lambda p: merges[p])  # the LAST learned merge first
        ids = merge(ids, pair, merges[pair])
    return ids


def _encode_code_points(text, merges):
    from llmcourse.tokenization.base import bpe

    return bpe([ord(c) for c in text], merges)  # code points, not UTF-8 bytes


@exercise("tokenization.bpe_encode", difficulty=2, minutes=15,
          reference="llmcourse.tokenization.base:bpe_encode",
          wrong={"most frequent pair first": _encode_most_frequent, "latest merge first": _encode_latest_first,
                 "code points, not UTF-8 bytes": _encode_code_points},
          hint="ids = list(text.encode('utf-8')); while there are >= 2 ids: among the adjacent pairs take "
               "the one with the LOWEST merge id (merges.get(pair, inf)); stop if it has no merge; "
               "else ids = merge(ids, pair, merges[pair])")
def _bpe_encode():
    merges, _ = _trained()
    enc = _tiktoken_oracle()
    for name, text in list(TEXTS.items()) + [("empty text", ""), ("no merge applies", "QXZJ"),
                                             ("unseen repeats", "eeeeeeeeeee tttt")]:
        yield Case(name, args=(text, dict(merges)), expected=enc.encode_ordinary(text))
    # "bc" occurs twice, "ab" once, but "ab" was learned first: it must be merged first
    import tiktoken

    ranks = {bytes([i]): i for i in range(256)} | {b"ab": 256, b"bc": 257}
    small = tiktoken.Encoding("ab-bc", pat_str=r"[\s\S]+", mergeable_ranks=ranks, special_tokens={})
    yield Case("earliest merge beats the most frequent pair", args=("abcbc", {(97, 98): 256, (98, 99): 257}),
               expected=small.encode_ordinary("abcbc"))


def _decode_per_token(ids, vocab):
    return "".join(vocab[i].decode("utf-8", errors="replace") for i in ids)  # breaks split characters


def _decode_ignore(ids, vocab):
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="ignore")  # drops what it cannot read


def _decode_strict(ids, vocab):
    return b"".join(vocab[i] for i in ids).decode("utf-8")  # raises on a cut character


@exercise("tokenization.decode", difficulty=1, minutes=10,
          reference="llmcourse.tokenization.base:decode_ids",
          wrong={"decodes token by token": _decode_per_token, "errors='ignore'": _decode_ignore,
                 "strict UTF-8": _decode_strict},
          hint="b''.join(vocab[i] for i in ids).decode('utf-8', errors='replace'): join the BYTES "
               "first, decode once (a character can span two tokens)")
def _decode():
    _, vocab = _trained()
    enc = _tiktoken_oracle()
    for name, text in TEXTS.items():
        ids = enc.encode_ordinary(text)
        yield Case(f"{name} round trip", args=(ids, dict(vocab)), expected=enc.decode(ids))
    yield Case("no ids", args=([], dict(vocab)), expected="")
    # single byte tokens that cut Thai characters in half: invalid UTF-8 -> U+FFFD like tiktoken
    cut = list("สวัสดี".encode("utf-8"))[1:-1]
    yield Case("cut through a character", args=(cut, dict(vocab)), expected=enc.decode(cut))
    thai = enc.encode_ordinary("ครับ")
    yield Case("character split across tokens", args=(thai[::-1] + thai, dict(vocab)),
               expected=enc.decode(thai[::-1] + thai))
