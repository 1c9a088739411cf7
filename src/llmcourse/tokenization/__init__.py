"""Tokenization: byte-level BPE from scratch, fast training, tiktoken parity, vocabulary extension.

    from llmcourse.tokenization import RegexTokenizer
    tok = RegexTokenizer().train(text, vocab_size=4096)      # GPT-4 split pattern by default
    ids = tok.encode("Selamat pagi!")
    tok.decode(ids)
    RegexTokenizer.from_tiktoken("cl100k_base").encode(text)  # == tiktoken's ids
"""

from llmcourse.tokenization.base import (
    Tokenizer, best_pair, bpe, bpe_encode, decode_ids, get_stats, merge, render_token,
)
from llmcourse.tokenization.bpe_basic import BasicTokenizer, learn_merges, train_merges, train_naive
from llmcourse.tokenization.bpe_regex import RegexTokenizer, recover_merges
from llmcourse.tokenization.course_tokenizer import load_course_tokenizer, train_course_tokenizer
from llmcourse.tokenization.patterns import (
    GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, O200K_SPLIT_PATTERN, PATTERNS, split_chunks,
)
from llmcourse.tokenization.phrases import PhraseTokenizer, phrase_tokenizer, train_phrase_tokenizer
from llmcourse.tokenization.protocol import TokenizerProtocol, check_tokenizer
from llmcourse.tokenization.train_fast import count_chunks, train_fast, train_merges_fast

__all__ = [
    "BasicTokenizer", "GPT2_SPLIT_PATTERN", "GPT4_SPLIT_PATTERN", "O200K_SPLIT_PATTERN", "PATTERNS",
    "PhraseTokenizer", "RegexTokenizer", "Tokenizer", "TokenizerProtocol", "best_pair", "bpe", "bpe_encode",
    "check_tokenizer", "count_chunks", "decode_ids", "get_stats", "learn_merges", "load_course_tokenizer", "merge",
    "phrase_tokenizer", "recover_merges", "render_token", "split_chunks", "train_course_tokenizer", "train_fast",
    "train_merges", "train_merges_fast", "train_naive", "train_phrase_tokenizer",
]
