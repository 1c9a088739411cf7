"""Exercises of the embeddings workshop (1.3). Every expected value comes from an oracle:
scikit-learn's cosine similarity, gensim's `most_similar`, torch's binary cross-entropy, and a
log-sum-exp written out in float64 NumPy."""

from __future__ import annotations

import numpy as np
import torch

from llmcourse.exercises.registry import Case, exercise


def _rng_table(seed: int, v: int = 40, d: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((v, d)).astype(np.float32)


@exercise("embeddings.cosine_topk",
          hint="divide the dot products by |query|·|row| (the cosine), then take the indices of the k largest, "
               "best first (np.argsort(-sims)[:k])")
def _cosine_topk():
    from sklearn.metrics.pairwise import cosine_similarity

    for seed, k in [(0, 1), (1, 5), (2, 10)]:
        table = _rng_table(seed)
        table[3] *= 50.0  # a long vector: cosine must ignore length
        query = np.random.default_rng(seed + 100).standard_normal(8).astype(np.float32)
        sims = cosine_similarity(query[None], table)[0]
        yield Case(f"k={k} (seed {seed})", args=(query, table, k), expected=[int(i) for i in np.argsort(-sims)[:k]],
                   compare=_same_ints)


def _same_ints(got, expected):
    got = [int(i) for i in np.asarray(got).ravel()]
    if got != expected:
        return f"got indices {got}, expected {expected} (best first)"
    return None


@exercise("embeddings.analogy",
          hint="normalise every row to length 1, target = u[b] - u[a] + u[c], score all rows by cosine with "
               "the target, and never answer a, b or c themselves")
def _analogy():
    models = __import__("gensim.models", fromlist=["KeyedVectors"])
    for seed, (a, b, c) in [(3, (0, 1, 2)), (4, (5, 9, 7)), (5, (12, 3, 30))]:
        table = _rng_table(seed, v=60, d=6)
        kv = models.KeyedVectors(6)
        kv.add_vectors([f"w{i}" for i in range(len(table))], table)
        best = kv.most_similar(positive=[f"w{b}", f"w{c}"], negative=[f"w{a}"], topn=1)[0][0]
        yield Case(f"w{a} : w{b} :: w{c} : ? (seed {seed})", args=(table, a, b, c), expected=int(best[1:]),
                   compare=lambda g, e: None if int(g) == e else f"got row {int(g)}, expected {e}")

    def excludes_inputs(fn):
        table = np.eye(4, dtype=np.float32)  # b - a + c is closest to b and c themselves
        got = int(fn(table, 0, 1, 2))
        assert got not in (0, 1, 2), f"answered {got}, one of the question words (a, b, c) - exclude them"
    yield Case("never answers a question word", test=excludes_inputs)


@exercise("embeddings.sgns_loss",
          hint="per pair: -logsigmoid(center·context) - sum_k logsigmoid(-center·negative_k); "
               "then the mean over the batch (einsum 'bd,bkd->bk' gives the negative scores)")
def _sgns_loss():
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for seed, (b, k, d) in [(0, (1, 1, 4)), (1, (8, 5, 16)), (2, (32, 3, 10))]:
        g = torch.Generator().manual_seed(seed)
        center, context = torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)
        negatives = torch.randn(b, k, d, generator=g)
        # oracle: logistic regression view, positive logit labelled 1, negative logits labelled 0
        pos = (center * context).sum(-1)
        neg = (center[:, None, :] * negatives).sum(-1)
        logits = torch.cat([pos[:, None], neg], dim=1)  # (B, 1 + K)
        labels = torch.cat([torch.ones(b, 1), torch.zeros(b, k)], dim=1)
        expected = bce(logits, labels, reduction="none").sum(1).mean()
        yield Case(f"B={b}, K={k}, D={d}", args=(center, context, negatives), expected=expected, atol=1e-5)

    def large_scores_stay_finite(fn):
        center = torch.full((2, 3), 30.0)  # a confidently wrong pair: center·context = -2700
        out = float(fn(center, -center, -center[:, None, :].repeat(1, 4, 1)))
        assert np.isfinite(out), "got inf/nan for a large negative score: use F.logsigmoid, not log(sigmoid(x))"
        assert abs(out - 2700.0) < 1.0, f"expected a loss of about 2700 (= -logsigmoid(-2700)), got {out:.6g}"
    yield Case("stable for large dot products", test=large_scores_stay_finite)


@exercise("embeddings.info_nce",
          hint="normalise rows, logits = img @ txt.T / temperature, then the mean of cross-entropy with "
               "targets arange(B) over rows and over columns (logits.T)")
def _info_nce():
    for seed, (b, d, t) in [(0, (2, 3, 1.0)), (1, (6, 8, 0.07)), (2, (16, 4, 0.5))]:
        rng = np.random.default_rng(seed)
        img, txt = rng.standard_normal((b, d)), rng.standard_normal((b, d))
        img_u = img / np.linalg.norm(img, axis=1, keepdims=True)
        txt_u = txt / np.linalg.norm(txt, axis=1, keepdims=True)
        logits = img_u @ txt_u.T / t  # (B, B) float64

        def lse(x, axis):  # log-sum-exp, written out
            m = x.max(axis=axis, keepdims=True)
            return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)

        diag = np.diag(logits)
        expected = float(((lse(logits, 1) - diag).mean() + (lse(logits, 0) - diag).mean()) / 2)
        yield Case(f"B={b}, D={d}, T={t}", args=(torch.tensor(img, dtype=torch.float32),
                                                 torch.tensor(txt, dtype=torch.float32), t),
                   expected=expected, atol=1e-4)

    def symmetric(fn):
        g = torch.Generator().manual_seed(7)
        a, b = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
        x, y = float(fn(a, b, 0.3)), float(fn(b, a, 0.3))
        assert abs(x - y) < 1e-5, f"loss(img, txt) = {x:.5f} but loss(txt, img) = {y:.5f}: average both directions"
    yield Case("symmetric in images and texts", test=symmetric)
