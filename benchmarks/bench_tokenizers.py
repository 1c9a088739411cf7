"""BPE training and encoding: ours (fast and naive) against HF tokenizers, SentencePiece and tiktoken.

Text: the offline multilingual sample (English, Indonesian, Malay, Thai, Vietnamese,
Tagalog, Tamil in equal characters; generated, so no passage repeats), sized in UTF-8
bytes: 1 MB and 10 MB. Vocabularies of 4k and 16k tokens.

The naive trainer recounts every pair of the whole text before each merge; on 1 MB to 4k
it would run for tens of minutes, so we time it on the first merges only and extrapolate
with its cost model (each merge costs time proportional to the current number of tokens,
which the fast trainer's merge counts give exactly). The note says so.
"""

from __future__ import annotations

import os
import time

from llmcourse.bench import Bench, benchmark

NAIVE_MERGES = 24  # merges the naive trainer really runs on 1 MB


def _text(n_bytes: int) -> str:
    """About n_bytes of UTF-8, one seventh of the characters per language."""
    from llmcourse.assets.multilingual import LANGUAGES, multilingual_sample

    probe = {lang: multilingual_sample(lang, 20_000, seed=99) for lang in LANGUAGES}
    bytes_per_char = {lang: len(t.encode("utf-8")) / len(t) for lang, t in probe.items()}
    share = n_bytes / len(LANGUAGES)
    return "\n".join(multilingual_sample(lang, int(share / bytes_per_char[lang]), seed=0) for lang in LANGUAGES)


def _hf_train(text: str, vocab_size: int):
    from llmcourse.tokenization.compare import train_hf_bpe

    return train_hf_bpe(text, vocab_size)


def _sp_train(text: str, vocab_size: int):
    from llmcourse.tokenization.compare import train_sentencepiece

    return train_sentencepiece(text, vocab_size, "bpe")


@benchmark("tokenizers")
def run(b: Bench) -> None:
    from llmcourse.assets import get_encoding
    from llmcourse.tokenization import RegexTokenizer, count_chunks, split_chunks, train_fast, train_naive

    texts = {"1MB": _text(1_000_000), "10MB": _text(10_000_000)}
    for name, t in texts.items():
        b.record(f"text {name}: UTF-8 size", len(t.encode("utf-8")) / 1e6, "MB", group="text")
    b.note("text: offline multilingual sample, 7 languages in equal characters (Thai/Tamil are 3 bytes "
           f"per character); machine: {os.cpu_count()} CPUs shared with other work, so timings are noisy")

    # ------------------------------------------------------------------ training
    for size in ("1MB", "10MB"):
        text = texts[size]
        for vocab in (4096, 16384):
            tag = f"{size}/{vocab // 1024}k"
            reps = 2 if size == "1MB" else 1
            b.measure(f"train ours fast {tag}", lambda: RegexTokenizer().train(text, vocab, progress=False),
                      repeats=reps, warmup=0, group=f"train {tag}")
            b.measure(f"train HF tokenizers {tag}", lambda: _hf_train(text, vocab), repeats=reps + 1, warmup=0,
                      group=f"train {tag}")
            b.measure(f"train SentencePiece BPE {tag}", lambda: _sp_train(text, vocab), repeats=1, warmup=0,
                      group=f"train {tag}")
            b.ratio(f"ours fast / HF tokenizers {tag}", f"train ours fast {tag}", f"train HF tokenizers {tag}")
            b.ratio(f"ours fast / SentencePiece BPE {tag}", f"train ours fast {tag}",
                    f"train SentencePiece BPE {tag}")
    b.note("HF tokenizers trains with all cores (Rayon), SentencePiece with num_threads=1, ours in one "
           "Python thread")

    # ------------------------------------------------------------------ naive, 1 MB / 4k (extrapolated)
    text = texts["1MB"]
    chunks = split_chunks(text)
    words = count_chunks(chunks)
    merges = train_fast(words, 4096 - 256)  # [(pair, count)]: counts give the token count after each merge
    tokens = [sum(len(w) * f for w, f in words.items())]
    for _, count in merges:
        tokens.append(tokens[-1] - count)
    encoded = [c.encode("utf-8") for c in chunks]
    b.measure(f"train ours naive 1MB, first {NAIVE_MERGES} merges",
              lambda: train_naive(encoded, NAIVE_MERGES), repeats=1, warmup=0, group="naive")
    b.measure(f"train ours fast 1MB, first {NAIVE_MERGES} merges",
              lambda: train_fast(count_chunks(split_chunks(text)), NAIVE_MERGES), repeats=3, warmup=0,
              group="naive")
    b.ratio(f"naive / fast, both {NAIVE_MERGES} merges on 1MB (measured)",
            f"train ours naive 1MB, first {NAIVE_MERGES} merges", f"train ours fast 1MB, first {NAIVE_MERGES} merges")
    measured = b.figures[f"train ours naive 1MB, first {NAIVE_MERGES} merges"].median
    per_token = measured / sum(tokens[:NAIVE_MERGES])
    estimate = per_token * sum(tokens[:4096 - 256])
    b.record("train ours naive 1MB/4k (extrapolated)", estimate, "s", group="naive")
    b.ratio("ours naive (extrapolated) / ours fast 1MB/4k", "train ours naive 1MB/4k (extrapolated)",
            "train ours fast 1MB/4k")
    b.note(f"naive 1MB/4k is EXTRAPOLATED, not run: the naive trainer ran {NAIVE_MERGES} merges "
           f"({measured:.1f}s); each naive merge costs time proportional to the current token count, "
           f"which falls from {tokens[0]:,} to {tokens[4096 - 256]:,} over 3840 merges (from the fast "
           f"trainer's merge counts, same merges), giving {estimate / 60:.0f} min")

    # ------------------------------------------------------------------ encoding
    n_mb = len(text.encode("utf-8")) / 1e6
    enc = get_encoding("cl100k_base")
    ours = RegexTokenizer.from_tiktoken("cl100k_base")
    assert ours.encode_ordinary(text) == enc.encode_ordinary(text)
    b.measure("encode tiktoken cl100k (1 thread)", lambda: enc.encode_ordinary(text), repeats=3,
              work=n_mb, unit="MB/s", group="encode")

    def cold() -> None:
        ours._cache.clear()
        ours.encode_ordinary(text)

    b.measure("encode ours cl100k, empty chunk cache", cold, repeats=2, warmup=0, work=n_mb, unit="MB/s",
              group="encode")
    b.measure("encode ours cl100k, warm chunk cache", lambda: ours.encode_ordinary(text), repeats=3,
              work=n_mb, unit="MB/s", group="encode")
    b.ratio("tiktoken / ours encode (empty cache)", "encode tiktoken cl100k (1 thread)",
            "encode ours cl100k, empty chunk cache")
    b.ratio("tiktoken / ours encode (warm cache)", "encode tiktoken cl100k (1 thread)",
            "encode ours cl100k, warm chunk cache")
    b.note("encode: same 1 MB text, same ids (asserted); tiktoken's encode_ordinary is single-threaded Rust; "
           "ours caches the ids of each distinct chunk (a dict), which is what the warm figure shows")
