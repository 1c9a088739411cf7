"""Exercises of notebook 2.1 (Attention). Oracles: torch's SDPA and direct tensor formulas.

Each exercise names the library's answer (`reference`) and the mistakes students make
(`wrong`): a mask off by one, softmax over the wrong axis, dividing by d instead of sqrt(d),
no max-subtraction. The cases are built so that every one of those mistakes fails.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise
from llmcourse.nn.attention import scaled_dot_product_attention, tiled_attention


def _qkv(seed: int, B: int, H: int, L: int, S: int, E: int, Ev: int | None = None, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, L, E, generator=g) * scale
    k = torch.randn(B, H, S, E, generator=g) * scale
    v = torch.randn(B, H, S, Ev or E, generator=g)
    return q, k, v


# ----------------------------------------------------------------------------- scores
def _scores_unscaled(q, k):
    return q @ k.transpose(-2, -1)


def _scores_by_d(q, k):
    return q @ k.transpose(-2, -1) / q.shape[-1]


def _scores_transposed(q, k):
    return k @ q.transpose(-2, -1) / math.sqrt(q.shape[-1])


@exercise("attention.scores", difficulty=1, minutes=5,
          reference="llmcourse.nn.attention:attention_scores",
          wrong={"no 1/sqrt(d_k)": _scores_unscaled, "divides by d_k, not sqrt(d_k)": _scores_by_d,
                 "k @ q^T (scores transposed)": _scores_transposed},
          hint="q @ k.transpose(-2, -1), then divide by sqrt(d_k) = sqrt(q.shape[-1])")
def _scores():
    for seed, shape in enumerate([(1, 1, 4, 4, 8), (2, 3, 5, 7, 16), (1, 2, 1, 6, 4)]):
        q, k, _ = _qkv(seed, *shape)
        expected = torch.einsum("bhle,bhse->bhls", q, k) / math.sqrt(q.shape[-1])
        yield Case(f"shape {shape}", args=(q, k), expected=expected)


# ----------------------------------------------------------------------------- causal mask
def _causal_triu(T):
    return torch.ones(T, T).triu().bool()


def _causal_strict(T):
    return torch.ones(T, T).tril(-1).bool()


def _causal_float(T):
    return torch.ones(T, T).tril()


@exercise("attention.causal_mask", difficulty=1, minutes=5,
          reference="llmcourse.nn.attention:causal_mask",
          wrong={"triu: the future, not the past": _causal_triu, "tril(-1): a token cannot see itself": _causal_strict,
                 "0/1 floats, not bool": _causal_float},
          hint="torch.tril of a (T, T) matrix of ones, as bool: True on and below the diagonal")
def _causal():
    for T in (1, 4, 9):
        yield Case(f"T={T}", args=(T,), expected=torch.tril(torch.ones(T, T)).bool())


# ----------------------------------------------------------------------------- padding + causal
def _combined_on_queries(attention_mask, causal):
    B, T = attention_mask.shape
    mask = attention_mask.bool()[:, None, :, None].expand(B, 1, T, T)  # padding on the query axis
    return mask & torch.ones(T, T, dtype=torch.bool).tril() if causal else mask


def _combined_triu(attention_mask, causal):
    B, T = attention_mask.shape
    mask = attention_mask.bool()[:, None, None, :].expand(B, 1, T, T)
    return mask & torch.ones(T, T, dtype=torch.bool).triu() if causal else mask


def _combined_int(attention_mask, causal):
    B, T = attention_mask.shape
    mask = attention_mask[:, None, None, :].expand(B, 1, T, T)  # still 0/1 integers
    return mask * torch.ones(T, T, dtype=torch.long).tril() if causal else mask


@exercise("attention.combined_mask", difficulty=2, minutes=10,
          reference="llmcourse.nn.attention:attention_mask_from_padding",
          wrong={"padding on the query axis instead of the keys": _combined_on_queries,
                 "causal part with triu": _combined_triu, "0/1 integers, not bool": _combined_int},
          hint="padding: attention_mask.bool()[:, None, None, :] is (B, 1, 1, T); AND it with the causal (T, T) mask")
def _combined():
    am = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 1, 1, 1]])  # right- and left-padded rows
    T = am.shape[1]
    causal = torch.ones(T, T).tril().bool()
    pad = am.bool()[:, None, None, :]  # (B, 1, 1, T)
    yield Case("padding only", args=(am, False), expected=pad.expand(3, 1, T, T))
    yield Case("padding and causal", args=(am, True), expected=(pad & causal).expand(3, 1, T, T))


# ----------------------------------------------------------------------------- full attention
def _sdpa_parts(q, k, v, mask, is_causal, scale, softmax_dim=-1, stable=True, causal_diag=0):
    """A hand-written SDPA whose parts can be got wrong, one at a time."""
    scores = q @ k.transpose(-2, -1) / scale  # (..., L, S)
    L, S = scores.shape[-2:]
    if is_causal:
        scores = scores.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(causal_diag), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    if stable:
        weights = scores.softmax(dim=softmax_dim)
    else:  # exp without subtracting the row max: overflows for large scores
        e = scores.exp()
        weights = e / e.sum(dim=softmax_dim, keepdim=True)
    return torch.nan_to_num(weights, nan=0.0) @ v


def _sdpa_no_scale(q, k, v, mask=None, is_causal=False):
    return _sdpa_parts(q, k, v, mask, is_causal, 1.0)


def _sdpa_by_d(q, k, v, mask=None, is_causal=False):
    return _sdpa_parts(q, k, v, mask, is_causal, q.shape[-1])


def _sdpa_wrong_axis(q, k, v, mask=None, is_causal=False):
    return _sdpa_parts(q, k, v, mask, is_causal, math.sqrt(q.shape[-1]), softmax_dim=-2)


def _sdpa_no_max(q, k, v, mask=None, is_causal=False):
    return _sdpa_parts(q, k, v, mask, is_causal, math.sqrt(q.shape[-1]), stable=False)


def _sdpa_strict_causal(q, k, v, mask=None, is_causal=False):
    return _sdpa_parts(q, k, v, mask, is_causal, math.sqrt(q.shape[-1]), causal_diag=-1)


@exercise("attention.sdpa", difficulty=2, minutes=20,
          reference="llmcourse.nn.attention:scaled_dot_product_attention",
          wrong={"no 1/sqrt(d_k)": _sdpa_no_scale, "divides by d_k": _sdpa_by_d,
                 "softmax over the queries (dim=-2)": _sdpa_wrong_axis,
                 "exp without subtracting the row max": _sdpa_no_max,
                 "causal mask off by one (tril(-1))": _sdpa_strict_causal},
          hint="scores = q k^T / sqrt(d_k); bool mask False -> -inf (masked_fill), float mask is added; "
               "softmax over the last dim (it subtracts the max for you); a row with nothing to attend gives "
               "zeros; then @ v")
def _sdpa():
    sdpa = F.scaled_dot_product_attention
    q, k, v = _qkv(0, 2, 2, 5, 5, 8)
    yield Case("no mask", args=(q, k, v), expected=sdpa(q, k, v))
    yield Case("causal", args=(q, k, v), kwargs={"is_causal": True}, expected=sdpa(q, k, v, is_causal=True))
    q2, k2, v2 = _qkv(1, 1, 3, 4, 6, 8, 5)
    yield Case("L != S, different Ev", args=(q2, k2, v2), expected=sdpa(q2, k2, v2))
    g = torch.Generator().manual_seed(2)
    bmask = torch.rand(2, 1, 5, 5, generator=g) > 0.3
    bmask[..., 0] = True  # every query sees at least one key
    yield Case("boolean mask", args=(q, k, v), kwargs={"mask": bmask}, expected=sdpa(q, k, v, attn_mask=bmask))
    fmask = torch.randn(1, 2, 5, 5, generator=g)
    yield Case("float mask is added", args=(q, k, v), kwargs={"mask": fmask}, expected=sdpa(q, k, v, attn_mask=fmask))
    dead = torch.ones(5, 5, dtype=torch.bool)
    dead[2] = False  # query 2 may attend to nothing
    yield Case("fully masked row gives zeros", args=(q, k, v), kwargs={"mask": dead},
               expected=sdpa(q, k, v, attn_mask=dead))
    q3, k3, v3 = _qkv(3, 1, 2, 4, 4, 16, scale=12.0)  # scores in the hundreds: exp overflows without the max
    yield Case("large scores stay finite", args=(q3, k3, v3), kwargs={"is_causal": True},
               expected=sdpa(q3, k3, v3, is_causal=True))


# ----------------------------------------------------------------------------- one head
def _head_not_causal(x, w_q, w_k, w_v):
    return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v)


def _head_swapped(x, w_q, w_k, w_v):
    return scaled_dot_product_attention(x @ w_k, x @ w_q, x @ w_v, is_causal=True)


def _head_unscaled(x, w_q, w_k, w_v):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    return scaled_dot_product_attention(q * math.sqrt(q.shape[-1]), k, v, is_causal=True)


@exercise("attention.self_attention", difficulty=1, minutes=10,
          reference="llmcourse.nn.attention:self_attention",
          wrong={"forgets the causal mask": _head_not_causal, "queries from w_k, keys from w_q": _head_swapped,
                 "scores not scaled": _head_unscaled},
          hint="q, k, v = x @ w_q, x @ w_k, x @ w_v (each (B, T, d)); then causal attention on them")
def _self_attention():
    g = torch.Generator().manual_seed(3)
    for B, T, C, d in ((1, 4, 8, 8), (2, 6, 16, 4)):
        x = torch.randn(B, T, C, generator=g)
        w_q, w_k, w_v = (torch.randn(C, d, generator=g) / math.sqrt(C) * 2 for _ in range(3))
        expected = F.scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v, is_causal=True)
        yield Case(f"B={B} T={T} C={C} d={d}", args=(x, w_q, w_k, w_v), expected=expected)


# ----------------------------------------------------------------------------- stretch: attention in tiles
def _tiles_no_rescale(q, k, v, block_size=64, is_causal=False):
    """Forgets to rescale the running sums when the running max grows."""
    L, S = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(q.shape[-1])
    m = torch.full((*q.shape[:-1], 1), float("-inf"))
    total, acc = torch.zeros_like(m), torch.zeros(*q.shape[:-1], v.shape[-1])
    causal = torch.ones(L, S, dtype=torch.bool).tril()
    for j in range(0, S, block_size):
        s = q @ k[..., j:j + block_size, :].transpose(-2, -1) * scale
        if is_causal:
            s = s.masked_fill(~causal[:, j:j + block_size], float("-inf"))
        m = torch.maximum(m, s.amax(-1, keepdim=True))
        p = torch.exp(s - m)
        total, acc = total + p.sum(-1, keepdim=True), acc + p @ v[..., j:j + block_size, :]
    return acc / total


def _tiles_average_blocks(q, k, v, block_size=64, is_causal=False):
    """Softmax within each block, then the mean of the blocks' outputs."""
    L, S = q.shape[-2], k.shape[-2]
    causal = torch.ones(L, S, dtype=torch.bool).tril()
    outs = []
    for j in range(0, S, block_size):
        mask = causal[:, j:j + block_size] if is_causal else None
        outs.append(scaled_dot_product_attention(q, k[..., j:j + block_size, :], v[..., j:j + block_size, :],
                                                 mask=mask))
    return torch.stack(outs).mean(0)


def _tiles_ignore_causal(q, k, v, block_size=64, is_causal=False):
    """Forgets the causal mask inside the blocks."""
    return tiled_attention(q, k, v, block_size, is_causal=False)


@exercise("attention.tiled", difficulty=3, minutes=40, stretch=True,
          reference="llmcourse.nn.attention:tiled_attention",
          wrong={"no rescaling when the running max grows": _tiles_no_rescale,
                 "softmax per block, then the mean of blocks": _tiles_average_blocks,
                 "ignores is_causal": _tiles_ignore_causal},
          hint="per query keep m (running max), l (running sum of exp(s - m)) and acc (running sum of "
               "exp(s - m) v); for each key block: m_new = max(m, block max); scale l and acc by exp(m - m_new), "
               "add the block's exp(s - m_new) and exp(s - m_new) @ v_block; at the end return acc / l")
def _tiled():
    sdpa = F.scaled_dot_product_attention
    for seed, (L, S, E, Ev, block, causal) in enumerate([(6, 6, 8, 8, 2, True), (5, 13, 8, 4, 4, False),
                                                         (7, 7, 16, 16, 3, True), (4, 10, 8, 8, 16, False)]):
        q, k, v = _qkv(seed, 2, 2, L, S, E, Ev, scale=3.0)  # sharp scores: the running max moves
        yield Case(f"L={L} S={S} block={block} causal={causal}", args=(q, k, v),
                   kwargs={"block_size": block, "is_causal": causal}, expected=sdpa(q, k, v, is_causal=causal),
                   atol=2e-5)
