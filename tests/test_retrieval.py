"""Vector indexes from scratch against faiss (Flat, IVFFlat, HNSW) and LanceDB, and their bad input."""

import numpy as np
import pytest

from llmcourse.retrieval import FlatIndex, HNSWIndex, IVFIndex, LanceStore, SchemaMismatchError, kmeans, knn_recall

faiss = pytest.importorskip("faiss")


def clustered(n, d, centers=20, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, d)).astype(np.float32) * 3
    return (c[rng.integers(centers, size=n)] + rng.standard_normal((n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    x = clustered(3000, 24)
    q = clustered(60, 24, seed=1)
    return x, q


@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_flat_equals_faiss_flat(data, metric, blocked, monkeypatch):
    x, q = data
    if blocked:  # blocks of 7 queries (the last one shorter), as a large index gets
        monkeypatch.setattr("llmcourse.retrieval.flat.SCORES_PER_BLOCK", 7 * len(x))
    ours = FlatIndex(24, metric)
    ours.add(x[:1000])
    ours.add(x[1000:])  # two batches: ids continue
    ref = faiss.IndexFlatIP(24) if metric == "ip" else faiss.IndexFlatL2(24)
    ref.add(x)
    s, i = ours.search(q, 10)
    fs, fi = ref.search(q, 10)
    assert np.array_equal(i, fi)
    assert np.allclose(s, fs, rtol=1e-4, atol=1e-3)
    assert s.dtype == np.float32 and i.dtype == np.int64


def test_kmeans_equals_sklearn_lloyd_from_the_same_start(data):
    from sklearn.cluster import KMeans

    x, _ = data
    # starts where no cluster empties on the way (the two re-seed an empty cluster differently)
    for seed in range(6):
        start = x[np.random.default_rng(seed).choice(len(x), 12, replace=False)]
        fit = KMeans(12, init=start, n_init=1, max_iter=30, tol=0, algorithm="lloyd").fit(x)
        ours = kmeans(x, 12, niter=30, init=start, tol=0)
        assert np.allclose(ours, fit.cluster_centers_, atol=1e-3), seed


def test_kmeans_objective_close_to_faiss(data):
    x, _ = data

    def sse(c):
        return float(((x[:, None, :] - c[None]) ** 2).sum(-1).min(1).sum())

    ours = np.mean([sse(kmeans(x, 20, niter=25, seed=s)) for s in range(4)])
    theirs = []
    for s in range(4):
        km = faiss.Kmeans(24, 20, niter=25, seed=s)
        km.train(x)
        theirs.append(sse(km.centroids))
    assert ours <= 1.15 * np.mean(theirs)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_ivf_all_lists_equals_exact_and_recall_tracks_faiss(data, metric):
    x, q = data
    exact = FlatIndex(24, metric)
    exact.add(x)
    _, true_ids = exact.search(q, 10)
    ours = IVFIndex(24, nlist=32, nprobe=32, metric=metric)
    ours.add(x)
    s, i = ours.search(q, 10)  # every list probed: the exact answer
    es, _ = exact.search(q, 10)
    assert knn_recall(i, true_ids) == 1.0
    assert np.allclose(s, es, rtol=1e-4, atol=1e-3)
    assert ours.list_sizes().sum() == len(x)
    # faiss's IVFFlat on our centroids probes the same lists: the same answer at every nprobe
    quant = faiss.IndexFlatIP(24) if metric == "ip" else faiss.IndexFlatL2(24)
    quant.add(ours.centroids)
    ref = faiss.IndexIVFFlat(quant, 24, 32, faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2)
    ref.train(x)  # a quantiser that already holds nlist centroids is kept as it is
    ref.add(x)
    for nprobe in (1, 4):
        ours.nprobe, ref.nprobe = nprobe, nprobe
        s, i = ours.search(q, 10)
        fs, fi = ref.search(q, 10)
        same = (i == fi) & (i >= 0)  # -1: fewer than k vectors in the probed lists (scores differ: inf, FLT_MAX)
        assert (i == fi).mean() > 0.99 and np.allclose(s[same], fs[same], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_ivf_blocks_and_short_lists_equal_faiss(data, metric, monkeypatch):
    import llmcourse.retrieval.ivf as ivf_module

    x, q = data
    x = x[:400]  # 64 lists of about 6 vectors: k=20 outgrows one list (faiss answers -1 there)
    ours = IVFIndex(24, nlist=64, nprobe=1, metric=metric)
    ours.add(x)
    quant = faiss.IndexFlatIP(24) if metric == "ip" else faiss.IndexFlatL2(24)
    quant.add(ours.centroids)
    ref = faiss.IndexIVFFlat(quant, 24, 64, faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2)
    ref.train(x)
    ref.add(x)
    for nprobe in (1, 3, 64):
        ours.nprobe, ref.nprobe = nprobe, nprobe
        whole = ours.search(q, 20)
        monkeypatch.setattr(ivf_module, "CANDIDATES_PER_BLOCK", 50)  # a block of one or two queries
        s, i = ours.search(q, 20)
        monkeypatch.undo()
        assert np.array_equal(i, whole[1]) and np.allclose(s, whole[0], rtol=1e-5, atol=1e-5)
        fs, fi = ref.search(q, 20)
        assert np.array_equal(i < 0, fi < 0), nprobe  # the same short lists
        same = (i == fi) & (i >= 0)
        assert same.sum() >= 0.99 * (fi >= 0).sum() and np.allclose(s[same], fs[same], rtol=1e-4, atol=1e-3)
        assert np.all(np.isinf(s[i < 0])) if metric == "l2" else np.all(s[i < 0] == -np.inf)


@pytest.mark.parametrize("largest", [False, True])
def test_topk_equals_a_stable_full_sort(largest):
    from llmcourse.retrieval.flat import topk

    rng = np.random.default_rng(0)
    for trial in range(300):
        rows, n = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        k = int(rng.integers(1, n + 1))
        if trial % 2:  # small integers: many ties, also on the k-th value
            scores = rng.integers(-3, 4, size=(rows, n)).astype(np.float32)
        else:
            scores = rng.standard_normal((rows, n)).astype(np.float32)
        scores[:, rng.integers(n)] = -np.inf if largest else np.inf  # padding, as IVF uses it
        s, cols = topk(scores, k, largest)
        expected = np.argsort(-scores if largest else scores, axis=1, kind="stable")[:, :k]  # ties: lower column
        assert np.array_equal(cols, expected), (scores, k)
        assert np.array_equal(s, np.take_along_axis(scores, expected, axis=1))


def test_ivf_adds_in_batches_keep_ids(data):
    x, q = data
    one = IVFIndex(24, nlist=16, nprobe=16)
    one.train(x)
    one.add(x[:1500])
    one.add(x[1500:])
    exact = FlatIndex(24, "l2")
    exact.add(x)
    assert np.array_equal(one.search(q, 5)[1], exact.search(q, 5)[1])


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_hnsw_recall_matches_faiss_hnsw(data, metric):
    x, q = data
    if metric == "ip":  # inner product search on unit vectors (cosine): what embeddings use
        x, q = x / np.linalg.norm(x, axis=1, keepdims=True), q / np.linalg.norm(q, axis=1, keepdims=True)
    exact = FlatIndex(24, metric)
    exact.add(x)
    es, true_ids = exact.search(q, 10)
    ours = HNSWIndex(24, M=8, ef_construction=64, ef_search=64, metric=metric)
    ours.add(x)
    s, i = ours.search(q, 10)
    ref = faiss.IndexHNSWFlat(24, 8, faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2)
    ref.hnsw.efConstruction, ref.hnsw.efSearch = 64, 64
    ref.add(x)
    r_ours, r_ref = knn_recall(i, true_ids), knn_recall(ref.search(q, 10)[1], true_ids)
    assert r_ours >= 0.75 and r_ours >= r_ref - 0.05, (r_ours, r_ref)
    # the scores are the true distances of the ids returned, best first
    vals = (x[i] @ q[:, :, None])[..., 0] if metric == "ip" else ((x[i] - q[:, None]) ** 2).sum(-1)
    assert np.allclose(s, vals, rtol=1e-4, atol=1e-3)
    assert np.all(np.diff(s, axis=1) <= 1e-6) if metric == "ip" else np.all(np.diff(s, axis=1) >= -1e-6)
    stats = ours.degree_stats()
    assert stats["max_degree0"] <= 16 and stats["nodes_per_layer"][0] == len(x)


def test_hnsw_incremental_add_and_large_ef_is_exact(data):
    x, q = data
    h = HNSWIndex(24, M=8, ef_construction=40)
    h.add(x[:1])  # the entry point alone
    assert np.array_equal(h.search(q[:2], 1)[1], [[0], [0]])
    h.add(x[1:1000])
    h.add(x[1000:])
    exact = FlatIndex(24, "l2")
    exact.add(x)
    _, true_ids = exact.search(q, 5)
    assert knn_recall(h.search(q, 5, ef_search=600)[1], true_ids) >= 0.99


@pytest.mark.parametrize("make", [lambda: FlatIndex(8), lambda: IVFIndex(8, nlist=4, nprobe=2),
                                  lambda: HNSWIndex(8, M=4, ef_construction=16)], ids=["flat", "ivf", "hnsw"])
def test_bad_input_is_a_clear_error_and_keeps_the_index(make):
    index = make()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="empty"):
        index.search(rng.standard_normal((1, 8)), 1)  # a query before any vector
    x = rng.standard_normal((50, 8)).astype(np.float32)
    index.add(x)
    before = index.search(x[:3], 3)
    with pytest.raises(ValueError, match="dimension mismatch"):
        index.add(rng.standard_normal((5, 7)))
    with pytest.raises(ValueError, match="dimension mismatch"):
        index.search(rng.standard_normal((2, 9)), 1)
    with pytest.raises(ValueError, match="larger than the index"):
        index.search(x[:1], 51)
    with pytest.raises(ValueError, match="positive integer"):
        index.search(x[:1], 0)
    bad = x[:2].copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        index.add(bad)
    assert index.ntotal == 50  # nothing lost, nothing half-added
    after = index.search(x[:3], 3)
    assert np.array_equal(before[1], after[1]) and np.allclose(before[0], after[0])


def test_ivf_needs_enough_training_vectors():
    with pytest.raises(ValueError, match="at least 16"):
        IVFIndex(4, nlist=16).add(np.ones((5, 4)))


def test_lancedb_exact_search_equals_flat_and_reopens(tmp_path, data):
    x, q = data
    store = LanceStore(tmp_path / "db", 24, metric="l2")
    store.add(x[:2000], texts=[f"doc {i}" for i in range(2000)])
    store.add(x[2000:])
    assert store.ntotal == len(x)
    exact = FlatIndex(24, "l2")
    exact.add(x)
    es, ei = exact.search(q, 10)
    s, i = store.search(q, 10, exact=True)
    assert np.array_equal(i, ei) and np.allclose(s, es, rtol=1e-3, atol=1e-2)
    store.create_index("ivf_flat", num_partitions=16)
    _, ai = store.search(q, 10, nprobes=16)
    assert knn_recall(ai, ei) >= 0.95
    again = LanceStore(tmp_path / "db", 24)  # reopened from disk
    assert again.ntotal == len(x) and again.texts([5]) == ["doc 5"]


def test_lancedb_inner_product_scores(tmp_path, data):
    x, q = data
    store = LanceStore(tmp_path / "ip", 24, metric="ip")
    store.add(x)
    exact = FlatIndex(24, "ip")
    exact.add(x)
    es, ei = exact.search(q, 5)
    s, i = store.search(q, 5, exact=True)
    assert np.array_equal(i, ei) and np.allclose(s, es, rtol=1e-3, atol=1e-2)


def test_lancedb_other_schema_is_a_clear_error_and_keeps_the_table(tmp_path):
    store = LanceStore(tmp_path / "db", 8)
    store.add(np.ones((3, 8)), texts=["a", "b", "c"])
    with pytest.raises(SchemaMismatchError, match="8-d, not 16-d"):
        LanceStore(tmp_path / "db", 16)
    with pytest.raises(ValueError, match="dimension mismatch"):
        store.add(np.ones((2, 4)))
    again = LanceStore(tmp_path / "db", 8)
    assert again.ntotal == 3 and again.texts([0, 1, 2]) == ["a", "b", "c"]
