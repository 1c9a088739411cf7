"""The course tokenizer as a Hugging Face fast tokenizer, with the same ids.

Libraries built on transformers (trl's trainers, pipelines, `generate`) take a
`PreTrainedTokenizerFast`, not our `RegexTokenizer`. Both are the same machine, so the
conversion is exact: a regex split into chunks, byte-level BPE inside each chunk, special
tokens matched whole. What changes is only the spelling of the vocabulary:

* Hugging Face's byte-level BPE (GPT-2's) writes every byte as a printable character
  (`_bytes_to_unicode`: the printable bytes stand for themselves, the others shift to
  U+0100 and up, so the space byte 0x20 becomes "Ġ"); our vocabulary holds raw bytes.
  Each token's bytes are rewritten in that alphabet, each merge as a pair of such strings,
  ranked by the order it was learnt.
* The split regex becomes a `Split` pre-tokenizer in "isolated" mode (each match is a
  chunk), followed by `ByteLevel` without its own regex (only the byte -> character map).

    hf = course_tokenizer_to_hf(tok)
    hf("Selamat pagi", add_special_tokens=False)["input_ids"] == tok.encode("Selamat pagi")
"""

from __future__ import annotations

from llmcourse.assets.registry import require

__all__ = ["course_tokenizer_to_hf"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 byte values to printable characters (byte-level BPE's alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def course_tokenizer_to_hf(tok):
    """The course tokenizer (regex split + byte-level BPE + specials) as a transformers fast tokenizer.

    Vocabulary and merges are written in GPT-2's byte-to-character alphabet, the split regex
    becomes an `isolated` Split pre-tokenizer; encodings equal the course tokenizer's.
    """
    tokenizers = require("tokenizers", "tokenizers")
    transformers = require("transformers")
    if list(getattr(tok, "byte_ids", range(256))) != list(range(256)):
        raise ValueError("only tokenizers whose bytes are ids 0..255 (the course's own) can be converted")
    b2u = _bytes_to_unicode()

    def as_str(token: bytes) -> str:
        return "".join(b2u[b] for b in token)

    vocab = {as_str(tok.vocab[i]): i for i in tok.vocab if i not in tok.inverse_special_tokens}
    merges = [(as_str(tok.vocab[a]), as_str(tok.vocab[b])) for (a, b), _ in sorted(tok.merges.items(), key=lambda kv: kv[1])]
    backend = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Sequence([
        tokenizers.pre_tokenizers.Split(tokenizers.Regex(tok.pattern), behavior="isolated"),
        tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = tokenizers.decoders.ByteLevel()
    specials = sorted(tok.special_tokens.items(), key=lambda kv: kv[1])
    backend.add_special_tokens([tokenizers.AddedToken(s, special=True) for s, _ in specials])
    for s, i in specials:
        if backend.token_to_id(s) != i:
            raise ValueError(f"special token {s!r} got id {backend.token_to_id(s)}, expected {i}")
    kw = {}
    if "<|endoftext|>" in tok.special_tokens:
        kw["eos_token"] = "<|endoftext|>"
    if "<|pad|>" in tok.special_tokens:
        kw["pad_token"] = "<|pad|>"
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend, **kw)
