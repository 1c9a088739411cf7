"""An inverted-file (IVF) index: search only the few clusters near the query.

Training places `nlist` centroids with k-means; every stored vector goes into the list of
its nearest centroid. A query first scores the nlist centroids (cheap: nlist << N), then
searches exactly, but only inside its `nprobe` nearest lists: about N * nprobe / nlist
vectors instead of N. The price is recall: a true neighbour that sits in a list the query
did not probe is missed. nprobe is the knob between speed and recall (faiss IndexIVFFlat).

The search is vectorised across the queries of a batch. Their (query, list) pairs are
grouped by list, so each probed list meets all the queries that probe it in one matrix
product: one Python step per list, however many queries. The scores land in a padded
(queries, candidates) matrix, and one partial sort over the whole matrix picks every
query's k best; nothing is looped over per query. The lists live in one array sorted by
list (offsets mark where each begins), the layout of faiss's inverted lists.
"""

from __future__ import annotations

import numpy as np

from llmcourse.retrieval.flat import as_matrix, check_k, check_metric, topk
from llmcourse.retrieval.kmeans import assign, kmeans

__all__ = ["IVFIndex", "ivf_search_lists"]

CANDIDATES_PER_BLOCK = 1 << 24  # candidate scores a search holds at once (16M float32: 64 MB)


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
        # 1. coarse search: the nprobe best centroids of each query
        coarse = q @ self.centroids.T  # (Q, nlist)
        if self.metric == "l2":
            coarse = np.einsum("kd,kd->k", self.centroids, self.centroids)[None] - 2 * coarse
        _, probe = topk(coarse, self.nprobe, self.metric == "ip")  # (Q, nprobe) list numbers, nearest first
        # 2-4 (fine search) run on blocks of queries, so that a block's candidates fit in a few tens of MB
        width = int(self.list_sizes()[probe].sum(1).max(initial=0))  # candidates of the busiest query
        block = max(1, CANDIDATES_PER_BLOCK // max(width, k))
        out_s = np.empty((len(q), k), dtype=np.float32)
        out_i = np.empty((len(q), k), dtype=np.int64)
        for s in range(0, len(q), block):
            out_s[s : s + block], out_i[s : s + block] = self._search_lists(q[s : s + block], probe[s : s + block], k)
        return out_s, out_i

    def _search_lists(self, q: np.ndarray, probe: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best of each query q[i] (b, D) among the vectors of its lists probe[i] (b, nprobe)."""
        largest = self.metric == "ip"
        nq, nprobe = probe.shape
        # Every candidate of query i gets a column in row i of one padded matrix, its lists side
        # by side: list probe[i, j] fills columns start[i, j] .. end[i, j]. Padding scores worst.
        sizes = self.list_sizes()[probe]  # (b, nprobe)
        end = np.cumsum(sizes, axis=1)  # (b, nprobe)
        start = end - sizes  # (b, nprobe)
        width = max(int(end[:, -1].max()), k)  # the longest row, and at least k columns
        cand = np.full((nq, width), -np.inf if largest else np.inf, dtype=np.float32)  # (b, width)
        # 2. group the (query, list) pairs by list: list l's pairs are pairs[first[l] : first[l + 1]]
        pairs = np.argsort(probe.ravel(), kind="stable")  # (b * nprobe,) pair numbers, sorted by list
        first = np.searchsorted(probe.ravel()[pairs], np.arange(self.nlist + 1)).tolist()  # (nlist + 1,)
        pair_q = pairs // nprobe  # the query of each pair
        # where each pair's scores go in the flattened candidate matrix: row * width + first column
        pair_dest = pair_q * width + start.ravel()[pairs]
        # l2 ranks by |x|^2 - 2 q.x (|q|^2 is the same for the whole row: added at the end);
        # scaling q by -2 first is exact in floating point and saves a pass over the scores
        q_pairs = (q if largest else -2 * q)[pair_q]  # (b * nprobe, D) each pair's query, sorted by list
        offsets, columns = self._offsets.tolist(), np.arange(self.list_sizes().max())
        flat = cand.reshape(-1)  # a view: writing into it fills cand
        # 3. each probed list meets all the queries that probe it in one matrix product
        for lst in np.flatnonzero(np.diff(first)).tolist():  # only the lists some query probes
            lo, hi, a, b = offsets[lst], offsets[lst + 1], first[lst], first[lst + 1]
            scores = q_pairs[a:b] @ self._data[lo:hi].T  # (q_l, n_l)
            if not largest:
                scores += self._norms[lo:hi]  # |x|^2 - 2 q.x
            flat[pair_dest[a:b, None] + columns[: hi - lo]] = scores  # each query's row, its list's columns
        # 4. the k best columns of every row, one partial sort for the whole block
        scores, col = topk(cand, k, largest)  # (b, k), (b, k)
        # a column back to a vector: the query's list that holds it (its slot), then the place in that list
        slot = (start[:, None, :] <= col[:, :, None]).sum(-1) - 1  # (b, k) the last list starting at or before col
        rows = np.arange(nq)[:, None]
        pos = self._offsets[probe[rows, slot]] + col - start[rows, slot]  # (b, k) row of the sorted store
        found = col < end[:, -1:]  # (b, k) False in padding: the lists held fewer than k vectors
        ids = np.where(found, self._ids[np.where(found, pos, 0)], -1)
        if not largest:
            scores = np.where(found, np.maximum(scores + np.einsum("qd,qd->q", q, q)[:, None], 0), np.inf)
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
