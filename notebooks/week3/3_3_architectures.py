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
# # 3.3 Architecture comparisons: encoder-only, decoder-only, encoder-decoder
#
# The same transformer block comes in three arrangements, and the difference is mostly
# **who may attend to whom**:
#
# | family | example | attention | natural objective | good at |
# | --- | --- | --- | --- | --- |
# | encoder-only | BERT | every token sees every token | fill in masked tokens | understanding: classify, tag, embed, fill gaps |
# | decoder-only | GPT | token *t* sees tokens ≤ *t* (causal) | predict the next token | generating text; anything phrased as a prompt |
# | encoder-decoder | T5, the original Transformer | encoder: all-to-all; decoder: causal + **cross-attention** to the encoder | map an input sequence to an output sequence | translation, summarisation: input → output |
#
# In this notebook we train all three **at matched sizes** on one small task with real
# structure, translating English number, date and name phrases into Indonesian, each on
# its natural objective, then compare them in a table. Along the way you write BERT's
# masking rule, the cross-attention padding mask, and BLEU.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("3.3")

# %% [markdown]
# ## Knobs
# Every size comes from the profile: `smoke` runs in seconds, `laptop` learns for real on a
# CPU in a few minutes, `colab` trains bigger models on a T4 and adds NLLB from the Hub.

# %%
ALL = 1_000_000  # more than any split holds: "take the whole split"
N_TRAIN = cfg.pick(smoke=400, laptop=ALL)  # training pairs (the whole train split has ~5,200)
N_EVAL = cfg.pick(smoke=16, laptop=ALL)  # dev and test pairs to score (~650 each)
D_MODEL = cfg.pick(smoke=32, laptop=128, colab=256)  # width of every model
N_LAYER = cfg.pick(smoke=2, laptop=4, colab=6)  # BERT and GPT layers; T5 gets N_LAYER/2 + N_LAYER/2
N_HEAD = 4
STEPS = cfg.pick(smoke=20, laptop=500, colab=3000)  # optimiser steps per model
BATCH = cfg.pick(smoke=8, laptop=32, colab=128)
LR = cfg.pick(smoke=3e-3, laptop=3e-3, colab=1e-3)
EVAL_EVERY = cfg.pick(smoke=20, laptop=100, colab=250)  # steps between train/dev loss estimates
EVAL_BATCHES = cfg.pick(smoke=1, laptop=4, colab=8)  # batches per estimate
MAX_NEW = cfg.pick(smoke=10, laptop=40, colab=40)  # longest translation generated (tokens)
VOCAB = 800  # the shared SentencePiece vocabulary
BLOCK = 64  # context of every model (the longest pair is ~52 tokens)
NLLB_EVAL = cfg.pick(smoke=0, laptop=0, colab=ALL)  # test pairs NLLB translates when online (0 = skip)

# %% [markdown]
# ## 1. The data: English → Indonesian phrases, generated offline
#
# No parallel corpus ships on PyPI, but translations written by people do: `num2words`
# spells numbers in many languages, and `babel` carries CLDR, the Unicode locale data
# (month and weekday names, date formats, unit patterns, country and language names).
# `llmcourse.assets.translation` generates a few thousand pairs from them. They have the
# structure that makes translation hard: word order changes ("March 5" → "5 Maret"),
# words fuse ("one hundred" → "seratus"), and names must be memorised ("Germany" → "Jerman").
# Splits are deterministic: a hash of each pair decides train / dev / test (80/10/10).

# %%
import collections
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from llmcourse.assets.translation import phrase_tokenizer, translation_pairs

train_pairs = translation_pairs("train", limit=N_TRAIN)
dev_pairs = translation_pairs("dev", limit=N_EVAL)
test_pairs = translation_pairs("test", limit=N_EVAL)
print(f"train {len(train_pairs)}  dev {len(dev_pairs)}  test {len(test_pairs)} pairs")
print(dict(collections.Counter(p.kind for p in translation_pairs("train"))))
seen = set()
for p in translation_pairs("train"):
    if p.kind not in seen:
        seen.add(p.kind)
        print(f"  {p.kind:9s} {p.source!r:55} -> {p.target!r}")

# %% [markdown]
# One tokenizer serves both languages and all three models: a SentencePiece BPE trained on
# the training split, with **byte fallback**. Ids 0-5 are specials (`<pad> <unk> <s> </s>
# <mask> <sep>`), then come 256 byte pieces: a character never seen in training (Thai,
# Chinese, an emoji) is spelled as its UTF-8 bytes instead of becoming `<unk>`, so
# `decode(encode(text)) == text` for any text.

# %%
tok = phrase_tokenizer(VOCAB)
for text in ["dua ratus lima puluh", "Hà Nội 🚀"]:
    ids = tok.encode(text)
    print(f"{text!r}: {tok.pieces(ids)}  round trip ok: {tok.decode(ids) == text}")


def encode_pairs(pairs):
    return [tok.encode(p.source) for p in pairs], [tok.encode(p.target) for p in pairs]


train_src, train_tgt = encode_pairs(train_pairs)
dev_src, dev_tgt = encode_pairs(dev_pairs)
test_src, test_tgt = encode_pairs(test_pairs)
print("longest source / target (tokens):", max(map(len, train_src)), "/", max(map(len, train_tgt)))

# %% [markdown]
# ## 2. Encoder-only: BERT's masked language model
#
# An encoder has no causal mask, so it cannot be trained to predict the next token (the
# answer would be visible). BERT hides tokens instead and learns to restore them. The rule,
# "80/10/10": choose 15% of the non-special tokens as targets; replace 80% of those by
# `<mask>`, 10% by a random token, and leave 10% unchanged. The loss is taken only at the
# chosen positions (every other label is -100, which `F.cross_entropy` ignores).
#
# Why not always `<mask>`? Real inputs never contain `<mask>`, so the model must also build
# good representations of ordinary tokens, and must not trust every visible token blindly.
#
# **Exercise 1.** Write the masking. Draw all random numbers from `generator` (so the
# check can reproduce them): first a uniform number per token to decide whether it is
# chosen, then one per token to pick mask / random / keep, then the random ids (uniform
# over the *non-special* ids).

# %%
def mask_tokens(ids, mask_id, vocab_size, special_ids=(), mask_prob=0.15, generator=None):
    """Return (inputs, labels): BERT's 80/10/10 masking of the (B, T) token ids."""
    ### BEGIN SOLUTION
    special = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[special] = False
    pool = allowed.nonzero().squeeze(1)  # ids a random replacement may take
    candidate = ~torch.isin(ids, special)
    chosen = (torch.rand(ids.shape, generator=generator) < mask_prob) & candidate
    u = torch.rand(ids.shape, generator=generator)
    random_ids = pool[torch.randint(len(pool), ids.shape, generator=generator)]
    inputs = torch.where(chosen & (u < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, inputs)
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    return inputs, labels
    ### END SOLUTION


# %%
check("architectures.mlm_mask", mask_tokens)

# %% [markdown]
# From here on the notebook uses the library's `llmcourse.models.bert.mask_tokens`. BERT's
# input is a whole translation pair, `<s> English <sep> Indonesian </s>`, with segment 0
# and 1 for the two halves (XLM called MLM on pairs "translation language modelling"): to
# restore a masked Indonesian word the model can look at the English.

# %%
from llmcourse.models.bert import BERT, BertConfig, fill_mask, pair_batch
from llmcourse.models.bert import mask_tokens as lib_mask_tokens

ids, segments = pair_batch(train_src[:3], train_tgt[:3], tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
inputs, labels = lib_mask_tokens(ids, tok.mask_id, tok.vocab_size, tok.special_ids, 0.3, torch.Generator().manual_seed(0))
print("original:", " ".join(tok.pieces(ids[0])))
print("input:   ", " ".join(tok.pieces(inputs[0])))
print("targets: ", " ".join(tok.pieces([t if t >= 0 else tok.pad_id for t in labels[0].tolist()])).replace("<pad>", "·"))

# the statistics over many pairs
ids, _ = pair_batch(train_src, train_tgt, tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
inputs, labels = lib_mask_tokens(ids, tok.mask_id, tok.vocab_size, tok.special_ids, generator=torch.Generator().manual_seed(1))
chosen = labels != -100
regular = ~torch.isin(ids, torch.tensor(tok.special_ids))
frac = {
    "chosen / regular tokens": chosen.sum() / regular.sum(),
    "<mask> / chosen": (inputs[chosen] == tok.mask_id).float().mean(),
    "random / chosen": ((inputs[chosen] != tok.mask_id) & (inputs[chosen] != ids[chosen])).float().mean(),
    "unchanged / chosen": (inputs[chosen] == ids[chosen]).float().mean(),
}
for k, v in frac.items():
    print(f"  {k:24s} {float(v):.3f}")

# %% [markdown]
# ## 3. Encoder-decoder: cross-attention and its padding mask
#
# The T5-style model (`llmcourse.models.t5`) encodes the English with BERT-like blocks and
# decodes the Indonesian with causal blocks that also **cross-attend** to the encoder's
# output: queries from the target, keys and values from the source. Positions are T5's
# *relative* biases: a learned scalar per head and offset bucket added to the scores.
#
# A batch holds sources of different lengths, right-padded with `<pad>`. Padding must be
# invisible: no target position may attend to a padded source position, otherwise a
# sentence translates differently depending on its neighbours in the batch.
#
# **Exercise 2.** Build the cross-attention mask from the padded source ids: a boolean
# (B, 1, T, S) tensor, True where target position t may attend to source position s
# (the convention of `F.scaled_dot_product_attention`; the 1 broadcasts over heads).

# %%
def cross_attention_mask(src, pad_id, tgt_len):
    """(B, S) source ids -> (B, 1, tgt_len, S) bool: True = this source token is real."""
    ### BEGIN SOLUTION
    B, S = src.shape
    return (src != pad_id)[:, None, None, :].expand(B, 1, tgt_len, S)
    ### END SOLUTION


# %%
check("architectures.cross_mask", cross_attention_mask)

# %% [markdown]
# The library's T5 folds the same mask into its encoder and decoder. The test
# `tests/test_architectures.py` checks that a padded batch gives exactly the logits of
# one-by-one unpadded runs. Here is the whole picture of who attends to whom in each model,
# for one padded example:

# %%
from llmcourse.models.t5 import T5, T5Config, cross_attention_maps, seq2seq_batch

src, tgt_in, _ = seq2seq_batch([train_src[0], train_src[1][:3]], [train_tgt[0], train_tgt[1]], tok.pad_id, tok.bos_id, tok.eos_id)
S, T = src.shape[1], tgt_in.shape[1]
keep = (src[1] != tok.pad_id)
panels = {
    "BERT / T5 encoder\n(all-to-all, pad hidden)": keep[None, :].expand(S, S),
    "GPT / T5 decoder self-attn\n(causal)": torch.ones(T, T).tril().bool(),
    "T5 cross-attention\n(target → real source)": keep[None, :].expand(T, S),
}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
for ax, (title, m) in zip(axes, panels.items()):
    ax.imshow(m.float(), cmap="Blues", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Three models at matched sizes
#
# Same width, same number of heads, same total depth: BERT and GPT get `N_LAYER` blocks,
# T5 gets `N_LAYER/2` encoder and `N_LAYER/2` decoder blocks (its decoder blocks carry an
# extra cross-attention, so it ends up slightly larger). All three are built from the
# same `llmcourse.nn` parts (`MultiHeadAttention`, `FeedForward`, norms) and all three
# share the tokenizer. The GPT is the course's own `llmcourse.models.gpt.GPT`.

# %%
from llmcourse.models.gpt import GPT, GPTConfig
from llmcourse.models.prefix_lm import prefix_lm_batch, prefix_lm_translate
from llmcourse.training import train

torch.manual_seed(cfg.seed)
device = cfg.device
models = {
    "BERT (encoder-only)": BERT(BertConfig(tok.vocab_size, block_size=BLOCK, n_layer=N_LAYER, n_head=N_HEAD,
                                           n_embd=D_MODEL, pad_id=tok.pad_id)),
    "GPT (decoder-only)": GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=BLOCK, n_layer=N_LAYER,
                                        n_head=N_HEAD, n_embd=D_MODEL)),
    "T5 (encoder-decoder)": T5(T5Config(tok.vocab_size, block_size=BLOCK, n_enc_layer=N_LAYER // 2,
                                        n_dec_layer=N_LAYER - N_LAYER // 2, n_head=N_HEAD, n_embd=D_MODEL,
                                        pad_id=tok.pad_id, bos_id=tok.bos_id, eos_id=tok.eos_id)),
}
n_params = {}
for name, model in models.items():
    model.to(device)
    n_params[name] = sum(p.numel() for p in model.parameters())
    print(f"{name:22s} {n_params[name] / 1e6:6.3f} M parameters")

# %% [markdown]
# ## 5. Each on its natural objective
#
# * **BERT**: masked LM on `<s> en <sep> id </s>` (fresh 80/10/10 masks every batch).
# * **GPT**: next-token prediction on `<s> en <sep> id </s>` with the loss on the
#   Indonesian tokens only: a *prefix LM*, which is how a decoder-only LLM learns to answer
#   a prompt. (T5's paper also lets the prefix attend bidirectionally; our GPT keeps its
#   causal mask everywhere, as GPT-style LLMs do.)
# * **T5**: the encoder reads the English; the decoder predicts the Indonesian, teacher
#   forced (it reads `<s> id` and predicts `id </s>`).
#
# One training loop (`llmcourse.training.train`) serves all three: each batch is a tuple
# the model is called with, and the model returns `(logits, loss)`.

# %%
def sampler(sources, targets, make, seed):
    """A function returning random training batches built by `make(sources, targets)`."""
    g = torch.Generator().manual_seed(seed)

    def next_batch():
        pick = torch.randint(len(sources), (BATCH,), generator=g).tolist()
        return make([sources[i] for i in pick], [targets[i] for i in pick])

    return next_batch


mask_gen = torch.Generator().manual_seed(cfg.seed)


def bert_batch(s, t, generator=mask_gen):
    ids, seg = pair_batch(s, t, tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
    inputs, labels = lib_mask_tokens(ids, tok.mask_id, tok.vocab_size, tok.special_ids, 0.15, generator)
    return inputs.to(device), seg.to(device), labels.to(device)


def gpt_batch(s, t):
    return prefix_lm_batch(s, t, tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id, device)


def t5_batch(s, t):
    return seq2seq_batch(s, t, tok.pad_id, tok.bos_id, tok.eos_id, device)


makers = {"BERT (encoder-only)": bert_batch, "GPT (decoder-only)": gpt_batch, "T5 (encoder-decoder)": t5_batch}
histories = {}
for i, (name, model) in enumerate(models.items()):
    histories[name] = train(model, sampler(train_src, train_tgt, makers[name], seed=i), STEPS, LR,
                            val_batch=sampler(dev_src, dev_tgt, makers[name], seed=100 + i),
                            eval_every=EVAL_EVERY, eval_batches=EVAL_BATCHES, warmup=max(1, STEPS // 20), desc=name.split()[0])

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
for ax, (name, h) in zip(axes, histories.items()):
    h.plot(ax=ax)
    ax.set_title(f"{name}: {h.seconds:.0f} s")
axes[0].set_ylabel("loss on its own objective (nats/token)")
plt.tight_layout()
plt.show()

# %% [markdown]
# The three losses are **not** on the same scale: BERT predicts 15% of the tokens with
# both sides visible (its loss is averaged over masked positions, many of which are on the
# English side), GPT and T5 predict every Indonesian token from the English. GPT's and T5's
# losses measure the same thing (cross-entropy of the target given the source) and can be
# compared directly.
#
# ## 6. What BERT is good at: filling gaps
#
# A cloze test: hide a word and ask for it. With the English visible, the Indonesian gap is
# easy; without it, the model has only the Indonesian context.

# %%
bert = models["BERT (encoder-only)"].eval()


def cloze(english, indonesian_with_gap, top_k=3):
    left, right = indonesian_with_gap.split("___")
    src_ids = tok.encode(english) if english else []
    tgt_ids = tok.encode(left.rstrip()) + [tok.mask_id] + (tok.encode(right.strip()) if right.strip() else [])
    ids, seg = pair_batch([src_ids], [tgt_ids], tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
    (guesses,) = fill_mask(bert, ids.to(device), tok.mask_id, top_k, seg.to(device))
    shown = ", ".join(f"{tok.pieces([i])[0]!r} {p:.2f}" for i, p in guesses)
    print(f"{english!r:38} {indonesian_with_gap!r:32} -> {shown}")


cloze("two hundred and five", "dua ___ lima")
cloze("", "dua ___ lima")
cloze("March 5, 2021", "5 ___ 2021")
cloze("", "5 ___ 2021")
cloze("French (Canada)", "Prancis (___)")

# %% [markdown]
# Measured on the test split: accuracy of BERT's top guess at masked **Indonesian** tokens,
# with the English side present, and with it removed.

# %%
@torch.no_grad()
def cloze_accuracy(with_source: bool, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    correct = total = 0
    for start in range(0, len(test_src), 64):
        s = test_src[start:start + 64] if with_source else [[] for _ in test_src[start:start + 64]]
        ids, seg = pair_batch(s, test_tgt[start:start + 64], tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
        target_side = seg.bool() & ~torch.isin(ids, torch.tensor(tok.special_ids))
        chosen = (torch.rand(ids.shape, generator=g) < 0.15) & target_side
        inputs = ids.masked_fill(chosen, tok.mask_id)
        logits, _ = bert(inputs.to(device), seg.to(device))
        correct += int((logits.argmax(-1).cpu()[chosen] == ids[chosen]).sum())
        total += int(chosen.sum())
    return correct / max(total, 1)


cloze_with, cloze_without = cloze_accuracy(True), cloze_accuracy(False)
print(f"masked Indonesian token accuracy: {cloze_with:.1%} with the English, {cloze_without:.1%} without")

# %% [markdown]
# ## 7. What GPT and T5 are good at: generating the translation
#
# Both decode greedily (the most likely token at each step) until `</s>`. T5 runs its
# encoder once and the decoder step by step; the GPT continues the prompt `<s> English <sep>`.

# %%
references = [p.target for p in test_pairs]
t0 = time.perf_counter()
t5 = models["T5 (encoder-decoder)"].eval()
t5_out = []
for start in range(0, len(test_src), 64):
    src, _, _ = seq2seq_batch(test_src[start:start + 64], test_tgt[start:start + 64], tok.pad_id, tok.bos_id, tok.eos_id, device)
    t5_out += [tok.decode(o) for o in t5.generate(src, max_new_tokens=MAX_NEW)]
t5_seconds = time.perf_counter() - t0
t0 = time.perf_counter()
gpt = models["GPT (decoder-only)"].eval()
gpt_out = [tok.decode(o) for o in prefix_lm_translate(gpt, test_src, tok.bos_id, tok.sep_id, tok.eos_id,
                                                       max_new_tokens=min(MAX_NEW, BLOCK - 2 - max(map(len, test_src))))]
gpt_seconds = time.perf_counter() - t0
for p, a, b in list(zip(test_pairs, t5_out, gpt_out))[:8]:
    print(f"{p.source!r}\n   ref {p.target!r}\n   T5  {a!r}\n   GPT {b!r}")

# %% [markdown]
# ## 8. Scoring translations: BLEU and chrF
#
# **BLEU** counts how many of the hypothesis' n-grams (n = 1..4) also occur in the
# reference, *clipped* so a word repeated more often than in the reference scores only as
# often as it appears there; it takes the geometric mean of the four precisions and
# multiplies by a brevity penalty `BP = 1 if c > r else exp(1 - r/c)` (c, r: total
# hypothesis and reference lengths), since precision alone would reward short outputs.
#
# **Exercise 3.** Clipped n-gram statistics over a corpus: (matches, total hypothesis
# n-grams), words split on whitespace.

# %%
def clipped_ngram_stats(hyps, refs, n):
    """(sum of clipped n-gram matches, sum of hypothesis n-grams) over the corpus."""
    ### BEGIN SOLUTION
    matches = total = 0
    for hyp, ref in zip(hyps, refs):
        h, r = hyp.split(), ref.split()
        hc = collections.Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
        rc = collections.Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
        matches += sum(min(c, rc[g]) for g, c in hc.items())
        total += sum(hc.values())
    return matches, total
    ### END SOLUTION


# %%
check("architectures.ngram_stats", clipped_ngram_stats)

# %% [markdown]
# **Exercise 4.** Corpus BLEU (x100) from those statistics, without smoothing (0 when some
# order has no match). The check compares with `sacrebleu` run with `tokenize="none",
# smooth_method="none"`.

# %%
def corpus_bleu(hyps, refs):
    """BLEU x100 of a corpus with one reference per hypothesis."""
    ### BEGIN SOLUTION
    c = sum(len(h.split()) for h in hyps)
    r = sum(len(x.split()) for x in refs)
    if c == 0:
        return 0.0
    log_p = 0.0
    for n in range(1, 5):
        matches, total = clipped_ngram_stats(hyps, refs, n)
        if matches == 0:
            return 0.0
        log_p += math.log(matches / total) / 4
    bp = 1.0 if c > r else math.exp(1 - r / c)
    return 100 * bp * math.exp(log_p)
    ### END SOLUTION


# %%
check("architectures.bleu", corpus_bleu)

# %% [markdown]
# What papers report is sacrebleu with its standard settings (its own "13a" tokenizer
# and smoothing), so numbers are comparable. **chrF** is an F-score over character
# n-grams: it gives partial credit to a nearly right word ("Februari" vs "Febuari") and is
# steadier than BLEU on short phrases. Per kind of phrase the two models differ: numbers
# and dates need the right words in the right order (long numbers repeat the same
# structure twice, "... ribu ...", which a model can mix up), while country and language
# names in the test split were never seen in training and can only be guessed from
# their spelling, or from the same name inside a locale such as "French (Canada)".

# %%
from llmcourse.evaluation.bleu import translation_scores

scores = {"T5 (encoder-decoder)": translation_scores(t5_out, references),
          "GPT (decoder-only)": translation_scores(gpt_out, references)}
for name, s in scores.items():
    print(f"{name:22s} BLEU {s['bleu']:5.1f}  chrF {s['chrf']:5.1f}")

kinds = sorted({p.kind for p in test_pairs})
per_kind = {name: [] for name in scores}
for kind in kinds:
    idx = [i for i, p in enumerate(test_pairs) if p.kind == kind]
    refs_k = [references[i] for i in idx]
    per_kind["T5 (encoder-decoder)"].append(translation_scores([t5_out[i] for i in idx], refs_k)["chrf"])
    per_kind["GPT (decoder-only)"].append(translation_scores([gpt_out[i] for i in idx], refs_k)["chrf"])
fig, ax = plt.subplots(figsize=(9, 3.5))
width = 0.4
for j, (name, vals) in enumerate(per_kind.items()):
    ax.bar([k + (j - 0.5) * width for k in range(len(kinds))], vals, width, label=name)
ax.set_xticks(range(len(kinds)), kinds)
ax.set_ylabel("chrF on the test split")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Where does the decoder look? The cross-attention of T5's last decoder layer, averaged
# over heads, for a date: with enough training it is a soft word alignment, including the
# reordering of day and month.

# %%
example = next((i for i, p in enumerate(test_pairs) if p.kind == "date"), 0)
src, tgt_in, _ = seq2seq_batch([test_src[example]], [test_tgt[example]], tok.pad_id, tok.bos_id, tok.eos_id, device)
maps = cross_attention_maps(t5, src, tgt_in)[-1, 0].mean(0).cpu()  # (T, S)
fig, ax = plt.subplots(figsize=(6, 4))
ax.imshow(maps, cmap="viridis")
ax.set_xticks(range(src.shape[1]), tok.pieces(src[0]), rotation=60, fontsize=8)
ax.set_yticks(range(tgt_in.shape[1]), [f"→ {p}" for p in tok.pieces(test_tgt[example] + [tok.eos_id])], fontsize=8)
ax.set_title(f"T5 cross-attention: {test_pairs[example].source!r}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 9. The reference point: NLLB-200 (online)
#
# Meta's NLLB-200 (distilled, 600M parameters, 200 languages) translates the same test
# split when the Hugging Face Hub is reachable (Colab). It is hundreds of times larger than
# our models and was trained on real text, not on these generated phrases and their
# conventions (spelled-out numbers, CLDR's names): a reference point, not a ceiling.

# %%
nllb_scores = None
if cfg.online and NLLB_EVAL != 0:
    from llmcourse.assets.translation import load_nllb, nllb_translate

    nllb, nllb_tok = load_nllb(device)
    n = min(NLLB_EVAL, len(test_pairs))
    nllb_out = nllb_translate([p.source for p in test_pairs[:n]], nllb, nllb_tok, batch_size=32)
    nllb_scores = translation_scores(nllb_out, references[:n])
    for p, o in list(zip(test_pairs, nllb_out))[:5]:
        print(f"{p.source!r} -> {o!r} (ref {p.target!r})")
    print(f"NLLB-200 600M on {n} test pairs: BLEU {nllb_scores['bleu']:.1f}  chrF {nllb_scores['chrf']:.1f}")
else:
    print("offline (or this profile skips it): NLLB needs the Hugging Face Hub; run on Colab for the reference")

# %% [markdown]
# ## 10. The comparison
#
# Same width, same depth, same data, same number of steps. BERT cannot translate: it has
# no way to produce a sequence of unknown length, only to fill the slots it is given, and
# it learns from 15% of the tokens of each sequence, so at equal steps its loss lags. GPT
# and T5 cannot fill a gap using the words to its right (GPT never sees them; T5's encoder
# could, but it is not trained to). Between the two generators, the encoder-decoder reads
# the source once, bidirectionally, and attends to it directly from every decoder layer;
# the decoder-only model spends its layers on source and target together and is the one
# that scales to any task phrased as text, which is why today's LLMs are GPTs.
#
# One more lesson hides in `llmcourse.models.t5.t5_init`: with GPT-2's initialisation
# (normal(0, 0.02) everywhere) the same T5 learns far more slowly. Initialisation is part
# of an architecture.

# %%
rows = []
for name, h in histories.items():
    if name.startswith("BERT"):
        test_metric = f"cloze acc {cloze_with:.1%} (no source {cloze_without:.1%})"
        good = "understanding: fill gaps, classify, embed (sees both sides)"
    else:
        s = scores[name]
        test_metric = f"BLEU {s['bleu']:.1f} / chrF {s['chrf']:.1f}"
        good = ("seq2seq: input -> output, source read once" if name.startswith("T5")
                else "generation: anything phrased as a prompt")
    rows.append((name, f"{n_params[name] / 1e6:.3f}M", f"{h.seconds:.0f} s", f"{h.train_loss[-1]:.3f}",
                 f"{h.val_loss[-1]:.3f}", test_metric, good))
if nllb_scores:
    rows.append(("NLLB-200 (reference)", "600M", "-", "-", "-",
                 f"BLEU {nllb_scores['bleu']:.1f} / chrF {nllb_scores['chrf']:.1f}", "200 languages, real text"))
header = ("model", "params", "train time", "train loss", "dev loss", "test", "good at")
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
for r in [header, tuple("-" * w for w in widths), *rows]:
    print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))
best = max(scores, key=lambda name: scores[name]["chrf"])
print(f"\nbetter translator in this run: {best} (chrF {scores[best]['chrf']:.1f})")

# %%
cfg.report(
    bert_params=n_params["BERT (encoder-only)"], gpt_params=n_params["GPT (decoder-only)"],
    t5_params=n_params["T5 (encoder-decoder)"],
    bert_dev_mlm_loss=histories["BERT (encoder-only)"].val_loss[-1],
    gpt_dev_loss=histories["GPT (decoder-only)"].val_loss[-1],
    t5_dev_loss=histories["T5 (encoder-decoder)"].val_loss[-1],
    bert_cloze_acc=cloze_with, bert_cloze_acc_no_source=cloze_without,
    t5_bleu=scores["T5 (encoder-decoder)"]["bleu"], t5_chrf=scores["T5 (encoder-decoder)"]["chrf"],
    gpt_bleu=scores["GPT (decoder-only)"]["bleu"], gpt_chrf=scores["GPT (decoder-only)"]["chrf"],
    nllb_bleu=nllb_scores["bleu"] if nllb_scores else "offline",
    train_seconds=round(sum(h.seconds for h in histories.values()), 1),
)
