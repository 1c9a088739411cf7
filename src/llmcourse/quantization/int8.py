"""INT8 quantisation from scratch: absmax (symmetric) and zero-point (asymmetric).

A float tensor x is stored as small integers q and a *scale* (and a *zero point*):

    absmax:      scale = max|x| / 127             q = round(x / scale)           in [-127, 127]
                 x ≈ q · scale                    (0 maps to 0 exactly; the grid is symmetric)
    zero-point:  scale = (max - min) / 255        q = round(x / scale) + zero    in [0, 255]
                 zero = round(-min / scale)       x ≈ (q - zero) · scale
                 (the whole byte covers [min, max]: better for lopsided tensors, like
                 activations after a ReLU)

One scale for the whole tensor (*per tensor*) is ruined by a single large value: every
other value lands on a handful of levels. One scale per output channel (*per channel*,
a row of a weight matrix (out, in)) adapts to each row's range and is what every real
INT8 scheme uses for weights.

These follow PyTorch's own quantiser (`torch.quantize_per_tensor` / `_per_channel`):
the same round-half-to-even of x · (1 / scale), the same ranges (the zero-point range
always contains 0, so zero padding stays exact), so the tests compare our integers with
torch's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["QTensor", "absmax_int8", "absmax_quantize", "check_finite", "dequantize", "quantization_error",
           "zeropoint_int8", "zeropoint_quantize"]


def check_finite(x: torch.Tensor, what: str = "tensor") -> torch.Tensor:
    """Raise a clear ValueError when x holds NaN or ±inf (a scale from them would be NaN or inf)."""
    if not torch.is_tensor(x):
        raise TypeError(f"expected a torch.Tensor to quantise, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"quantise floating-point tensors, got dtype {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"cannot quantise an empty {what}")
    bad = ~torch.isfinite(x)
    if bad.any():
        n_nan, n_inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
        raise ValueError(f"cannot quantise a {what} with {n_nan} NaN and {n_inf} inf values: the scale would be "
                         "NaN or inf and every value would come back wrong. Find where they came from "
                         "(torch.isfinite(x).all()) — a diverged training run or an fp16 overflow — and fix that first")
    return x


@dataclass
class QTensor:
    """Integers plus what it takes to get the floats back: x ≈ (q - zero) · scale.

    `dim` is the channel axis (None = one scale for the whole tensor); `scale` and `zero`
    then have the tensor's number of dimensions with size 1 everywhere except `dim`, so
    they broadcast against q.
    """

    q: torch.Tensor
    scale: torch.Tensor
    zero: torch.Tensor | None = None
    dim: int | None = None
    bits: int = 8

    def dequantize(self) -> torch.Tensor:
        q = self.q.float()
        if self.zero is not None:
            q = q - self.zero.float()
        return q * self.scale

    @property
    def nbytes(self) -> int:
        """Storage: the integers at `bits` bits each, plus scales (and zero points) in float32."""
        extra = self.scale.numel() * 4 + (0 if self.zero is None else self.zero.numel())
        return self.q.numel() * self.bits // 8 + extra


def _amax(x: torch.Tensor, dim: int | None, fn) -> torch.Tensor:
    """fn (amax or amin) over every axis except `dim`, keeping dims so the result broadcasts."""
    if dim is None:
        return fn(x).reshape([1] * x.dim())
    dim = dim % x.dim()
    axes = [a for a in range(x.dim()) if a != dim]
    return fn(x, dim=axes, keepdim=True) if axes else x.clone()


def absmax_quantize(x: torch.Tensor, dim: int | None = None) -> QTensor:
    """Symmetric INT8: scale = max|x| / 127 (per tensor, or per slice along `dim`), q in [-127, 127].

    An all-zero slice gets scale 1 (any scale represents zeros exactly).
    """
    check_finite(x)
    amax = _amax(x.abs().float(), dim, torch.amax)  # (1, ..) or channel-shaped
    scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
    q = torch.round(x.float() * (1.0 / scale)).clamp(-127, 127).to(torch.int8)
    return QTensor(q, scale, None, dim, 8)


def zeropoint_quantize(x: torch.Tensor, dim: int | None = None) -> QTensor:
    """Asymmetric INT8 (uint8): the range [min(x, 0), max(x, 0)] spread over 0..255.

    scale = (hi - lo) / 255, zero = round(-lo / scale) (clamped to 0..255): the integer that
    stands for 0.0. q = clamp(round(x / scale) + zero, 0, 255).
    """
    check_finite(x)
    xf = x.float()
    lo = torch.clamp(_amax(xf, dim, torch.amin), max=0.0)
    hi = torch.clamp(_amax(xf, dim, torch.amax), min=0.0)
    scale = (hi - lo) / 255.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    zero = torch.clamp(torch.round(-lo / scale), 0, 255).to(torch.int32)
    q = torch.clamp(torch.round(xf * (1.0 / scale)) + zero, 0, 255).to(torch.uint8)
    return QTensor(q, scale, zero, dim, 8)


def dequantize(qt: QTensor) -> torch.Tensor:
    """The floats a QTensor stands for: (q - zero) · scale."""
    return qt.dequantize()


def quantization_error(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, float]:
    """How far x_hat is from x: max and mean absolute error, and the signal-to-noise ratio in dB."""
    err = (x.float() - x_hat.float())
    noise = err.pow(2).mean()
    snr = 10 * torch.log10(x.float().pow(2).mean() / noise.clamp(min=1e-30))
    return {"max_abs": float(err.abs().max()), "mean_abs": float(err.abs().mean()),
            "rmse": float(noise.sqrt()), "snr_db": float(snr)}


def absmax_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row (per output channel) absmax INT8 of a weight (out, in): (q int8 (out, in), scale (out, 1))."""
    qt = absmax_quantize(w, dim=0)
    return qt.q, qt.scale


def zeropoint_int8(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-tensor zero-point INT8: (q uint8, scale (a 0-d float tensor), zero point (an int in 0..255))."""
    qt = zeropoint_quantize(x)
    return qt.q, qt.scale.reshape(()), int(qt.zero)
