"""Normalisation layers: LayerNorm and RMSNorm, from scratch.

A residual stream that passes through dozens of layers drifts in scale; a norm layer
puts every token's vector back to a standard size before each sublayer reads it.

* **LayerNorm** (GPT-2, BERT): subtract the mean, divide by the standard deviation, then
  scale and shift with learned `weight` and `bias`:  y = (x - mean) / sqrt(var + eps) * w + b.
* **RMSNorm** (Llama, Gemma, T5): skip the mean; divide by the root-mean-square only:
  y = x / sqrt(mean(x^2) + eps) * w. Cheaper, and in practice just as good.

Both normalise over the last dimension (the features of one token), never across tokens
or the batch. They equal `torch.nn.LayerNorm` / `torch.nn.RMSNorm` (and Hugging Face's
`LlamaRMSNorm`) on the same weights; the statistics are computed in float32.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerNorm", "RMSNorm", "make_norm", "rms_norm"]


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) * weight over the last dimension, statistics in float32."""
    xf = x.float()
    rms_inv = torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)  # (..., 1)
    return weight * (xf * rms_inv).to(x.dtype)


class LayerNorm(nn.Module):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last dimension (biased variance)."""

    def __init__(self, dim: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., C) -> (..., C)
        xf = x.float()
        mean = xf.mean(dim=-1, keepdim=True)  # (..., 1)
        var = xf.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)
        y = (xf - mean) * torch.rsqrt(var + self.eps)
        y = y.to(x.dtype) * self.weight
        return y + self.bias if self.bias is not None else y


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight over the last dimension (no mean, no bias)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., C) -> (..., C)
        return rms_norm(x, self.weight, self.eps)


def make_norm(kind: str, dim: int, eps: float = 1e-5, bias: bool = True) -> nn.Module:
    """A norm layer by name: "layernorm" or "rmsnorm"."""
    if kind == "layernorm":
        return LayerNorm(dim, eps=eps, bias=bias)
    if kind == "rmsnorm":
        return RMSNorm(dim, eps=eps)
    raise ValueError(f"unknown norm {kind!r}; use 'layernorm' or 'rmsnorm'")
