"""How good is a ranking? recall@k, MRR and nDCG for retrieval, and recall against exact search.

For one query with a ranked list of ids and the set of relevant ids:

    recall@k   = |relevant in the top k| / |relevant|
    MRR        = 1 / rank of the first relevant result (0 if none), averaged over queries
    nDCG@k     = DCG@k / IDCG@k,   DCG@k = sum_{i<=k} gain_i / log2(i + 1)

nDCG rewards putting the most relevant things first; IDCG is the DCG of the perfect order,
so 1.0 is perfect. `ndcg_at_k` takes true gains and predicted scores like scikit-learn's
`ndcg_score` (linear gains) and equals it when the scores have no ties.

`knn_recall` is the measure of an approximate index: the share of the exact top k that it
also returns (recall@10 "against exact search").
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

__all__ = ["knn_recall", "mean_reciprocal_rank", "ndcg_at_k", "recall_at_k"]


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def recall_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[Iterable[int]], k: int) -> float:
    """Mean over queries of the share of each query's relevant ids found in its top k."""
    k = _check_k(k)
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} rankings but {len(relevant)} relevance sets")
    out = []
    for ids, rel in zip(ranked, relevant):
        rel = set(rel)
        if not rel:
            raise ValueError("a query has no relevant document: recall is undefined; drop it from the evaluation")
        out.append(len(rel & set(list(ids)[:k])) / len(rel))
    return float(np.mean(out)) if out else 0.0


def mean_reciprocal_rank(ranked: Sequence[Sequence[int]], relevant: Sequence[Iterable[int]]) -> float:
    """Mean over queries of 1 / (rank of the first relevant id), 0 when none is ranked."""
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} rankings but {len(relevant)} relevance sets")
    out = []
    for ids, rel in zip(ranked, relevant):
        rel = set(rel)
        rr = 0.0
        for rank, i in enumerate(ids, start=1):
            if i in rel:
                rr = 1.0 / rank
                break
        out.append(rr)
    return float(np.mean(out)) if out else 0.0


def ndcg_at_k(y_true, y_score, k: int | None = None) -> float:
    """Mean nDCG@k over queries: y_true (Q, N) gains >= 0, y_score (Q, N) predicted scores.

    Rank each row by score (descending), DCG = sum gain / log2(rank + 1) over the top k,
    divided by the DCG of the ideal order. Rows whose gains are all 0 score 0 (scikit-learn's
    convention).
    """
    y_true, y_score = np.asarray(y_true, dtype=np.float64), np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_score.shape:
        raise ValueError(f"y_true and y_score must both be (queries, documents), got {y_true.shape} and {y_score.shape}")
    if (y_true < 0).any():
        raise ValueError("gains must be >= 0")
    n = y_true.shape[1]
    k = n if k is None else min(_check_k(k), n)
    discount = 1.0 / np.log2(np.arange(2, k + 2))  # (k,) positions 1..k
    order = np.argsort(-y_score, axis=1, kind="stable")[:, :k]
    dcg = (np.take_along_axis(y_true, order, axis=1) * discount).sum(1)
    ideal = (-np.sort(-y_true, axis=1)[:, :k] * discount).sum(1)
    ok = ideal > 0
    out = np.zeros(len(y_true))
    out[ok] = dcg[ok] / ideal[ok]
    return float(out.mean())


def knn_recall(found_ids: np.ndarray, true_ids: np.ndarray, k: int | None = None) -> float:
    """Share of the exact top-k neighbours (true_ids (Q, >=k)) found among found_ids[:, :k]."""
    found_ids, true_ids = np.asarray(found_ids), np.asarray(true_ids)
    k = found_ids.shape[1] if k is None else _check_k(k)
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found_ids, true_ids)]
    return float(np.sum(hits) / (len(true_ids) * k))
