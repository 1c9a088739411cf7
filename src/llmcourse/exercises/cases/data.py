"""Exercises of notebook 4.1 (data pipeline): OCR cleaning steps, Naive Bayes language ID, MinHash, LSH,
temperature sampling, near-duplicate clusters.

Oracles: the source text the pages were typeset from (cleaning), scikit-learn's MultinomialNB
(language ID), datasketch's MinHash and LSH parameter search (dedup), the mT5 formula computed
with numpy (sampling).
"""

from __future__ import annotations

import numpy as np

from llmcourse.exercises.registry import Case, exercise

# ----------------------------------------------------------------------------- de-hyphenation


def _dehyph_all(text, lang=None):
    return text.replace("-\n", "")


def _dehyph_space(text, lang=None):
    import re

    return re.sub(r"(\w)-\n(\w)", r"\1 \2", text)


def _dehyph_capitals(text, lang=None):
    import re

    return re.sub(r"(\w)-[ \t]*\n[ \t]*(\w)", r"\1\2", text)


@exercise("data.dehyphenate", difficulty=1, minutes=10, reference="llmcourse.data.cleaning:dehyphenate",
          wrong={"removes every '-\\n', reduplications too": _dehyph_all,
                 "joins the halves with a space": _dehyph_space,
                 "also joins before a capital (a new sentence or name)": _dehyph_capitals},
          hint="re.sub on (letters)-(optional spaces)\\n(optional spaces)(lowercase letter...); keep the hyphen "
               "when lang is id/ms/tl and the second half repeats the first (anak-anak); leave Thai alone")
def _dehyphenate():
    yield Case("a word split at the line end", args=("a trans-\nformation of the", "en"),
               expected="a transformation of the")
    yield Case("spaces around the break", args=("the won- \n derful king", "en"), expected="the wonderful king")
    yield Case("a capital after the break is a new word", args=("Bernardo-\nMarcellus came", "en"),
               expected="Bernardo-\nMarcellus came")
    yield Case("Indonesian reduplication keeps its hyphen", args=("anak-\nanak bermain", "id"),
               expected="anak-anak bermain")
    yield Case("an ordinary Indonesian split", args=("pe-\nmerintah", "id"), expected="pemerintah")
    yield Case("a dash at the end of a sentence stays", args=("he said -\n\nNext", "en"),
               expected="he said -\n\nNext")


# ----------------------------------------------------------------------------- page furniture
_PAGES = ("HAMLET, PRINCE OF DENMARK\nThe first line of the text\nand the second.\n- 37 -\n\f"
          "HAMLET, PRINCE OF DENMARK\nMore text on this page\nthat ends here.\n38\n\f"
          "HAMLET, PRINCE OF DENMARK\nThe last page.\n— 39 —\n\f")


def _furniture_numbers_only(text, lang=None):
    from llmcourse.data.cleaning import is_page_number

    return "\n".join(line for page in text.split("\f") for line in page.split("\n")
                     if line.strip() and not is_page_number(line))


def _furniture_first_last(text, lang=None):
    out = []
    for page in text.split("\f"):
        lines = [line for line in page.split("\n") if line.strip()]
        out.extend(lines[1:-1])
    return "\n".join(out)


def _furniture_everywhere(text, lang=None):
    from collections import Counter

    lines = [line for page in text.split("\f") for line in page.split("\n") if line.strip()]
    counts = Counter(lines)
    return "\n".join(line for line in lines if counts[line] == 1 and not line.strip().strip("-— ").isdigit())


@exercise("data.strip_page_furniture", difficulty=2, minutes=20,
          reference="llmcourse.data.cleaning:strip_page_furniture",
          wrong={"page numbers only, headers stay": _furniture_numbers_only,
                 "drops the first and last line of every page": _furniture_first_last,
                 "drops repeated lines anywhere on the page": _furniture_everywhere},
          hint="split pages on '\\f'; look only at the first and last 2 non-empty lines of each page; drop a "
               "line there if it is a page number (is_page_number) or if the same words (digits ignored, "
               "lowercased) stand at the edge of 2+ pages; join the pages with '\\n'")
def _strip_page_furniture():
    yield Case("running header and three styles of page number", args=(_PAGES, "en"),
               expected="The first line of the text\nand the second.\nMore text on this page\nthat ends here.\n"
                        "The last page.")
    two = ("12   THE TEMPEST\nProspero speaks.\nA line that repeats\nand goes on\nto the end.\n\f"
           "THE TEMPEST   13\nMiranda answers.\nA line that repeats\nbut then\nstops.\n\f")
    yield Case("headers with their page numbers; a repeat inside the text stays", args=(two, "en"),
               expected="Prospero speaks.\nA line that repeats\nand goes on\nto the end.\nMiranda answers.\n"
                        "A line that repeats\nbut then\nstops.")
    one = "Just one page of text\nwith 12 apples in it.\n7\n"
    yield Case("one page: only the page number goes", args=(one, "en"),
               expected="Just one page of text\nwith 12 apples in it.")


# ----------------------------------------------------------------------------- Naive Bayes


def _nb_no_smoothing(X, y, n_classes, alpha=1.0):
    from llmcourse.data.langid import nb_fit

    return nb_fit(X, y, n_classes, alpha=1e-300)


def _nb_uniform_prior(X, y, n_classes, alpha=1.0):
    from llmcourse.data.langid import nb_fit

    prior, theta = nb_fit(X, y, n_classes, alpha)
    return np.full(n_classes, -np.log(n_classes)), theta


def _nb_wrong_axis(X, y, n_classes, alpha=1.0):
    X = np.asarray(X, dtype=float)
    counts = np.stack([X[np.asarray(y) == c].sum(0) for c in range(n_classes)]) + alpha
    theta = np.log(counts) - np.log(counts.sum(axis=0, keepdims=True))  # normalised over classes
    prior = np.log(np.bincount(y, minlength=n_classes) / len(y))
    return prior, theta


@exercise("data.nb_fit", difficulty=2, minutes=20, reference="llmcourse.data.langid:nb_fit",
          wrong={"no smoothing (unseen n-grams give -inf)": _nb_no_smoothing,
                 "uniform class prior": _nb_uniform_prior,
                 "theta normalised over classes, not n-grams": _nb_wrong_axis},
          hint="per class c: N_cf = sum of X over the rows of class c; theta = (N_cf + alpha) / sum_f (N_cf + alpha); "
               "return (log(class counts / N), log theta) as (C,) and (C, F) arrays")
def _nb():
    from sklearn.naive_bayes import MultinomialNB

    rng = np.random.default_rng(0)
    for n, f, c, alpha in ((12, 9, 3, 1.0), (30, 40, 4, 0.5), (7, 5, 2, 1.0)):
        X = rng.integers(0, 4, (n, f)).astype(float)
        X[:, 0] = 0  # a feature never seen: smoothing must keep it finite
        y = np.arange(n) % c
        y[: n // 3] = 0  # unbalanced classes: the prior matters
        nb = MultinomialNB(alpha=alpha).fit(X, y)
        yield Case(f"{n} docs, {f} n-grams, {c} classes, alpha={alpha}", args=(X, y, c, alpha),
                   expected=(nb.class_log_prior_, nb.feature_log_prob_), atol=1e-8, rtol=1e-8)


# ----------------------------------------------------------------------------- MinHash


def _sig_max(hashes, a, b):
    return ((hashes[:, None] * a[None, :] + b[None, :]).astype(np.uint32)).max(axis=0)


def _sig_no_wrap(hashes, a, b):
    table = hashes.astype(np.uint64)[:, None] * a.astype(np.uint64)[None, :] + b.astype(np.uint64)[None, :]
    return (table.min(axis=0) % (1 << 32)).astype(np.uint32)  # the min of unwrapped values, wrapped afterwards


def _sig_wrong_axis(hashes, a, b):
    table = hashes[:, None] * a[None, :] + b[None, :]
    return table.min(axis=1)[: len(a)].astype(np.uint32)


@exercise("data.minhash_signature", difficulty=2, minutes=15, reference="llmcourse.data.dedup:minhash_of_mixed",
          wrong={"max instead of min": _sig_max, "no wrap-around mod 2^32 before the min": _sig_no_wrap,
                 "minimum over the permutations, not the shingles": _sig_wrong_axis},
          hint="table = hashes[:, None] * a[None, :] + b[None, :] in uint32 (numpy wraps mod 2^32 by itself); "
               "the signature is table.min(axis=0): one minimum per permutation")
def _minhash():
    from datasketch import MinHash as DSMinHash

    from llmcourse.data.dedup import _fmix32, permutations, shingle_hashes

    texts = ["To be, or not to be, that is the question", "Selamat pagi, apa kabar hari ini?", "a" * 3]
    for k, (text, seed) in enumerate(zip(texts, (0, 1, 2))):
        raw = shingle_hashes(text, 5)
        a, b = permutations(64, seed)
        ds = DSMinHash(num_perm=64, seed=seed, hashfunc=lambda x: x)
        ds.update_batch([int(h) for h in raw])
        with np.errstate(over="ignore"):
            mixed = _fmix32(raw)
        yield Case(f"text {k}: datasketch's signature", args=(mixed, a, b), expected=ds.hashvalues.copy())


# ----------------------------------------------------------------------------- LSH parameters


def _lsh_threshold_rule(threshold, num_perm):
    best = min(((b, num_perm // b) for b in range(1, num_perm + 1)),
               key=lambda br: abs((1 / br[0]) ** (1 / br[1]) - threshold))
    return best


def _lsh_fixed(threshold, num_perm):
    return num_perm // 8, 8


def _lsh_fp_only(threshold, num_perm):
    from llmcourse.data.dedup import lsh_params

    return lsh_params(threshold, num_perm, fp_weight=1.0, fn_weight=0.0)


@exercise("data.lsh_params", difficulty=2, minutes=20, reference="llmcourse.data.dedup:lsh_params",
          wrong={"b, r from the rule of thumb (1/b)^(1/r) = threshold": _lsh_threshold_rule,
                 "always 8 rows per band": _lsh_fixed,
                 "false positives only": _lsh_fp_only},
          hint="for every b in 1..num_perm and r in 1..num_perm // b: fp = integral over s in [0, t] of "
               "1 - (1 - s^r)^b, fn = integral over [t, 1] of (1 - s^r)^b (scipy.integrate.quad); "
               "keep the (b, r) with the smallest 0.5 fp + 0.5 fn")
def _lsh():
    from datasketch.lsh import _optimal_param

    for t, k in ((0.8, 128), (0.5, 64), (0.9, 128), (0.7, 40)):
        yield Case(f"threshold {t}, {k} permutations", args=(t, k), expected=tuple(_optimal_param(t, k, 0.5, 0.5)),
                   compare=lambda g, e: None if tuple(g) == e else f"got (b, r) = {tuple(g)}, datasketch picks {e}")


# ----------------------------------------------------------------------------- temperature sampling


def _temp_inverse(counts, alpha=0.3):
    total = sum(counts.values())
    raw = {k: (n / total) ** (1 / alpha) for k, n in counts.items()}
    z = sum(raw.values())
    return {k: v / z for k, v in raw.items()}


def _temp_unnormalised(counts, alpha=0.3):
    total = sum(counts.values())
    return {k: (n / total) ** alpha for k, n in counts.items()}


@exercise("data.temperature_weights", difficulty=1, minutes=10, reference="llmcourse.data.mixing:temperature_weights",
          wrong={"exponent 1/alpha instead of alpha": _temp_inverse, "not normalised": _temp_unnormalised},
          hint="q_i = n_i / N; p_i = q_i ** alpha / sum_j q_j ** alpha")
def _temperature():
    cases = ({"en": 1e9, "id": 5e7, "th": 1e7, "tl": 1e6}, {"a": 3.0, "b": 1.0})
    for counts in cases:
        for alpha in (1.0, 0.7, 0.3, 0.0):
            n = np.array(list(counts.values()))
            p = (n / n.sum()) ** alpha
            yield Case(f"{len(counts)} languages, alpha={alpha}", args=(counts, alpha),
                       expected={k: float(v) for k, v in zip(counts, p / p.sum())}, atol=1e-9)


# ----------------------------------------------------------------------------- stretch: near-duplicate clusters


def _planted(seed: int = 0):
    from llmcourse.assets.multilingual import multilingual_sample

    rng = np.random.default_rng(seed)
    langs = ("en", "id", "vi")
    originals = [multilingual_sample(langs[i % 3], 900, seed=200 + i) for i in range(18)]
    texts, planted = list(originals), {}
    for i in range(0, 18, 3):
        for _ in range(1 + i % 2):
            words = originals[i].split(" ")
            for j in rng.choice(len(words), 2, replace=False):
                words[j] = "zz" + words[j]
            planted.setdefault(i, {i}).add(len(texts))
            texts.append(" ".join(words))
    # a chain: 18 ~ 19 ~ 20 by small edits: one cluster through transitivity
    base = multilingual_sample("ms", 900, seed=300).split(" ")
    for k in range(3):
        w = list(base)
        for j in range(0, 4 * k):
            w[j] = "zz" + w[j]
        texts.append(" ".join(w))
    planted[len(texts) - 3] = {len(texts) - 3, len(texts) - 2, len(texts) - 1}
    return texts, sorted(map(sorted, planted.values()))


def _nd_exact_only(texts, threshold=0.8, num_perm=128):
    from llmcourse.data.dedup import exact_duplicates

    return exact_duplicates(texts)


def _nd_with_singletons(texts, threshold=0.8, num_perm=128):
    from llmcourse.data.dedup import near_duplicates

    found = near_duplicates(texts, threshold, num_perm)
    seen = set().union(*found) if found else set()
    return found + [{i} for i in range(len(texts)) if i not in seen]


def _nd_pairs_not_merged(texts, threshold=0.8, num_perm=128):
    from llmcourse.data.dedup import MinHash, jaccard_estimate

    sigs = MinHash(num_perm).signatures(texts)
    out = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if jaccard_estimate(sigs[i], sigs[j]) >= threshold:
                out.append({i, j})
    return out


@exercise("data.near_duplicates", difficulty=3, minutes=45, stretch=True,
          reference="llmcourse.data.dedup:near_duplicates",
          wrong={"exact hashes only": _nd_exact_only, "singletons reported as clusters": _nd_with_singletons,
                 "pairs, not merged into clusters": _nd_pairs_not_merged},
          hint="MinHash every text; LSH with lsh_params(threshold, num_perm) to get candidate groups; keep a "
               "candidate pair when its estimated Jaccard >= threshold; union-find the pairs; return the "
               "components with 2+ members as sets")
def _near_dup():
    texts, planted = _planted()

    def same_clusters(fn):
        got = fn(texts, 0.8, 128)
        assert isinstance(got, list) and all(isinstance(c, set) for c in got), "return a list of sets of indices"
        got = sorted(map(sorted, got))
        assert got == planted, f"clusters {got}, planted {planted}"

    yield Case("planted copies and a chain of edits", test=same_clusters)
    yield Case("nothing to find", args=(["one text", "another text entirely", "a third"], 0.8, 128), expected=[],
               compare=lambda g, e: None if list(g) == e else f"got {g}, expected no clusters")
