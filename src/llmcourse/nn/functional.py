"""Attention and a whole Llama-style block as plain functions of their weights.

The modules of `llmcourse.nn` keep their weights inside; these functions take them as
arguments, which is how notebook 3.1 has the learner write them and then run a real
model through them (`llama_block(x, positions, dict(block.named_parameters()), ...)`
uses the parameters of a `llmcourse.models.gpt.Block`). They compute exactly what the
modules compute:

    multi_head_attention   == MultiHeadAttention without biases (and nn.MultiheadAttention)
    llama_block            == a Llama-style `Block` of the course GPT (and HF LlamaDecoderLayer)
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
import torch.nn.functional as F

from llmcourse.nn.attention import scaled_dot_product_attention
from llmcourse.nn.feedforward import swiglu
from llmcourse.nn.norms import rms_norm
from llmcourse.nn.positions import rope

__all__ = ["BLOCK_WEIGHTS", "llama_block", "multi_head_attention"]

# the parameter names of a Llama-style course GPT block, as `dict(block.named_parameters())` gives them
BLOCK_WEIGHTS = ("norm1.weight", "attn.qkv.weight", "attn.proj.weight", "norm2.weight", "mlp.gate.weight",
                 "mlp.up.weight", "mlp.down.weight")


def multi_head_attention(x: torch.Tensor, w_qkv: torch.Tensor, w_out: torch.Tensor, n_head: int,
                         n_kv_head: int | None = None, causal: bool = True,
                         rotate: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Multi-head (or grouped-query) self-attention of x (B, T, C), no biases -> (B, T, C).

    w_qkv ((n_head + 2 n_kv_head) * hd, C): the fused projection, queries first, then keys,
    then values (`nn.Linear` layout, as `MultiHeadAttention.qkv.weight`). w_out (C, n_head * hd).
    Key/value head g serves query heads g * n_rep .. g * n_rep + n_rep - 1 (n_rep = n_head /
    n_kv_head). `rotate`, when given, turns queries and keys (B, heads, T, hd) after the head
    split: RoPE plugs in here (`rotate=lambda t: rope(t, positions)`).
    """
    B, T, C = x.shape
    n_kv_head = n_head if n_kv_head is None else n_kv_head
    hd = w_qkv.shape[0] // (n_head + 2 * n_kv_head)
    q, k, v = F.linear(x, w_qkv).split([n_head * hd, n_kv_head * hd, n_kv_head * hd], dim=-1)
    q = q.view(B, T, n_head, hd).transpose(1, 2)  # (B, H, T, hd)
    k = k.view(B, T, n_kv_head, hd).transpose(1, 2)  # (B, H_kv, T, hd)
    v = v.view(B, T, n_kv_head, hd).transpose(1, 2)  # (B, H_kv, T, hd)
    if rotate is not None:
        q, k = rotate(q), rotate(k)
    n_rep = n_head // n_kv_head
    k, v = k.repeat_interleave(n_rep, dim=1), v.repeat_interleave(n_rep, dim=1)  # (B, H, T, hd)
    y = scaled_dot_product_attention(q, k, v, is_causal=causal)  # (B, H, T, hd)
    y = y.transpose(1, 2).reshape(B, T, n_head * hd)  # heads side by side again
    return F.linear(y, w_out)  # (B, T, C)


def llama_block(x: torch.Tensor, positions: torch.Tensor, weights: Mapping[str, torch.Tensor], n_head: int,
                n_kv_head: int, eps: float = 1e-5, rope_theta: float = 10000.0) -> torch.Tensor:
    """One pre-norm Llama block: x + attention(rmsnorm(x)), then + swiglu(rmsnorm(x)). (B, T, C) -> (B, T, C).

    `weights` holds the block's parameters under the names of `BLOCK_WEIGHTS`; attention is
    causal, with RoPE at `positions` (T,) and grouped-query heads.
    """
    missing = [name for name in BLOCK_WEIGHTS if name not in weights]
    if missing:
        raise KeyError(f"weights lacks {missing}; pass dict(block.named_parameters()) of a Llama-style block")
    h = rms_norm(x, weights["norm1.weight"], eps)  # (B, T, C)
    x = x + multi_head_attention(h, weights["attn.qkv.weight"], weights["attn.proj.weight"], n_head, n_kv_head,
                                 causal=True, rotate=lambda t: rope(t, positions, rope_theta))
    h = rms_norm(x, weights["norm2.weight"], eps)
    return x + swiglu(h, weights["mlp.gate.weight"], weights["mlp.up.weight"], weights["mlp.down.weight"])
