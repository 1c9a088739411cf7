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
with `tokenize="none", smooth_method="none"`. What people report is `translation_scores`:
sacrebleu's defaults (its "13a" tokenizer, exponential smoothing) plus chrF, which makes
numbers comparable across papers.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

from llmcourse.assets.registry import require


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
