"""Exercises of 8.3 RAG. Oracles: faiss (exact and IVF search), bm25s (Lucene BM25), scikit-learn's
ndcg_score, and reciprocal-rank fusion computed from its definition."""

from __future__ import annotations

import numpy as np

from llmcourse.exercises.registry import Case, exercise


def _same_ids(got, expected):
    got = np.asarray(got)
    if got.shape != expected.shape:
        return f"ids of shape {got.shape}, expected {expected.shape}"
    if not np.array_equal(got.astype(np.int64), expected):
        return f"{int((got != expected).sum())} of {expected.size} ids differ (best first, row by row)"
    return None


def _flat_ascending(queries, vectors, k):
    return np.argsort(queries @ vectors.T, axis=1)[:, :k]


def _flat_cosine(queries, vectors, k):
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.argsort(-(queries @ v.T), axis=1)[:, :k]


@exercise("retrieval.flat_search", difficulty=1, minutes=15, reference="llmcourse.retrieval.flat:exact_ip_search",
          wrong={"smallest scores first": _flat_ascending, "cosine instead of inner product": _flat_cosine},
          hint="scores = queries @ vectors.T, then the k largest per row, best first: np.argsort(-scores, axis=1)[:, :k]")
def _flat():
    faiss = __import__("faiss")
    for seed, (n, d, q, k) in enumerate([(50, 8, 3, 5), (200, 16, 10, 10)]):
        rng = np.random.default_rng(seed)
        x = (rng.standard_normal((n, d)) * rng.uniform(0.5, 2, (n, 1))).astype(np.float32)
        qs = rng.standard_normal((q, d)).astype(np.float32)
        index = faiss.IndexFlatIP(d)
        index.add(x)
        yield Case(f"N={n} D={d} k={k}", args=(qs, x, k), expected=index.search(qs, k)[1], compare=_same_ids)


def _bm25_robertson(docs, query, k1=1.5, b=0.75):
    from collections import Counter

    n, avg = len(docs), np.mean([len(d) for d in docs])
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros(n)
    for i, d in enumerate(docs):
        tf = Counter(d)
        for t in query:
            if t in df:
                idf = np.log((n - df[t] + 0.5) / (df[t] + 0.5))  # can go negative
                out[i] += idf * tf[t] / (tf[t] + k1 * (1 - b + b * len(d) / avg))
    return out


def _bm25_no_length(docs, query, k1=1.5, b=0.75):
    from llmcourse.retrieval.bm25 import BM25

    return BM25(k1, 0.0).fit(docs).scores(query)


def _bm25_k1_plus_one(docs, query, k1=1.5, b=0.75):
    from llmcourse.retrieval.bm25 import BM25

    return (k1 + 1) * BM25(k1, b).fit(docs).scores(query)


@exercise("retrieval.bm25_scores", difficulty=2, minutes=20, reference="llmcourse.retrieval.bm25:bm25_scores",
          wrong={"Robertson idf ln((N - df + .5)/(df + .5))": _bm25_robertson, "no length normalisation (b = 0)":
                 _bm25_no_length, "Okapi's (k1 + 1) factor": _bm25_k1_plus_one},
          hint="idf = ln(1 + (N - df + 0.5) / (df + 0.5)); each query token adds idf * tf / (tf + k1 * (1 - b + b * "
               "len(doc) / avgdl))")
def _bm25():
    bm25s = __import__("bm25s")
    rng = np.random.default_rng(0)
    vocab = ["rice", "noodle", "jakarta", "bangkok", "river", "the", "a", "of", "market", "temple"]
    p = np.array([6, 3, 1, 1, 2, 10, 8, 7, 2, 1], float)
    docs = [list(rng.choice(vocab, size=rng.integers(2, 15), p=p / p.sum())) for _ in range(25)]
    ref = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    ref.index(docs, show_progress=False)
    for query in (["jakarta", "market"], ["the", "rice", "rice"], ["temple"]):
        yield Case(f"query {query}", args=(docs, query), expected=ref.get_scores(query).astype(np.float64), atol=1e-6)


def _ndcg_zero_based(y_true, y_score, k):
    order = np.argsort(-y_score, axis=1)[:, :k]
    disc = 1 / np.log2(np.arange(1, k + 1) + 0.0 + 1e-12 + (np.arange(k) == 0))  # log2(i) with i from 1: 1/log2(1)...
    dcg = (np.take_along_axis(y_true, order, 1) * disc).sum(1)
    idcg = (-np.sort(-y_true, 1)[:, :k] * disc).sum(1)
    return float(np.mean(np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1), 0)))


def _ndcg_exponential(y_true, y_score, k):
    from llmcourse.retrieval.metrics import ndcg_at_k

    return ndcg_at_k(2.0 ** y_true - 1, y_score, k)


def _dcg_unnormalised(y_true, y_score, k):
    order = np.argsort(-y_score, axis=1)[:, :k]
    return float(np.mean((np.take_along_axis(y_true, order, 1) / np.log2(np.arange(2, k + 2))).sum(1)))


@exercise("retrieval.ndcg", difficulty=2, minutes=15, reference="llmcourse.retrieval.metrics:ndcg_at_k",
          wrong={"discount log2(rank) instead of log2(rank + 1)": _ndcg_zero_based,
                 "exponential gains 2^rel - 1": _ndcg_exponential, "DCG without dividing by the ideal": _dcg_unnormalised},
          hint="rank by score, DCG@k = sum gain_i / log2(i + 1) for i = 1..k; divide by the DCG of the gains sorted "
               "best first; a query with no gain scores 0; average over queries")
def _ndcg():
    from sklearn.metrics import ndcg_score

    for seed, k in [(0, 3), (1, 5), (2, 10)]:
        rng = np.random.default_rng(seed)
        y_true = rng.integers(0, 4, size=(6, 10)).astype(float)
        y_score = rng.standard_normal((6, 10))
        yield Case(f"6 queries, k={k}", args=(y_true, y_score, k), expected=float(ndcg_score(y_true, y_score, k=k)),
                   atol=1e-9)


def _rrf_zero_based(rankings, k=60):
    fused = {}
    for ranking in rankings:
        for rank, d in enumerate(ranking):  # counts ranks from 0
            fused[d] = fused.get(d, 0.0) + 1 / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])


def _rrf_borda(rankings, k=60):
    fused = {}
    for ranking in rankings:
        for rank, d in enumerate(ranking, 1):
            fused[d] = fused.get(d, 0.0) + (len(ranking) - rank)  # Borda count, not reciprocal ranks
    return sorted(fused.items(), key=lambda kv: -kv[1])


def _compare_fused(got, expected):
    got = [(int(d), float(s)) for d, s in got]
    if [d for d, _ in got] != [d for d, _ in expected]:
        return f"order {[d for d, _ in got]}, expected {[d for d, _ in expected]}"
    if not np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-12):
        return "the fused scores differ from sum 1 / (k + rank), ranks counted from 1"
    return None


@exercise("retrieval.rrf", difficulty=1, minutes=10, reference="llmcourse.retrieval.hybrid:reciprocal_rank_fusion",
          wrong={"ranks counted from 0": _rrf_zero_based, "Borda count instead of 1 / (k + rank)": _rrf_borda},
          hint="for each ranking, each id at rank r (from 1) adds 1 / (k + r); sort by the sum, largest first")
def _rrf():
    cases = [([[3, 1, 2], [1, 4, 3]], 60), ([[10, 11], [12, 10], [11, 13, 10]], 2)]
    for rankings, k in cases:
        scores: dict[int, float] = {}
        for ranking in rankings:  # the definition (Cormack et al., 2009), written out
            for rank, d in enumerate(ranking, start=1):
                scores[d] = scores.get(d, 0.0) + 1.0 / (k + rank)
        expected = sorted(scores.items(), key=lambda kv: (-kv[1], list(scores).index(kv[0])))
        yield Case(f"{len(rankings)} rankings, k={k}", args=(rankings, k), expected=expected, compare=_compare_fused)


def _ivf_one_list(queries, data, centroids, assignments, nprobe, k):
    from llmcourse.retrieval.ivf import ivf_search_lists

    return ivf_search_lists(queries, data, centroids, assignments, 1, k)


def _ivf_farthest_lists(queries, data, centroids, assignments, nprobe, k):
    from llmcourse.retrieval.ivf import ivf_search_lists

    flipped = -centroids + 2 * centroids.mean(0)  # probes the lists on the other side
    return ivf_search_lists(queries, data, flipped, assignments, nprobe, k)


@exercise("retrieval.ivf_search", difficulty=3, minutes=40, stretch=True,
          reference="llmcourse.retrieval.ivf:ivf_search_lists",
          wrong={"probes one list whatever nprobe": _ivf_one_list, "probes the farthest lists": _ivf_farthest_lists},
          hint="per query: squared distances to the centroids, the nprobe nearest lists, every vector assigned to them, "
               "the k nearest of those (squared L2), -1 for missing slots")
def _ivf():
    faiss = __import__("faiss")
    for seed, (n, d, nlist, nprobe, k) in enumerate([(400, 8, 16, 3, 5), (1000, 12, 32, 6, 10)]):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, d)).astype(np.float32)
        q = rng.standard_normal((8, d)).astype(np.float32)
        km = faiss.Kmeans(d, nlist, niter=10, seed=seed)
        km.train(x)
        quant = faiss.IndexFlatL2(d)
        quant.add(km.centroids)
        index = faiss.IndexIVFFlat(quant, d, nlist)
        index.add(x)
        index.nprobe = nprobe
        assignments = quant.search(x, 1)[1][:, 0]
        yield Case(f"N={n} nlist={nlist} nprobe={nprobe}", args=(q, x, km.centroids, assignments, nprobe, k),
                   expected=index.search(q, k)[1], compare=_same_ids)
