"""The course's own tokenizer: trained in notebook 1.2, reused by the GPT of later weeks.

Notebook 1.2 trains a RegexTokenizer on English + SEA text and saves it to the artifact
cache. `load_course_tokenizer()` returns that file when it is there; otherwise it trains
the same kind of tokenizer on the same offline text (deterministic) and says so.
"""

from __future__ import annotations

from pathlib import Path

from llmcourse.config import cache_dir
from llmcourse.tokenization.bpe_regex import RegexTokenizer

SPECIALS = ("<|endoftext|>", "<|pad|>")


def course_tokenizer_path(vocab_size: int = 4096) -> Path:
    """Where notebook 1.2 saves its tokenizer of `vocab_size` tokens (specials included)."""
    return cache_dir() / "artifacts" / "1.2" / f"sea_bpe_{vocab_size}.json"


def train_course_tokenizer(vocab_size: int = 4096, chars_per_language: int = 100_000,
                           progress: bool | None = None) -> RegexTokenizer:
    """A GPT-4-pattern BPE on the multilingual sample, with <|endoftext|> and <|pad|> at the end."""
    from llmcourse.assets.multilingual import multilingual_corpus

    if vocab_size < 256 + 1 + len(SPECIALS):
        raise ValueError(f"vocab_size must be at least {256 + 1 + len(SPECIALS)}, got {vocab_size}")
    text = "\n".join(multilingual_corpus(chars_per_language, seed=0).values())
    tok = RegexTokenizer().train(text, vocab_size - len(SPECIALS), progress=progress)
    first = max(tok.vocab) + 1
    tok.register_special_tokens({s: first + i for i, s in enumerate(SPECIALS)})
    return tok


def load_course_tokenizer(vocab_size: int = 4096) -> RegexTokenizer:
    """Notebook 1.2's saved tokenizer if present, else a freshly trained reference one."""
    path = course_tokenizer_path(vocab_size)
    if path.is_file():
        try:
            tok = RegexTokenizer().load(path)
            print(f"[tokenizer] the tokenizer you trained in notebook 1.2 ({path})")
            return tok
        except ValueError as err:
            print(f"[tokenizer] {path} is unusable ({err}); training a reference tokenizer instead")
    else:
        print(f"[tokenizer] no tokenizer from notebook 1.2 at {path}; training a reference one "
              f"({vocab_size} tokens, multilingual sample)")
    return train_course_tokenizer(vocab_size)
