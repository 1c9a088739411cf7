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
# # 2.3 Makemore
#
# A language model assigns a probability to every possible next token. Before the
# transformers of the coming weeks, we build the simplest ones that work, on the simplest
# text there is — **names**, one character at a time — after Andrej Karpathy's *makemore*:
#
# 1. **counting**: bigram and trigram models, sampling from them, and the score every
#    language model reports, the average negative log-likelihood (NLL);
# 2. **smoothing**, because a count of zero makes unseen names impossible;
# 3. a **neural** model (Bengio et al., 2003): embeddings, a hidden layer, batch norm;
# 4. **backpropagation by hand** through that network, every gradient checked against
#    PyTorch autograd.
#
# We do it in four languages: English, Indonesian, Tamil and Thai. Tamil and Thai are
# not written in the Latin alphabet, and their scripts have more characters than English,
# which changes what the models can learn from the same amount of data.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("2.3")

# %% [markdown]
# ## Knobs
# Count models are cheap and always run in full. The MLP's size and training length come
# from the profile. These models are tiny: PyTorch's threads cost more than they save on
# matrices this small, so we use one thread.

# %%
import math
import tempfile
import unicodedata
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # tiny matrices: synchronising threads costs more than it saves

LANGS = ["en", "id", "ta", "th"]
SMOOTHING = cfg.pick(smoke=[0.01, 0.1, 1.0], laptop=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0])
ORDERS = [1, 2, 3]  # unigram, bigram, trigram
N_HIDDEN = cfg.pick(smoke=64, laptop=200)  # MLP hidden units
MLP_STEPS = cfg.pick(smoke=400, laptop=30_000)  # at most; the dev set stops it earlier
MLP_BATCH = cfg.pick(smoke=32, laptop=64)
EVAL_EVERY = cfg.pick(smoke=200, laptop=1000)  # dev NLL every so many steps (early stopping)
MANUAL_STEPS = cfg.pick(smoke=100, laptop=3000)  # training steps with hand-made gradients
N_SAMPLES = 8
gen = torch.Generator().manual_seed(cfg.seed)

# %% [markdown]
# ## 1. The names
#
# `llmcourse.assets.names` builds the lists from what PyPI packages ship, so it works
# offline: first names from Faker's English, Indonesian (`id_ID`) and Tamil (`ta_IN`)
# providers, and Thai first names from PyThaiNLP's corpus (plus Faker `th_TH`). They are
# normalised (NFC), lowercased where that means something, filtered to their script,
# deduplicated, and split by a hash of the name into train (80%), dev (10%) and test
# (10%) — so the split never changes.
#
# The **dev** set chooses between models and settings; the **test** set is looked at once,
# at the end.

# %%
from llmcourse.assets.names import LANGUAGES, load_names, names_path
from llmcourse.ngram import CharVocab

data = {lang: {split: load_names(lang, split) for split in ("train", "dev", "test")} for lang in LANGS}
vocabs = {lang: CharVocab.from_names(sum(data[lang].values(), [])) for lang in LANGS}
summary = pd.DataFrame({
    LANGUAGES[lang]: {
        "train": len(data[lang]["train"]), "dev": len(data[lang]["dev"]), "test": len(data[lang]["test"]),
        "characters": len(vocabs[lang]) - 1,
        "mean length": round(sum(map(len, data[lang]["train"])) / len(data[lang]["train"]), 1),
        "examples": ", ".join(data[lang]["train"][:4]),
    } for lang in LANGS
}).T
summary

# %% [markdown]
# A "character" is a Unicode **code point**. In Tamil and Thai a written syllable is often
# several code points: a consonant plus vowel signs and marks that the font draws around
# it. The model sees them one by one.

# %%
for word in (data["th"]["train"][0], data["ta"]["train"][0]):
    print(word, "=", " + ".join(f"{c} ({unicodedata.name(c).split(' ', 1)[1].lower()})" for c in word))
print("\nfile on disk:", names_path("en", "train"))

# %% [markdown]
# ## 2. A bigram model is a table of counts
#
# Read a name with a start/end marker "." on each side: `.emma.`. A **bigram** model
# predicts each character from the one before it, so all it needs is how often each
# character follows each other one: the pairs `(., e) (e, m) (m, m) (m, a) (a, .)`.
# Counting them over all training names gives a V x V table `N[prev, next]`.
#
# ### Exercise 1: count the bigrams
# `stoi` maps each character (with "." at 0) to its row/column. Return the (V, V) tensor
# of counts.

# %%
def bigram_counts(names, stoi):
    """N[i, j] = how often character j follows character i, with "." around every name."""
    ### BEGIN SOLUTION
    N = torch.zeros(len(stoi), len(stoi), dtype=torch.long)
    for name in names:
        chars = ["."] + list(name) + ["."]
        for a, b in zip(chars, chars[1:]):
            N[stoi[a], stoi[b]] += 1
    return N
    ### END SOLUTION


# %%
check("ngram.bigram_counts", bigram_counts)

# %% [markdown]
# The library's `NGramModel(vocab, n=2)` counts the same table with tensor indexing
# (`index_add_`), for any n. Here is the English table: the first row is how names start,
# the first column how they end (many English names end in *a*, *n*, *e*, *y*).

# %%
from llmcourse.ngram import NGramModel

en_vocab = vocabs["en"]
N_en = NGramModel(en_vocab, n=2, smoothing=0).fit(data["en"]["train"]).counts
fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(torch.log1p(N_en.float()), cmap="Blues")
ax.set_xticks(range(len(en_vocab)), en_vocab.chars)
ax.set_yticks(range(len(en_vocab)), en_vocab.chars)
ax.set_xlabel("next character")
ax.set_ylabel("previous character")
ax.set_title("English bigram counts (log scale)")
plt.show()

for lang in LANGS:
    N = NGramModel(vocabs[lang], n=2, smoothing=0).fit(data[lang]["train"]).counts
    top = torch.topk(N.flatten(), 6).indices
    V = len(vocabs[lang])
    pairs = [vocabs[lang].chars[int(i) // V] + vocabs[lang].chars[int(i) % V] for i in top]
    print(f"{LANGUAGES[lang]:10s} most frequent bigrams: {'  '.join(pairs)}")

# %% [markdown]
# ## 3. Sampling
#
# Normalise each row into a probability distribution, `P[i] = N[i] / N[i].sum()`, and a
# name is a walk through the table: start at ".", draw the next character from its row,
# move to that row, until "." comes out. Bigram names are name-*like* but poor: one
# character of memory is not much. A trigram (two characters of context) does better.
# We sample from the raw counts (`smoothing=0`): every context the walk can reach was seen
# in training, so every row has counts.

# %%
ngram_samples = {}
for lang in LANGS:
    bigram = NGramModel(vocabs[lang], n=2, smoothing=0).fit(data[lang]["train"])
    trigram = NGramModel(vocabs[lang], n=3, smoothing=0).fit(data[lang]["train"])
    ngram_samples[lang] = [trigram.sample(gen) for _ in range(N_SAMPLES)]
    print(f"{LANGUAGES[lang]:10s} bigram : {', '.join(bigram.sample(gen) for _ in range(N_SAMPLES))}")
    print(f"{'':10s} trigram: {', '.join(ngram_samples[lang])}")

# %% [markdown]
# ## 4. How good is a model? The negative log-likelihood
#
# A good model gives high probability to names it has not seen. The probability of a
# whole data set is the product of the probabilities of every character the model
# predicts (the end marker included); its log is a sum; we flip the sign (lower is
# better) and average per character:
#
# $$\text{NLL} = -\frac{1}{\#\text{predictions}} \sum_{\text{names}} \sum_t \log P(c_t \mid c_{t-1})$$
#
# A model that knows nothing (uniform over V characters) scores $\log V$; `exp(NLL)`,
# the perplexity, is the number of characters the model is effectively choosing between.
#
# ### Exercise 2: average NLL of a bigram model
# `P` is a (V, V) table of probabilities. Return the average NLL per predicted character
# over `names` (a zero probability gives `inf`: that is the right answer).

# %%
def average_nll(P, names, stoi):
    """-mean over every (prev, next) pair of the padded names of log P[prev, next]."""
    ### BEGIN SOLUTION
    total, count = 0.0, 0
    for name in names:
        chars = ["."] + list(name) + ["."]
        for a, b in zip(chars, chars[1:]):
            total += -math.log(P[stoi[a], stoi[b]]) if P[stoi[a], stoi[b]] > 0 else math.inf
            count += 1
    return total / count
    ### END SOLUTION


# %%
check("ngram.nll", average_nll)

# %% [markdown]
# ### Why we need smoothing
# The pure counts (maximum likelihood) give probability **zero** to any pair never seen in
# training — and one such pair in the dev set makes its NLL infinite:

# %%
mle = NGramModel(en_vocab, n=2, smoothing=0).fit(data["en"]["train"])
print(f"English bigram, no smoothing: train NLL {mle.nll(data['en']['train']):.3f}, "
      f"dev NLL {mle.nll(data['en']['dev'])}")
impossible = [n for n in data["en"]["dev"] if mle.nll([n]) == math.inf]
print(f"{len(impossible)} dev names are 'impossible', e.g. {impossible[:5]}")

# %% [markdown]
# **Add-k smoothing** pretends every pair was seen k more times than it was:
# $P = (N + k) / (\text{row sum} + kV)$. Small k trusts the counts; large k flattens every
# row towards uniform. The right k depends on how much data there is per table cell:
# a trigram table has V times more cells than a bigram table, and a Thai row (V = 67)
# has 2.5 times more cells than an English one (V = 27). We choose k on the dev set.

# %%
sweep = {}  # (lang, n, k) -> dev NLL
for lang in LANGS:
    for n in ORDERS:
        model = NGramModel(vocabs[lang], n=n).fit(data[lang]["train"])
        for k in SMOOTHING:
            model.smoothing = k
            sweep[lang, n, k] = model.nll(data[lang]["dev"])

fig, axes = plt.subplots(1, len(LANGS), figsize=(4 * len(LANGS), 3.2), sharey=True)
for ax, lang in zip(axes, LANGS):
    for n in ORDERS:
        ax.plot(SMOOTHING, [sweep[lang, n, k] for k in SMOOTHING], "o-", label=f"n = {n}")
    ax.axhline(math.log(len(vocabs[lang])), color="gray", ls=":", label="uniform")
    ax.set_xscale("log")
    ax.set_title(LANGUAGES[lang])
    ax.set_xlabel("smoothing k")
axes[0].set_ylabel("dev NLL")
axes[0].legend()
plt.tight_layout()
plt.show()
best_k = {(lang, n): min(SMOOTHING, key=lambda k: sweep[lang, n, k]) for lang in LANGS for n in ORDERS}

# %% [markdown]
# ## 5. Characters the model has never seen
#
# The alphabet is fixed when the vocabulary is built (here from all three splits: the
# alphabet is known up front; only the *counts* come from training). A character outside
# it is not silently dropped: scoring or sampling with it raises an error that names the
# character and says what to do. And a names file with blank lines simply skips them.

# %%
from llmcourse.ngram import UnknownCharacterError, read_names

en_trigram = NGramModel(en_vocab, n=3, smoothing=best_k["en", 3]).fit(data["en"]["train"])
for action in (lambda: en_trigram.nll(["josé"]), lambda: en_trigram.sample(gen, prefix="ñ")):
    try:
        action()
    except UnknownCharacterError as err:
        print("UnknownCharacterError:", err, "\n")

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "my_names.txt"
    path.write_text("\nsiti\n\n  budi \n\n", encoding="utf-8")
    print("read from a file with blank lines:", read_names(path))

# %% [markdown]
# ## 6. A neural language model (Bengio et al., 2003)
#
# A count table needs a row for every context: $V^2$ rows for three characters of
# English context, $67^2$ for Thai. It cannot generalise from "emm" to "amm". The MLP
# instead gives each character a learned **embedding** (a vector of 10 numbers), so
# similar characters end up with similar vectors and what is learnt in one context carries
# over to others:
#
# `x (B, 3) -> C[x] (B, 3, 10) -> flatten (B, 30) -> Linear -> BatchNorm -> tanh -> Linear -> logits (B, V)`
#
# Training minimises cross-entropy (the same average NLL) with minibatch SGD. Small data
# sets (Indonesian and Tamil have under a thousand training names) overfit quickly, so we
# measure the dev NLL every few hundred steps and keep the best weights: **early stopping**,
# the dev set choosing when to stop as it chose k above.

# %%
from llmcourse.ngram import MLPLanguageModel, build_dataset, evaluate_nll, sample_mlp, train_mlp

mlps, histories = {}, {}
for lang in LANGS:
    vocab = vocabs[lang]
    Xtr, Ytr = build_dataset(data[lang]["train"], vocab, block_size=3)
    Xdev, Ydev = build_dataset(data[lang]["dev"], vocab, block_size=3)
    model = MLPLanguageModel(len(vocab), block_size=3, n_embd=10, n_hidden=N_HIDDEN,
                             generator=torch.Generator().manual_seed(cfg.seed))
    histories[lang] = train_mlp(model, Xtr, Ytr, steps=MLP_STEPS, batch_size=MLP_BATCH, lr=0.1, generator=gen,
                                dev=(Xdev, Ydev), eval_every=EVAL_EVERY, patience=5, progress=True)
    mlps[lang] = model
    h = histories[lang]
    print(f"{LANGUAGES[lang]:10s} {len(Xtr):6d} training characters, best dev NLL {h.best_dev_nll:.3f} "
          f"at step {h.best_step} of {len(h.losses)}")

# %%
fig, axes = plt.subplots(1, len(LANGS), figsize=(4 * len(LANGS), 3), sharey=True)
for ax, lang in zip(axes, LANGS):
    h = histories[lang]
    window = max(1, len(h.losses) // 50)
    smooth = torch.tensor(h.losses[: len(h.losses) // window * window]).view(-1, window).mean(1)
    ax.plot(torch.arange(len(smooth)) * window, smooth, label="train (minibatch)")
    ax.plot(h.dev_steps, h.dev_nll, "o-", label="dev")
    ax.axvline(h.best_step, color="gray", ls=":")
    ax.set_title(LANGUAGES[lang])
    ax.set_xlabel("step")
axes[0].set_ylabel("NLL")
axes[0].legend()
plt.tight_layout()
plt.show()

for lang in LANGS:
    print(f"{LANGUAGES[lang]:10s} MLP: {', '.join(sample_mlp(mlps[lang], vocabs[lang], gen) for _ in range(N_SAMPLES))}")

# %% [markdown]
# ## 7. Dev NLL per model and language
#
# Lower is better; each count model uses its best k on the dev set. More context helps
# (uniform > unigram > bigram > trigram). In the laptop profile the MLP beats the best
# trigram in all four languages, with fewer parameters than a $V^3$ table (in the smoke
# profile it trains for only a few hundred steps and does not). Compare the gaps: Thai,
# with the most characters, gains most from each extra character of context.

# %%
names_of = {1: "unigram", 2: "bigram", 3: "trigram"}
table = {}
for lang in LANGS:
    col = {"uniform (log V)": math.log(len(vocabs[lang]))}
    for n in ORDERS:
        col[f"{names_of[n]} (k={best_k[lang, n]:g})"] = sweep[lang, n, best_k[lang, n]]
    col["MLP"] = histories[lang].best_dev_nll
    table[LANGUAGES[lang]] = col
dev_table = pd.DataFrame({lang: list(col.values()) for lang, col in table.items()},
                         index=["uniform (log V)", "unigram", "bigram", "trigram", "MLP"]).round(3)
dev_table

# %% [markdown]
# Once, at the end: the **test** NLL of the MLP and of the trigram chosen on dev.

# %%
test_nll = {}
for lang in LANGS:
    Xte, Yte = build_dataset(data[lang]["test"], vocabs[lang], block_size=3)
    tri = NGramModel(vocabs[lang], n=3, smoothing=best_k[lang, 3]).fit(data[lang]["train"])
    test_nll[lang] = {"trigram": tri.nll(data[lang]["test"]), "MLP": evaluate_nll(mlps[lang], Xte, Yte)}
pd.DataFrame({LANGUAGES[k]: v for k, v in test_nll.items()}).round(3)

# %% [markdown]
# ## 8. Backpropagation by hand
#
# `loss.backward()` has done our calculus so far. To be sure we know what it does, we now
# compute **every** gradient of the MLP ourselves (Karpathy's "becoming a backprop ninja").
# `llmcourse.ngram.manual_backprop.forward` writes the forward pass one small step at a
# time, so each intermediate has a name:
#
# ```
# emb = C[X]                          (B, T, E)    embedding lookup
# embcat = emb.view(B, -1)            (B, T*E)
# hprebn = embcat @ W1 + b1           (B, H)       linear
# bnmeani = hprebn.sum(0) / B         (1, H)       batch norm: mean,
# bndiff = hprebn - bnmeani           (B, H)
# bndiff2 = bndiff ** 2               (B, H)
# bnvar = bndiff2.sum(0) / B          (1, H)       variance (biased, as BatchNorm1d normalises),
# bnvar_inv = (bnvar + 1e-5) ** -0.5  (1, H)
# bnraw = bndiff * bnvar_inv          (B, H)       normalised,
# hpreact = bngain * bnraw + bnbias   (B, H)       scaled and shifted
# h = tanh(hpreact)                   (B, H)
# logits = h @ W2 + b2                (B, V)       linear
# logit_maxes = logits.max(1)         (B, 1)       cross-entropy, step by step:
# norm_logits = logits - logit_maxes  (B, V)
# counts = norm_logits.exp()          (B, V)
# counts_sum = counts.sum(1)          (B, 1)
# counts_sum_inv = counts_sum ** -1   (B, 1)
# probs = counts * counts_sum_inv     (B, V)
# logprobs = probs.log()              (B, V)
# loss = -logprobs[range(B), Y].mean()
# ```
#
# Three rules do almost all of the work:
# * **a broadcast forward is a sum backward**: `bnmeani` (1, H) is subtracted from every
#   row of `hprebn`, so its gradient is the sum over rows of theirs (and a sum forward is a
#   broadcast backward);
# * **matrix products**: for `y = x @ W`, `dx = dy @ W.T` and `dW = x.T @ dy` — the only
#   way the shapes fit;
# * **a tensor used twice gets the sum of both gradients** (`+=`): `counts` feeds `probs`
#   and `counts_sum`; `bndiff` feeds `bnraw` and `bndiff2`.
#
# ### Exercise 3: every gradient
# Given the forward values in `cache` (keys as above) and the parameters, return a dict
# with the gradient of the loss for **every** intermediate and every parameter (`"C",
# "W1", "b1", "bngain", "bnbias", "W2", "b2"`), without autograd. The check compares each
# one with autograd's and lists any that differ or are missing.

# %%
from llmcourse.ngram import manual_backprop as mb

params = mb.init_params(len(en_vocab), block_size=3, n_embd=10, n_hidden=64, generator=torch.Generator().manual_seed(0))
Xtr_en, Ytr_en = build_dataset(data["en"]["train"], en_vocab, block_size=3)
batch = torch.randint(0, len(Xtr_en), (32,), generator=gen)
Xb, Yb = Xtr_en[batch], Ytr_en[batch]
loss, cache = mb.forward(params, Xb, Yb)
print(f"loss {loss.item():.4f}")
for name, t in cache.items():
    print(f"  {name:15s} {tuple(t.shape)}")


# %%
def manual_backward(params, X, Y, cache):
    """d loss / d tensor for every intermediate of mb.forward and every parameter, by hand."""
    C, W1, W2, bngain = params["C"], params["W1"], params["W2"], params["bngain"]
    emb, embcat, hprebn = cache["emb"], cache["embcat"], cache["hprebn"]
    bndiff, bndiff2, bnvar = cache["bndiff"], cache["bndiff2"], cache["bnvar"]
    bnvar_inv, bnraw, h = cache["bnvar_inv"], cache["bnraw"], cache["h"]
    logits, counts, counts_sum = cache["logits"], cache["counts"], cache["counts_sum"]
    counts_sum_inv, probs = cache["counts_sum_inv"], cache["probs"]
    n = X.shape[0]
    ### BEGIN SOLUTION
    dlogprobs = torch.zeros_like(probs)
    dlogprobs[range(n), Y] = -1.0 / n
    dprobs = dlogprobs / probs
    dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)
    dcounts = counts_sum_inv * dprobs
    dcounts_sum = -counts_sum**-2 * dcounts_sum_inv
    dcounts += dcounts_sum  # broadcast back over the row
    dnorm_logits = counts * dcounts
    dlogit_maxes = -dnorm_logits.sum(1, keepdim=True)
    dlogits = dnorm_logits + F.one_hot(logits.max(1).indices, logits.shape[1]) * dlogit_maxes
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = (1 - h**2) * dh
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnbias = dhpreact.sum(0, keepdim=True)
    dbnraw = bngain * dhpreact
    dbndiff = bnvar_inv * dbnraw
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdim=True)
    dbnvar = -0.5 * (bnvar + 1e-5) ** -1.5 * dbnvar_inv
    dbndiff2 = torch.ones_like(bndiff2) / n * dbnvar
    dbndiff += 2 * bndiff * dbndiff2
    dbnmeani = -dbndiff.sum(0, keepdim=True)
    dhprebn = dbndiff + dbnmeani / n
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    demb = dembcat.view(emb.shape)
    dC = torch.zeros_like(C)
    dC.index_add_(0, X.view(-1), demb.view(-1, C.shape[1]))
    return {"logprobs": dlogprobs, "probs": dprobs, "counts_sum_inv": dcounts_sum_inv, "counts_sum": dcounts_sum,
            "counts": dcounts, "norm_logits": dnorm_logits, "logit_maxes": dlogit_maxes, "logits": dlogits,
            "h": dh, "W2": dW2, "b2": db2, "hpreact": dhpreact, "bngain": dbngain, "bnbias": dbnbias,
            "bnraw": dbnraw, "bnvar_inv": dbnvar_inv, "bnvar": dbnvar, "bndiff2": dbndiff2, "bndiff": dbndiff,
            "bnmeani": dbnmeani, "hprebn": dhprebn, "embcat": dembcat, "W1": dW1, "b1": db1, "emb": demb, "C": dC}
    ### END SOLUTION


# %%
check("ngram.manual_backward", manual_backward)

# %% [markdown]
# The library's hand-written backward (`mb.backward`), compared tensor by tensor with
# autograd by `cmp`: *exact* means bit-identical, *approximate* means `torch.allclose`,
# and *maxdiff* is the largest absolute difference. Many are exact; the rest differ only
# by floating-point rounding (the order of additions differs).

# %%
grads = mb.backward(params, Xb, Yb, cache)
results = mb.compare_with_autograd(grads, params, Xb, Yb)
manual_max_diff = max(r.maxdiff for r in results)
print(f"\n{sum(r.approx for r in results)}/{len(results)} tensors approximately equal, "
      f"{sum(r.exact for r in results)} exactly; largest difference {manual_max_diff:.2e}")

# %% [markdown]
# ### Exercise 4: cross-entropy in one step
# Eight of those steps collapse into one formula. With $p = \mathrm{softmax}(\text{logits})$
# and loss $= -\frac{1}{B}\sum_b \log p_{b, y_b}$, the derivative with respect to logit
# $j$ of example $b$ is
#
# $$\frac{\partial\, \text{loss}}{\partial\, \text{logits}_{b j}} = \frac{1}{B}\left(p_{b j} - [j = y_b]\right)$$
#
# — push down every probability in proportion to its size, and pull up the correct one.

# %%
def cross_entropy_backward(logits, Y):
    """d F.cross_entropy(logits, Y) / d logits, in one expression.  (B, V)"""
    ### BEGIN SOLUTION
    dlogits = F.softmax(logits, dim=1)
    dlogits[range(logits.shape[0]), Y] -= 1
    return dlogits / logits.shape[0]
    ### END SOLUTION


# %%
check("ngram.cross_entropy_backward", cross_entropy_backward)

# %%
reference = mb.autograd_grads(params, Xb, Yb)
mb.cmp("logits (fused)", mb.cross_entropy_backward(cache["logits"], Yb), reference["logits"]);

# %% [markdown]
# ### Exercise 5: batch norm in one step
# The same for batch norm, from `hpreact` back to `hprebn`. With $\hat x$ = `bnraw`,
# $\gamma$ = `bngain`, $\sigma^{-1}$ = `bnvar_inv` and $g$ = `dhpreact` (batch size $n$):
#
# $$\frac{\partial\, \text{loss}}{\partial\, \text{hprebn}} = \frac{\gamma\, \sigma^{-1}}{n}\Big(n\, g - \sum_b g - \hat x \sum_b g\, \hat x\Big)$$
#
# (sums over the batch, with `keepdim=True`). The check compares it with the gradient of
# PyTorch's own `F.batch_norm`.

# %%
def batchnorm_backward(dhpreact, bngain, bnraw, bnvar_inv):
    """d loss / d hprebn through batch norm (biased variance).  (B, H)"""
    ### BEGIN SOLUTION
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0, keepdim=True)
                                     - bnraw * (dhpreact * bnraw).sum(0, keepdim=True))
    ### END SOLUTION


# %%
check("ngram.batchnorm_backward", batchnorm_backward)

# %%
fused = mb.batchnorm_backward(reference["hpreact"], params["bngain"], cache["bnraw"], cache["bnvar_inv"])
mb.cmp("hprebn (fused)", fused, reference["hprebn"]);

# %% [markdown]
# ### Training with our own gradients
# If the gradients are right, we do not need autograd at all: forward, our backward,
# update. The loss falls just as it did with `loss.backward()`.

# %%
from tqdm.auto import tqdm

params = mb.init_params(len(en_vocab), block_size=3, n_embd=10, n_hidden=64, generator=torch.Generator().manual_seed(0))
manual_losses = []
with torch.no_grad():
    for step in tqdm(range(MANUAL_STEPS), desc="manual backprop"):
        ix = torch.randint(0, len(Xtr_en), (32,), generator=gen)
        loss, cache = mb.forward(params, Xtr_en[ix], Ytr_en[ix])
        grads = mb.backward(params, Xtr_en[ix], Ytr_en[ix], cache)
        lr = 0.1 if step < 0.75 * MANUAL_STEPS else 0.01
        for name, p in params.items():
            p -= lr * grads[name]
        manual_losses.append(loss.item())
plt.figure(figsize=(5, 3))
plt.plot(manual_losses, alpha=0.6)
plt.xlabel("step")
plt.ylabel("minibatch loss")
plt.title("trained with hand-made gradients only")
plt.show()
first, last = sum(manual_losses[:20]) / 20, sum(manual_losses[-20:]) / 20
print(f"loss: first 20 steps {first:.3f} -> last 20 steps {last:.3f}")

# %% [markdown]
# ## Summary
# * A bigram model is a table of counts; sampling walks it; the average NLL scores it.
# * Unseen events need smoothing; the dev set chooses how much (and when to stop training).
# * An MLP over character embeddings generalises across contexts and beats the counts
#   when it has data enough; scripts with larger alphabets spread the same data thinner.
# * Backpropagation is the chain rule applied tensor by tensor: broadcast <-> sum,
#   `x @ W` -> `dy @ W.T` and `x.T @ dy`, `+=` for a tensor used twice.

# %%
report = {f"{lang}_{m}_dev": table[LANGUAGES[lang]][key] for lang in LANGS
          for m, key in (("bigram", f"bigram (k={best_k[lang, 2]:g})"), ("trigram", f"trigram (k={best_k[lang, 3]:g})"),
                         ("mlp", "MLP"))}
report.update({f"{lang}_mlp_test": test_nll[lang]["MLP"] for lang in LANGS})
cfg.report(**report, manual_backprop_max_diff=f"{manual_max_diff:.1e}", manual_train_loss=last)
