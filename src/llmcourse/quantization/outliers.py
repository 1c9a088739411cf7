"""LLM.int8(): INT8 matrix multiplication with the outlier features kept in float.

Dettmers et al. (2022) found that transformers past a few billion parameters grow a few
*outlier features*: hidden dimensions whose activations reach 20-60 while the rest stay
around 1. Per-row absmax INT8 of the activations then wastes almost all 255 levels on the
outlier, and quality collapses. Their fix is a *mixed-precision decomposition*:

    outlier columns  C = { j : |x[i, j]| >= threshold for some row i }     (threshold 6.0)
    y = x[:, C] @ W[:, C].T                  float, a handful of columns
      + int8( x[:, ~C] ) @ int8( W[:, ~C] ).T  vector-wise INT8, everything else

"Vector-wise": every row of x gets its own absmax scale s_x (127 / max|x_i|) and every
output row of W its own s_w, so the int32 dot products come back as
    y_ij = (Σ_k qx_ik · qw_jk) · s_x,i · s_w,j / 127²

The weights are stored once in INT8 (per output row); the outlier columns are
dequantised from those INT8 weights when needed. That is exactly what bitsandbytes'
`Linear8bitLt(has_fp16_weights=False, threshold=6.0)` does, which the tests use as the
oracle.
"""

from __future__ import annotations

import torch

from llmcourse.quantization.int8 import check_finite

__all__ = ["find_outlier_columns", "int8_outlier_matmul", "vectorwise_quantize"]


def vectorwise_quantize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise absmax INT8 of a 2-D tensor: (q int8 (rows, cols), row absmax (rows,) float32).

    q = round(x · 127 / absmax_row); a row of zeros keeps absmax 0 and q 0.
    """
    absmax = x.abs().amax(dim=1).float()  # (rows,)
    safe = torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    q = torch.round(x.float() * (127.0 / safe[:, None])).to(torch.int8)
    return q, absmax


def find_outlier_columns(x: torch.Tensor, threshold: float = 6.0) -> torch.Tensor:
    """Indices of the feature columns of x (rows, features) where some |value| >= threshold."""
    if threshold <= 0:
        return torch.empty(0, dtype=torch.long, device=x.device)
    return torch.nonzero((x.abs() >= threshold).any(dim=0)).flatten()


def int8_outlier_matmul(x: torch.Tensor, w_q: torch.Tensor, w_absmax: torch.Tensor, threshold: float = 6.0,
                        bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """y = x @ W.T with W stored as INT8 rows (w_q (out, in), w_absmax (out,)) and LLM.int8()'s decomposition.

    x (..., in) float. Returns (y (..., out), the outlier columns used).
    """
    check_finite(x, "activation")
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1]).float()  # (rows, in)
    cols = find_outlier_columns(x2, threshold)
    inliers = x2.clone()
    if cols.numel():
        inliers[:, cols] = 0.0  # quantise without the outliers: they would ruin the row's scale
    qx, x_absmax = vectorwise_quantize(inliers)  # (rows, in) int8, (rows,)
    if cols.numel() and qx.shape[0] > 1:
        qx[:, cols] = 0
    # int32 accumulation of int8 products (computed exactly in float32 here: |sum| < 2^24 for in <= 1040)
    acc = qx.to(torch.int32) @ w_q.to(torch.int32).T if qx.shape[1] > 1040 else \
        (qx.float() @ w_q.float().T).round()
    y = acc.float() * (x_absmax[:, None] * w_absmax.float()[None, :]) / (127.0 * 127.0)  # (rows, out)
    if cols.numel():
        w_cols = w_q[:, cols].float() * (w_absmax.float()[:, None] / 127.0)  # dequantised outlier weights
        y = y + x2[:, cols] @ w_cols.T
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, -1), cols
