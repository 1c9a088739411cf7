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
# its natural objective, then compare them. Along the way you write BERT's masking rule
# (which then trains the BERT), the cross-attention padding mask, and BLEU (which then scores
# the translations); the stretch is chrF.

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
# CPU in a few minutes (GPT and T5 with three seeds, so that their comparison has a spread), `colab` trains
# bigger models on a T4. NLLB, the reference translator, runs whenever the Hugging Face Hub
# answers (laptop and colab).

# %%
ALL = 1_000_000  # more than any split holds: "take the whole split"
N_TRAIN = cfg.pick(smoke=400, laptop=ALL)  # training pairs (the whole train split has ~5,200)
N_EVAL = cfg.pick(smoke=16, laptop=400, colab=ALL)  # dev and test pairs to score (each split has ~650)
D_MODEL = cfg.pick(smoke=32, laptop=128, colab=256)  # width of every model
N_LAYER = cfg.pick(smoke=2, laptop=4, colab=6)  # BERT and GPT layers; T5 gets N_LAYER/2 + N_LAYER/2
N_HEAD = 4
STEPS = cfg.pick(smoke=20, laptop=300, colab=3000)  # optimiser steps per model
SEEDS = cfg.pick(smoke=[0], laptop=[0, 1, 2], colab=[0, 1, 2])  # GPT and T5 (the comparison) train once per seed
BATCH = cfg.pick(smoke=8, laptop=32, colab=128)
LR = cfg.pick(smoke=3e-3, laptop=3e-3, colab=1e-3)
EVAL_EVERY = cfg.pick(smoke=20, laptop=100, colab=250)  # steps between train/dev loss estimates
EVAL_BATCHES = cfg.pick(smoke=1, laptop=4, colab=8)  # batches per estimate
MAX_NEW = cfg.pick(smoke=10, laptop=40, colab=40)  # longest translation generated (tokens)
VOCAB = 800  # the shared SentencePiece vocabulary
BLOCK = 64  # context of every model (the longest pair is ~52 tokens)
NLLB_EVAL = cfg.pick(smoke=0, laptop=200, colab=ALL)  # test pairs NLLB translates when online (0 = skip)

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

from llmcourse.assets.translation import translation_pairs
from llmcourse.tokenization import phrase_tokenizer

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
    assert tok.decode(ids) == text
    print(f"{text!r}: {tok.pieces(ids)}  round trip ok")


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
# **Exercise `architectures.mlm_mask`** · difficulty 2 · ~20 min. Write the masking. Draw all
# random numbers from `generator` (so the check can reproduce them): first a uniform number per
# token to decide whether it is chosen, then one per token to pick mask / random / keep, then
# the random ids (uniform over the *non-special* ids). Your function then masks every batch the
# BERT below trains on.

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
mask_tokens = check("architectures.mlm_mask", mask_tokens)

# %% [markdown]
# BERT's input is a whole translation pair, `<s> English <sep> Indonesian </s>`, with segment 0
# and 1 for the two halves (XLM called MLM on pairs "translation language modelling"): to
# restore a masked Indonesian word the model can look at the English. Your masking on three
# pairs, then its statistics over the whole training split:

# %%
from llmcourse.models import BERT, BertConfig, fill_mask, pair_batch

ids, segments = pair_batch(train_src[:3], train_tgt[:3], tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
inputs, labels = mask_tokens(ids, tok.mask_id, tok.vocab_size, tok.special_ids, 0.3, torch.Generator().manual_seed(0))
print("original:", " ".join(tok.pieces(ids[0])))
print("input:   ", " ".join(tok.pieces(inputs[0])))
print("targets: ", " ".join(tok.pieces([t if t >= 0 else tok.pad_id for t in labels[0].tolist()])).replace("<pad>", "·"))

ids, _ = pair_batch(train_src, train_tgt, tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
inputs, labels = mask_tokens(ids, tok.mask_id, tok.vocab_size, tok.special_ids, generator=torch.Generator().manual_seed(1))
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
# **Exercise `architectures.cross_mask`** · difficulty 1 · ~10 min. Build the
# cross-attention mask from the padded source ids: a boolean (B, 1, T, S) tensor, True where
# target position t may attend to source position s (the convention of
# `F.scaled_dot_product_attention`; the 1 broadcasts over heads).

# %%
def cross_attention_mask(src, pad_id, tgt_len):
    """(B, S) source ids -> (B, 1, tgt_len, S) bool: True = this source token is real."""
    ### BEGIN SOLUTION
    B, S = src.shape
    return (src != pad_id)[:, None, None, :].expand(B, 1, tgt_len, S)
    ### END SOLUTION


# %%
cross_attention_mask = check("architectures.cross_mask", cross_attention_mask)

# %% [markdown]
# Your mask on a real padded batch is the one the library's T5 builds inside its decoder (it
# keeps the broadcastable (B, 1, 1, S) form). The test `tests/test_architectures.py` checks
# that with it a padded batch gives exactly the logits of one-by-one unpadded runs. The whole
# picture of who attends to whom in each model, for one padded example:

# %%
from llmcourse.models import T5, T5Config, cross_attention_maps, seq2seq_batch

src, tgt_in, _ = seq2seq_batch([train_src[0], train_src[1][:3]], [train_tgt[0], train_tgt[1]], tok.pad_id, tok.bos_id,
                               tok.eos_id)
S, T = src.shape[1], tgt_in.shape[1]
your_cross = cross_attention_mask(src, tok.pad_id, T)  # (B, 1, T, S)
assert torch.equal(your_cross, (src != tok.pad_id)[:, None, None, :].expand(-1, 1, T, S))
panels = {
    "BERT / T5 encoder\n(all-to-all, pad hidden)": (src[1] != tok.pad_id)[None, :].expand(S, S),
    "GPT / T5 decoder self-attn\n(causal)": torch.ones(T, T).tril().bool(),
    "T5 cross-attention, your mask\n(target → real source)": your_cross[1, 0],
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
# ## 4. Three models at matched sizes, each on its natural objective
#
# Same width, same number of heads, same total depth: BERT and GPT get `N_LAYER` blocks,
# T5 gets `N_LAYER/2` encoder and `N_LAYER/2` decoder blocks (its decoder blocks carry an
# extra cross-attention, so it ends up slightly larger). All three are built from the same
# `llmcourse.nn` parts and share the tokenizer, the data, the steps, the batch size and the
# learning rate.
#
# * **BERT**: masked LM on `<s> en <sep> id </s>`, fresh masks from **your** `mask_tokens` every batch.
# * **GPT**: next-token prediction on `<s> en <sep> id </s>` with the loss on the
#   Indonesian tokens only: a *prefix LM*, which is how a decoder-only LLM learns to answer
#   a prompt. (T5's paper also lets the prefix attend bidirectionally; our GPT keeps its
#   causal mask everywhere, as GPT-style LLMs do.)
# * **T5**: the encoder reads the English; the decoder predicts the Indonesian, teacher
#   forced (it reads `<s> id` and predicts `id </s>`).
#
# One training loop (`llmcourse.training.train`) serves all three: each batch is a tuple the
# model is called with, and the model returns `(logits, loss)`.

# %%
from llmcourse.models import GPT, GPTConfig, prefix_lm_batch, prefix_lm_translate
from llmcourse.training import train

device = cfg.device
NAMES = ("BERT (encoder-only)", "GPT (decoder-only)", "T5 (encoder-decoder)")


def build_models(seed):
    torch.manual_seed(seed)
    return {
        NAMES[0]: BERT(BertConfig(tok.vocab_size, block_size=BLOCK, n_layer=N_LAYER, n_head=N_HEAD, n_embd=D_MODEL,
                                  pad_id=tok.pad_id)).to(device),
        NAMES[1]: GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=BLOCK, n_layer=N_LAYER, n_head=N_HEAD,
                                n_embd=D_MODEL)).to(device),
        NAMES[2]: T5(T5Config(tok.vocab_size, block_size=BLOCK, n_enc_layer=N_LAYER // 2,
                              n_dec_layer=N_LAYER - N_LAYER // 2, n_head=N_HEAD, n_embd=D_MODEL,
                              pad_id=tok.pad_id, bos_id=tok.bos_id, eos_id=tok.eos_id)).to(device),
    }


n_params = {name: sum(p.numel() for p in m.parameters()) for name, m in build_models(0).items()}
for name, n in n_params.items():
    print(f"{name:22s} {n / 1e6:6.3f} M parameters")


def sampler(sources, targets, make, seed):
    """A function returning random training batches built by `make(sources, targets)`."""
    g = torch.Generator().manual_seed(seed)

    def next_batch():
        pick = torch.randint(len(sources), (BATCH,), generator=g).tolist()
        return make([sources[i] for i in pick], [targets[i] for i in pick])

    return next_batch


def bert_batch_maker(seed):
    mask_gen = torch.Generator().manual_seed(seed)

    def make(s, t):
        ids, seg = pair_batch(s, t, tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
        inputs, labels = mask_tokens(ids, tok.mask_id, tok.vocab_size, tok.special_ids, 0.15, mask_gen)  # yours
        return inputs.to(device), seg.to(device), labels.to(device)

    return make


def gpt_batch(s, t):
    return prefix_lm_batch(s, t, tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id, device)


def t5_batch(s, t):
    return seq2seq_batch(s, t, tok.pad_id, tok.bos_id, tok.eos_id, device)

# %% [markdown]
# Two measurements per trained model besides its loss: BERT's **cloze** accuracy (hide 15% of
# the Indonesian tokens of each test pair and ask for them, with the English visible and with
# it removed), and the GPT's and T5's **translations** of the test split, decoded greedily until
# `</s>`. T5 runs its encoder once and the decoder step by step; the GPT continues the prompt
# `<s> English <sep>`.

# %%
@torch.no_grad()
def cloze_accuracy(bert, with_source: bool, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    correct = total = 0
    for start in range(0, len(test_src), 64):
        s = test_src[start:start + 64] if with_source else [[] for _ in test_src[start:start + 64]]
        ids, seg = pair_batch(s, test_tgt[start:start + 64], tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
        target_side = seg.bool() & ~torch.isin(ids, torch.tensor(tok.special_ids))
        chosen = (torch.rand(ids.shape, generator=g) < 0.15) & target_side
        logits, _ = bert(ids.masked_fill(chosen, tok.mask_id).to(device), seg.to(device))
        correct += int((logits.argmax(-1).cpu()[chosen] == ids[chosen]).sum())
        total += int(chosen.sum())
    return correct / max(total, 1)


@torch.no_grad()
def translate(models):
    t5, gpt = models[NAMES[2]].eval(), models[NAMES[1]].eval()
    t5_out = []
    for start in range(0, len(test_src), 64):
        src, _, _ = seq2seq_batch(test_src[start:start + 64], test_tgt[start:start + 64], tok.pad_id, tok.bos_id,
                                  tok.eos_id, device)
        t5_out += [tok.decode(o) for o in t5.generate(src, max_new_tokens=MAX_NEW)]
    room = min(MAX_NEW, BLOCK - 2 - max(map(len, test_src)))
    gpt_out = [tok.decode(o) for o in prefix_lm_translate(gpt, test_src, tok.bos_id, tok.sep_id, tok.eos_id,
                                                           max_new_tokens=room)]
    return {NAMES[2]: t5_out, NAMES[1]: gpt_out}

# %% [markdown]
# ## 5. Training, once per seed
#
# Every seed trains the GPT and the T5 from scratch (new initialisation, new batches) with
# the same budget: `STEPS` steps of `BATCH` pairs at learning rate `LR`. BERT, which is not
# part of the translation comparison, trains once, with the first seed and the same budget.

# %%
runs = []  # one dict per seed: histories, cloze accuracies, translations
for seed in SEEDS:
    models = build_models(seed)
    if seed != SEEDS[0]:
        del models[NAMES[0]]  # BERT: the first seed only
    makers = {NAMES[0]: bert_batch_maker(seed), NAMES[1]: gpt_batch, NAMES[2]: t5_batch}
    histories = {}
    for i, (name, model) in enumerate(models.items(), start=0 if NAMES[0] in models else 1):
        histories[name] = train(model, sampler(train_src, train_tgt, makers[name], seed=1000 * seed + i), STEPS, LR,
                                val_batch=sampler(dev_src, dev_tgt, makers[name], seed=1000 * seed + 100 + i),
                                eval_every=EVAL_EVERY, eval_batches=EVAL_BATCHES, warmup=max(1, STEPS // 20),
                                desc=f"{name.split()[0]} seed={seed}")
    run_ = {"seed": seed, "models": models, "histories": histories, "outputs": translate(models)}
    if NAMES[0] in models:
        bert = models[NAMES[0]].eval()
        run_.update(cloze_with=cloze_accuracy(bert, True), cloze_without=cloze_accuracy(bert, False))
    runs.append(run_)
first = runs[0]  # the demos below use the models of the first seed

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
for ax, (name, h) in zip(axes, first["histories"].items()):
    h.plot(ax=ax)
    ax.set_title(f"{name} (seed {SEEDS[0]}): {h.seconds:.0f} s", fontsize=9)
axes[0].set_ylabel("loss on its own objective (nats/token)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Read these losses with care: they are **not** on one scale. BERT's is the cross-entropy of
# the 15% masked tokens with both sides of the pair visible, many of them on the English side;
# the GPT's and T5's are the cross-entropy of every Indonesian token given the English, so
# those two measure the same thing and can be compared directly.

# %%
def across_seeds(values):
    t = torch.tensor(values, dtype=torch.float64)
    return t.mean().item(), (t.std().item() if len(t) > 1 else 0.0)


dev_loss = {name: across_seeds([r["histories"][name].val_loss[-1] for r in runs if name in r["histories"]])
            for name in NAMES}
(g_m, g_s), (t_m, t_s), (b_m, b_s) = dev_loss[NAMES[1]], dev_loss[NAMES[2]], dev_loss[NAMES[0]]
cfg.say(f"Dev loss after {STEPS} steps, mean ± spread over {len(SEEDS)} seed(s): GPT {g_m:.3f} ± {g_s:.3f}, "
        f"T5 {t_m:.3f} ± {t_s:.3f} nats per Indonesian token — "
        + (f"T5 lower by {g_m - t_m:.3f}" if t_m < g_m else f"GPT lower by {t_m - g_m:.3f}")
        + (f" ({'more' if abs(g_m - t_m) > 2 * max(g_s, t_s) else 'less'} than twice the spread). "
           if len(SEEDS) > 1 else " (one seed). ")
        + f"BERT's {b_m:.3f} (one seed) is on its own objective and says nothing about translation.")

# %% [markdown]
# ## 6. What BERT is good at: filling gaps
#
# A cloze test: hide a word and ask for it. With the English visible, the Indonesian gap
# should be easier; without it, the model has only the Indonesian context.

# %%
bert = first["models"][NAMES[0]].eval()


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

# %%
cw, cwo = across_seeds([first["cloze_with"]]), across_seeds([first["cloze_without"]])
cfg.say(f"Accuracy of BERT's top guess at masked Indonesian test tokens: {cw[0]:.1%} with the English "
        f"visible, {cwo[0]:.1%} without it (the same masked positions): the source "
        + ("helps" if cw[0] > cwo[0] else "does not help at this training budget")
        + f" ({cw[0] - cwo[0]:+.1%}).")

# %% [markdown]
# ## 7. What GPT and T5 are good at: generating the translation
#
# The first seed's translations of the first test pairs:

# %%
references = [p.target for p in test_pairs]
for p, a, b in list(zip(test_pairs, first["outputs"][NAMES[2]], first["outputs"][NAMES[1]]))[:8]:
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
# **Exercise `architectures.ngram_stats`** · difficulty 1 · ~15 min. Clipped n-gram statistics
# over a corpus: (matches, total hypothesis n-grams), words split on whitespace; checked
# against sacrebleu's counts.

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
clipped_ngram_stats = check("architectures.ngram_stats", clipped_ngram_stats)

# %% [markdown]
# **Exercise `architectures.bleu`** · difficulty 2 · ~15 min. Corpus BLEU (x100) from your
# statistics, without smoothing (0 when some order has no match). The check compares with
# `sacrebleu` run with `tokenize="none", smooth_method="none"`.

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
corpus_bleu = check("architectures.bleu", corpus_bleu)

# %% [markdown]
# Your BLEU scores the test translations, next to sacrebleu's with the same settings. What
# papers report is sacrebleu with its standard settings (its own "13a" tokenizer and
# smoothing), so that numbers are comparable; we show that too, with chrF.
#
# **chrF** is an F-score over character n-grams (n = 1..6), recall weighted twice as much as
# precision. It gives partial credit to a nearly right word ("Februari" vs "Febuari") and is
# steadier than BLEU on short phrases.
#
# **Exercise `architectures.chrf`** · difficulty 3 · ~30 min · stretch. `corpus_chrf(hyps,
# refs)` equal to sacrebleu's `CHRF()`: remove spaces; for each order n = 1..6 sum over the
# corpus the hypothesis n-grams (only for sentences whose reference has n-grams of that
# order), the reference n-grams and the clipped matches; average precision and recall over
# the orders where both sums are positive; F_β = (1 + β²)PR / (β²P + R) with β = 2, x100.
# Then explore: which kinds of phrase does chrF forgive that BLEU does not, and why?

# %%
def corpus_chrf(hyps, refs):
    """chrF x100 of a corpus with one reference per hypothesis (sacrebleu's CHRF())."""
    ### BEGIN SOLUTION
    orders = 6
    hyp_n, ref_n, match_n = [0] * orders, [0] * orders, [0] * orders
    for hyp, ref in zip(hyps, refs):
        h_chars, r_chars = "".join(hyp.split()), "".join(ref.split())
        for n in range(1, orders + 1):
            h = collections.Counter(h_chars[i:i + n] for i in range(len(h_chars) - n + 1))
            r = collections.Counter(r_chars[i:i + n] for i in range(len(r_chars) - n + 1))
            if r:
                hyp_n[n - 1] += sum(h.values())
            ref_n[n - 1] += sum(r.values())
            match_n[n - 1] += sum(min(c, r[g]) for g, c in h.items())
    used = [n for n in range(orders) if hyp_n[n] > 0 and ref_n[n] > 0]
    if not used:
        return 0.0
    prec = sum(match_n[n] / hyp_n[n] for n in used) / len(used)
    rec = sum(match_n[n] / ref_n[n] for n in used) / len(used)
    return 0.0 if prec + rec == 0 else 100 * 5 * prec * rec / (4 * prec + rec)
    ### END SOLUTION


# %%
corpus_chrf = check("architectures.chrf", corpus_chrf)

# %%
from sacrebleu.metrics import BLEU, CHRF

from llmcourse.evaluation.bleu import translation_scores

plain_bleu, sacre_chrf = BLEU(tokenize="none", smooth_method="none"), CHRF()
scores = {name: [] for name in NAMES[1:]}  # per seed: yours and sacrebleu's
for r in runs:
    for name in NAMES[1:]:
        out = r["outputs"][name]
        yours = {"bleu": corpus_bleu(out, references), "chrf": corpus_chrf(out, references)}
        theirs = {"bleu": plain_bleu.corpus_score(out, [references]).score,
                  "chrf": sacre_chrf.corpus_score(out, [references]).score}
        assert abs(yours["bleu"] - theirs["bleu"]) < 1e-6 and abs(yours["chrf"] - theirs["chrf"]) < 1e-6
        scores[name].append({**yours, "bleu_13a": translation_scores(out, references)["bleu"]})
scores_match_sacrebleu = True
print(f"{'model':22} {'BLEU (yours = sacrebleu, no tok.)':>34} {'BLEU (sacrebleu 13a)':>21} {'chrF':>13}")
summary = {}
for name, per_seed in scores.items():
    summary[name] = {k: across_seeds([s[k] for s in per_seed]) for k in ("bleu", "bleu_13a", "chrf")}
    print(f"{name:22} " + " ".join(f"{summary[name][k][0]:>{w}.1f} ± {summary[name][k][1]:<4.1f}"
                                   for k, w in (("bleu", 27), ("bleu_13a", 14), ("chrf", 6))))

# %% [markdown]
# Per kind of phrase (chrF with your function, first seed). Numbers and dates need the right
# words in the right order (long numbers repeat the same structure twice, "... ribu ...",
# which a model can mix up), while country and language names in the test split were never
# seen in training and can only be guessed from their spelling, or from the same name inside
# a locale such as "French (Canada)". Look for the kinds where the two models differ most.

# %%
kinds = sorted({p.kind for p in test_pairs})
per_kind = {name: [] for name in NAMES[1:]}
for kind in kinds:
    idx = [i for i, p in enumerate(test_pairs) if p.kind == kind]
    refs_k = [references[i] for i in idx]
    for name in NAMES[1:]:
        per_kind[name].append(corpus_chrf([first["outputs"][name][i] for i in idx], refs_k))
fig, ax = plt.subplots(figsize=(9, 3.5))
width = 0.4
for j, (name, vals) in enumerate(per_kind.items()):
    ax.bar([k + (j - 0.5) * width for k in range(len(kinds))], vals, width, label=name)
ax.set_xticks(range(len(kinds)), kinds)
ax.set_ylabel("chrF on the test split")
ax.legend()
plt.tight_layout()
plt.show()
gaps = {k: per_kind[NAMES[2]][i] - per_kind[NAMES[1]][i] for i, k in enumerate(kinds)}
widest = max(gaps, key=lambda k: abs(gaps[k]))
if abs(gaps[widest]) < 0.05:
    cfg.say(f"No kind of phrase separates the two models in this run (seed {SEEDS[0]}): they score alike everywhere.")
else:
    cfg.say(f"The widest gap is on **{widest}** phrases: T5 {per_kind[NAMES[2]][kinds.index(widest)]:.1f} vs GPT "
            f"{per_kind[NAMES[1]][kinds.index(widest)]:.1f} chrF (seed {SEEDS[0]}).")

# %% [markdown]
# Where does the decoder look? The cross-attention of T5's last decoder layer, averaged over
# heads, for a date. What to look for: a soft word alignment, including the reordering of day
# and month, once the model has trained enough (the smoke profile's few steps are not enough).

# %%
t5 = first["models"][NAMES[2]].eval()
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
# split when the Hugging Face Hub is reachable (Colab, or a laptop online). It is hundreds of
# times larger than our models and was trained on real text, not on these generated phrases
# and their conventions (spelled-out numbers, CLDR's names): a reference point, not a ceiling.

# %%
nllb_scores = None
if cfg.online and NLLB_EVAL != 0:
    from llmcourse.inference import load_nllb, nllb_translate

    nllb, nllb_tok = load_nllb(device)
    n = min(NLLB_EVAL, len(test_pairs))
    nllb_out = nllb_translate([p.source for p in test_pairs[:n]], nllb, nllb_tok, batch_size=32)
    nllb_scores = {"bleu": corpus_bleu(nllb_out, references[:n]), "chrf": corpus_chrf(nllb_out, references[:n])}
    ours_same = {name: corpus_chrf(first["outputs"][name][:n], references[:n]) for name in NAMES[1:]}
    for p, o in list(zip(test_pairs, nllb_out))[:5]:
        print(f"{p.source!r} -> {o!r} (ref {p.target!r})")
    cfg.say(f"NLLB-200 600M on the first {n} test pairs: BLEU {nllb_scores['bleu']:.1f}, chrF "
            f"{nllb_scores['chrf']:.1f}; on the same pairs T5 {ours_same[NAMES[2]]:.1f} and GPT "
            f"{ours_same[NAMES[1]]:.1f} chrF.")
else:
    print("offline (or this profile skips it): NLLB needs the Hugging Face Hub")

# %% [markdown]
# ## 10. The comparison
#
# Same width, same depth, same data, same steps, per seed. By construction, BERT cannot
# translate: it can only fill the slots it is given, not produce a sequence of unknown length.
# GPT and T5 cannot fill a gap using the words to its right (GPT never sees them; T5's encoder
# could, but it is not trained to). Between the two generators, the encoder-decoder reads the
# source once, bidirectionally, and attends to it from every decoder layer; the decoder-only
# model spends its layers on source and target together, and it is the one that scales to any
# task phrased as text, which is why today's LLMs are GPTs. The table says how they did here.
#
# One more lesson hides in `llmcourse.models.t5.t5_init`: T5's initialisation (unit-variance
# embeddings, fan-in scaled layers) rather than GPT-2's normal(0, 0.02). Try the T5 above with
# `model.apply(llmcourse.models.init_weights)` before training and compare its dev loss.

# %%
rows = []
for name in NAMES:
    secs = across_seeds([r["histories"][name].seconds for r in runs if name in r["histories"]])[0]
    trn = across_seeds([r["histories"][name].train_loss[-1] for r in runs if name in r["histories"]])
    dev = dev_loss[name]
    if name == NAMES[0]:
        test_metric = f"cloze {cw[0]:.1%} (no source {cwo[0]:.1%}), one seed"
    else:
        s = summary[name]
        test_metric = f"BLEU {s['bleu_13a'][0]:.1f} ± {s['bleu_13a'][1]:.1f} / chrF {s['chrf'][0]:.1f} ± {s['chrf'][1]:.1f}"
    rows.append((name, f"{n_params[name] / 1e6:.3f}M", f"{secs:.0f} s", f"{trn[0]:.3f}", f"{dev[0]:.3f} ± {dev[1]:.3f}",
                 test_metric))
if nllb_scores:
    rows.append(("NLLB-200 (reference)", "600M", "-", "-", "-",
                 f"BLEU {nllb_scores['bleu']:.1f} / chrF {nllb_scores['chrf']:.1f} (first {n})"))
header = ("model", "params", "train time", "train loss", "dev loss (own objective)", "test")
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
for r in [header, tuple("-" * w for w in widths), *rows]:
    print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))

best = max(NAMES[1:], key=lambda name: summary[name]["chrf"][0])
other = [name for name in NAMES[1:] if name != best][0]
lead = summary[best]["chrf"][0] - summary[other]["chrf"][0]
noise = max(summary[best]["chrf"][1], summary[other]["chrf"][1])
if lead < 0.05:
    verdict = f"Neither model translates better in this run: both reach chrF {summary[best]['chrf'][0]:.1f}."
else:
    verdict = (f"Better translator in this run: **{best}**, chrF {summary[best]['chrf'][0]:.1f} against "
               f"{summary[other]['chrf'][0]:.1f}, a lead of {lead:.1f}"
               + (f" ({'more' if lead > 2 * noise else 'less'} than twice the seed-to-seed spread of {noise:.1f})."
                  if len(SEEDS) > 1 else " with one seed (the laptop profile has three)."))
cfg.say(verdict + f" BERT, trained on the same pairs, fills masked Indonesian tokens with {cw[0]:.0%} accuracy.")

# %%
cfg.report(
    seeds=len(SEEDS), bert_params=n_params[NAMES[0]], gpt_params=n_params[NAMES[1]], t5_params=n_params[NAMES[2]],
    bert_dev_mlm_loss=b_m, gpt_dev_loss=g_m, t5_dev_loss=t_m,
    bert_cloze_acc=cw[0], bert_cloze_acc_no_source=cwo[0],
    t5_bleu=summary[NAMES[2]]["bleu_13a"][0], t5_chrf=summary[NAMES[2]]["chrf"][0],
    gpt_bleu=summary[NAMES[1]]["bleu_13a"][0], gpt_chrf=summary[NAMES[1]]["chrf"][0],
    your_scores_equal_sacrebleu=scores_match_sacrebleu,
    nllb_bleu=nllb_scores["bleu"] if nllb_scores else "offline",
    train_seconds=round(sum(h.seconds for r in runs for h in r["histories"].values()), 1),
)
