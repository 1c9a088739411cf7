"""Exercises of notebook 1.2 (tokenizers): pair counts, merge, BPE encode, decode.

Oracles: `collections.Counter` over zipped pairs (pair counts), Python's own
`str.replace` on a text spelling of the ids (merge: same left-to-right, non-overlapping
rule), and tiktoken's Rust BPE and decoder, given the very merges the case uses (encode,
decode). Merge tables are inputs, learned on fixed text; answers never come from the
functions under test.
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


@exercise("tokenization.get_stats",
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


@exercise("tokenization.merge",
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
    yield Case("3,000 random ids", args=(ids, (2, 2), 256), expected=_merge_oracle(ids, (2, 2), 256))

    def leaves_input_alone(fn):
        ids = [1, 2, 1, 2]
        fn(ids, (1, 2), 3)
        assert ids == [1, 2, 1, 2], f"merge changed its input list to {ids}; build and return a new list"
    yield Case("does not modify its input", test=leaves_input_alone)


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


@exercise("tokenization.bpe_encode",
          hint="ids = list(text.encode('utf-8')); while there are >= 2 ids: among the adjacent pairs take "
               "the one with the LOWEST merge id (merges.get(pair, inf)); stop if it has no merge; "
               "else ids = merge(ids, pair, merges[pair])")
def _bpe_encode():
    merges, _ = _trained()
    enc = _tiktoken_oracle()
    for name, text in list(TEXTS.items()) + [("empty text", ""), ("no merge applies", "QXZJ"),
                                             ("unseen repeats", "eeeeeeeeeee tttt")]:
        yield Case(name, args=(text, dict(merges)), expected=enc.encode_ordinary(text))


@exercise("tokenization.decode",
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
