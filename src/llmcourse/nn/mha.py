"""Multi-head attention with a fused QKV projection and optional grouped-query heads.

One attention head can only look for one kind of relation at a time. *Multi-head*
attention runs H heads side by side, each on its own slice of head_dim = d_model / H
features, and concatenates their outputs before a final projection:

    q, k, v = split(x @ W_qkv)                 # one matmul for all three ("fused")
    q: (B, H, T, hd)   k, v: (B, H_kv, S, hd)   # heads split off the feature axis
    out_h = attention(q_h, k_h, v_h)           # every head in parallel
    y = concat_h(out_h) @ W_o                  # (B, T, d_model)

**Grouped-query attention** (GQA; Llama 2 70B, Llama 3, Gemma) keeps H query heads but
only H_kv < H key/value heads; each group of H / H_kv query heads shares one k/v head.
H_kv = 1 is multi-query attention (MQA). It shrinks the KV cache by H / H_kv at almost
no cost in quality. H_kv = H is ordinary multi-head attention.

The layer equals `torch.nn.MultiheadAttention` with the same weights (`qkv` is its
`in_proj_weight`, `proj` its `out_proj`), for self- and cross-attention. Note that torch's
module uses the *opposite* boolean mask convention (True = blocked); we use the one of
`F.scaled_dot_product_attention` everywhere (True = may attend).

Masks follow torch's rules in both implementations ("ours" and "sdpa"): a bool mask says
where attention is allowed, a float mask is *added* to the scores (so a float mask of 0s
and 1s blocks nothing: a warning says so), and an integer mask is refused with a
TypeError (convert a 0/1 padding mask with `.bool()`).

Hooks for what comes later:
* `rope=(cos, sin)` rotates q and k (positions.py) before attention;
* a float `mask` is added to the scores (that is how ALiBi enters);
* `cache` (week 3.2's KV cache): any object with
  `update(layer_idx, k, v) -> (k_all, v_all)` that appends this step's keys/values
  (B, H_kv, T_new, hd) to those stored for layer `layer_idx` and returns all of them.
  With a cache, queries are the *last* T of the S keys, and `is_causal` is aligned to the
  bottom-right (query t sees keys up to S - T + t), which is what decoding needs.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.nn.attention import causal_mask, check_mask, scaled_dot_product_attention
from llmcourse.nn.positions import apply_rotary

__all__ = ["KVCacheLike", "MultiHeadAttention", "causal_self_attention", "repeat_kv"]


class KVCacheLike(Protocol):
    """What `MultiHeadAttention` needs from a KV cache (see `llmcourse.inference.kv_cache`)."""

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, H_kv, S, hd) -> (B, H_kv * n_rep, S, hd): kv head g serves query heads g*n_rep .. g*n_rep+n_rep-1."""
    if n_rep == 1:
        return x
    B, Hkv, S, hd = x.shape
    return x[:, :, None].expand(B, Hkv, n_rep, S, hd).reshape(B, Hkv * n_rep, S, hd)


def combine_causal(mask: torch.Tensor | None, L: int, S: int, device) -> torch.Tensor:
    """`mask` (bool or float, or None) with the bottom-right causal mask of (L, S) folded in."""
    causal = causal_mask(L, S, offset=S - L, device=device)  # (L, S)
    if mask is None:
        return causal
    if mask.dtype == torch.bool:
        return mask & causal
    return mask.masked_fill(~causal, float("-inf"))


class MultiHeadAttention(nn.Module):
    """Multi-head (or grouped-query) attention: (B, T, d_model) -> (B, T, d_model).

    d_model: model width.  n_heads: query heads.  n_kv_heads: key/value heads (default
    n_heads; must divide n_heads).  head_dim: default d_model // n_heads.
    attn_impl: "ours" (llmcourse.nn.attention, from scratch) or "sdpa" (torch's fused kernel,
    faster; same numbers).
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int | None = None, head_dim: int | None = None,
                 bias: bool = True, dropout: float = 0.0, attn_impl: str = "ours") -> None:
        super().__init__()
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if n_heads < 1 or n_kv_heads < 1:
            raise ValueError(f"need at least one head, got n_heads={n_heads}, n_kv_heads={n_kv_heads}")
        if n_heads % n_kv_heads:
            raise ValueError(
                f"n_kv_heads={n_kv_heads} must divide n_heads={n_heads} (each key/value head serves a "
                f"group of query heads); pick a divisor such as {[d for d in range(1, n_heads + 1) if n_heads % d == 0]}"
            )
        if head_dim is None:
            if d_model % n_heads:
                raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}; change one or pass head_dim")
            head_dim = d_model // n_heads
        if attn_impl not in ("ours", "sdpa"):
            raise ValueError(f"attn_impl must be 'ours' or 'sdpa', got {attn_impl!r}")
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, head_dim
        self.attn_impl = attn_impl
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, (n_heads + 2 * n_kv_heads) * head_dim, bias=bias)  # fused Q, K, V
        self.proj = nn.Linear(n_heads * head_dim, d_model, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    @property
    def split_sizes(self) -> list[int]:
        """Output sizes of the Q, K and V parts of the fused projection."""
        return [self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim, self.n_kv_heads * self.head_dim]

    def project_qkv(self, x: torch.Tensor, context: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries from x, keys/values from `context` (default x), split into heads.

        Returns q (B, H, T, hd), k and v (B, H_kv, S, hd).
        """
        B, T, _ = x.shape
        if context is None:
            q, k, v = self.qkv(x).split(self.split_sizes, dim=-1)  # (B, T, *) each
            S = T
        else:  # cross-attention: the same weights, applied to two inputs
            nq = self.split_sizes[0]
            w, b = self.qkv.weight, self.qkv.bias
            q = F.linear(x, w[:nq], None if b is None else b[:nq])
            k, v = F.linear(context, w[nq:], None if b is None else b[nq:]).split(self.split_sizes[1:], dim=-1)
            S = context.shape[1]
        q = q.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(B, S, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, H_kv, S, hd)
        v = v.view(B, S, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, H_kv, S, hd)
        return q, k, v

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                is_causal: bool = False, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                cache: KVCacheLike | None = None, layer_idx: int = 0) -> torch.Tensor:
        """x (B, T, d) [, context (B, S, d)] -> (B, T, d).

        mask: bool (True = may attend) or float (added), broadcastable to (B, H, T, S).
        is_causal: block keys after each query (bottom-right aligned when T != S).
        rope: (cos, sin) for the T new positions. cache/layer_idx: see the module docstring.
        """
        if x.dim() != 3:
            raise ValueError(f"x must be (batch, length, d_model), got shape {tuple(x.shape)}")
        if mask is not None:
            check_mask(mask)  # before anything combines it: int masks are refused on both paths
        q, k, v = self.project_qkv(x, context)  # (B, H, T, hd), (B, H_kv, S, hd) x2
        if rope is not None:
            cos, sin = rope
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:
            k, v = cache.update(layer_idx, k, v)  # (B, H_kv, S_total, hd)
        n_rep = self.n_heads // self.n_kv_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)  # (B, H, S, hd)

        T, S = q.shape[-2], k.shape[-2]
        if is_causal and (mask is not None or T != S):  # one mask for both implementations
            mask, is_causal = combine_causal(mask, T, S, q.device), False
        p = self.dropout if self.training else 0.0
        if self.attn_impl == "sdpa":
            if mask is not None and mask.dtype != torch.bool:
                mask = mask.to(q.dtype)  # a float bias in the inputs' dtype, as torch's kernel wants
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, dropout_p=p)
        else:
            y = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal, dropout_p=p)
        y = y.transpose(1, 2).reshape(x.shape[0], T, self.n_heads * self.head_dim)  # (B, T, H*hd)
        return self.resid_dropout(self.proj(y))  # (B, T, d)


def causal_self_attention(x: torch.Tensor, w_qkv: torch.Tensor, b_qkv: torch.Tensor | None, w_proj: torch.Tensor,
                          b_proj: torch.Tensor | None, n_head: int) -> torch.Tensor:
    """Multi-head causal self-attention as one function, with nn.Linear-shaped weights.

    x (B, T, C); w_qkv (3C, C) and b_qkv (3C,) the fused query/key/value projection;
    w_proj (C, C), b_proj (C,) the output projection -> (B, T, C). What a
    `MultiHeadAttention(C, n_head)` module computes with `qkv` and `proj` holding these weights.
    """
    B, T, C = x.shape
    if C % n_head:
        raise ValueError(f"n_embd={C} is not divisible by n_head={n_head}")
    q, k, v = F.linear(x, w_qkv, b_qkv).split(C, dim=-1)  # (B, T, C) each
    heads = lambda t: t.view(B, T, n_head, C // n_head).transpose(1, 2)  # noqa: E731  (B, H, T, hd)
    y = scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)  # (B, H, T, hd)
    y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): heads side by side again
    return F.linear(y, w_proj, b_proj)
