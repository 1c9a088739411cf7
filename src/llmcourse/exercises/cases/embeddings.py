"""Exercises of the embeddings workshop (1.3). Every expected value comes from an oracle:
scikit-learn's cosine similarity, gensim's `most_similar`, torch's binary cross-entropy, and a
log-sum-exp written out in float64 NumPy."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise


def _rng_table(seed: int, v: int = 40, d: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((v, d)).astype(np.float32)


def _topk_dot(query, table, k):
    return np.argsort(-(table @ query))[:k]  # dot product: long vectors win


def _topk_worst_first(query, table, k):
    sims = table @ query / (np.linalg.norm(table, axis=1) * np.linalg.norm(query))
    return np.argsort(sims)[:k]  # ascending: the least similar first


def _topk_query_only(query, table, k):
    return np.argsort(-(table @ (query / np.linalg.norm(query))))[:k]  # normalises the query, not the rows


@exercise("embeddings.cosine_topk", difficulty=1, minutes=10,
          reference="llmcourse.embeddings.vectors:top_k_cosine",
          wrong={"dot product, not cosine": _topk_dot, "least similar first": _topk_worst_first,
                 "only the query normalised": _topk_query_only},
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


def _unit(table):
    return table / np.linalg.norm(table, axis=1, keepdims=True)


def _analogy_keeps_inputs(table, a, b, c):
    u = _unit(table)
    return int(np.argmax(u @ (u[b] - u[a] + u[c])))  # b or c itself often wins


def _analogy_raw(table, a, b, c):
    sims = table @ (table[b] - table[a] + table[c]) / np.linalg.norm(table, axis=1)
    sims[[a, b, c]] = -np.inf  # raw vectors: long ones dominate the offset
    return int(np.argmax(sims))


def _analogy_sign(table, a, b, c):
    u = _unit(table)
    sims = u @ (u[a] - u[b] + u[c])  # the offset the wrong way round
    sims[[a, b, c]] = -np.inf
    return int(np.argmax(sims))


@exercise("embeddings.analogy", difficulty=1, minutes=15,
          reference="llmcourse.embeddings.vectors:analogy_index",
          wrong={"a, b, c not excluded": _analogy_keeps_inputs, "vectors not normalised": _analogy_raw,
                 "a - b + c": _analogy_sign},
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


def _sgns_log_sigmoid(center, context, negatives):
    pos = (center * context).sum(-1)
    neg = torch.einsum("bd,bkd->bk", center, negatives)
    return (-torch.log(torch.sigmoid(pos)) - torch.log(torch.sigmoid(-neg)).sum(-1)).mean()  # log(0) = -inf


def _sgns_sum(center, context, negatives):
    pos = (center * context).sum(-1)
    neg = torch.einsum("bd,bkd->bk", center, negatives)
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).sum()  # summed, not averaged, over the batch


def _sgns_neg_sign(center, context, negatives):
    pos = (center * context).sum(-1)
    neg = torch.einsum("bd,bkd->bk", center, negatives)
    return (-F.logsigmoid(pos) - F.logsigmoid(neg).sum(-1)).mean()  # rewards the negatives


@exercise("embeddings.sgns_loss", difficulty=2, minutes=15,
          reference="llmcourse.embeddings.word2vec:sgns_loss",
          wrong={"log(sigmoid(x)) overflows": _sgns_log_sigmoid, "summed over the batch": _sgns_sum,
                 "negatives without the minus sign": _sgns_neg_sign},
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


def _nce_one_way(image_emb, text_emb, temperature):
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(logits)))  # images -> texts only


def _nce_unnormalised(image_emb, text_emb, temperature):
    logits = image_emb @ text_emb.T / temperature  # dot products, not cosines
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _nce_times_t(image_emb, text_emb, temperature):
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T * temperature
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


@exercise("embeddings.info_nce", difficulty=2, minutes=15,
          reference="llmcourse.multimodal.clip:clip_loss",
          wrong={"one direction only": _nce_one_way, "no normalisation": _nce_unnormalised,
                 "multiplies by the temperature": _nce_times_t},
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


# ----------------------------------------------------------------------------- the stretch
def _shared_oracle(img: np.ndarray, txt: np.ndarray, t: float, ids: np.ndarray) -> float:
    """Shared-caption InfoNCE in float64 NumPy: each row's target is spread evenly over its positives."""
    img_u = img / np.linalg.norm(img, axis=1, keepdims=True)
    txt_u = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    logits = img_u @ txt_u.T / t  # (B, B)
    same = (ids[:, None] == ids[None, :]).astype(np.float64)
    target = same / same.sum(axis=1, keepdims=True)

    def ce(x):  # mean over rows of -sum_j target_ij log softmax(x_i)_j
        m = x.max(axis=1, keepdims=True)
        log_p = x - (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))
        return float(-(target * log_p).sum(axis=1).mean())

    return (ce(logits) + ce(logits.T)) / 2


def _shared_ignores_ids(image_emb, text_emb, temperature, caption_ids):
    return _nce_plain(image_emb, text_emb, temperature)  # duplicates count as negatives


def _nce_plain(image_emb, text_emb, temperature):
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T / temperature
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _shared_unnormalised_target(image_emb, text_emb, temperature, caption_ids):
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T / temperature
    same = (caption_ids[:, None] == caption_ids[None, :]).float()  # each positive weighs 1: rows sum to > 1
    return (F.cross_entropy(logits, same) + F.cross_entropy(logits.T, same)) / 2


def _shared_masked(image_emb, text_emb, temperature, caption_ids):
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T / temperature
    same = caption_ids[:, None] == caption_ids[None, :]
    logits = logits.masked_fill(same & ~torch.eye(len(logits), dtype=torch.bool), float("-inf"))  # drops them
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


@exercise("embeddings.info_nce_shared", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.multimodal.clip:clip_loss",
          wrong={"caption ids ignored": _shared_ignores_ids, "target rows not normalised": _shared_unnormalised_target,
                 "other positives masked out": _shared_masked},
          hint="same = caption_ids[:, None] == caption_ids[None, :]; target = same / same.sum(1, keepdim=True) "
               "(each row a distribution over its positives); cross_entropy accepts such soft targets; "
               "average the two directions as before")
def _info_nce_shared():
    for seed, (b, d, t, n_captions) in [(0, (4, 3, 1.0, 4)), (1, (8, 6, 0.1, 3)), (2, (16, 4, 0.5, 5))]:
        rng = np.random.default_rng(seed)
        img, txt = rng.standard_normal((b, d)), rng.standard_normal((b, d))
        ids = rng.integers(0, n_captions, size=b)
        yield Case(f"B={b}, {len(set(ids.tolist()))} distinct captions, T={t}",
                   args=(torch.tensor(img, dtype=torch.float32), torch.tensor(txt, dtype=torch.float32), t,
                         torch.tensor(ids)), expected=_shared_oracle(img, txt, t, ids), atol=1e-4)
