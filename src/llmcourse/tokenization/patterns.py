"""Split patterns: the regular expressions that cut text into chunks before BPE.

Byte-level BPE never merges across chunk boundaries, so the pattern decides what a token
*can* be: with these patterns a token never spans a letter and a digit, or a word and the
space after it ("hello world" -> "hello", " world": the space sticks to the next word).

The strings are exactly tiktoken's (0.14; possessive `++` and `?+` need the `regex`
module, not `re`), so our chunks are tiktoken's chunks. Worth noticing for SEA scripts:

* GPT-2 and GPT-4 (cl100k) use `\\p{L}+` for words. Thai and Tamil vowel signs and tone
  marks are combining marks (`\\p{M}`), not letters, so those patterns cut a Thai word
  at every such mark. o200k's word classes include `\\p{M}`, which keeps them together.
* Thai has no spaces between words, so a whole Thai clause is one chunk for every pattern:
  BPE, not the pattern, has to find the words.
"""

from functools import lru_cache

GPT2_SPLIT_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)

GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

O200K_SPLIT_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])

PATTERNS: dict[str, str] = {
    "gpt2": GPT2_SPLIT_PATTERN,
    "gpt4": GPT4_SPLIT_PATTERN,
    "cl100k_base": GPT4_SPLIT_PATTERN,
    "o200k_base": O200K_SPLIT_PATTERN,
}


# Letters, marks and digits that Unicode added after the tables inside tiktoken's regex
# engine (Rust; Unicode 16): the `regex` module knows them (Unicode 17 and later), tiktoken
# sees them as unassigned ("other" characters). Found by comparing both on every code point
# that Python's own Unicode 14 tables leave unassigned; tests/test_tokenization.py re-checks
# the list against tiktoken, so a tiktoken or regex upgrade that changes it fails loudly.
NEWER_THAN_TIKTOKEN: tuple[tuple[int, int], ...] = (
    (0x0558, 0x0558), (0x058B, 0x058C), (0x05C8, 0x05C9), (0x088F, 0x088F), (0x0B53, 0x0B54),
    (0x0C5C, 0x0C5C), (0x0CDC, 0x0CDC), (0x1ACF, 0x1AF0), (0x208F, 0x208F), (0x209D, 0x209F),
    (0xA7CE, 0xA7CF), (0xA7D2, 0xA7D2), (0xA7D4, 0xA7D4), (0xA7DD, 0xA7DD), (0xA7E2, 0xA7E2),
    (0xA7F1, 0xA7F1), (0xAB6C, 0xAB6D), (0x107BB, 0x107BF), (0x10940, 0x10959), (0x10EC5, 0x10EC7),
    (0x10ECB, 0x10ECF), (0x10ED9, 0x10EEE), (0x10EF0, 0x10EFB), (0x11B0A, 0x11B0A), (0x11B60, 0x11B67),
    (0x11DB0, 0x11DDB), (0x11DE0, 0x11DE9), (0x11DF0, 0x11DF1), (0x1246F, 0x1246F), (0x12475, 0x1247F),
    (0x12550, 0x12686), (0x16EA0, 0x16EB8), (0x16EBB, 0x16ED3), (0x16FF2, 0x16FF6), (0x187F8, 0x187FF),
    (0x18CD6, 0x18CDA), (0x18D09, 0x18D20), (0x18D80, 0x18DF2), (0x18E00, 0x19191), (0x191A0, 0x191D2),
    (0x1B123, 0x1B128), (0x1B168, 0x1B168), (0x1D127, 0x1D128), (0x1D250, 0x1D252), (0x1D25B, 0x1D25C),
    (0x1D25F, 0x1D25F), (0x1D280, 0x1D281), (0x1D6A6, 0x1D6A6), (0x1DF1F, 0x1DF24), (0x1DF2B, 0x1DF81),
    (0x1DF90, 0x1DF96), (0x1DFCD, 0x1DFFF), (0x1E6C0, 0x1E6DE), (0x1E6E0, 0x1E6F5), (0x1E6FE, 0x1E6FF),
    (0x2B73A, 0x2B73F), (0x2B81E, 0x2B81E), (0x2CEA2, 0x2CEAD), (0x323B0, 0x33479), (0x3D000, 0x3FC3F),
)


@lru_cache(maxsize=32)
def compile_pattern(pattern: str):
    """Compile a split pattern so that it sees Unicode exactly as tiktoken does.

    Every `\\p{X}` becomes `[\\p{X}--[newer]]` (the `regex` module's set difference, VERSION1
    syntax), which removes the characters in NEWER_THAN_TIKTOKEN from every class; nothing
    else changes. For scripts in use before 2025 this is the plain pattern.
    """
    import regex

    newer = "[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in NEWER_THAN_TIKTOKEN) + "]"
    rewritten = regex.sub(r"\\p\{(\w+)\}", lambda m: f"[\\p{{{m.group(1)}}}--{newer}]", pattern)
    return regex.compile("(?V1)" + rewritten)


def split_chunks(text: str, pattern: str = GPT4_SPLIT_PATTERN) -> list[str]:
    """Cut `text` into the chunks BPE works on (`pattern` is a regex or a name in PATTERNS)."""
    return compile_pattern(PATTERNS.get(pattern, pattern)).findall(text)
