"""The course's own tokenizer: trained in notebook 1.2, reused by the GPT of later weeks.

Notebook 1.2 trains a GPT-4-pattern byte-level BPE on the seven-language sample with the
learner's trainer and saves it through the artifact door:

    save_artifact("course-tokenizer", tok, notebook="1.2", about=...)

Later notebooks load it with `load_course_tokenizer()` (a thin wrapper over
`load_artifact("course-tokenizer", fallback=reference_course_tokenizer)`): the learner's
when 1.2 was run in this profile, else the reference one trained here, deterministically,
the same way. Its vocabulary size is the course GPT's (`course_tokenizer_vocab()`), the
last two ids being `<|endoftext|>` and `<|pad|>`.
"""

from __future__ import annotations

from llmcourse.tokenization.bpe_regex import RegexTokenizer

SPECIALS = ("<|endoftext|>", "<|pad|>")
# characters of training text per language, per profile (smoke trains in about a second)
TRAINING_CHARS = {"smoke": 12_000, "laptop": 100_000, "colab": 100_000, "cluster": 200_000}

__all__ = ["SPECIALS", "TRAINING_CHARS", "course_tokenizer_text", "load_course_tokenizer", "train_course_tokenizer",
           "with_course_specials"]


def _profile() -> str:
    from llmcourse.config import pick_profile

    return pick_profile()[0]


def course_tokenizer_text(chars_per_language: int | None = None) -> str:
    """The course tokenizer's training text: the multilingual sample (seed 0), one language after another."""
    from llmcourse.assets.multilingual import multilingual_corpus

    chars = chars_per_language or TRAINING_CHARS.get(_profile(), 100_000)
    return "\n".join(multilingual_corpus(chars, seed=0).values())


def with_course_specials(tok: RegexTokenizer) -> RegexTokenizer:
    """Register <|endoftext|> and <|pad|> right after the learned tokens (returns `tok`)."""
    first = max(tok.vocab) + 1
    tok.register_special_tokens({s: first + i for i, s in enumerate(SPECIALS)})
    return tok


def train_course_tokenizer(vocab_size: int = 4096, chars_per_language: int | None = None,
                           progress: bool | None = None) -> RegexTokenizer:
    """The reference course tokenizer: GPT-4-pattern BPE on the multilingual sample, `vocab_size`
    tokens in all, <|endoftext|> and <|pad|> the last two."""
    if not isinstance(vocab_size, int) or vocab_size < 256 + 1 + len(SPECIALS):
        raise ValueError(f"vocab_size must be an int of at least {256 + 1 + len(SPECIALS)}, got {vocab_size!r}")
    tok = RegexTokenizer().train(course_tokenizer_text(chars_per_language), vocab_size - len(SPECIALS),
                                 progress=progress)
    return with_course_specials(tok)


def load_course_tokenizer(vocab_size: int | None = None) -> RegexTokenizer:
    """The course tokenizer: the one notebook 1.2 saved (artifact "course-tokenizer"), else the reference.

    Its size is the course GPT's in this profile (`course_tokenizer_vocab()`); asking for
    another `vocab_size` says so and returns the course tokenizer anyway, since later weeks
    must agree on one vocabulary.
    """
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.models.course import reference_course_tokenizer

    tok = load_artifact("course-tokenizer", fallback=reference_course_tokenizer)
    if vocab_size is not None and vocab_size != tok.vocab_size:
        print(f"[tokenizer] the course tokenizer has {tok.vocab_size} tokens in this profile (asked for "
              f"{vocab_size}); using it, since every later week shares one vocabulary")
    return tok
