"""HNSW: a navigable small-world graph in layers (Malkov & Yashunin, 2016), from scratch.

Every vector is a node. Each node links to a few near neighbours (at most M per layer, 2M
on the bottom layer), and a search walks the graph greedily towards the query:

    layer 2   o-----------------o                 few nodes, long jumps
    layer 1   o-----o-----o-----o-----o
    layer 0   o-o-o-o-o-o-o-o-o-o-o-o-o-o-o-o     every node, short links

A node's top layer is drawn at random, P(level >= l) = M^-l, so each layer up holds about
1/M of the one below: a skip list made of graphs. A query enters at the top, walks greedily
down to the closest node it can find on each layer, then on layer 0 runs a *beam search*:
it keeps the `ef` closest nodes seen so far (a max-heap) and expands the closest unexpanded
candidate (a min-heap) until no candidate can improve the beam. `ef_search` is the knob
between recall and speed; `ef_construction` is the same beam when inserting.

Inserting a node = searching for it, then linking it to neighbours chosen by the *heuristic*
of the paper (and faiss, hnswlib): walk the candidates from nearest to farthest and keep one
only if it is closer to the new node than to every neighbour already kept. The links then
point in different directions, which keeps clusters connected to each other. A neighbour
whose list overflows re-selects its own links with the same rule.

The graph code is plain Python on NumPy arrays (heaps from `heapq`), compiled by numba when
it is installed (librosa brings it), so it runs near C speed; without numba the same code
runs, slowly.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from llmcourse.retrieval.flat import as_matrix, check_k, check_metric

try:  # numba compiles the functions below; without it they run as plain Python
    from numba import njit
except ImportError:  # pragma: no cover
    def njit(*args, **kwargs):
        return args[0] if args and callable(args[0]) else (lambda f: f)

__all__ = ["HNSWIndex"]

L2, IP = 0, 1
MAX_LEVEL = 12  # P(level >= 12) = M^-12: never reached in practice


# ----------------------------------------------------------------------------- graph kernels
@njit(cache=True)
def _dist(q, data, j, metric):
    """Distance from vector q to node j: squared L2, or minus the inner product (smaller = closer)."""
    s = 0.0
    if metric == L2:
        for t in range(q.shape[0]):
            d = q[t] - data[j, t]
            s += d * d
        return s
    for t in range(q.shape[0]):
        s += q[t] * data[j, t]
    return -s


@njit(cache=True)
def _links(node, level, links0, n0, slot, links_up, n_up):
    """The neighbour ids of `node` on `level` (a view)."""
    if level == 0:
        return links0[node, : n0[node]]
    s = slot[node]
    return links_up[s, level - 1, : n_up[s, level - 1]]


@njit(cache=True)
def _greedy(q, ep, d_ep, level, data, metric, links0, n0, slot, links_up, n_up):
    """Walk to the neighbour closest to q while that gets closer (the upper layers)."""
    changed = True
    while changed:
        changed = False
        for nb in _links(ep, level, links0, n0, slot, links_up, n_up):
            d = _dist(q, data, nb, metric)
            if d < d_ep:
                ep, d_ep, changed = nb, d, True
    return ep, d_ep


@njit(cache=True)
def _search_layer(q, ep, d_ep, ef, level, data, metric, links0, n0, slot, links_up, n_up, visited, tag):
    """Beam search on one layer from entry ep: the <= ef closest nodes found, (dists, ids) ascending."""
    candidates = [(d_ep, np.int64(ep))]  # min-heap: closest unexpanded first
    beam = [(-d_ep, np.int64(ep))]  # max-heap (negated): the farthest of the beam on top
    visited[ep] = tag
    while len(candidates) > 0:
        d_c, c = heapq.heappop(candidates)
        if d_c > -beam[0][0] and len(beam) >= ef:
            break  # the closest candidate is farther than the whole beam: nothing can improve
        for nb in _links(c, level, links0, n0, slot, links_up, n_up):
            if visited[nb] == tag:
                continue
            visited[nb] = tag
            d = _dist(q, data, nb, metric)
            if len(beam) < ef or d < -beam[0][0]:
                heapq.heappush(candidates, (d, np.int64(nb)))
                heapq.heappush(beam, (-d, np.int64(nb)))
                if len(beam) > ef:
                    heapq.heappop(beam)
    n = len(beam)
    dists, ids = np.empty(n, dtype=np.float64), np.empty(n, dtype=np.int64)
    for i in range(n):
        dists[i], ids[i] = -beam[i][0], beam[i][1]
    order = np.argsort(dists)
    return dists[order], ids[order]


@njit(cache=True)
def _heuristic(cand_d, cand_i, m, data, metric):
    """Keep up to m of the candidates (sorted nearest first): one is kept only if it is closer
    to the base node than to every neighbour kept so far (links that point different ways)."""
    kept = np.empty(m, dtype=np.int64)
    n = 0
    for a in range(cand_i.shape[0]):
        e = cand_i[a]
        good = True
        for b in range(n):
            if _dist(data[e], data, kept[b], metric) < cand_d[a]:
                good = False
                break
        if good:
            kept[n] = e
            n += 1
            if n == m:
                break
    return kept[:n]


@njit(cache=True)
def _set_links(node, level, new, links0, n0, slot, links_up, n_up):
    if level == 0:
        links0[node, : new.shape[0]] = new
        n0[node] = new.shape[0]
    else:
        s = slot[node]
        links_up[s, level - 1, : new.shape[0]] = new
        n_up[s, level - 1] = new.shape[0]


@njit(cache=True)
def _add_link(src, dst, level, max_m, data, metric, links0, n0, slot, links_up, n_up):
    """Link src -> dst; when src's list is full, re-select its links with the heuristic."""
    cur = _links(src, level, links0, n0, slot, links_up, n_up)
    k = cur.shape[0]
    if k < max_m:
        if level == 0:
            links0[src, k] = dst
            n0[src] = k + 1
        else:
            links_up[slot[src], level - 1, k] = dst
            n_up[slot[src], level - 1] = k + 1
        return
    cand_i = np.empty(k + 1, dtype=np.int64)
    cand_d = np.empty(k + 1, dtype=np.float64)
    for a in range(k):
        cand_i[a] = cur[a]
    cand_i[k] = dst
    for a in range(k + 1):
        cand_d[a] = _dist(data[src], data, cand_i[a], metric)
    order = np.argsort(cand_d)
    kept = _heuristic(cand_d[order], cand_i[order], max_m, data, metric)
    _set_links(src, level, kept, links0, n0, slot, links_up, n_up)


@njit(cache=True)
def _insert_range(start, end, levels, data, metric, m, ef_construction, links0, n0, slot, links_up, n_up,
                  visited, state):
    """Insert nodes start..end-1 (vectors already in `data`). state = [entry, max_level, visit tag]."""
    for node in range(start, end):
        level = levels[node]
        if state[0] < 0:  # the very first node: the entry point, no links yet
            state[0], state[1] = node, level
            continue
        q = data[node]
        ep = state[0]
        d_ep = _dist(q, data, ep, metric)
        for lev in range(state[1], level, -1):  # upper layers: greedy
            ep, d_ep = _greedy(q, ep, d_ep, lev, data, metric, links0, n0, slot, links_up, n_up)
        for lev in range(min(level, state[1]), -1, -1):
            state[2] += 1
            dists, ids = _search_layer(q, ep, d_ep, ef_construction, lev, data, metric, links0, n0, slot,
                                       links_up, n_up, visited, state[2])
            chosen = _heuristic(dists, ids, m, data, metric)
            _set_links(node, lev, chosen, links0, n0, slot, links_up, n_up)
            max_m = 2 * m if lev == 0 else m
            for nb in chosen:
                _add_link(nb, node, lev, max_m, data, metric, links0, n0, slot, links_up, n_up)
            ep, d_ep = ids[0], dists[0]
        if level > state[1]:
            state[0], state[1] = node, level


@njit(cache=True)
def _search_many(queries, k, ef, data, metric, links0, n0, slot, links_up, n_up, visited, state):
    """Top-k (dists, ids) of each query: greedy down the upper layers, beam search on layer 0."""
    nq = queries.shape[0]
    out_d = np.full((nq, k), np.inf)
    out_i = np.full((nq, k), -1, dtype=np.int64)
    for i in range(nq):
        q = queries[i]
        ep = state[0]
        d_ep = _dist(q, data, ep, metric)
        for lev in range(state[1], 0, -1):
            ep, d_ep = _greedy(q, ep, d_ep, lev, data, metric, links0, n0, slot, links_up, n_up)
        state[2] += 1
        dists, ids = _search_layer(q, ep, d_ep, max(ef, k), 0, data, metric, links0, n0, slot, links_up, n_up,
                                   visited, state[2])
        n = min(k, ids.shape[0])
        out_d[i, :n], out_i[i, :n] = dists[:n], ids[:n]
    return out_d, out_i


# ----------------------------------------------------------------------------- the index
class HNSWIndex:
    """Hierarchical navigable small-world graph index (faiss IndexHNSWFlat, hnswlib).

    M links per node (2M on layer 0), beams of ef_construction when inserting and
    ef_search (settable) when searching. `search` returns (scores, ids) like FlatIndex:
    squared distances ascending ("l2") or inner products descending ("ip").
    """

    def __init__(self, dim: int, M: int = 16, ef_construction: int = 200, ef_search: int = 64,
                 metric: str = "l2", seed: int = 0):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        for name, value in (("M", M), ("ef_construction", ef_construction), ("ef_search", ef_search)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (2 if name == "M" else 1):
                raise ValueError(f"{name} must be a positive integer (M >= 2), got {value!r}")
        self.dim, self.M, self.metric = int(dim), int(M), check_metric(metric)
        self.ef_construction, self.ef_search = int(ef_construction), int(ef_search)
        self._metric_code = IP if metric == "ip" else L2
        self._rng = np.random.default_rng(seed)
        self._ml = 1.0 / math.log(self.M)  # level multiplier: P(level >= l) = M^-l
        self._n = 0
        self._n_up = 0  # nodes with a layer above 0
        self._state = np.array([-1, -1, 0], dtype=np.int64)  # entry point, top level, visit tag
        self._alloc(0, 0)

    def _alloc(self, cap: int, cap_up: int) -> None:
        """(Re)allocate the arrays for `cap` nodes (`cap_up` with upper layers), keeping what is stored."""
        old = getattr(self, "_data", None)

        def grow(name, shape, dtype, fill):
            new = np.full(shape, fill, dtype=dtype)
            if old is not None:
                prev = getattr(self, name)
                new[tuple(slice(0, s) for s in prev.shape)] = prev
            setattr(self, name, new)

        grow("_data", (cap, self.dim), np.float32, 0)
        grow("_levels", (cap,), np.int64, 0)
        grow("_links0", (cap, 2 * self.M), np.int64, -1)
        grow("_count0", (cap,), np.int64, 0)
        grow("_slot", (cap,), np.int64, -1)
        grow("_visited", (cap,), np.int64, 0)
        grow("_links_up", (cap_up, MAX_LEVEL, self.M), np.int64, -1)
        grow("_count_up", (cap_up, MAX_LEVEL), np.int64, 0)

    @property
    def ntotal(self) -> int:
        return self._n

    def __len__(self) -> int:
        return self._n

    @property
    def max_level(self) -> int:
        return int(self._state[1])

    def add(self, vectors, progress: bool = False, chunk: int = 2000) -> None:
        """Insert (n, dim) vectors one by one into the graph; they get the next n ids."""
        x = as_matrix(vectors, self.dim)
        n = len(x)
        if n == 0:
            return
        levels = np.minimum((-np.log(1.0 - self._rng.random(n)) * self._ml).astype(np.int64), MAX_LEVEL)
        up = int((levels > 0).sum())
        start = self._n
        if start + n > len(self._data) or self._n_up + up > len(self._links_up):
            self._alloc(max(start + n, 2 * len(self._data)), max(self._n_up + up, 2 * len(self._links_up)))
        self._data[start : start + n] = x
        self._levels[start : start + n] = levels
        upper = start + np.flatnonzero(levels > 0)
        self._slot[upper] = np.arange(self._n_up, self._n_up + up)
        self._n_up += up
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="HNSW insert", disable=not progress, mininterval=0.5)
        for s in range(start, start + n, chunk):
            e = min(s + chunk, start + n)
            _insert_range(s, e, self._levels, self._data, self._metric_code, self.M, self.ef_construction,
                          self._links0, self._count0, self._slot, self._links_up, self._count_up, self._visited,
                          self._state)
            self._n = e
            bar.update(e - s)
        bar.close()

    def search(self, queries, k: int, ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (Q, k), best first; beam width max(ef_search, k)."""
        q = as_matrix(queries, self.dim, "queries")
        k = check_k(k, self._n)
        ef = self.ef_search if ef_search is None else int(ef_search)
        if ef < 1:
            raise ValueError(f"ef_search must be a positive integer, got {ef_search!r}")
        dists, ids = _search_many(q, k, ef, self._data, self._metric_code, self._links0, self._count0, self._slot,
                                  self._links_up, self._count_up, self._visited, self._state)
        scores = -dists if self.metric == "ip" else dists
        return scores.astype(np.float32), ids

    def degree_stats(self) -> dict:
        """Links per node on layer 0 (mean, max) and how many nodes sit on each layer."""
        counts = self._count0[: self._n]
        per_layer = np.bincount(self._levels[: self._n], minlength=self.max_level + 1)
        layers = [int(per_layer[l:].sum()) for l in range(self.max_level + 1)]
        return {"mean_degree0": float(counts.mean()) if self._n else 0.0, "max_degree0": int(counts.max(initial=0)),
                "nodes_per_layer": layers}

    def nbytes(self) -> int:
        """Memory of the used part: vectors, links, levels."""
        n, nu = self._n, self._n_up
        per_node = self.dim * 4 + 2 * self.M * 8 + 8 * 4
        return n * per_node + nu * MAX_LEVEL * (self.M + 1) * 8

    def __repr__(self) -> str:
        return (f"HNSWIndex(dim={self.dim}, M={self.M}, ef_construction={self.ef_construction}, "
                f"ef_search={self.ef_search}, metric={self.metric!r}, ntotal={self.ntotal})")
