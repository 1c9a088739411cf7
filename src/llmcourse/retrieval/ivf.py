"""An inverted-file (IVF) index: search only the few clusters near the query.

Training places `nlist` centroids with k-means; every stored vector goes into the list of
its nearest centroid. A query first scores the nlist centroids (cheap: nlist << N), then
searches exactly, but only inside its `nprobe` nearest lists: about N * nprobe / nlist
vectors instead of N. The price is recall: a true neighbour that sits in a list the query
did not probe is missed. nprobe is the knob between speed and recall (faiss IndexIVFFlat).

The search is vectorised list by list: the (query, list) pairs of a whole batch are grouped
by list, so each list's vectors meet all the queries that probe it in one matrix product.
The lists live in one array sorted by list (offsets mark where each begins), the layout of
faiss's inverted lists.
"""

from __future__ import annotations

import numpy as np

from llmcourse.retrieval.flat import as_matrix, check_k, check_metric, topk
from llmcourse.retrieval.kmeans import assign, kmeans

__all__ = ["IVFIndex", "ivf_search_lists"]


class IVFIndex:
    """IVF-Flat: k-means coarse quantiser + exact search in the `nprobe` nearest of `nlist` lists.

    `add` trains the quantiser on the first batch when `train` was not called (that batch
    needs at least `nlist` vectors). `search` returns (scores, ids) like FlatIndex; when the
    probed lists hold fewer than k vectors, missing slots have id -1 (as in faiss).
    """

    def __init__(self, dim: int, nlist: int = 100, nprobe: int = 8, metric: str = "l2", niter: int = 20,
                 seed: int = 0):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if not isinstance(nlist, (int, np.integer)) or nlist < 1:
            raise ValueError(f"nlist must be a positive integer, got {nlist!r}")
        self.dim, self.nlist, self.metric = int(dim), int(nlist), check_metric(metric)
        self.nprobe = nprobe
        self.niter, self.seed = niter, seed
        self.centroids: np.ndarray | None = None
        self._data = np.zeros((0, self.dim), dtype=np.float32)  # sorted by list
        self._norms = np.zeros(0, dtype=np.float32)
        self._ids = np.zeros(0, dtype=np.int64)
        self._offsets = np.zeros(self.nlist + 1, dtype=np.int64)

    @property
    def nprobe(self) -> int:
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"nprobe must be a positive integer, got {value!r}")
        self._nprobe = int(min(value, self.nlist))

    @property
    def ntotal(self) -> int:
        return len(self._ids)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def is_trained(self) -> bool:
        return self.centroids is not None

    def list_sizes(self) -> np.ndarray:
        """How many vectors each list holds (nlist,)."""
        return np.diff(self._offsets)

    def train(self, vectors) -> None:
        """Place the nlist centroids with k-means on `vectors` (at least nlist of them)."""
        x = as_matrix(vectors, self.dim)
        if len(x) < self.nlist:
            raise ValueError(f"training {self.nlist} lists needs at least {self.nlist} vectors, got {len(x)}; "
                             "lower nlist (a rule of thumb: about sqrt(N)) or add more vectors")
        if self.ntotal:
            raise ValueError("the index already holds vectors assigned to the old centroids; build a new index")
        self.centroids = kmeans(x, self.nlist, self.niter, self.seed, self.metric)

    def add(self, vectors) -> None:
        """Assign (n, dim) vectors to their lists; they get the next n ids."""
        x = as_matrix(vectors, self.dim)
        if not self.is_trained:
            self.train(x)
        labels, _ = assign(x, self.centroids, self.metric)
        new_ids = np.arange(self.ntotal, self.ntotal + len(x), dtype=np.int64)
        old_labels = np.repeat(np.arange(self.nlist), self.list_sizes())
        all_labels = np.concatenate([old_labels, labels])
        order = np.argsort(all_labels, kind="stable")  # old vectors keep their order inside a list
        data = np.concatenate([self._data, x])[order]
        ids = np.concatenate([self._ids, new_ids])[order]
        counts = np.bincount(all_labels, minlength=self.nlist)
        # only now replace the stored arrays: a failure above leaves the index as it was
        self._data, self._ids = data, ids
        self._norms = np.einsum("nd,nd->n", data, data)
        self._offsets = np.concatenate([[0], np.cumsum(counts)])

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (Q, k), best first, searching the nprobe nearest lists of each query."""
        q = as_matrix(queries, self.dim, "queries")
        k = check_k(k, self.ntotal)
        largest = self.metric == "ip"
        nq, nprobe = len(q), self.nprobe
        # 1. coarse search: the nprobe best centroids of each query
        coarse = q @ self.centroids.T  # (Q, nlist)
        if not largest:
            coarse = np.einsum("kd,kd->k", self.centroids, self.centroids)[None] - 2 * coarse
        _, probe = topk(coarse, nprobe, largest)  # (Q, nprobe)
        # 2. group the (query, slot) pairs by list
        flat = probe.ravel()
        order = np.argsort(flat, kind="stable")
        pair_q, pair_slot = order // nprobe, order % nprobe
        starts = np.searchsorted(flat[order], np.arange(self.nlist + 1))
        worst = -np.inf if largest else np.inf
        cand_s = np.full((nq, nprobe * k), worst, dtype=np.float32)
        cand_i = np.full((nq, nprobe * k), -1, dtype=np.int64)
        # 3. each probed list against all the queries that probe it, one matrix product
        for lst in np.flatnonzero(np.diff(starts)):
            lo, hi = self._offsets[lst], self._offsets[lst + 1]
            if hi == lo:
                continue
            qs, slots = pair_q[starts[lst] : starts[lst + 1]], pair_slot[starts[lst] : starts[lst + 1]]
            scores = q[qs] @ self._data[lo:hi].T  # (q_l, n_l)
            if not largest:
                scores = self._norms[None, lo:hi] - 2 * scores
            kk = min(k, hi - lo)
            best, cols = topk(scores, kk, largest)
            where = slots[:, None] * k + np.arange(kk)[None, :]  # this list's slots in the candidates
            cand_s[qs[:, None], where] = best
            cand_i[qs[:, None], where] = self._ids[lo + cols]
        # 4. merge the nprobe * k candidates of each query
        scores, cols = topk(cand_s, k, largest)
        ids = np.take_along_axis(cand_i, cols, axis=1)
        if not largest:
            scores = np.where(ids >= 0, np.maximum(scores + np.einsum("qd,qd->q", q, q)[:, None], 0), np.inf)
        return scores.astype(np.float32), ids

    def nbytes(self) -> int:
        """Memory: vectors, their norms and ids, and the centroids."""
        cents = 0 if self.centroids is None else self.centroids.nbytes
        return self._data.nbytes + self._norms.nbytes + self._ids.nbytes + self._offsets.nbytes + cents

    def __repr__(self) -> str:
        return (f"IVFIndex(dim={self.dim}, nlist={self.nlist}, nprobe={self.nprobe}, metric={self.metric!r}, "
                f"ntotal={self.ntotal})")


def ivf_search_lists(queries: np.ndarray, data: np.ndarray, centroids: np.ndarray, assignments: np.ndarray,
                     nprobe: int, k: int) -> np.ndarray:
    """IVF search spelled out (squared L2): ids (Q, k) of the k nearest among the vectors of each query's
    nprobe nearest lists (-1 where those lists hold fewer than k vectors). The exercise's reference."""
    out = np.full((len(queries), k), -1, dtype=np.int64)
    for i, q in enumerate(queries):
        to_centroids = ((centroids - q) ** 2).sum(1)
        probe = np.argsort(to_centroids, kind="stable")[:nprobe]  # the nprobe nearest lists
        cand = np.flatnonzero(np.isin(assignments, probe))  # every vector in them
        dist = ((data[cand] - q) ** 2).sum(1)
        best = cand[np.argsort(dist, kind="stable")[:k]]
        out[i, : len(best)] = best
    return out
