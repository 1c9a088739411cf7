"""Group-wise INT4: one scale and zero point per group of `group_size` weights in a row.

At 4 bits there are only 16 levels. One scale per row (per channel) is no longer enough:
a single large weight stretches the grid for the whole row and the small weights all
round to the same level. So each row (out, in) is cut into groups of g consecutive
weights (g = 32, 64 or 128 in GPTQ, AWQ and llama.cpp) and every group gets its own
range:

    group (g values) -> lo = min(group, 0), hi = max(group, 0)
    scale = (hi - lo) / 15,  zero = round(-lo / scale)        an integer in 0..15
    q = clamp(round(w / scale) + zero, 0, 15)                   w ≈ (q - zero) · scale

Two 4-bit codes fit in one byte (`pack_int4`), so the weights cost 4 bits each, plus
the group's scale and zero point: with g = 64 and a float32 scale and a byte zero point,
4 + 40 / 64 ≈ 4.6 bits per weight instead of 32.

The arithmetic is torchao's affine quantisation (`choose_qparams_affine` /
`quantize_affine`, MappingType.ASYMMETRIC, quant range 0..15, block (1, g)), which the
tests use as the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llmcourse.quantization.int8 import check_finite

__all__ = ["Int4Weight", "EPS", "dequantize_int4", "int4_groupwise", "pack_int4", "quantize_int4", "unpack_int4"]

EPS = torch.finfo(torch.float32).eps  # smallest scale: an all-zero group still divides by something


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """(..., n) codes in 0..15 -> (..., n / 2) bytes: even positions in the low nibble, odd in the high."""
    if q.shape[-1] % 2:
        raise ValueError(f"pack_int4 needs an even number of values per row, got {q.shape[-1]}")
    if q.numel() and (int(q.min()) < 0 or int(q.max()) > 15):
        raise ValueError("pack_int4 packs 4-bit codes: every value must be in 0..15")
    q = q.to(torch.uint8)
    return q[..., 0::2] | (q[..., 1::2] << 4)


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of pack_int4: (..., n / 2) bytes -> (..., n) codes."""
    low, high = packed & 0x0F, packed >> 4
    return torch.stack([low, high], dim=-1).flatten(-2)


@dataclass
class Int4Weight:
    """A group-wise INT4 matrix: packed codes (out, in / 2), scale and zero (out, in / g)."""

    packed: torch.Tensor
    scale: torch.Tensor
    zero: torch.Tensor
    group_size: int
    shape: tuple[int, int]

    def dequantize(self) -> torch.Tensor:
        return dequantize_int4(self)

    @property
    def nbytes(self) -> int:
        return self.packed.numel() + self.scale.numel() * self.scale.element_size() + self.zero.numel()

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.nbytes / (self.shape[0] * self.shape[1])


def quantize_int4(w: torch.Tensor, group_size: int = 64) -> Int4Weight:
    """Group-wise asymmetric INT4 of a 2-D weight (out, in); `in` must be a multiple of group_size."""
    check_finite(w, "weight matrix")
    if w.dim() != 2:
        raise ValueError(f"quantize_int4 takes a 2-D weight (out, in), got shape {tuple(w.shape)}")
    out_f, in_f = w.shape
    if group_size < 2 or group_size % 2 or in_f % group_size:
        raise ValueError(f"group_size={group_size} must be even and divide the row length {in_f}")
    groups = w.float().reshape(out_f, in_f // group_size, group_size)  # (out, n_groups, g)
    lo = groups.amin(dim=-1, keepdim=True).clamp(max=0.0)
    hi = groups.amax(dim=-1, keepdim=True).clamp(min=0.0)
    scale = ((hi - lo) / 15.0).clamp(min=EPS)  # (out, n_groups, 1)
    zero = torch.clamp(-torch.round(lo / scale), 0, 15)
    q = torch.clamp(torch.round(groups * (1.0 / scale)) + zero, 0, 15).to(torch.uint8)
    return Int4Weight(pack_int4(q.reshape(out_f, in_f)), scale.squeeze(-1), zero.squeeze(-1).to(torch.uint8),
                      group_size, (out_f, in_f))


def dequantize_int4(qw: Int4Weight) -> torch.Tensor:
    """The float matrix an Int4Weight stands for: (q - zero) · scale, group by group."""
    out_f, in_f = qw.shape
    q = unpack_int4(qw.packed).float().reshape(out_f, in_f // qw.group_size, qw.group_size)
    w = (q - qw.zero.float()[..., None]) * qw.scale[..., None]
    return w.reshape(out_f, in_f)


def int4_groupwise(w: torch.Tensor, group_size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Group-wise INT4 codes before packing: (codes uint8 (out, in) in 0..15, scale and zero (out, in / g))."""
    qw = quantize_int4(w, group_size)
    return unpack_int4(qw.packed), qw.scale, qw.zero
