"""Exact nearest-neighbour search: every query against every vector, one matrix product.

A vector store answers "which k stored vectors are closest to this query?". The exact answer
compares the query with all N vectors:

    metric "ip"  score = q . x               higher is closer (cosine, for unit vectors)
    metric "l2"  score = |q - x|^2           lower is closer
                       = |q|^2 - 2 q . x + |x|^2

Both are one (Q, D) @ (D, N) matrix product, which BLAS runs near the machine's peak, plus a
partial sort (`np.partition`, O(N) per query) for the k best. That is faiss's IndexFlat;
the approximate indexes (IVF, HNSW) exist because O(N) per query stops being cheap at millions.

Every index of this package shares the checks below: a clear error for a wrong dimension, a
query before any vector is stored, k larger than the index, NaN or infinite values. A failed
`add` changes nothing: the input is checked whole before anything is stored.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FlatIndex", "METRICS", "as_matrix", "exact_ip_search", "topk"]

METRICS = ("ip", "l2")
SCORES_PER_BLOCK = 1 << 23  # scores a search holds at once (8M float32: 32 MB). Whole-batch score
# matrices (1,000 queries x 200k vectors: 800 MB per temporary) made search memory-bound and the
# first call 25x slower than the next while the OS handed out fresh pages.


def as_matrix(x, dim: int, what: str = "vectors") -> np.ndarray:
    """`x` as a C-contiguous float32 (n, dim) matrix, or a ValueError saying what is wrong."""
    arr = np.asarray(x)
    if arr.ndim == 1 and arr.size == dim:
        arr = arr[None]  # one vector: a batch of one
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a (n, {dim}) matrix, got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise ValueError(f"dimension mismatch: the index holds {dim}-d vectors but the {what} are "
                         f"{arr.shape[1]}-d (a different embedding model?)")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{what} must be numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise ValueError(f"{bad} of the {what} hold NaN or infinite values; clean them before indexing")
    return arr


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be 'ip' (inner product) or 'l2' (squared Euclidean), got {metric!r}")
    return metric


def check_k(k, ntotal: int) -> int:
    """k as an int in [1, ntotal], or a clear error (an empty index included)."""
    if ntotal == 0:
        raise ValueError("the index is empty: add(vectors) before searching")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > ntotal:
        raise ValueError(f"k={k} is larger than the index ({ntotal} vectors): ask for at most {ntotal}")
    return int(k)


def topk(scores: np.ndarray, k: int, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    """The k best columns of each row of `scores` (Q, N), best first: (scores (Q, k), columns (Q, k)).

    Vectorised over all rows, in two steps. `np.partition` moves each row's k-th best value
    into place (a partial sort of the values alone, which NumPy runs with SIMD, several times
    faster than `np.argpartition`); the entries at least that good are the row's k winners.
    Then only those k are sorted. Ties go to the lower column.
    """
    keyed = -scores if largest else scores  # from here on, smaller is better
    n_rows, n = keyed.shape
    rows = np.arange(n_rows)[:, None]  # plain fancy indexing: cheaper than take_along_axis on small rows
    if k == 1:  # the best alone: one arg-min pass (the first of equals: the lower column)
        cols = keyed.argmin(axis=1)[:, None]
    elif k < n:
        kth = np.partition(keyed, k - 1, axis=1)[:, k - 1 : k]  # (Q, 1) each row's k-th best value
        winners = np.flatnonzero(keyed <= kth)  # flat positions, row by row, k per row...
        if len(winners) > n_rows * k:  # ...or more, where others tie with the k-th: keep the lowest columns
            row = winners // n
            winners = winners[np.lexsort((winners, keyed.ravel()[winners], row))]  # by row, score, column
            winners = winners[np.arange(len(row)) - np.searchsorted(row, row) < k]  # the first k of each row
        cols = (winners % n).reshape(n_rows, k)  # (Q, k) unordered
    else:
        cols = np.broadcast_to(np.arange(n), keyed.shape)
    cols = cols[rows, np.argsort(keyed[rows, cols], axis=1, kind="stable")]  # (Q, k) best first
    return scores[rows, cols], cols


class FlatIndex:
    """Exact search over every stored vector (faiss IndexFlatIP / IndexFlatL2).

    `search` returns (scores, ids), each (Q, k), best first: inner products (descending) for
    "ip", squared distances (ascending) for "l2", like faiss. Ids count from 0 in order of `add`.
    """

    def __init__(self, dim: int, metric: str = "ip"):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim, self.metric = int(dim), check_metric(metric)
        self._blocks: list[np.ndarray] = []  # added batches, concatenated lazily
        self._data = np.zeros((0, self.dim), dtype=np.float32)
        self._norms = np.zeros(0, dtype=np.float32)  # |x|^2, for l2

    @property
    def ntotal(self) -> int:
        return len(self._data) + sum(len(b) for b in self._blocks)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def vectors(self) -> np.ndarray:
        """(N, D) float32: everything stored, in id order."""
        if self._blocks:
            self._data = np.concatenate([self._data, *self._blocks])
            self._norms = np.einsum("nd,nd->n", self._data, self._data)
            self._blocks = []
        return self._data

    def add(self, vectors) -> None:
        """Store (n, dim) vectors; they get the next n ids."""
        self._blocks.append(as_matrix(vectors, self.dim).copy())

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (Q, k) float32 / int64, best first."""
        q = as_matrix(queries, self.dim, "queries")
        k = check_k(k, self.ntotal)
        data = self.vectors
        out_s = np.empty((len(q), k), dtype=np.float32)
        out_i = np.empty((len(q), k), dtype=np.int64)
        block = max(1, SCORES_PER_BLOCK // max(self.ntotal, 1))  # queries per block
        for s in range(0, len(q), block):
            qb = q[s : s + block]
            dots = qb @ data.T  # (b, N): the whole cost of exact search
            if self.metric == "ip":
                out_s[s : s + block], out_i[s : s + block] = topk(dots, k, largest=True)
            else:
                dist = self._norms[None, :] - 2 * dots  # |q|^2 is the same for every x: add it after
                best, cols = topk(dist, k, largest=False)
                qn = np.einsum("qd,qd->q", qb, qb)[:, None]
                out_s[s : s + block], out_i[s : s + block] = np.maximum(best + qn, 0), cols
        return out_s, out_i

    def nbytes(self) -> int:
        """Memory held by the stored vectors (and their norms)."""
        return self.vectors.nbytes + self._norms.nbytes

    def __repr__(self) -> str:
        return f"FlatIndex(dim={self.dim}, metric={self.metric!r}, ntotal={self.ntotal})"


def exact_ip_search(queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Ids (Q, k) of the k largest inner products per query, best first: FlatIndex in one line of NumPy."""
    return np.argsort(-(np.asarray(queries) @ np.asarray(vectors).T), axis=1, kind="stable")[:, :k]
