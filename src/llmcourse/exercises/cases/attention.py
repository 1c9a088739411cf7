"""Exercises of notebook 2.1 (Attention). Oracles: torch's SDPA and direct tensor formulas."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise


def _qkv(seed: int, B: int, H: int, L: int, S: int, E: int, Ev: int | None = None):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, L, E, generator=g)
    k = torch.randn(B, H, S, E, generator=g)
    v = torch.randn(B, H, S, Ev or E, generator=g)
    return q, k, v


@exercise("attention.scores", hint="q @ k.transpose(-2, -1), then divide by sqrt(d_k) = sqrt(q.shape[-1])")
def _scores():
    for seed, shape in enumerate([(1, 1, 4, 4, 8), (2, 3, 5, 7, 16), (1, 2, 1, 6, 4)]):
        q, k, _ = _qkv(seed, *shape)
        expected = torch.einsum("bhle,bhse->bhls", q, k) / math.sqrt(q.shape[-1])
        yield Case(f"shape {shape}", args=(q, k), expected=expected)


@exercise("attention.causal_mask", hint="torch.tril of a (T, T) matrix of ones, as bool: True on and below the diagonal")
def _causal():
    for T in (1, 4, 9):
        yield Case(f"T={T}", args=(T,), expected=torch.tril(torch.ones(T, T)).bool())

    def is_bool(fn):
        m = fn(3)
        assert isinstance(m, torch.Tensor) and m.dtype == torch.bool, (
            f"return a bool tensor (True = may attend), got {getattr(m, 'dtype', type(m))}"
        )

    yield Case("bool dtype", test=is_bool)


@exercise("attention.combined_mask",
          hint="padding: attention_mask.bool()[:, None, None, :] is (B, 1, 1, T); AND it with the causal (T, T) mask")
def _combined():
    am = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 1, 1, 1]])  # right- and left-padded rows
    T = am.shape[1]
    causal = torch.ones(T, T).tril().bool()
    pad = am.bool()[:, None, None, :]  # (B, 1, 1, T)
    yield Case("padding only", args=(am, False), expected=pad.expand(3, 1, T, T))
    yield Case("padding and causal", args=(am, True), expected=(pad & causal).expand(3, 1, T, T))


@exercise("attention.sdpa",
          hint="scores = q k^T / sqrt(d_k); bool mask False -> -inf (masked_fill), float mask is added; "
               "softmax over the last dim; a row with nothing to attend gives zeros; then @ v")
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


@exercise("attention.self_attention",
          hint="q, k, v = x @ w_q, x @ w_k, x @ w_v (each (B, T, d)); then causal attention on them")
def _self_attention():
    g = torch.Generator().manual_seed(3)
    for B, T, C, d in ((1, 4, 8, 8), (2, 6, 16, 4)):
        x = torch.randn(B, T, C, generator=g)
        w_q, w_k, w_v = (torch.randn(C, d, generator=g) / math.sqrt(C) for _ in range(3))
        expected = F.scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v, is_causal=True)
        yield Case(f"B={B} T={T} C={C} d={d}", args=(x, w_q, w_k, w_v), expected=expected)
