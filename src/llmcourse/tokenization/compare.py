"""Side by side: many tokenizers, one multilingual text, the numbers that matter.

* fertility = tokens per word. 1.0 means every word is one token; GPT-2 on Thai can
  exceed 10. It sets how much text fits in a context window and what a reply costs.
* bytes per token = UTF-8 bytes / tokens: how much text each token carries. Thai and
  Tamil letters take 3 bytes each in UTF-8, so a byte-level tokenizer with few Thai
  merges is stuck near 1 byte per token there.
* round trip: does decode(encode(text)) give the text back exactly?

Every tokenizer is wrapped as a `Contender` (name, encode, decode, vocab size) so the
same loop measures tiktoken, SentencePiece, Hugging Face `tokenizers` and ours.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

from llmcourse.assets.registry import require


@dataclass
class Contender:
    name: str
    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]
    vocab_size: int
    kind: str = ""


def tiktoken_contender(name: str) -> Contender:
    """tiktoken's `name` encoding (offline files via llmcourse.assets)."""
    from llmcourse.assets import get_encoding

    enc = get_encoding(name)
    return Contender(f"tiktoken {name}", enc.encode_ordinary, enc.decode, enc.n_vocab, "byte-level BPE")


def hf_contender(tok, name: str, kind: str = "") -> Contender:
    """A `tokenizers.Tokenizer` or a transformers tokenizer, without added BOS/EOS."""
    if hasattr(tok, "backend_tokenizer"):  # transformers
        return Contender(name, lambda s: tok.encode(s, add_special_tokens=False),
                         lambda ids: tok.decode(ids), len(tok), kind)
    return Contender(name, lambda s: tok.encode(s, add_special_tokens=False).ids,
                     lambda ids: tok.decode(ids, skip_special_tokens=False), tok.get_vocab_size(), kind)


def sentencepiece_contender(sp, name: str, kind: str = "") -> Contender:
    return Contender(name, lambda s: sp.encode(s), lambda ids: sp.decode(ids), sp.get_piece_size(), kind)


def ours_contender(tok, name: str, kind: str = "byte-level BPE") -> Contender:
    return Contender(name, tok.encode_ordinary, tok.decode, tok.vocab_size, kind)


def train_sentencepiece(text: str, vocab_size: int, model_type: str = "unigram"):
    """Train a SentencePiece model (the real library) in memory; returns a SentencePieceProcessor.

    Settings that keep the text exactly recoverable: identity normalisation (no NFKC),
    whitespace kept as it is, no dummy prefix, byte fallback for unseen characters.
    """
    spm = require("sentencepiece")
    model = io.BytesIO()
    lines = [line for line in text.split("\n") if line]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size, model_type=model_type,
        byte_fallback=True, character_coverage=0.9995, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=False, allow_whitespace_only_pieces=True,
        max_sentence_length=1 << 16, num_threads=1, minloglevel=2, hard_vocab_limit=False,
    )
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def train_hf_bpe(text: str, vocab_size: int):
    """Train a Hugging Face `tokenizers` byte-level BPE (GPT-2 style) on `text`."""
    tokenizers = require("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False)
    tok.train_from_iterator([text], trainer)
    return tok


def measure(contenders: list[Contender], texts: dict[str, str]) -> list[dict]:
    """One row per (tokenizer, language): tokens, words, bytes, fertility, bytes/token, round trip."""
    from llmcourse.assets.multilingual import count_words

    words = {lang: count_words(t, lang) for lang, t in texts.items()}
    rows = []
    for c in contenders:
        for lang, text in texts.items():
            ids = c.encode(text)
            n_bytes = len(text.encode("utf-8"))
            rows.append({
                "tokenizer": c.name, "lang": lang, "vocab": c.vocab_size, "tokens": len(ids),
                "words": words[lang], "bytes": n_bytes,
                "fertility": len(ids) / max(words[lang], 1),
                "bytes_per_token": n_bytes / max(len(ids), 1),
                "round_trip": c.decode(ids) == text,
            })
    return rows


def pivot(rows: list[dict], metric: str, fmt: str = "{:.2f}") -> str:
    """A text table: tokenizers down, languages across, `metric` in the cells."""
    langs = list(dict.fromkeys(r["lang"] for r in rows))
    names = list(dict.fromkeys(r["tokenizer"] for r in rows))
    cell = {(r["tokenizer"], r["lang"]): r[metric] for r in rows}
    width = max(len(n) for n in names) + 2
    lines = [f"{metric:<{width}}" + "".join(f"{lang:>8}" for lang in langs)]
    for n in names:
        vals = [cell[(n, lang)] for lang in langs]
        lines.append(f"{n:<{width}}" + "".join(
            f"{(('yes' if v else 'NO') if isinstance(v, bool) else fmt.format(v)):>8}" for v in vals))
    return "\n".join(lines)


def plot_metric(rows: list[dict], metric: str, ax=None, title: str | None = None):
    """Grouped bars: one group per language, one bar per tokenizer."""
    plt = require("matplotlib.pyplot", "matplotlib")
    langs = list(dict.fromkeys(r["lang"] for r in rows))
    names = list(dict.fromkeys(r["tokenizer"] for r in rows))
    cell = {(r["tokenizer"], r["lang"]): r[metric] for r in rows}
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(names)
    for k, n in enumerate(names):
        xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(langs))]
        ax.bar(xs, [cell[(n, lang)] for lang in langs], width, label=n)
    ax.set_xticks(range(len(langs)), langs)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(title or metric.replace("_", " "))
    ax.legend(fontsize=7, ncol=2)
    return ax
