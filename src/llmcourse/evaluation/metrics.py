"""Metrics for generated text: reference-based (EM, BLEU, chrF, ROUGE-L, embeddings) and perplexity.

Reference-based metrics compare an output with a gold reference:

* **exact match**: equal after normalising case, punctuation and spaces. Strict: right
  answers phrased differently score 0.
* **BLEU / chrF** (sacrebleu, as in `llmcourse.evaluation.bleu`): n-gram overlap of words /
  characters. chrF gives partial credit for near words, which suits Indonesian morphology.
* **ROUGE-L** (summarisation): the longest common subsequence (LCS) of the two token lists;
  precision = LCS / len(output), recall = LCS / len(reference), F1 of the two. Tokens as
  `rouge-score` makes them: lowercase, runs of [a-z0-9] (so, like it, it sees no Thai).
* **embedding similarity**: cosine of sentence embeddings (MiniLM for English, multilingual
  e5 for the region): meaning rather than wording — but "5 Maret" and "6 Maret" embed alike.

A reference-free metric needs no gold answer: **perplexity** (how surprised a language model
is by the output; fluent text scores low whether or not it is right). The LLM judge and
self-consistency live in `llmcourse.evaluation.judge`.
"""

from __future__ import annotations

import math
import re
import string
from typing import Sequence

import numpy as np

__all__ = ["exact_match", "rouge_l", "rouge_l_f1", "rouge_tokens", "lcs_length", "sentence_bleu", "sentence_chrf",
           "embedding_similarity", "perplexity", "metric_correlations"]

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}“”‘’«»。、]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _normalise(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def exact_match(pred: str, ref: str) -> float:
    """1.0 when equal after lowercasing and removing punctuation and extra spaces, else 0.0."""
    return float(_normalise(pred) == _normalise(ref))


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenizer: lowercase, every run of [a-z0-9] is a token."""
    return [t for t in _NON_ALNUM.sub(" ", text.lower()).split() if t]


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, by dynamic programming in O(len(a) * len(b))."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(pred: str, ref: str) -> dict[str, float]:
    """ROUGE-L precision, recall and F1 of one output against one reference (equal to rouge-score's)."""
    p, r = rouge_tokens(pred), rouge_tokens(ref)
    if not p or not r:
        return {"precision": 0.0, "recall": 0.0, "fmeasure": 0.0}
    lcs = lcs_length(r, p)
    precision, recall = lcs / len(p), lcs / len(r)
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "fmeasure": f}


def rouge_l_f1(pred: str, ref: str) -> float:
    """ROUGE-L F1 alone (what summarisation papers report)."""
    return rouge_l(pred, ref)["fmeasure"]


def sentence_bleu(pred: str, ref: str) -> float:
    """sacrebleu's sentence BLEU (0..100, exponential smoothing: short sentences are not all zero)."""
    from sacrebleu.metrics import BLEU

    return float(BLEU(effective_order=True).sentence_score(pred, [ref]).score)


def sentence_chrf(pred: str, ref: str) -> float:
    """sacrebleu's chrF (0..100) of one output."""
    from sacrebleu.metrics import CHRF

    return float(CHRF().sentence_score(pred, [ref]).score)


_ENCODERS: dict[str, object] = {}


def embedding_similarity(preds: Sequence[str], refs: Sequence[str], encoder: str = "e5") -> np.ndarray:
    """Cosine similarity of each output with its reference: "minilm" (English) or "e5" (multilingual)."""
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} outputs but {len(refs)} references")
    if encoder not in _ENCODERS:
        from llmcourse.embeddings.encoders import E5Encoder, MiniLMEncoder

        if encoder not in ("minilm", "e5"):
            raise ValueError(f"encoder must be 'minilm' or 'e5', got {encoder!r}")
        _ENCODERS[encoder] = MiniLMEncoder() if encoder == "minilm" else E5Encoder()
    enc = _ENCODERS[encoder]
    a, b = enc.embed(list(preds)), enc.embed(list(refs))
    a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=1, keepdims=True).clip(1e-12)
    return (a * b).sum(1)


def perplexity(lm, texts: Sequence[str], context: str = "") -> np.ndarray:
    """Per-text perplexity exp(mean negative log-likelihood per token) of `texts` after `context`.

    Without a context the first word is the context (a model needs something to condition on).
    """
    requests = []
    for t in texts:
        if context:
            requests.append((context, t))
        else:
            head, _, tail = t.partition(" ")
            requests.append((head, " " + tail) if tail else (" ", t))
    scores = lm.loglikelihood(requests)
    out = []
    for (ctx, cont), (ll, _) in zip(requests, scores):
        n = len(lm.encode_pair(ctx, cont)[1])
        out.append(math.exp(-ll / max(1, n)))
    return np.asarray(out)


def metric_correlations(scores: dict[str, Sequence[float]], correct: Sequence[int]) -> list[dict]:
    """For each metric: Spearman correlation and ROC AUC of its score with correctness (0/1).

    Pass scores where higher should mean better (give minus the perplexity, for instance).
    AUC = the chance that a correct output outscores an incorrect one (0.5 = no better than a coin).
    A slow metric may score only some outputs: NaN marks the others, and its row is measured on
    the `n` it scored (NaN where those are all right or all wrong).
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    y_all = np.asarray(correct)
    if len(set(y_all.tolist())) < 2:
        raise ValueError("correctness must contain both 0 and 1 to correlate with")
    rows = []
    for name, values in scores.items():
        v = np.asarray(values, dtype=float)
        if v.shape != y_all.shape:
            raise ValueError(f"metric {name!r} has {v.size} scores for {y_all.size} outputs")
        seen = ~np.isnan(v)
        v, y = v[seen], y_all[seen]
        if len(set(y.tolist())) < 2:
            rows.append({"metric": name, "spearman": math.nan, "auc": math.nan, "n": int(seen.sum())})
            continue
        rho = float(spearmanr(v, y).statistic) if np.std(v) > 0 else 0.0
        auc = float(roc_auc_score(y, v)) if np.std(v) > 0 else 0.5
        rows.append({"metric": name, "spearman": rho, "auc": auc, "n": int(seen.sum())})
    return sorted(rows, key=lambda r: 1.0 if math.isnan(r["spearman"]) else -abs(r["spearman"]))  # NaN rows last
