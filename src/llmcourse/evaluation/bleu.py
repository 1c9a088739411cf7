"""BLEU from scratch, and the scores a translation paper reports (sacrebleu's BLEU and chrF).

BLEU (Papineni et al., 2002) asks: how many of the hypothesis' n-grams also occur in the
reference? For each order n = 1..4 it counts *clipped* matches over the whole corpus,

    p_n = sum over sentences of  sum_g min(count_hyp(g), count_ref(g))
          -----------------------------------------------------------
          sum over sentences of  (number of n-grams in the hypothesis)

(clipping stops "the the the the" from scoring on a reference with one "the"), and
combines them with a geometric mean and a *brevity penalty* for hypotheses shorter than
the references (precision alone would reward saying very little):

    BLEU = BP * exp( (1/4) * sum_n log p_n ),   BP = 1 if c > r else exp(1 - r / c)

with c and r the total hypothesis and reference lengths. Scores are usually shown x100.

chrF (Popović, 2015) is an F-score over *character* n-grams (1..6). It gives partial
credit to a word that is almost right ("Februari" vs "Febuari"), which suits languages
with rich morphology and small test sets, where BLEU's 4-gram matches are rare.

`corpus_bleu` below splits on whitespace and does no smoothing, so it equals sacrebleu
with `tokenize="none", smooth_method="none"`; `corpus_chrf` equals sacrebleu's `CHRF()`. What people report is `translation_scores`:
sacrebleu's defaults (its "13a" tokenizer, exponential smoothing) plus chrF, which makes
numbers comparable across papers.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

from llmcourse.assets.registry import require

__all__ = ["clipped_ngram_stats", "corpus_bleu", "corpus_chrf", "ngrams", "translation_scores"]


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    """Counts of the n-grams (as tuples) of a token list."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _check(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if isinstance(hyps, str) or isinstance(refs, str):
        raise TypeError("pass lists of sentences (one string per sentence), not a single string")
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references: pass one reference per hypothesis")


def clipped_ngram_stats(hyps: Sequence[str], refs: Sequence[str], n: int) -> tuple[int, int]:
    """(clipped matches, hypothesis n-grams) of order n, summed over a corpus (whitespace tokens)."""
    _check(hyps, refs)
    if n < 1:
        raise ValueError(f"n-gram order must be >= 1, got {n}")
    matches = total = 0
    for hyp, ref in zip(hyps, refs):
        h, r = ngrams(hyp.split(), n), ngrams(ref.split(), n)
        matches += sum(min(c, r[g]) for g, c in h.items())
        total += sum(h.values())
    return matches, total


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU x100 with one reference per hypothesis, whitespace tokens, no smoothing.

    Equal to `sacrebleu.metrics.BLEU(tokenize="none", smooth_method="none")`. Returns 0.0
    when some order has no match at all (the geometric mean is then 0).
    """
    _check(hyps, refs)
    c = sum(len(h.split()) for h in hyps)
    r = sum(len(x.split()) for x in refs)
    if c == 0:
        return 0.0
    log_p = 0.0
    for n in range(1, max_n + 1):
        matches, total = clipped_ngram_stats(hyps, refs, n)
        if matches == 0:
            return 0.0
        log_p += math.log(matches / total) / max_n
    bp = 1.0 if c > r else math.exp(1 - r / c)
    return 100.0 * bp * math.exp(log_p)


def corpus_chrf(hyps: Sequence[str], refs: Sequence[str], char_order: int = 6, beta: float = 2.0) -> float:
    """Corpus chrF x100 (sacrebleu's `CHRF()`): an F-beta score over character n-grams, n = 1..6.

    Spaces are removed first. Per order n, three counts are summed over the corpus: the
    hypothesis' n-grams (only for sentences whose reference has n-grams of that order), the
    reference's n-grams, and the clipped matches. Precision and recall are averaged over the
    orders where both sides have n-grams, then F_beta = (1 + b^2) P R / (b^2 P + R); beta = 2
    weighs recall twice as much as precision.
    """
    _check(hyps, refs)
    hyp_n, ref_n, match_n = [0] * char_order, [0] * char_order, [0] * char_order
    for hyp, ref in zip(hyps, refs):
        h_chars, r_chars = "".join(hyp.split()), "".join(ref.split())
        for n in range(1, char_order + 1):
            h, r = Counter(h_chars[i:i + n] for i in range(len(h_chars) - n + 1)), \
                Counter(r_chars[i:i + n] for i in range(len(r_chars) - n + 1))
            if r:  # a hypothesis n-gram counts only where the reference has n-grams of this order
                hyp_n[n - 1] += sum(h.values())
            ref_n[n - 1] += sum(r.values())
            match_n[n - 1] += sum(min(c, r[g]) for g, c in h.items())
    orders = [n for n in range(char_order) if hyp_n[n] > 0 and ref_n[n] > 0]
    if not orders:
        return 0.0
    precision = sum(match_n[n] / hyp_n[n] for n in orders) / len(orders)
    recall = sum(match_n[n] / ref_n[n] for n in orders) / len(orders)
    if precision + recall == 0:
        return 0.0
    b2 = beta ** 2
    return 100.0 * (1 + b2) * precision * recall / (b2 * precision + recall)


def translation_scores(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """sacrebleu's corpus BLEU and chrF (both 0..100) with their standard settings."""
    _check(hyps, refs)
    if not hyps:
        raise ValueError("no translations to score: pass at least one hypothesis and reference")
    metrics = require("sacrebleu.metrics", "sacrebleu")
    refs_ = [list(refs)]
    return {
        "bleu": float(metrics.BLEU().corpus_score(list(hyps), refs_).score),
        "chrf": float(metrics.CHRF().corpus_score(list(hyps), refs_).score),
    }
