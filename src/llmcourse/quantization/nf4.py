"""NF4: the 4-bit NormalFloat data type of QLoRA, from scratch (bit-exact with bitsandbytes).

Trained weights are roughly normally distributed around zero. A 4-bit code has 16 values;
NF4 puts them at *quantiles of the standard normal*, so each code is used about equally
often on normal data (an "information-theoretically optimal" 4-bit type for it):

    code = sorted([ Φ⁻¹(p) for 8 p in linspace(offset, 0.5)  (positive side, 8 values)
                   -Φ⁻¹(p) for 7 p in linspace(offset, 0.5)  (negative side, 7 values) ] + [0])
    code = code / max(code)                     # in [-1, 1], with an exact 0 (padding, ReLU zeros)

Quantising a weight tensor w, block by block (64 numbers per block by default):

    absmax_b = max |w| over block b                     one float32 per block
    q_i      = index of the code value nearest w_i / absmax_b      4 bits
    w_i     ≈ code[q_i] · absmax_b                      dequantised

Two 4-bit codes are packed per byte, the first in the high nibble. 64 weights cost 32
bytes of codes + 4 bytes of absmax = 4.5 bits per weight. **Double quantisation** shrinks
the absmax too: subtract their mean, quantise them to 8 bits with bitsandbytes' dynamic
(signed, exponent + fraction) code in blocks of 256, keeping one float32 scale per 256
blocks: 8/64 + 32/(64·256) ≈ 0.127 bits per weight of overhead instead of 0.5.

A tensor whose size is not a multiple of the block size gets a shorter last block (its
absmax is taken over the numbers it has) and, for an odd size, one padding nibble (code 7,
the exact zero) — as bitsandbytes does, so the codes are equal byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["NF4Linear", "NF4_CODE", "NF4Tensor", "dequantize_nf4", "double_quantize_absmax", "dynamic_code",
           "nf4_bits_per_weight", "normal_float_code", "quantize_blockwise", "quantize_model_nf4", "quantize_nf4"]

# The 16 NF4 values as published with QLoRA (and hard-coded in bitsandbytes). They are what
# normal_float_code() derives, rounded to float32 by the original scipy computation: the two
# agree to 2e-7 (the notebook shows it); we store the published ones so our codes are bit-exact.
NF4_CODE = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], dtype=torch.float32)
BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)
ABSMAX_BLOCK = 256  # double quantisation: absmax values per 8-bit block


def normal_float_code(offset: float = 0.9677083) -> torch.Tensor:
    """Derive the NF4 code book from quantiles of the standard normal (float32, sorted, 16 values).

    offset: the outermost probability, (1 - 1/(2·15) + 1 - 1/(2·16)) / 2, so the extreme
    quantiles are finite. 8 positive and 7 negative quantiles plus an exact zero, scaled to
    [-1, 1]: asymmetric, because 16 values cannot be symmetric around a zero they include.
    """
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, 9, dtype=torch.float64)[:-1])  # 8 values > 0
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, 8, dtype=torch.float64)[:-1])  # 7 values < 0
    code = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values
    return (code / code.max()).float()


def dynamic_code(max_exponent_bits: int = 7, total_bits: int = 8) -> torch.Tensor:
    """bitsandbytes' signed 8-bit *dynamic* code (256 sorted values in [-1, 1]).

    A sign bit, then a run of zeros that acts as a decimal exponent (10^-6 .. 10^0) and a
    linear fraction in the remaining bits: fine steps near zero, coarse ones near 1 — a
    tiny floating-point format (Dettmers, "8-bit approximations", 2015).
    """
    values: list[float] = []
    non_sign = total_bits - 1
    for i in range(max_exponent_bits):
        items = 2 ** (i + non_sign - max_exponent_bits) + 1
        bounds = torch.linspace(0.1, 1, items, dtype=torch.float32)
        means = (bounds[:-1] + bounds[1:]) / 2.0  # the middles of `items - 1` equal steps
        scale = 10 ** (-(max_exponent_bits - 1) + i)
        values += (scale * means).tolist() + (-scale * means).tolist()
    values += [0.0, 1.0]
    values += [0.0] * (2 ** total_bits - len(values))
    return torch.tensor(sorted(values), dtype=torch.float32)


def _nearest(scaled: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Index of the nearest value of the sorted `code` for every entry: compare with the midpoints."""
    midpoints = (code[:-1] + code[1:]) / 2
    return torch.bucketize(scaled, midpoints, out_int32=True).to(torch.uint8)


LUT_STEPS = 65536  # bitsandbytes' CPU kernel: [-1, 1] cut into this many evenly spaced points


def _nearest_via_table(scaled: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """bitsandbytes' CPU rounding for 8-bit codes: snap to one of 65,536 evenly spaced points
    in [-1, 1], then take the code nearest that point.

    The same as `_nearest` except within ~1/65535 of a midpoint between two codes (a near
    tie), where the snapped point can fall on the other side. Its CUDA kernel rounds directly.
    """
    steps = LUT_STEPS - 1
    index = ((scaled.clamp(-1, 1) + 1.0) * 0.5 * steps + 0.5).to(torch.int32)  # float32 math, truncated
    points = -1.0 + (2.0 * index.float()) / steps  # the grid point each value snapped to
    midpoints = (code[:-1] + code[1:]) / 2
    return torch.bucketize(points, midpoints, right=False, out_int32=True).to(torch.uint8)


def _blockwise_absmax(flat: torch.Tensor, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(absmax per block (n_blocks,), flat / its block's absmax clamped to [-1, 1]); last block may be short."""
    n = flat.numel()
    n_blocks = -(-n // blocksize)
    padded = torch.nn.functional.pad(flat, (0, n_blocks * blocksize - n))  # zeros never raise a max
    blocks = padded.view(n_blocks, blocksize)  # (n_blocks, blocksize)
    absmax = blocks.abs().amax(dim=1)
    scaled = (blocks * (1.0 / absmax.clamp(min=1e-38))[:, None]).clamp(-1, 1).reshape(-1)[:n]
    return absmax, scaled


@dataclass
class NF4Tensor:
    """A weight tensor in NF4: packed codes plus what dequantisation needs.

    packed  uint8 (ceil(n / 2),)   two 4-bit codes per byte, first code in the high nibble
    absmax  float32 (n_blocks,)    one scale per block — or, with double quantisation,
            uint8 (n_blocks,)      8-bit codes of (absmax - absmax_offset) ...
    absmax_scale  float32 (ceil(n_blocks / 256),)   ... with one scale per 256 of them
    """

    packed: torch.Tensor
    absmax: torch.Tensor
    shape: tuple[int, ...]
    dtype: torch.dtype
    blocksize: int = 64
    absmax_scale: torch.Tensor | None = None
    absmax_offset: float = 0.0  # the mean of the absmax, subtracted before the 8-bit code

    @property
    def double_quant(self) -> bool:
        return self.absmax_scale is not None

    def real_absmax(self) -> torch.Tensor:
        """The float32 absmax of every block (undoing double quantisation when used)."""
        if not self.double_quant:
            return self.absmax
        code = dynamic_code().to(self.absmax.device)
        n = self.absmax.numel()
        values = code[self.absmax.long()]
        values = torch.nn.functional.pad(values, (0, (-n) % ABSMAX_BLOCK)).view(-1, ABSMAX_BLOCK)
        offset = torch.tensor(self.absmax_offset, dtype=torch.float32, device=values.device)
        return (values * self.absmax_scale[:, None]).reshape(-1)[:n] + offset

    def nbytes(self) -> int:
        """Bytes this tensor occupies (codes + scales): compare with numel * 4 for float32."""
        extra = self.absmax_scale.nbytes + 4 if self.double_quant else 0
        return self.packed.nbytes + self.absmax.nbytes + extra

    def dequantize(self) -> torch.Tensor:
        return dequantize_nf4(self)

    def to(self, device) -> NF4Tensor:
        scale = self.absmax_scale.to(device) if self.double_quant else None
        return NF4Tensor(self.packed.to(device), self.absmax.to(device), self.shape, self.dtype, self.blocksize,
                         scale, self.absmax_offset)


def nf4_bits_per_weight(blocksize: int = 64, double_quant: bool = False) -> float:
    """Storage cost per weight: 4 bits of code + the block's scale shared by `blocksize` weights."""
    if double_quant:
        return 4 + 8 / blocksize + 32 / (blocksize * ABSMAX_BLOCK)
    return 4 + 32 / blocksize


def quantize_nf4(w: torch.Tensor, blocksize: int = 64, double_quant: bool = False) -> NF4Tensor:
    """Quantise a float tensor to NF4, block by block (see the module docstring).

    Equal to bitsandbytes' `quantize_4bit(w, blocksize, quant_type="nf4",
    compress_statistics=double_quant)`: the same packed bytes and the same absmax.
    """
    if not isinstance(w, torch.Tensor) or not w.is_floating_point():
        raise TypeError(f"quantize_nf4 takes a float tensor (weights), got "
                        f"{getattr(w, 'dtype', type(w).__name__)}")
    if blocksize not in BLOCKSIZES:
        raise ValueError(f"blocksize must be one of {BLOCKSIZES} (a power of two, as in bitsandbytes), got {blocksize}")
    if w.numel() == 0:
        raise ValueError("cannot quantise an empty tensor")
    flat = w.detach().reshape(-1).float()
    if not torch.isfinite(flat).all():
        raise ValueError("the tensor holds NaN or inf: a block's absmax would be meaningless; fix the weights first")
    codes, absmax = quantize_blockwise(flat, NF4_CODE.to(flat.device), blocksize)  # (n,) codes 0..15
    q = codes
    if q.numel() % 2:
        q = torch.cat([q, q.new_full((1,), 7)])  # one padding nibble: code 7 is the exact 0
    packed = (q[0::2] << 4) | q[1::2]  # (ceil(n / 2),) first code in the high nibble
    if not double_quant:
        return NF4Tensor(packed, absmax, tuple(w.shape), w.dtype, blocksize)
    codes8, scales, offset = double_quantize_absmax(absmax)
    return NF4Tensor(packed, codes8, tuple(w.shape), w.dtype, blocksize, scales, offset)


def quantize_blockwise(w: torch.Tensor, code: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Unpacked codes (n,) uint8 and absmax (n_blocks,): each number divided by its block's absmax,
    then the index of the nearest value of the sorted `code`."""
    absmax, scaled = _blockwise_absmax(w.detach().reshape(-1).float(), blocksize)
    return _nearest(scaled, code.to(scaled.device)), absmax


def double_quantize_absmax(absmax: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Quantise the block scales themselves: (8-bit codes (n,), one float32 scale per 256, the mean offset).

    absmax values are all positive; subtracting their mean centres them so the signed dynamic
    code's both halves are used. Rounding follows bitsandbytes' CPU kernel (`_nearest_via_table`).
    """
    offset = absmax.mean()  # centre the scales (all positive) so the signed 8-bit code fits them
    scales, scaled = _blockwise_absmax(absmax - offset, ABSMAX_BLOCK)
    codes = _nearest_via_table(scaled, dynamic_code().to(absmax.device))
    empty = (scales == 0).repeat_interleave(ABSMAX_BLOCK)[: codes.numel()]
    codes[empty] = 0  # bitsandbytes writes code 0 for an all-zero block (any code times a zero scale is 0)
    return codes, scales, float(offset)


def dequantize_nf4(q: NF4Tensor) -> torch.Tensor:
    """The tensor an NF4Tensor stands for: code[q_i] · absmax of its block, in the original shape and dtype."""
    if not isinstance(q, NF4Tensor):
        raise TypeError(f"dequantize_nf4 takes what quantize_nf4 returns (an NF4Tensor), got {type(q).__name__}")
    n = math.prod(q.shape)
    values = _byte_table(q.packed.device)[q.packed.long()].reshape(-1)[:n]  # (n,) both nibbles of each byte, in [-1, 1]
    absmax = q.real_absmax()
    n_blocks = absmax.numel()
    if n_blocks * q.blocksize != n:  # a short last block: pad to whole blocks, cut after
        values = torch.nn.functional.pad(values, (0, n_blocks * q.blocksize - n))
    out = (values.view(n_blocks, q.blocksize) * absmax[:, None]).reshape(-1)[:n]
    return out.view(q.shape).to(q.dtype)


_BYTE_TABLES: dict = {}


def _byte_table(device) -> torch.Tensor:
    """(256, 2): the two NF4 values a packed byte stands for (high nibble, low nibble) — one lookup per byte."""
    key = str(device)
    if key not in _BYTE_TABLES:
        code = NF4_CODE.to(device)
        _BYTE_TABLES[key] = torch.stack([code.repeat_interleave(16), code.repeat(16)], dim=1)
    return _BYTE_TABLES[key]


# ----------------------------------------------------------------------------- a frozen NF4 linear layer
class _NF4Matmul(torch.autograd.Function):
    """y = x W^T with W kept in NF4: dequantised for the product and again for the backward pass.

    Saving the dequantised W for backward (what a plain F.linear would do) would keep a full
    float copy of every layer alive until the backward pass — and the memory QLoRA saves is
    gone. Only the gradient with respect to x is needed: W is frozen.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, q: NF4Tensor, dtype: torch.dtype) -> torch.Tensor:  # type: ignore[override]
        ctx.q, ctx.dtype = q, dtype
        return x.to(dtype) @ dequantize_nf4(q).to(dtype).T  # (..., out)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        grad_x = grad_out.to(ctx.dtype) @ dequantize_nf4(ctx.q).to(ctx.dtype)  # (..., in)
        return grad_x, None, None


class NF4Linear(torch.nn.Module):
    """A frozen linear layer whose weight is stored in NF4 (the base layer of QLoRA).

    The weight costs ~4.1 bits instead of 32; the product runs in `compute_dtype`
    (bfloat16 by default, as QLoRA does), dequantising one layer at a time. Like
    bitsandbytes' `Linear4bit`.
    """

    def __init__(self, linear: torch.nn.Linear, blocksize: int = 64, double_quant: bool = True,
                 compute_dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.compute_dtype = compute_dtype
        self.nf4 = quantize_nf4(linear.weight.detach(), blocksize, double_quant)
        self.bias = None if linear.bias is None else torch.nn.Parameter(linear.bias.detach().clone(),
                                                                        requires_grad=False)

    def dequantized_weight(self) -> torch.Tensor:
        return dequantize_nf4(self.nf4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _NF4Matmul.apply(x, self.nf4, self.compute_dtype)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return y

    def _apply(self, fn, recurse=True):  # .to(device) moves the packed codes too
        super()._apply(fn, recurse)
        probe = fn(torch.zeros(1))
        if probe.device != self.nf4.packed.device:
            self.nf4 = self.nf4.to(probe.device)
        return self

    def weight_bytes(self) -> int:
        return self.nf4.nbytes()

    def extra_repr(self) -> str:
        dq = ", double-quantised absmax" if self.nf4.double_quant else ""
        return (f"in={self.in_features}, out={self.out_features}, NF4 blocks of {self.nf4.blocksize}{dq}, "
                f"compute {self.compute_dtype}")


def quantize_model_nf4(model: torch.nn.Module, skip: tuple[str, ...] = ("lm_head",), blocksize: int = 64,
                       double_quant: bool = True, compute_dtype: torch.dtype = torch.bfloat16) -> torch.nn.Module:
    """Replace every nn.Linear (except names containing `skip`) by a frozen NF4Linear, in place."""
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and not any(s in n for s in skip)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to quantise (outside {skip})")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, NF4Linear(getattr(parent, child), blocksize, double_quant, compute_dtype))
    return model
