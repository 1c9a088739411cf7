"""Hybrid retrieval: merge a keyword ranking (BM25) and a vector ranking by reciprocal-rank fusion.

BM25 finds exact words (names, numbers, rare terms); embeddings find meaning (paraphrases,
other languages). Their scores live on different scales, so RRF (Cormack et al., 2009)
ignores scores and adds up ranks:

    rrf(d) = sum over rankings r:  1 / (k + rank_r(d))          (rank counted from 1, k = 60)

A document near the top of either list gets a large share; one near the top of both wins.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["reciprocal_rank_fusion"]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60, top: int | None = None,
                           weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Fuse several ranked id lists (best first) into one: [(id, fused score)], best first.

    Ties keep the order in which ids were first met (the first ranking wins ties).
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        seen = set()
        for rank, doc in enumerate(ranking, start=1):
            doc = int(doc)
            if doc < 0 or doc in seen:  # -1 = no result (faiss style); a repeat counts once
                continue
            seen.add(doc)
            fused[doc] = fused.get(doc, 0.0) + w / (k + rank)
    items = sorted(fused.items(), key=lambda kv: -kv[1])  # stable: first-met order breaks ties
    return items if top is None else items[:top]
