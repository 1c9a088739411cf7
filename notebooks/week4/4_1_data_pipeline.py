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
# # 4.1 Data pipeline: from scanned pages and a crawl to token shards
#
# A model is what it reads. Before pre-training, text goes through a pipeline that looks
# the same at every lab, from C4 to FineWeb:
#
# 1. **clean** it: OCR output has page headers, page numbers and words broken at line ends;
# 2. **filter** it: most of a crawl is menus, spam and tables (Gopher and C4 heuristics);
# 3. **identify the language** (and keep only what you want);
# 4. **deduplicate**: exact copies by hash, near copies by MinHash + LSH;
# 5. **mix** the languages (temperature sampling: up-sample the small ones);
# 6. **tokenise once into shards** that a DataLoader memory-maps.
#
# You build the key pieces (each checked against the library people use: scikit-learn,
# datasketch) and the notebook runs the pipeline with them. The shards you write here are
# what 4.3 pre-trains the course GPT on.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("4.1")

# %% [markdown]
# ## Knobs
# Every heavy number comes from the profile: `smoke` runs in seconds, `laptop` gives the real picture.

# %%
OCR_PAGES = cfg.pick(smoke=2, laptop=4)  # scanned pages per language (OCR-ed once, then cached)
WEB_DOCS = cfg.pick(smoke=120, laptop=600)  # FineWeb-format documents through the pipeline
LANGID_TRAIN = cfg.pick(smoke=1500, laptop=20_000)  # characters of training text per language
LANGID_TESTS = cfg.pick(smoke=8, laptop=200)  # held-out snippets per language and length
SPEED_DOCS = cfg.pick(smoke=60, laptop=1000)  # documents in the MinHash speed comparison
MIX_TOKENS = cfg.pick(smoke=60_000, laptop=1_000_000)  # tokens in the language mixture written to shards
BLOCK = cfg.pick(smoke=64, laptop=128)  # tokens per training window
LOADER_BATCHES = cfg.pick(smoke=20, laptop=200)  # batches timed per DataLoader

# %% [markdown]
# ## 1. Scanned pages, OCR-ed
#
# The course typesets pages from text it has (Hamlet; Indonesian, Malay and Thai text),
# with a running header, a page number, words hyphenated at line ends, two columns on
# every other page, then blurs, skews and speckles them like a scanner would. A real OCR
# engine reads them back: RapidOCR (PaddleOCR's networks, shipped in its wheel) for
# English, tesseract for Indonesian, Malay (with the Indonesian model) and Thai. Because
# we printed the pages ourselves, we know exactly what they say: the **source**. The
# character error rate (CER) against it measures the OCR and every cleaning step.

# %%
import time

import jiwer
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from llmcourse.assets.ocr_pages import ocr_document

LANGS = ["en", "id", "ms", "th"]
docs = {lang: ocr_document(lang, OCR_PAGES) for lang in LANGS}
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
for ax, (lang, page) in zip(axes, [("en", 1), ("th", 0)]):
    ax.imshow(Image.open(docs[lang].pages[min(page, OCR_PAGES - 1)].image_path), cmap="gray")
    ax.set_title(f"{lang} page {min(page, OCR_PAGES - 1) + 1}")
    ax.axis("off")
plt.tight_layout()
plt.show()
print("OCR output (first 400 characters of the Indonesian pages):\n")
print(docs["id"].ocr[:400])

# %% [markdown]
# ## 2. Cleaning, one step at a time
#
# **Exercise `data.dehyphenate`** · difficulty 1 · ~10 min. Join words that printing split at a
# line end: `"trans-\nformation"` → `"transformation"`. Only when the hyphen follows a letter and
# the next line starts with a lowercase letter (a capital starts a new word or a name). In
# Indonesian, Malay and Tagalog a reduplicated word split at its own hyphen keeps it:
# `"anak-\nanak"` → `"anak-anak"`. Thai is never hyphenated: return it unchanged.

# %%
import re


def dehyphenate(text, lang=None):
    ### BEGIN SOLUTION
    if lang == "th":
        return text

    def join(m):
        left, right = m.group(1), m.group(2)
        if lang in ("id", "ms", "tl") and right.lower().startswith(left.lower()):
            return f"{left}-{right}"
        return left + right

    return re.sub(r"(\w+)-[ \t]*\n[ \t]*([^\W\d_A-Z]\w*)", join, text)
    ### END SOLUTION


# %%
dehyphenate = check("data.dehyphenate", dehyphenate)

# %% [markdown]
# **Exercise `data.strip_page_furniture`** · difficulty 2 · ~20 min. Remove running headers and
# page numbers. Pages are separated by form feeds (`"\f"`). Only the first and last two
# non-empty lines of a page are candidates; drop one if it is a page number
# (`is_page_number`: "12", "— 37 —", "Halaman 5") or if the same words, digits ignored
# and lowercased, stand at the edge of at least two pages. Join the pages with `"\n"`.

# %%
from collections import Counter

from llmcourse.data import is_page_number


def strip_page_furniture(text, lang=None):
    ### BEGIN SOLUTION
    pages = [page.split("\n") for page in text.split("\f")]

    def key(line):
        return re.sub(r"[\W\d_]+", " ", line.lower()).strip()

    def edges(lines):
        filled = [i for i, line in enumerate(lines) if line.strip()]
        return sorted(set(filled[:2] + filled[-2:]))

    counts = Counter()
    for lines in pages:
        counts.update({key(lines[i]) for i in edges(lines)} - {""})
    out = []
    for lines in pages:
        drop = {i for i in edges(lines) if is_page_number(lines[i]) or counts[key(lines[i])] >= 2}
        page = "\n".join(line for i, line in enumerate(lines) if i not in drop).strip("\n")
        if page.strip():
            out.append(page)
    return "\n".join(out)
    ### END SOLUTION


# %%
strip_page_furniture = check("data.strip_page_furniture", strip_page_furniture)

# %% [markdown]
# Now the whole cleaning chain, with **your** two steps in it and the library's others:
# line unwrapping (a blank line is a paragraph break; Thai joins lines with no space),
# Unicode normalisation (ftfy for mojibake, ligatures and curly quotes, then NFKC, but NFC
# for Thai: NFKC splits the vowel SARA AM "ำ" in two) and whitespace rules. The CER is
# measured against the source after each step.

# %%
from llmcourse.data import fix_whitespace, normalize_unicode, unwrap_lines

steps = [("page furniture", strip_page_furniture), ("de-hyphenation", dehyphenate), ("line unwrapping", unwrap_lines),
         ("unicode", normalize_unicode), ("whitespace", fix_whitespace)]
cer = {}
cleaned = {}
for lang, doc in docs.items():
    text = doc.ocr
    row = {"raw OCR": jiwer.cer(doc.truth, text)}
    for name, step in steps:
        text = step(text, lang)
        row[name] = jiwer.cer(doc.truth, text)
    cer[lang] = row
    cleaned[lang] = text

names = list(cer["en"])
print(f"{'CER':16s}" + "".join(f"{lang:>8s}" for lang in LANGS))
for name in names:
    print(f"{name:16s}" + "".join(f"{cer[lang][name]:8.3f}" for lang in LANGS))
fig, ax = plt.subplots(figsize=(8, 3.8))
for lang in LANGS:
    ax.plot(names, [cer[lang][n] for n in names], "o-", label=lang)
ax.set_ylabel("character error rate vs source")
ax.set_title("cleaning OCR output, step by step")
ax.legend()
plt.xticks(rotation=20)
plt.tight_layout()
plt.show()
for lang in LANGS:
    assert cer[lang]["whitespace"] < cer[lang]["raw OCR"], f"cleaning made {lang} worse"
best = {lang: max(steps, key=lambda s: cer[lang][names[names.index(s[0]) - 1]] - cer[lang][s[0]])[0] for lang in LANGS}
cfg.say("Cleaning takes the CER from " + ", ".join(
    f"{cer[lang]['raw OCR']:.1%} to {cer[lang]['whitespace']:.1%} ({lang}, biggest gain: {best[lang]})"
    for lang in LANGS) + ". What remains is the OCR engine's own mistakes (misread letters), which no "
    "rule can undo without the image.")
print("\ncleaned Thai text:", cleaned["th"][:200])

# %% [markdown]
# Text from files arrives in every encoding. `read_document` decodes bytes: a byte-order
# mark, else strict UTF-8, else the most plausible encoding (`charset-normalizer`); empty
# and binary files are refused with a sentence. Thai web pages are often TIS-620:

# %%
from pathlib import Path

from llmcourse.data import DocumentError, read_document

tmp = cfg.scratch("docs")
(tmp / "thai.txt").write_bytes(docs["th"].truth[:300].encode("cp874"))
(tmp / "scan.png").write_bytes(Path(docs["th"].pages[0].image_path).read_bytes())
print("TIS-620 file read back intact:", read_document(tmp / "thai.txt") == docs["th"].truth[:300])
print("the same bytes wrongly read as Latin-1:", docs["th"].truth[:20].encode("cp874").decode("latin-1"))
try:
    read_document(tmp / "scan.png")
except DocumentError as err:
    print("refused:", err)

# %% [markdown]
# ## 3. Quality filters on a crawl
#
# Next, web documents in FineWeb's schema (`text, id, dump, url, date, file_path,
# language, language_score, token_count`). Online they are streamed from FineWeb-Edu;
# offline the course writes the same schema from its own text, mixed like a crawl:
# prose, six Southeast Asian languages, and junk (menus and cookie banners, keyword spam,
# tables, code, lorem ipsum, copies of other pages). Gopher's and C4's rules look at
# simple statistics:

# %%
from llmcourse.assets.fineweb import fineweb_sample
from llmcourse.data import c4_filter, gopher_filter, gopher_quality, gopher_repetition

rows, source = fineweb_sample(WEB_DOCS, online=cfg.online)
print(f"{len(rows)} rows from: {source}")
print("kinds:", dict(Counter(r["file_path"].split("/")[-1] for r in rows)))
shown = set()
for r in rows:
    kind = r["file_path"].split("/")[-1]
    if kind in shown or kind in ("near-copy", "exact-copy"):
        continue
    shown.add(kind)
    q, rep = gopher_quality(r["text"], r["language"]), gopher_repetition(r["text"], r["language"])
    keep, why = gopher_filter(r["text"], r["language"])
    c4_text, c4_why = c4_filter(r["text"], r["language"], terminal_punct=False)
    print(f"{kind:12s} words {q['n_words']:6.0f}  stop {q['stop_words']:3.0f}  alpha {q['alpha_word_frac']:.2f}  "
          f"dup lines {rep['dup_line_frac']:.2f}  Gopher {'keep' if keep else 'drop: ' + why[0][:40]:48s} "
          f"C4 {'keep' if c4_text else 'drop: ' + c4_why[-1][:30]}")

# %% [markdown]
# ## 4. Language identification
#
# A character n-gram **Naive Bayes** classifier is how `langid.py` works. Count character
# 1-3-grams per language; score a text by `log P(lang) + Σ_f x_f log θ_lang,f`, with
# smoothed probabilities θ = (N + α) / Σ (N + α).
#
# **Exercise `data.nb_fit`** · difficulty 2 · ~20 min. Given a count matrix `X` (documents ×
# n-grams), labels `y` (0..C-1) and `alpha`, return `(log_prior, log_theta)`, shapes (C,)
# and (C, F), exactly as scikit-learn's `MultinomialNB` computes them.

# %%
def nb_fit(X, y, n_classes, alpha=1.0):
    ### BEGIN SOLUTION
    X = np.asarray(X, dtype=float)
    counts = np.stack([X[np.asarray(y) == c].sum(axis=0) for c in range(n_classes)]) + alpha
    log_theta = np.log(counts) - np.log(counts.sum(axis=1, keepdims=True))
    log_prior = np.log(np.bincount(y, minlength=n_classes) / len(y))
    return log_prior, log_theta
    ### END SOLUTION


# %%
nb_fit = check("data.nb_fit", nb_fit)

# %% [markdown]
# Your `nb_fit` now trains a classifier on a few thousand characters per language, and we
# compare it with `langid` and `lingua` (both ship their models in their wheels) on held-out
# snippets of 20, 50 and 100 characters. Indonesian and Malay are close cousins: watch them.

# %%
from llmcourse.assets.multilingual import LANGUAGES, multilingual_sample
from llmcourse.data import CharNgramLangID, detect_language

train_texts, train_labels = [], []
for lang in LANGUAGES:
    text = multilingual_sample(lang, LANGID_TRAIN, seed=0)
    for i in range(0, len(text), 500):
        train_texts.append(text[i:i + 500])
        train_labels.append(lang)
ours = CharNgramLangID(1, 3, fit=nb_fit).fit(train_texts, train_labels)

accuracy = {}
confusions = Counter()
for n in (20, 50, 100):
    tests = [(lang, multilingual_sample(lang, LANGID_TESTS * n + 50, seed=9)[i * n:(i + 1) * n])
             for lang in LANGUAGES for i in range(LANGID_TESTS)]
    truth = [lang for lang, _ in tests]
    preds = {"ours (Naive Bayes)": ours.predict([t for _, t in tests]),
             "langid": [detect_language(t, "langid")[0] for _, t in tests],
             "lingua": [detect_language(t, "lingua")[0] for _, t in tests]}
    for name, p in preds.items():
        accuracy[(name, n)] = float(np.mean([a == b for a, b in zip(p, truth)]))
        if n == 20:
            confusions.update((name, a, b) for a, b in zip(truth, p) if a != b)
print(f"{'accuracy':20s}" + "".join(f"{n:>8d} ch" for n in (20, 50, 100)))
for name in ("ours (Naive Bayes)", "langid", "lingua"):
    print(f"{name:20s}" + "".join(f"{accuracy[(name, n)]:11.1%}" for n in (20, 50, 100)))
top = confusions.most_common(3)
cfg.say("On 100-character snippets: ours " + f"{accuracy[('ours (Naive Bayes)', 100)]:.0%}, langid "
        f"{accuracy[('langid', 100)]:.0%}, lingua {accuracy[('lingua', 100)]:.0%}. Most frequent mistakes at 20 "
        "characters: " + "; ".join(f"{name} read {a} as {b} ({k}x)" for (name, a, b), k in top) + ".")

# %% [markdown]
# ## 5. Deduplication: MinHash and LSH
#
# Exact copies are easy: hash a normalised form (lowercase, collapsed whitespace) and keep
# the first. Near copies (a syndicated article with a new header) need **MinHash**: for a
# random permutation h of all shingles (5-character n-grams), P[min h(A) = min h(B)] =
# Jaccard(A, B). With 128 permutations the fraction of equal minima estimates the
# Jaccard similarity to within about ±0.04. Our permutations are datasketch's "affine32"
# ones: h_k(x) = a_k · x + b_k mod 2³² on pre-mixed shingle hashes.
#
# **Exercise `data.minhash_signature`** · difficulty 2 · ~15 min. Given the (pre-mixed)
# uint32 hashes of a text's shingles and the permutation parameters `a`, `b` (uint32,
# one per permutation), return the signature: for each permutation, the minimum over the
# shingles of `a_k * h + b_k` (mod 2³², which uint32 arithmetic does for you).

# %%
def minhash_signature(hashes, a, b):
    ### BEGIN SOLUTION
    table = hashes[:, None] * a[None, :] + b[None, :]  # (n_shingles, num_perm) uint32, wraps mod 2^32
    return table.min(axis=0)
    ### END SOLUTION


# %%
minhash_signature = check("data.minhash_signature", minhash_signature)

# %% [markdown]
# With your signature, the estimate against the exact Jaccard similarity of pairs of
# documents edited more and more (the band is ±2 standard errors, √(J(1−J)/128)):

# %%
from llmcourse.data import fmix32, jaccard, jaccard_estimate, permutations, shingle_hashes, shingles

A, B = permutations(128, seed=0)


def my_signature(text):
    return minhash_signature(fmix32(shingle_hashes(text, 5)), A, B)


base = multilingual_sample("id", 2000, seed=11)
words = base.split(" ")
rng = np.random.default_rng(0)
exact, est = [], []
for frac in np.linspace(0, 0.6, 16):
    w = list(words)
    for i in rng.choice(len(w), int(frac * len(w)), replace=False):
        w[i] = "x" + w[i]
    other = " ".join(w)
    exact.append(jaccard(shingles(base, 5), shingles(other, 5)))
    est.append(jaccard_estimate(my_signature(base), my_signature(other)))
exact, est = np.array(exact), np.array(est)
band = 2 * np.sqrt(exact * (1 - exact) / 128)
fig, ax = plt.subplots(figsize=(5, 4))
ax.fill_between(exact, exact - band, exact + band, alpha=0.2, label="±2 standard errors")
ax.plot(exact, est, "o", label="MinHash estimate")
ax.plot([0, 1], [0, 1], "k--", lw=0.8)
ax.set_xlabel("exact Jaccard")
ax.set_ylabel("estimate (128 permutations)")
ax.legend()
plt.show()
inside = float(np.mean(np.abs(est - exact) <= band + 1e-9))
cfg.say(f"{inside:.0%} of the estimates lie within two standard errors of the exact similarity.")

# %% [markdown]
# **LSH.** Cut the 128 numbers into b bands of r rows; two documents become candidates
# when one band matches exactly. A pair of similarity s collides with probability
# 1 − (1 − sʳ)ᵇ: an S-curve. The best (b, r) for a threshold minimises the area of false
# positives left of it plus false negatives right of it.
#
# **Exercise `data.lsh_params`** · difficulty 2 · ~20 min. Return `(b, r)` with b·r ≤
# num_perm minimising ½·∫₀ᵗ (1 − (1 − sʳ)ᵇ) ds + ½·∫ₜ¹ (1 − sʳ)ᵇ ds (scipy's `quad`),
# as datasketch's `MinHashLSH` chooses them.

# %%
from scipy.integrate import quad


def lsh_params(threshold, num_perm):
    ### BEGIN SOLUTION
    best, best_err = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = quad(lambda s: 1 - (1 - s ** r) ** b, 0.0, threshold)[0]
            fn = quad(lambda s: (1 - s ** r) ** b, threshold, 1.0)[0]
            if 0.5 * fp + 0.5 * fn < best_err:
                best, best_err = (b, r), 0.5 * fp + 0.5 * fn
    return best
    ### END SOLUTION


# %%
lsh_params = check("data.lsh_params", lsh_params)

# %%
s = np.linspace(0, 1, 200)
fig, ax = plt.subplots(figsize=(6, 3.5))
for t in (0.5, 0.8):
    b, r = lsh_params(t, 128)
    ax.plot(s, 1 - (1 - s ** r) ** b, label=f"threshold {t}: b={b}, r={r}")
    ax.axvline(t, ls=":", color="gray")
ax.set_xlabel("Jaccard similarity of a pair")
ax.set_ylabel("P(candidate)")
ax.legend()
plt.show()

# %% [markdown]
# **Exercise `data.near_duplicates`** (stretch) · difficulty 3 · ~45 min. Put it together:
# `near_duplicates(texts, threshold=0.8, num_perm=128)` returns the clusters (sets of
# indices, two or more members) of near-duplicate texts: MinHash signatures, LSH
# candidates with your `lsh_params`, each candidate pair verified by its estimated Jaccard,
# pairs merged into clusters (union-find). The check plants copies in a corpus and compares.

# %%
from llmcourse.data import MinHash, lsh_buckets


def near_duplicates(texts, threshold=0.8, num_perm=128):
    ### BEGIN SOLUTION
    sigs = MinHash(num_perm).signatures(texts)
    b, r = lsh_params(threshold, num_perm)
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in lsh_buckets(sigs, b, r):
        for i in group:
            for j in group:
                if i < j and find(i) != find(j) and jaccard_estimate(sigs[i], sigs[j]) >= threshold:
                    parent[max(find(i), find(j))] = min(find(i), find(j))
    clusters = {}
    for i in range(len(texts)):
        clusters.setdefault(find(i), set()).add(i)
    return sorted((c for c in clusters.values() if len(c) > 1), key=min)
    ### END SOLUTION


# %%
near_duplicates = check("data.near_duplicates", near_duplicates)

# %% [markdown]
# Speed: the library's MinHash hashes every shingle of a text in a few vectorised numpy
# passes (a rolling polynomial hash over code points), where datasketch calls SHA-1 once
# per shingle in Python. Same permutations, same number of them:

# %%
from datasketch import MinHash as DSMinHash

reliable, why = cfg.timing_is_reliable()
speed_docs = [r["text"] for r in rows][:SPEED_DOCS]
t0 = time.perf_counter()
ours_sigs = MinHash(128, 5, seed=0).signatures(speed_docs)
t_ours = time.perf_counter() - t0
t0 = time.perf_counter()
for d in speed_docs:
    m = DSMinHash(num_perm=128, seed=0)
    m.update_batch([g.encode() for g in shingles(d, 5)])
t_ds = time.perf_counter() - t0
print(f"signatures/s: ours {len(speed_docs) / t_ours:,.0f}, datasketch {len(speed_docs) / t_ds:,.0f} "
      f"({t_ds / t_ours:.1f}x)")
if not reliable:
    print(why)

# %% [markdown]
# ## 6. The pipeline on the crawl
#
# Everything in order on the web documents: C4's page and line rules (without the
# terminal-punctuation rule, which FineWeb also drops: it deletes verse and lists), Gopher's
# quality and repetition rules, language ID with a minimum confidence, exact dedup, and
# near dedup with **your** `near_duplicates`.

# %%
from llmcourse.data import exact_duplicates, filter_documents

kept, report = filter_documents(rows, dedup_threshold=0.8)
mine = near_duplicates([d["text"] for d in kept], 0.8, 128)
assert not mine, "the library's pass already removed every near duplicate: yours finds none left"
print(f"{'stage':18s} documents")
for stage, n in report.stages.items():
    print(f"{stage:18s} {n:6d}")
print("\nremoved because:", dict(report.reasons.most_common()))
print("kept per language:", dict(report.by_language))
junk = {"boilerplate", "spam", "table", "code", "lorem"}
junk_left = sum(d["file_path"].split("/")[-1] in junk for d in kept if "file_path" in d)
cfg.say(f"Of {report.stages['input']} documents, {report.stages['near dedup']} survive; "
        f"{report.reasons['exact duplicate']} exact and {report.reasons['near duplicate']} near duplicates were "
        f"removed, and {junk_left} junk pages got through.")

# %% [markdown]
# ## 7. Mixing languages: temperature sampling
#
# English dominates a crawl. mT5 samples language i with probability ∝ qᵢ^α, where qᵢ is
# its share of the tokens: α = 1 keeps the crawl's proportions, α = 0 is uniform, mT5 uses
# 0.3. Small languages are then *up-sampled* (seen several times), big ones down-sampled.
#
# **Exercise `data.temperature_weights`** · difficulty 1 · ~10 min. `{lang: n_tokens}` and
# α → `{lang: probability}`.

# %%
def temperature_weights(counts, alpha=0.3):
    ### BEGIN SOLUTION
    total = sum(counts.values())
    raw = {k: (n / total) ** alpha for k, n in counts.items()}
    z = sum(raw.values())
    return {k: v / z for k, v in raw.items()}
    ### END SOLUTION


# %%
temperature_weights = check("data.temperature_weights", temperature_weights)

# %% [markdown]
# Tokenised with the course tokenizer (yours from 1.2 if you made it), the kept documents
# give the token count of each language; the shares at several α:

# %%
from llmcourse.assets.artifacts import load_artifact
from llmcourse.models.course import reference_course_tokenizer

tok = load_artifact("course-tokenizer", fallback=reference_course_tokenizer)
by_lang = {}
for d in kept:
    by_lang.setdefault(d["lang"], []).append((d["text"], len(tok.encode_ordinary(d["text"]))))
counts = {lang: sum(n for _, n in items) for lang, items in by_lang.items()}
alphas = (1.0, 0.7, 0.3, 0.0)
shares = {a: temperature_weights(counts, a) for a in alphas}
langs_sorted = sorted(counts, key=counts.get, reverse=True)
fig, ax = plt.subplots(figsize=(8, 3.5))
width = 0.2
for k, a in enumerate(alphas):
    ax.bar(np.arange(len(langs_sorted)) + k * width, [shares[a][lang] for lang in langs_sorted], width, label=f"α={a}")
ax.set_xticks(np.arange(len(langs_sorted)) + 1.5 * width, langs_sorted)
ax.set_ylabel("share of training tokens")
ax.legend()
plt.show()

# %% [markdown]
# We draw a mixture of `MIX_TOKENS` tokens at α = 0.3 (whole documents, repeated when a
# language needs more than it has) and see how many epochs of each language that is:

# %%
from llmcourse.data import mixture_table, sample_by_language

mixture = sample_by_language(by_lang, MIX_TOKENS, alpha=0.3, seed=0)
token_of = {text: n for items in by_lang.values() for text, n in items}
table = mixture_table(by_lang, mixture, token_of)
print(f"{'lang':5s} {'available':>10s} {'in mixture':>11s} {'share':>7s} {'epochs':>7s}")
for lang in langs_sorted:
    r = table[lang]
    print(f"{lang:5s} {r['available']:10,d} {r['tokens']:11,d} {r['share']:7.1%} {r['epochs']:7.2f}")

# %% [markdown]
# ## 8. Token shards and a DataLoader
#
# Tokenise once, store the ids as a flat `uint16` array per shard (the course vocabulary
# fits in 16 bits), with a manifest of sha256 hashes. Reading is `np.memmap`: no loading,
# the OS pages in what a batch touches. The loader's batch for step s depends only on
# (seed, s): shuffled per epoch, resumable at any step, split evenly over data-parallel
# ranks. This folder is what notebook 4.3 pre-trains on.

# %%
from llmcourse.data import TokenShardDataset, datasets_loader, loader_throughput, make_loader, write_shards

shard_dir = cfg.scratch("shards") / "course-mix"
manifest = write_shards((text for _, text in mixture), tok, shard_dir, shard_tokens=cfg.pick(smoke=20_000,
                        laptop=250_000), val_fraction=0.1)
print({k: manifest[k] for k in ("dtype", "vocab_size", "tokens", "documents")}, len(manifest["shards"]), "shards")
train = TokenShardDataset(shard_dir, BLOCK, "train")
x, y = train[0]
print("window 0:", tok.decode(x[:24].tolist())[:80], "...")

from llmcourse.assets.artifacts import save_artifact
from llmcourse.data import ShardSet

save_artifact("pretrain-shards", ShardSet(shard_dir), notebook="4.1",
              about="the 4.1 pipeline's language mixture, tokenised with the course tokenizer",
              tokens=manifest["tokens"], alpha=0.3)

# %% [markdown]
# Same seed, same batches (with or without worker processes); a loader started at step 5
# continues exactly where step 5 of the first one is; two ranks' halves make the whole:

# %%
import torch

BATCH = 8
a = [bx for bx, _ in make_loader(train, BATCH, seed=1, steps=10)]
b = [bx for bx, _ in make_loader(train, BATCH, seed=1, steps=10, num_workers=2)]
c = [bx for bx, _ in make_loader(train, BATCH, seed=1, start_step=5, steps=10)]
halves = [[bx for bx, _ in make_loader(train, BATCH, seed=1, steps=10, rank=r, world_size=2)] for r in (0, 1)]
deterministic = all(torch.equal(p, q) for p, q in zip(a, b))
resumable = all(torch.equal(p, q) for p, q in zip(a[5:], c))
data_parallel = all(torch.equal(torch.cat([h0, h1]), full) for h0, h1, full in zip(*halves, a))
assert deterministic and resumable and data_parallel
print("deterministic:", deterministic, " resumable:", resumable, " ranks' halves = whole batch:", data_parallel)

# %% [markdown]
# Throughput in tokens per second: our memory-mapped loader (0 and 2 workers) against the
# same windows as a Hugging Face `datasets` Arrow table in torch format.

# %%
speeds = {}
for name, loader in [("ours, 0 workers", make_loader(train, 32, seed=0)),
                     ("ours, 2 workers", make_loader(train, 32, seed=0, num_workers=2)),
                     ("datasets (Arrow)", datasets_loader(train, 32, seed=0))]:
    n = min(LOADER_BATCHES, len(train) // 32 - 3) if "datasets" in name else LOADER_BATCHES
    speeds[name] = loader_throughput(loader, n)
for name, v in speeds.items():
    print(f"{name:18s} {v:12,.0f} tokens/s")
reliable, why = cfg.timing_is_reliable()
cfg.say(f"The memory-mapped loader delivers {speeds['ours, 0 workers']:,.0f} tokens/s in one process, "
        f"{speeds['ours, 0 workers'] / speeds['datasets (Arrow)']:.1f}x the datasets pipeline. Compare it with the "
        "tokens/s that training consumes in 4.2 and 4.3: while the loader is faster, it is not the bottleneck."
        + ("" if reliable else f" ({why})"))

# %%
cfg.report(**{f"cer_raw_{lang}": cer[lang]["raw OCR"] for lang in LANGS},
           **{f"cer_clean_{lang}": cer[lang]["whitespace"] for lang in LANGS},
           langid_ours_100=accuracy[("ours (Naive Bayes)", 100)], langid_langid_100=accuracy[("langid", 100)],
           langid_lingua_100=accuracy[("lingua", 100)], minhash_within_2se=inside,
           minhash_speedup_vs_datasketch=t_ds / t_ours, docs_in=report.stages["input"],
           docs_kept=report.stages["near dedup"], near_duplicates_removed=report.reasons["near duplicate"],
           exact_duplicates_removed=report.reasons["exact duplicate"], junk_left=junk_left,
           shard_train_tokens=manifest["tokens"]["train"], loader_deterministic=deterministic,
           loader_resumable=resumable, loader_data_parallel=data_parallel,
           loader_tokens_per_s=speeds["ours, 0 workers"], datasets_tokens_per_s=speeds["datasets (Arrow)"])
