"""k-means from scratch, vectorised: the coarse quantiser of an IVF index.

Lloyd's algorithm alternates two steps until the centroids stop moving:

    assign   each point goes to its nearest centroid     (one (n, D) @ (D, k) product)
    update   each centroid moves to the mean of its points (np.add.at, no Python loop)

It starts from k distinct points drawn at random (faiss's choice too), trains on at most
`max_points_per_centroid * k` of them (more adds time, not quality: faiss keeps 256 per
centroid), and re-seeds an empty cluster by splitting the largest one in two, as faiss does:
a centroid that owns nothing would be a list that never fills.
"""

from __future__ import annotations

import numpy as np

__all__ = ["assign", "kmeans"]


def assign(x: np.ndarray, centroids: np.ndarray, metric: str = "l2", block: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each row of x: (labels (n,), scores (n,)); l2 scores are squared distances."""
    labels = np.empty(len(x), dtype=np.int64)
    scores = np.empty(len(x), dtype=np.float32)
    c_norm = np.einsum("kd,kd->k", centroids, centroids)
    for s in range(0, len(x), block):
        dots = x[s : s + block] @ centroids.T  # (b, k)
        if metric == "ip":
            labels[s : s + block] = dots.argmax(1)
            scores[s : s + block] = dots.max(1)
        else:
            dist = c_norm[None, :] - 2 * dots  # |x|^2 left out: the same for every centroid
            best = dist.argmin(1)
            xb = x[s : s + block]
            labels[s : s + block] = best
            scores[s : s + block] = np.maximum(dist[np.arange(len(best)), best] + np.einsum("bd,bd->b", xb, xb), 0)
    return labels, scores


def kmeans(x: np.ndarray, k: int, niter: int = 20, seed: int = 0, metric: str = "l2",
           max_points_per_centroid: int = 256, tol: float = 1e-4, init: np.ndarray | None = None) -> np.ndarray:
    """(k, D) float32 centroids of the rows of x (n, D), n >= k.

    metric "ip" assigns by inner product and keeps centroids at unit length (spherical
    k-means), the right quantiser for normalised embeddings searched by cosine.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, _ = x.shape
    if k < 1 or n < k:
        raise ValueError(f"k-means needs at least k={k} points to place k centroids, got {n}")
    rng = np.random.default_rng(seed)
    if n > max_points_per_centroid * k:  # a sample is enough to place the centroids
        x = x[rng.choice(n, max_points_per_centroid * k, replace=False)]
        n = len(x)
    if init is not None:
        centroids = np.array(init, dtype=np.float32)
        if centroids.shape != (k, x.shape[1]):
            raise ValueError(f"init must be ({k}, {x.shape[1]}), got {centroids.shape}")
    else:
        centroids = x[rng.choice(n, k, replace=False)].copy()  # k distinct points
    prev = np.inf
    for _ in range(niter):
        labels, scores = assign(x, centroids, metric)
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)  # scatter-add each point into its centroid's row
        nonempty = counts > 0
        centroids[nonempty] = sums[nonempty] / counts[nonempty, None]
        for empty in np.flatnonzero(~nonempty):  # split the largest cluster in two
            big = int(np.argmax(counts))
            jitter = 1e-3 * rng.standard_normal(centroids.shape[1]).astype(np.float32)
            centroids[empty], centroids[big] = centroids[big] + jitter, centroids[big] - jitter
            counts[empty] = counts[big] // 2
            counts[big] -= counts[empty]
        if metric == "ip":
            centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        objective = float(scores.sum())
        if np.isfinite(prev) and abs(prev - objective) <= tol * abs(prev):
            break
        prev = objective
    return centroids.astype(np.float32)
