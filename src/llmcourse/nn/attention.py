"""Scaled dot-product attention, from scratch.

Every token asks a question (its *query* q), every token offers a label (its *key* k)
and a payload (its *value* v). A token's output is an average of the values, weighted
by how well its query matches each key:

    weights = softmax(q @ k^T / sqrt(d_k) + mask)      # (..., L, S), rows sum to 1
    output  = weights @ v                               # (..., L, Ev)

Dividing by sqrt(d_k) keeps the scores at unit variance whatever the head size, so the
softmax does not saturate into a one-hot at initialisation.

Masks follow the conventions of `torch.nn.functional.scaled_dot_product_attention`
(its `attn_mask`), so the two functions are interchangeable:

* a **boolean** mask says which keys a query may attend to: True = may attend,
  False = blocked (its score becomes -inf before the softmax);
* a **float** mask is *added* to the scores (0 = keep, -inf = block, anything else a bias,
  which is how ALiBi works). So a float mask of 0s and 1s masks *nothing*: it adds +1 to
  some scores. That is a common bug (`mask.float()` of a causal mask); we warn about it.
  Use the boolean mask itself, or `0 / -inf` floats;
* an **integer** mask (0/1 from a tokenizer, say) is refused with a TypeError: is 1 "attend"
  or "add 1"? Convert it with `.bool()` first (1 = may attend);
* `is_causal=True` adds the causal mask `tril(ones(L, S))`: query i sees keys 0..i. Like
  torch it is aligned to the top-left corner, which is what you want when queries and keys
  are the same tokens. With a KV cache the L new queries sit at the *end* of S keys; build
  that mask with `causal_mask(L, S, offset=S - L)` and pass it as `mask`.

Unlike torch, which refuses `attn_mask` together with `is_causal=True`, we accept both and
combine them (a key is visible if both allow it): padding plus causality in one call.

**Fully masked rows.** If every key of a query is blocked (a padding query, say), the
softmax of a row of -inf is 0/0. We define the weights of such a row to be all zero, so
its output is a zero vector (and its gradient is zero) instead of NaN. This is what
PyTorch's own kernels return on CPU since 2.5 (its "safe softmax").

Numerics: the scores and the softmax are computed in float32 whatever the input dtype
(as fused kernels such as FlashAttention do) and the output is cast back, so bf16/fp16
inputs match torch's kernels to within a rounding of the output.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

__all__ = ["attention_mask_from_padding", "attention_scores", "attention_weights", "causal_mask", "check_mask",
           "scaled_dot_product_attention", "self_attention", "tiled_attention"]


def causal_mask(L: int, S: int | None = None, offset: int = 0, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (L, S) mask where query i may attend to keys 0 .. i + offset.

    offset=0 is torch's `is_causal` (top-left aligned). With a KV cache holding `P`
    earlier tokens, the `L` new queries are at positions P..P+L-1 of `S = P + L` keys:
    use `offset=P` (bottom-right aligned).
    """
    S = L if S is None else S
    if L < 0 or S < 0:
        raise ValueError(f"causal_mask needs non-negative sizes, got L={L}, S={S}")
    i = torch.arange(L, device=device).unsqueeze(1)  # (L, 1)
    j = torch.arange(S, device=device).unsqueeze(0)  # (1, S)
    return j <= i + offset  # (L, S)


def attention_mask_from_padding(attention_mask: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """Boolean (B, 1, T, T) mask from a Hugging Face style padding mask (B, T) of 1 = token, 0 = pad.

    Query i may attend to key j when j is a real token (and, if `causal`, j <= i). The
    head dimension is 1 so it broadcasts over heads. A query whose every key is padding
    (left padding with `causal=True`) gets a fully masked row: its output is zeros.
    """
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be (batch, length) of 0/1, got shape {tuple(attention_mask.shape)}")
    B, T = attention_mask.shape
    keys = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)
    mask = keys.expand(B, 1, T, T)  # (B, 1, T, T)
    if causal:
        mask = mask & causal_mask(T, device=attention_mask.device)  # (B, 1, T, T)
    return mask


def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Raw scores q k^T / sqrt(d_k): (..., L, E) x (..., S, E) -> (..., L, S), in float32."""
    return q.float() @ k.float().transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., L, S)


def check_mask(mask: torch.Tensor) -> torch.Tensor:
    """Refuse masks torch's rules do not define well; warn about a float mask of only 0s and 1s.

    bool: True = may attend. float: added to the scores. Anything else (an integer 0/1 mask
    straight from a tokenizer) raises a TypeError that says to call `.bool()`. A float mask
    holding only 0 and 1 is almost always a boolean mask converted by mistake: added to the
    scores it blocks nothing, so we warn.
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor (bool or float), got {type(mask).__name__}")
    if mask.dtype == torch.bool:
        return mask
    if not mask.dtype.is_floating_point:
        raise TypeError(
            f"mask must be bool (True = may attend) or float (added to the scores), got {mask.dtype}. An integer "
            "0/1 mask is ambiguous: convert it with mask.bool() (1 = may attend), or build an additive float "
            "mask of 0 (keep) and -inf (block)"
        )
    if mask.numel() and not torch.compiler.is_compiling():
        zero_one = bool(((mask == 0) | (mask == 1)).all()) and bool((mask == 1).any())
        if zero_one:
            warnings.warn(
                "this float attention mask holds only 0s and 1s. A float mask is ADDED to the scores, so it "
                "blocks nothing (it adds +1 where it holds 1). For 'True = may attend' pass a bool mask "
                "(mask.bool()); to block with floats use 0 (keep) and -inf (block)", UserWarning, stacklevel=3)
    return mask


def _check_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                  dropout_p: float) -> tuple[int, ...]:
    """Validate shapes and dtypes; return the shape of the score matrix (..., L, S)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., length, dim); got shape {tuple(t.shape)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}; cast them first")
    if not q.dtype.is_floating_point:
        raise TypeError(f"attention needs floating-point q, k, v, got {q.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must have the same last dimension (the query/key size d_k): "
            f"q {tuple(q.shape)} vs k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of positions (dim -2): k {tuple(k.shape)} vs v {tuple(v.shape)}"
        )
    try:
        batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the leading (batch, head) dimensions of q {tuple(q.shape)}, k {tuple(k.shape)} and "
            f"v {tuple(v.shape)} do not broadcast; for grouped-query attention repeat k/v heads first"
        ) from None
    scores_shape = (*batch, q.shape[-2], k.shape[-2])
    if mask is not None:
        check_mask(mask)
        try:
            ok = tuple(torch.broadcast_shapes(mask.shape, scores_shape)) == scores_shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape {scores_shape} "
                f"(batch..., queries L, keys S); e.g. a padding mask of shape (B, S) needs [:, None, None, :]"
            )
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    return scores_shape


def attention_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None,
                      is_causal: bool = False) -> torch.Tensor:
    """The attention matrix softmax(q k^T / sqrt(d_k) + mask), float32, shape (..., L, S).

    Each row sums to 1, except fully masked rows, which are all zero (see the module doc).
    This is what attention maps plot.
    """
    scores_shape = _check_inputs(q, k, k, mask, 0.0)
    L, S = scores_shape[-2], scores_shape[-1]
    scores = attention_scores(q, k)  # (..., L, S) float32

    allowed = None  # boolean (..., L, S) or None: which entries may be attended
    if mask is not None:
        if mask.dtype == torch.bool:
            allowed = mask
        else:
            scores = scores + mask.float()  # additive mask: a bias, -inf blocks
    if is_causal:
        causal = causal_mask(L, S, device=q.device)  # (L, S)
        allowed = causal if allowed is None else allowed & causal
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))

    if mask is None:  # no mask, or only the causal one: every row keeps at least key 0
        return torch.softmax(scores, dim=-1)  # (..., L, S)
    # Fully masked rows: every score is -inf and softmax would give NaN. Compute the
    # softmax against a finite row maximum and zero those rows instead.
    row_max = scores.amax(dim=-1, keepdim=True)  # (..., L, 1)
    dead = torch.isneginf(row_max)  # (..., L, 1) True where nothing may be attended
    row_max = torch.where(dead, torch.zeros_like(row_max), row_max)
    exp = torch.exp(scores - row_max.detach())  # (..., L, S); exp(-inf) = 0
    total = exp.sum(dim=-1, keepdim=True)  # (..., L, 1)
    weights = exp / torch.where(dead, torch.ones_like(total), total)
    return weights  # (..., L, S) float32


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None, is_causal: bool = False,
                                 dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_k) + mask) v, the same as torch's `F.scaled_dot_product_attention`.

    q: (..., L, E)   queries          mask: broadcastable to (..., L, S); bool True = may
    k: (..., S, E)   keys                   attend, float = added to the scores
    v: (..., S, Ev)  values           is_causal: also block keys after the query (top-left)
    returns (..., L, Ev) in q's dtype. dropout_p: dropout on the attention weights
    (always applied when > 0, as in torch's functional; pass 0.0 at evaluation).

    Leading dimensions broadcast (e.g. batch and heads). A fully masked query row returns
    zeros. Raises ValueError/TypeError for shapes that do not fit, naming what to fix.
    """
    _check_inputs(q, k, v, mask, dropout_p)
    weights = attention_weights(q, k, mask, is_causal)  # (..., L, S) float32
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)
    out = weights @ v.float()  # (..., L, Ev)
    return out.to(q.dtype)


def self_attention(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                   is_causal: bool = True) -> torch.Tensor:
    """One self-attention head: queries, keys and values all come from the same tokens.

    x (B, T, C) and projections (C, d) each -> (B, T, d). Causal by default: token t sees
    tokens 0..t, as in a language model.
    """
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (B, T, d) each
    return scaled_dot_product_attention(q, k, v, is_causal=is_causal)  # (B, T, d)


def tiled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int = 64,
                    is_causal: bool = False) -> torch.Tensor:
    """Attention computed one block of keys at a time, never holding the (L, S) matrix.

    The idea of FlashAttention's *online softmax*: keep, for every query, the running
    maximum score m, the running sum l of exp(score - m) and the running weighted sum of
    values acc. A new block of keys with a larger maximum m' rescales what came before by
    exp(m - m') (the same correction softmax's max-subtraction makes), then adds its own:

        l   = l   * exp(m - m') + sum_j exp(s_j - m')
        acc = acc * exp(m - m') + sum_j exp(s_j - m') v_j
        output = acc / l                     (after the last block)

    Memory is (L, block_size) per step instead of (L, S). Equal to
    `scaled_dot_product_attention(q, k, v, is_causal=is_causal)` up to float rounding.
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    scores_shape = _check_inputs(q, k, v, None, 0.0)
    L, S = scores_shape[-2], scores_shape[-1]
    qs = q.float() / math.sqrt(q.shape[-1])  # (..., L, E) scaled once
    causal = causal_mask(L, S, device=q.device) if is_causal else None  # (L, S)
    m = torch.full((*scores_shape[:-1], 1), float("-inf"), device=q.device)  # (..., L, 1) running max
    total = torch.zeros_like(m)  # (..., L, 1) running sum of exp
    acc = torch.zeros((*scores_shape[:-1], v.shape[-1]), device=q.device)  # (..., L, Ev)
    for start in range(0, S, block_size):
        kb, vb = k[..., start:start + block_size, :].float(), v[..., start:start + block_size, :].float()
        s = qs @ kb.transpose(-2, -1)  # (..., L, b)
        if causal is not None:
            s = s.masked_fill(~causal[:, start:start + block_size], float("-inf"))
        m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))  # (..., L, 1)
        safe = torch.where(torch.isneginf(m_new), torch.zeros_like(m_new), m_new)  # no (-inf) - (-inf)
        p = torch.exp(s - safe)  # (..., L, b)
        rescale = torch.exp(m - safe)  # (..., L, 1): how much the old sums shrink
        total = total * rescale + p.sum(dim=-1, keepdim=True)
        acc = acc * rescale + p @ vb
        m = m_new
    out = acc / torch.where(total == 0, torch.ones_like(total), total)  # a row that saw no key: zeros
    return out.to(q.dtype)  # (..., L, Ev)
