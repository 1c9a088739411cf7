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
# 4. **looking inside** a network while it trains: activations and gradients per layer,
#    what the initial scale of the weights does, a learning-rate sweep, the embeddings;
# 5. **backpropagation by hand** through that network, every gradient checked against
#    PyTorch autograd — and then used to train it.
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
from collections import Counter
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
DIAG_STEPS = cfg.pick(smoke=150, laptop=2000)  # training steps per initialisation of the deep tanh net
LR_SWEEP = cfg.pick(smoke=[0.003, 0.03, 0.3, 3.0], laptop=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0])
LR_STEPS = cfg.pick(smoke=100, laptop=1000)  # steps per learning rate
EMB2D_STEPS = cfg.pick(smoke=400, laptop=10_000)  # steps for the 2-D embedding model
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
# **Exercise `ngram.bigram_counts`** · difficulty 1 · ~10 min. `stoi` maps each character
# (with "." at 0) to its row/column. Return the (V, V) tensor of counts (integers).

# %%
def bigram_counts(names, stoi):
    """N[i, j] = how often character j follows character i, with "." around every name."""
    ### BEGIN SOLUTION
    pairs = Counter()  # count in plain Python first: one tensor write per pair kind, not per pair
    for name in names:
        chars = ["."] + list(name) + ["."]
        pairs.update(zip(chars, chars[1:]))
    N = torch.zeros(len(stoi), len(stoi), dtype=torch.long)
    for (a, b), count in pairs.items():
        N[stoi[a], stoi[b]] = count
    return N
    ### END SOLUTION


# %%
bigram_counts = check("ngram.bigram_counts", bigram_counts)

# %% [markdown]
# Your counts build every bigram table from here on. The library's `NGramModel(vocab, n)`
# holds a table of counts for any n (it counts with tensor indexing, `index_add_`); for
# n = 2 we hand it yours. Here is the English table: the first row is how names start, the
# first column how they end. Look at which characters end names most often.

# %%
from llmcourse.ngram import NGramModel


bigram_tables = {lang: bigram_counts(data[lang]["train"], vocabs[lang].stoi) for lang in LANGS}  # yours, once


def bigram_model(lang, smoothing=0.0):
    """An NGramModel (n = 2) whose table is your bigram_counts of the training names."""
    model = NGramModel(vocabs[lang], n=2, smoothing=smoothing)
    model.counts = bigram_tables[lang].clone()
    return model


en_vocab = vocabs["en"]
N_en = bigram_model("en").counts
assert torch.equal(N_en, NGramModel(en_vocab, n=2).fit(data["en"]["train"]).counts)
fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(torch.log1p(N_en.float()), cmap="Blues")
ax.set_xticks(range(len(en_vocab)), en_vocab.chars)
ax.set_yticks(range(len(en_vocab)), en_vocab.chars)
ax.set_xlabel("next character")
ax.set_ylabel("previous character")
ax.set_title("English bigram counts (log scale)")
plt.show()

ends = N_en[:, 0].float() / N_en[:, 0].sum()  # how names end
cfg.say("The most common last letters of English names: " + ", ".join(
    f"*{en_vocab.chars[int(i)]}* ({ends[i]:.0%})" for i in ends.topk(4).indices) + ".")
for lang in LANGS:
    N = bigram_model(lang).counts
    top = torch.topk(N.flatten(), 6).indices
    V = len(vocabs[lang])
    pairs = [vocabs[lang].chars[int(i) // V] + vocabs[lang].chars[int(i) % V] for i in top]
    print(f"{LANGUAGES[lang]:10s} most frequent bigrams: {'  '.join(pairs)}")

# %% [markdown]
# ## 3. Sampling
#
# Normalise each row into a probability distribution, `P[i] = N[i] / N[i].sum()`, and a
# name is a walk through the table: start at ".", draw the next character from its row,
# move to that row, until "." comes out. One character of memory is not much; a trigram
# (two characters of context) has more. Read the two rows of samples side by side. We
# sample from the raw counts (`smoothing=0`): every context the walk can reach was seen in
# training, so every row has counts.

# %%
ngram_samples = {}
for lang in LANGS:
    bigram = bigram_model(lang)
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
# **Exercise `ngram.nll`** · difficulty 1 · ~10 min. `P` is a (V, V) table of
# probabilities. Return the average NLL per predicted character over `names` (a zero
# probability gives `inf`: that is the right answer).

# %%
def average_nll(P, names, stoi):
    """-mean over every (prev, next) pair of the padded names of log P[prev, next]."""
    ### BEGIN SOLUTION
    table = P.tolist()  # plain Python numbers: much faster to read one at a time than tensor entries
    total, count = 0.0, 0
    for name in names:
        chars = ["."] + list(name) + ["."]
        for a, b in zip(chars, chars[1:]):
            p = table[stoi[a]][stoi[b]]
            total += -math.log(p) if p > 0 else math.inf
            count += 1
    return total / count
    ### END SOLUTION


# %%
average_nll = check("ngram.nll", average_nll)

# %% [markdown]
# ### Why we need smoothing
# The pure counts (maximum likelihood) give probability **zero** to any pair never seen in
# training, and a single such pair in the dev set makes its NLL infinite. Your
# `average_nll` on your counts:

# %%
mle = bigram_model("en").probs  # rows of counts / row sums
print(f"English bigram, no smoothing: train NLL {average_nll(mle, data['en']['train'], en_vocab.stoi):.3f}, "
      f"dev NLL {average_nll(mle, data['en']['dev'], en_vocab.stoi)}")
impossible = [n for n in data["en"]["dev"] if average_nll(mle, [n], en_vocab.stoi) == math.inf]
cfg.say(f"{len(impossible)} of {len(data['en']['dev'])} English dev names are 'impossible' for the unsmoothed "
        f"bigram, e.g. {', '.join(impossible[:5])}.")

# %% [markdown]
# **Add-k smoothing** pretends every pair was seen k more times than it was:
# $P = (N + k) / (\text{row sum} + kV)$. Small k trusts the counts; large k flattens every
# row towards uniform. The right k depends on how much data there is per table cell: a
# trigram table has V times more cells than a bigram table, and a Thai row has more cells
# than an English one (compare the alphabet sizes in the table of section 1). We choose k
# on the dev set; the bigram column is scored with your `average_nll`.

# %%
sweep = {}  # (lang, n, k) -> dev NLL
for lang in LANGS:
    for n in ORDERS:
        model = bigram_model(lang) if n == 2 else NGramModel(vocabs[lang], n=n).fit(data[lang]["train"])
        for k in SMOOTHING:
            model.smoothing = k
            dev = data[lang]["dev"]
            sweep[lang, n, k] = average_nll(model.probs, dev, vocabs[lang].stoi) if n == 2 else model.nll(dev)

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
# A count table needs a row for every context: $V^2$ rows for a context of two characters,
# $V^3$ for three ($V$, the alphabet size, is in the table of section 1). It cannot
# generalise from "emm" to "amm". The MLP
# instead gives each character a learned **embedding** (a vector of 10 numbers), so
# similar characters end up with similar vectors and what is learnt in one context carries
# over to others:
#
# `x (B, 3) -> C[x] (B, 3, 10) -> flatten (B, 30) -> Linear -> BatchNorm -> tanh -> Linear -> logits (B, V)`
#
# Training minimises cross-entropy (the same average NLL) with minibatch SGD. A small data
# set (compare the sizes in section 1) is overfitted quickly, so we measure the dev NLL
# every few hundred steps and keep the best weights: **early stopping**, the dev set
# choosing when to stop as it chose k above.

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
# Lower is better; each count model uses its best k on the dev set. Look at three things:
# does more context help (uniform, unigram, bigram, trigram)? Does the MLP beat the
# trigram (it has far fewer parameters than a $V^3$ table, but in the smoke profile it
# trains for only a few hundred steps)? And which language gains most from each extra
# character of context? The sentences under the table are computed from it.

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
display(dev_table)  # noqa: F821 (a notebook builtin)
for lang in dev_table.columns:
    ranking = dev_table[lang].sort_values().index.tolist()
    gain = dev_table.loc["bigram", lang] - dev_table.loc["trigram", lang]
    cfg.say(f"**{lang}**: from best to worst, {' < '.join(ranking)}; the third character of context "
            f"(bigram → trigram) gains {gain:.3f} nats.")
mlp_wins = [lang for lang in dev_table.columns if dev_table.loc["MLP", lang] < dev_table.loc["trigram", lang]]
cfg.say(f"The MLP beats the best trigram in {len(mlp_wins)} of {len(dev_table.columns)} languages "
        f"({', '.join(mlp_wins) or 'none'}) after at most {MLP_STEPS} steps.")

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
# ## 8. Looking inside the network
#
# A loss curve says *that* training works; it does not say *why* a deeper network refuses
# to train. Karpathy's diagnostics look at every layer. We take a deeper net without batch
# norm, `DeepMLP`: embeddings, then four `Linear -> tanh` layers of 100, then the output
# layer, and look at one batch after a forward and backward pass:
#
# * the **tanh outputs** of each layer: their spread (std) and how many are **saturated**
#   (|t| > 0.97, where tanh is flat and its gradient $1 - t^2$ almost vanishes); a neuron
#   saturated for every example of the batch is **dead**;
# * the **gradients** reaching each layer's outputs.
#
# The only thing we change is the initial scale of the weights: PyTorch's default for
# `nn.Linear` (uniform, std $1/\sqrt{3\,\text{fan\_in}}$), unit-Gaussian weights
# (`torch.randn`), and Kaiming's rule for tanh (std $\frac{5/3}{\sqrt{\text{fan\_in}}}$,
# with the output layer scaled down so the first guess is close to uniform).

# %%
from llmcourse.ngram import DeepMLP, init_kaiming, init_randn, layer_stats, train_with_stats

Xtr_en, Ytr_en = build_dataset(data["en"]["train"], en_vocab, block_size=3)
Xdev_en, Ydev_en = build_dataset(data["en"]["dev"], en_vocab, block_size=3)
probe = torch.randint(0, len(Xtr_en), (1000,), generator=torch.Generator().manual_seed(0))
INITS = {"default (nn.Linear)": lambda m: m, "randn": init_randn, "Kaiming (5/3)": init_kaiming}


def deep_net(init):
    return init(DeepMLP(len(en_vocab), n_hidden=100, n_layers=4, generator=torch.Generator().manual_seed(cfg.seed)))


def show_stats(nets: dict):
    """A table of per-layer statistics and histograms of activations and gradients, one row per net."""
    rows, fig, axes = [], *plt.subplots(len(nets), 2, figsize=(11, 2.6 * len(nets)), squeeze=False)
    for r, (name, net) in enumerate(nets.items()):
        loss, stats = layer_stats(net, Xtr_en[probe], Ytr_en[probe])
        for s in stats:
            rows.append({"init": name, "layer": s.layer, "loss at init": round(loss, 3), "act std": round(s.act_std, 2),
                         "saturated": f"{s.saturated:.0%}", "dead": f"{s.dead:.0%}", "grad std": f"{s.grad_std:.1e}"})
            for ax, values in ((axes[r, 0], s.acts), (axes[r, 1], s.grads)):
                hist = torch.histc(values, bins=50, min=float(values.min()), max=float(values.max()))
                ax.plot(torch.linspace(float(values.min()), float(values.max()), 50), hist, label=f"layer {s.layer}")
        axes[r, 0].set_title(f"{name}: tanh outputs (loss at init {loss:.2f})", fontsize=9)
        axes[r, 1].set_title(f"{name}: gradients of the tanh outputs", fontsize=9)
        axes[r, 0].legend(fontsize=7)
    plt.tight_layout()
    plt.show()
    return pd.DataFrame(rows)


init_table = show_stats({name: deep_net(init) for name, init in INITS.items()})
init_table

# %% [markdown]
# Read the table layer by layer: which initialisation keeps the spread of the tanh outputs
# steady from layer 1 to layer 4, which one lets it shrink, which one saturates? The loss
# at init is worth a look too: a loss near $\log V$ means a uniform first guess, a much
# larger one a confident wrong guess that training must first undo.

# %%
summary_rows = init_table.groupby("init", sort=False).agg(first=("act std", "first"), last=("act std", "last"),
                                                           loss=("loss at init", "first"))
for name, row in summary_rows.iterrows():
    sat = init_table[init_table["init"] == name]["saturated"].iloc[-1]
    cfg.say(f"**{name}**: tanh-output std {row['first']:.2f} in layer 1 → {row['last']:.2f} in layer 4, "
            f"{sat} saturated in layer 4, loss at init {row['loss']:.2f} (log V = {math.log(len(en_vocab)):.2f}).")

# %% [markdown]
# ### Stretch: initialise a deep network yourself
#
# **Exercise `ngram.init_deep_mlp`** · difficulty 3 · ~30 min (stretch). Write
# `init_deep_mlp(model)`: re-initialise, in place, the weights of a `DeepMLP`
# (`model.hidden` is its list of hidden `nn.Linear` layers, `model.out` the output layer)
# so that it starts healthy. The check builds nets of 4 and 8 tanh layers, calls your
# function and measures: the loss at init must be within 0.1 of $\log V$, and in every
# layer the std of the tanh outputs must lie in [0.5, 0.9] with at most 30% saturated.
# Any rule that passes is fine: derive one (what variance does `x @ W` have when `x` has
# unit variance?), then compare it with Kaiming's.

# %%
def init_deep_mlp(model):
    ### BEGIN SOLUTION
    with torch.no_grad():
        for lin in model.hidden:
            lin.weight.normal_(0.0, (5 / 3) / math.sqrt(lin.in_features))  # tanh's gain over sqrt(fan_in)
            lin.bias.zero_()
        model.out.weight.normal_(0.0, 0.1 / math.sqrt(model.out.in_features))  # a near-uniform first guess
        model.out.bias.zero_()
    return model
    ### END SOLUTION


# %%
init_deep_mlp = check("ngram.init_deep_mlp", init_deep_mlp)

# %% [markdown]
# Now train the deep net from each initialisation, yours included, for the same number of
# steps on the same batches, and record each weight matrix's **update-to-data ratio**,
# $\log_{10}$(lr · std(grad) / std(weight)): how big one step is relative to the weights.
# Karpathy's rule of thumb is about $10^{-3}$ (the dotted line): much smaller and the layer
# barely learns, much larger and it thrashes.

# %%
from tqdm.auto import tqdm

INITS["yours"] = init_deep_mlp
runs = {}
for name, init in tqdm(INITS.items(), desc="initialisations"):
    net = deep_net(init)
    stats = train_with_stats(net, Xtr_en, Ytr_en, DIAG_STEPS, lr=0.1, batch_size=32,
                             generator=torch.Generator().manual_seed(1))
    runs[name] = (stats, evaluate_nll(net, Xdev_en, Ydev_en))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for name, (stats, _) in runs.items():
    w = max(1, DIAG_STEPS // 30)
    losses = torch.tensor(stats.losses)
    axes[0].plot(losses[: len(losses) // w * w].view(-1, w).mean(1), label=name)
    axes[1].plot([sum(r) / len(r) for r in stats.update_ratio], label=name)
axes[0].set(title="training loss (smoothed)", xlabel=f"step / {max(1, DIAG_STEPS // 30)}")
axes[1].axhline(-3, color="grey", ls=":")
axes[1].set(title="mean log10 update-to-data ratio", xlabel="step")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()
init_results = {name: dev for name, (_, dev) in runs.items()}
best_init = min(init_results, key=init_results.get)
cfg.say(f"Dev NLL after {DIAG_STEPS} steps: " + ", ".join(f"{k} {v:.3f}" for k, v in init_results.items())
        + f". Best: {best_init}.")

# %% [markdown]
# ### How large a step? A learning-rate sweep
#
# Back to the batch-norm MLP of section 6. Train it from the same initialisation, on the
# same batches, for the same number of steps, at learning rates spread over several
# orders of magnitude, and plot where each ends. Too small a rate has not got far; too
# large a one is noisy or blows up; a good rate sits in the valley, usually a little below
# where the loss starts to climb.

# %%
from llmcourse.ngram import lr_sweep

make = lambda: MLPLanguageModel(len(en_vocab), block_size=3, n_embd=10, n_hidden=N_HIDDEN,  # noqa: E731
                                generator=torch.Generator().manual_seed(cfg.seed))
sweep_losses = lr_sweep(make, Xtr_en, Ytr_en, LR_SWEEP, steps=LR_STEPS, batch_size=MLP_BATCH, progress=True)
plt.figure(figsize=(5, 3.2))
plt.plot(LR_SWEEP, [min(v, 10.0) for v in sweep_losses], "o-")
plt.xscale("log")
plt.xlabel("learning rate")
plt.ylabel(f"mean loss, last quarter of {LR_STEPS} steps")
plt.title("learning-rate sweep (MLP with batch norm, English)")
plt.show()
best_lr = LR_SWEEP[min(range(len(LR_SWEEP)), key=lambda i: sweep_losses[i])]
cfg.say(f"After {LR_STEPS} steps the lowest loss ({min(sweep_losses):.3f}) came with learning rate {best_lr:g}; "
        f"section 6 trained with 0.1.")

# %% [markdown]
# ### What the embeddings learnt
#
# Give every character an embedding of only **two** numbers and we can draw them. Train
# that model on English names and look at where the characters land: characters that
# behave alike in names should end up close together. Look at the vowels, and at ".",
# the start/end marker.

# %%
emb2d = MLPLanguageModel(len(en_vocab), block_size=3, n_embd=2, n_hidden=N_HIDDEN,
                         generator=torch.Generator().manual_seed(cfg.seed))
hist2d = train_mlp(emb2d, Xtr_en, Ytr_en, steps=EMB2D_STEPS, batch_size=MLP_BATCH, lr=0.1, generator=gen,
                   dev=(Xdev_en, Ydev_en), eval_every=max(1, EMB2D_STEPS // 4), progress=True)
E = emb2d.emb.weight.detach()
plt.figure(figsize=(5.5, 5.5))
plt.scatter(E[:, 0], E[:, 1], s=250, c=["tab:red" if c in "aeiou" else "tab:blue" for c in en_vocab.chars], alpha=0.3)
for i, ch in enumerate(en_vocab.chars):
    plt.text(E[i, 0], E[i, 1], ch, ha="center", va="center")
plt.title(f"2-D character embeddings (dev NLL {hist2d.best_dev_nll:.2f}; vowels in red)")
plt.show()
vowels = [en_vocab.stoi[c] for c in "aeiou" if c in en_vocab.stoi]
others = [i for i in range(1, len(en_vocab)) if i not in vowels]
spread = lambda ix: torch.cdist(E[ix], E[ix]).sum() / (len(ix) * (len(ix) - 1))  # noqa: E731
cfg.say(f"Mean distance between two vowels: {spread(vowels):.2f}; between two other letters: {spread(others):.2f}.")

# %% [markdown]
# ## 9. Backpropagation by hand
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
# **Exercise `ngram.manual_backward`** · difficulty 3 · ~60 min. Given the forward values
# in `cache` (keys as above) and the parameters, return a dict with the gradient of the
# loss for **every** intermediate and every parameter (`"C", "W1", "b1", "bngain",
# "bnbias", "W2", "b2"`), without autograd. The check compares each one with autograd's
# and lists any that differ or are missing.

# %%
from llmcourse.ngram import manual_backprop as mb

params = mb.init_params(len(en_vocab), block_size=3, n_embd=10, n_hidden=64, generator=torch.Generator().manual_seed(0))
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
manual_backward = check("ngram.manual_backward", manual_backward)

# %% [markdown]
# Your gradients, compared tensor by tensor with autograd by `cmp`: *exact* means
# bit-identical, *approximate* means `torch.allclose`, and *maxdiff* is the largest
# absolute difference. Count how many are exact: the others differ only where the order of
# additions differs from autograd's.

# %%
grads = manual_backward(params, Xb, Yb, cache)
results = mb.compare_with_autograd(grads, params, Xb, Yb)
manual_max_diff = max(r.maxdiff for r in results)
n_exact = sum(r.exact for r in results)
assert all(r.approx for r in results), "every hand-made gradient must equal autograd's"
cfg.say(f"{sum(r.approx for r in results)}/{len(results)} tensors approximately equal, {n_exact} bit for bit; "
        f"largest difference {manual_max_diff:.2e}.")

# %% [markdown]
# **Exercise `ngram.cross_entropy_backward`** · difficulty 2 · ~10 min. Eight of those
# steps collapse into one formula. With $p = \mathrm{softmax}(\text{logits})$
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
cross_entropy_backward = check("ngram.cross_entropy_backward", cross_entropy_backward)

# %%
reference = mb.autograd_grads(params, Xb, Yb)
assert mb.cmp("logits (fused)", cross_entropy_backward(cache["logits"].detach(), Yb), reference["logits"]).approx

# %% [markdown]
# **Exercise `ngram.batchnorm_backward`** · difficulty 2 · ~15 min. The same for batch
# norm, from `hpreact` back to `hprebn`. With $\hat x$ = `bnraw`,
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
batchnorm_backward = check("ngram.batchnorm_backward", batchnorm_backward)

# %%
fused = batchnorm_backward(reference["hpreact"], params["bngain"].detach(), cache["bnraw"].detach(),
                           cache["bnvar_inv"].detach())
assert mb.cmp("hprebn (fused)", fused, reference["hprebn"]).approx

# %% [markdown]
# ### Training with your own gradients
# If the gradients are right, we do not need autograd at all: forward, backward, update.
# The backward below is the short one, built from your two fused formulas (cross-entropy
# and batch norm) plus the matrix-product rules; first we check that it gives the same
# parameter gradients as your step-by-step `manual_backward`, then it trains the network.

# %%
def fast_backward(params, X, Y, cache):
    """Parameter gradients from the two fused formulas (yours) and the matrix-product rules."""
    c = {k: v.detach() for k, v in cache.items()}
    dlogits = cross_entropy_backward(c["logits"], Y)  # (B, V)
    dh = dlogits @ params["W2"].T
    dhpreact = (1 - c["h"] ** 2) * dh  # through tanh
    dhprebn = batchnorm_backward(dhpreact, params["bngain"], c["bnraw"], c["bnvar_inv"])  # (B, H)
    dC = torch.zeros_like(params["C"]).index_add_(0, X.reshape(-1), (dhprebn @ params["W1"].T).reshape(-1, params["C"].shape[1]))
    return {"C": dC, "W1": c["embcat"].T @ dhprebn, "b1": dhprebn.sum(0),
            "bngain": (c["bnraw"] * dhpreact).sum(0, keepdim=True), "bnbias": dhpreact.sum(0, keepdim=True),
            "W2": c["h"].T @ dlogits, "b2": dlogits.sum(0)}


with torch.no_grad():
    detached = {k: v.detach() for k, v in params.items()}
    fast = fast_backward(detached, Xb, Yb, cache)
    step_by_step = manual_backward(detached, Xb, Yb, {k: v.detach() for k, v in cache.items()})
fast_diff = max((fast[k] - step_by_step[k]).abs().max().item() for k in fast)
assert fast_diff < 1e-10, fast_diff
print(f"fast backward vs your step-by-step backward: max difference {fast_diff:.1e}")

params = mb.init_params(len(en_vocab), block_size=3, n_embd=10, n_hidden=64, generator=torch.Generator().manual_seed(0))
manual_losses = []
with torch.no_grad():
    for step in tqdm(range(MANUAL_STEPS), desc="manual backprop"):
        ix = torch.randint(0, len(Xtr_en), (32,), generator=gen)
        loss, cache = mb.forward(params, Xtr_en[ix], Ytr_en[ix])
        grads = fast_backward(params, Xtr_en[ix], Ytr_en[ix], cache)
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
cfg.say(f"Trained with your gradients only: minibatch loss {first:.3f} over the first 20 steps, {last:.3f} over "
        f"the last 20.")

# %% [markdown]
# ## Summary
# * A bigram model is a table of counts; sampling walks it; the average NLL scores it.
# * Unseen events need smoothing; the dev set chooses how much (and when to stop training).
# * An MLP over character embeddings generalises across contexts; whether it beats the
#   counts depends on data and training time (the table above says, per language).
# * A deep net trains only if activations and gradients keep their size through the
#   layers: the initial scale decides it (or batch norm repairs it); the update-to-data
#   ratio and a learning-rate sweep say whether the steps are the right size.
# * Backpropagation is the chain rule applied tensor by tensor: broadcast <-> sum,
#   `x @ W` -> `dy @ W.T` and `x.T @ dy`, `+=` for a tensor used twice.

# %%
report = {f"{lang}_{m}_dev": table[LANGUAGES[lang]][key] for lang in LANGS
          for m, key in (("bigram", f"bigram (k={best_k[lang, 2]:g})"), ("trigram", f"trigram (k={best_k[lang, 3]:g})"),
                         ("mlp", "MLP"))}
report.update({f"{lang}_mlp_test": test_nll[lang]["MLP"] for lang in LANGS})
report.update({f"init_dev_{k.split(' ')[0].lower()}": v for k, v in init_results.items()})
layer4 = init_table[init_table["layer"] == 4].set_index("init")
cfg.report(**report, manual_backprop_max_diff=manual_max_diff, manual_exact=n_exact, fast_backward_diff=fast_diff,
           manual_train_loss_first=first, manual_train_loss=last, best_lr=best_lr,
           kaiming_layer4_std=float(layer4.loc["Kaiming (5/3)", "act std"]),
           default_layer4_std=float(layer4.loc["default (nn.Linear)", "act std"]),
           randn_layer4_saturated=float(layer4.loc["randn", "saturated"].rstrip("%")) / 100,
           emb2d_dev_nll=hist2d.best_dev_nll)
