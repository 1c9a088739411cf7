"""Exercises of notebook 6.2 (quantisation). Oracles: PyTorch's own quantiser
(`torch.quantize_per_channel` / `_per_tensor`), torchao's affine quantisation for group-wise
INT4, and gguf-py's `gguf.quants.quantize` for llama.cpp's Q8_0 and Q4_0 blocks."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from llmcourse.exercises.registry import Case, exercise


def _weight(out_f: int, in_f: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(out_f, in_f, generator=g) * torch.rand(out_f, 1, generator=g) * 2  # rows of different ranges


# ----------------------------------------------------------------------------- absmax INT8
def _absmax_per_tensor(w):
    scale = w.abs().max() / 127
    return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale.expand(w.shape[0], 1).clone()


def _absmax_by_255(w):
    scale = w.abs().amax(dim=1, keepdim=True) / 255
    return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale


def _absmax_truncates(w):
    scale = w.abs().amax(dim=1, keepdim=True) / 127
    return (w / scale).to(torch.int8), scale  # .to(int8) cuts toward zero instead of rounding


@exercise("quantization.absmax_int8", difficulty=1, minutes=10,
          reference="llmcourse.quantization.int8:absmax_int8",
          wrong={"one scale for the whole matrix": _absmax_per_tensor, "scale = max / 255": _absmax_by_255,
                 "truncates instead of rounding": _absmax_truncates},
          hint="per row: scale = w.abs().amax(dim=1, keepdim=True) / 127, q = round(w / scale) as int8")
def _absmax_int8():
    for i, (o, n) in enumerate(((8, 16), (32, 64), (3, 128))):
        w = _weight(o, n, i)
        scale = w.abs().amax(dim=1, keepdim=True) / 127
        with warnings.catch_warnings():  # torch's quantised tensors are deprecated, their arithmetic is the oracle
            warnings.simplefilter("ignore")
            q = torch.quantize_per_channel(w, scale.flatten().double(), torch.zeros(o, dtype=torch.long), 0,
                                           torch.qint8).int_repr()
        yield Case(f"weight {o}x{n}", args=(w,), expected=(q, scale))


# ----------------------------------------------------------------------------- zero-point INT8
def _zp_no_zero_in_range(x):
    lo, hi = x.min(), x.max()  # forgets to stretch the range to include 0
    scale = (hi - lo) / 255
    zero = int(torch.round(-lo / scale).clamp(0, 255))
    return torch.clamp(torch.round(x / scale) + zero, 0, 255).to(torch.uint8), scale, zero


def _zp_by_256(x):
    lo, hi = x.min().clamp(max=0), x.max().clamp(min=0)
    scale = (hi - lo) / 256
    zero = int(torch.round(-lo / scale).clamp(0, 255))
    return torch.clamp(torch.round(x / scale) + zero, 0, 255).to(torch.uint8), scale, zero


def _zp_signed(x):
    lo, hi = x.min().clamp(max=0), x.max().clamp(min=0)
    scale = (hi - lo) / 255
    zero = int(torch.round(-lo / scale).clamp(0, 255))
    return torch.clamp(torch.round(x / scale) + zero, -128, 127).to(torch.int8), scale, zero


@exercise("quantization.zeropoint_int8", difficulty=2, minutes=15,
          reference="llmcourse.quantization.int8:zeropoint_int8",
          wrong={"range [min, max] without 0": _zp_no_zero_in_range, "scale = range / 256": _zp_by_256,
                 "int8 instead of uint8": _zp_signed},
          hint="lo = min(x.min(), 0), hi = max(x.max(), 0); scale = (hi - lo) / 255; zero = round(-lo / scale); "
               "q = clamp(round(x / scale) + zero, 0, 255) as uint8")
def _zeropoint_int8():
    for i, shift in enumerate((1.5, -0.7, 0.0)):
        x = _weight(6, 32, 10 + i) + shift  # lopsided tensors, like activations after a ReLU
        lo, hi = x.min().clamp(max=0), x.max().clamp(min=0)
        scale = (hi - lo) / 255
        zero = int(torch.round(-lo / scale).clamp(0, 255))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch.quantize_per_tensor(x, float(scale), zero, torch.quint8).int_repr()
        yield Case(f"6x32 shifted by {shift}", args=(x,), expected=(q, scale, zero))
    pos = torch.rand(4, 8, generator=torch.Generator().manual_seed(3)) + 1.0  # all positive: zero point 0
    s = pos.max() / 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.quantize_per_tensor(pos, float(s), 0, torch.quint8).int_repr()
    yield Case("all positive", args=(pos,), expected=(q, s, 0))


# ----------------------------------------------------------------------------- group-wise INT4
def _int4_per_row(w, group_size=64):
    lo, hi = w.amin(1, keepdim=True).clamp(max=0), w.amax(1, keepdim=True).clamp(min=0)
    scale = (hi - lo) / 15
    zero = torch.round(-lo / scale).clamp(0, 15)
    q = torch.clamp(torch.round(w / scale) + zero, 0, 15).to(torch.uint8)
    n = w.shape[1] // group_size
    return q, scale.expand(-1, n).clone(), zero.to(torch.uint8).expand(-1, n).clone()


def _int4_by_16(w, group_size=64):
    g = w.reshape(w.shape[0], -1, group_size)
    lo, hi = g.amin(-1, keepdim=True).clamp(max=0), g.amax(-1, keepdim=True).clamp(min=0)
    scale = (hi - lo) / 16
    zero = torch.round(-lo / scale).clamp(0, 15)
    q = torch.clamp(torch.round(g / scale) + zero, 0, 15).to(torch.uint8).reshape(w.shape)
    return q, scale[..., 0], zero[..., 0].to(torch.uint8)


def _int4_symmetric(w, group_size=64):
    g = w.reshape(w.shape[0], -1, group_size)
    scale = g.abs().amax(-1, keepdim=True) / 7.5
    q = torch.clamp(torch.round(g / scale) + 8, 0, 15).to(torch.uint8).reshape(w.shape)
    return q, scale[..., 0], torch.full(scale[..., 0].shape, 8, dtype=torch.uint8)


@exercise("quantization.int4_groupwise", difficulty=2, minutes=20,
          reference="llmcourse.quantization.int4:int4_groupwise",
          wrong={"one scale per row, not per group": _int4_per_row, "scale = range / 16": _int4_by_16,
                 "symmetric around code 8": _int4_symmetric},
          hint="reshape to (out, in / g, g); per group lo = min(.., 0), hi = max(.., 0), scale = (hi - lo) / 15, "
               "zero = round(-lo / scale), codes = clamp(round(w / scale) + zero, 0, 15)")
def _int4_groupwise():
    from torchao.quantization.quant_primitives import MappingType, choose_qparams_affine, quantize_affine

    from llmcourse.quantization.int4 import EPS

    for i, (o, n, g) in enumerate(((4, 128, 32), (8, 128, 64), (2, 256, 128))):
        w = _weight(o, n, 20 + i)
        scale, zero = choose_qparams_affine(w, MappingType.ASYMMETRIC, (1, g), torch.uint8, quant_min=0,
                                            quant_max=15, eps=EPS)  # the oracle: torchao
        codes = quantize_affine(w, (1, g), scale, zero, torch.uint8, 0, 15)
        yield Case(f"{o}x{n}, groups of {g}", args=(w, g),
                   expected=(codes, scale.reshape(o, n // g), zero.reshape(o, n // g).to(torch.uint8)))


# ----------------------------------------------------------------------------- GGUF blocks
def _blocks_for_gguf():
    rng = np.random.default_rng(0)
    yield "4 rows of 64", rng.standard_normal((4, 64)).astype(np.float32)
    yield "ties at .5", np.float32([[0.5, -0.5, 1.5, 2.5, -2.5, 127.0, -3.5, 0.25] * 4])
    yield "Q4_0 ties (d = 1)", np.float32([[-8.0, 2.5, -1.5, 0.5, 3.5, -6.5, 1.0, 4.5] * 4])
    yield "tiny values and a zero block", np.concatenate([(rng.standard_normal((1, 32)) * 1e-4),
                                                           np.zeros((1, 32))], axis=1).astype(np.float32)
    yield "heavy tails", (rng.standard_cauchy((3, 96)) * 5).astype(np.float32)


def _q8_round_even(x):
    b = x.reshape(-1, 32)
    d = np.abs(b).max(1, keepdims=True) / 127
    q = np.round(b / np.where(d == 0, 1, d)).astype(np.int8)  # numpy rounds halves to even
    return np.concatenate([d.astype("<f2").view(np.uint8), q.view(np.uint8)], 1).reshape(*x.shape[:-1], -1)


def _q8_by_128(x):
    b = x.reshape(-1, 32)
    d = np.abs(b).max(1, keepdims=True) / 128
    inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d))
    a = np.abs(b * inv)
    q = (np.sign(b) * (np.floor(a) + (a - np.floor(a) >= 0.5))).clip(-128, 127).astype(np.int8)
    return np.concatenate([d.astype("<f2").view(np.uint8), q.view(np.uint8)], 1).reshape(*x.shape[:-1], -1)


def _q8_float32_scale(x):
    b = x.reshape(-1, 32)
    d = (np.abs(b).max(1, keepdims=True) / 127).astype(np.float32)
    inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d))
    a = np.abs(b * inv)
    q = (np.sign(b) * (np.floor(a) + (a - np.floor(a) >= 0.5))).astype(np.int8)
    return np.concatenate([d.view(np.uint8), q.view(np.uint8)], 1).reshape(*x.shape[:-1], -1)


def _gguf_cases(qtype: str):
    import gguf

    for label, x in _blocks_for_gguf():
        yield Case(label, args=(x,), expected=gguf.quants.quantize(x, gguf.GGMLQuantizationType[qtype]))


@exercise("quantization.q8_0_block", difficulty=2, minutes=20,
          reference="llmcourse.quantization.gguf_blocks:quantize_q8_0",
          wrong={"numpy's round (halves to even)": _q8_round_even, "d = max / 128": _q8_by_128,
                 "scale stored as float32": _q8_float32_scale},
          hint="blocks of 32: d = max|x| / 127 (float32), q = round-half-away(x / d) as int8; each block is "
               "d.astype('<f2').view(uint8) (2 bytes) followed by the 32 codes viewed as uint8")
def _q8_0_block():
    yield from _gguf_cases("Q8_0")


def _q4_absmax(x):
    b = x.reshape(-1, 32)
    d = np.abs(b).max(1, keepdims=True) / 8  # the magnitude, not the signed extreme
    inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d))
    q = np.trunc(b * inv + np.float32(8.5)).astype(np.uint8).clip(0, 15)
    packed = q[:, :16] | (q[:, 16:] << 4)
    return np.concatenate([d.astype("<f2").view(np.uint8), packed], 1).reshape(*x.shape[:-1], -1)


def _q4_interleaved(x):
    b = x.reshape(-1, 32)
    m = np.take_along_axis(b, np.abs(b).argmax(1)[:, None], 1)
    d = m / np.float32(-8)
    inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d))
    q = np.trunc(b * inv + np.float32(8.5)).astype(np.uint8).clip(0, 15)
    packed = q[:, 0::2] | (q[:, 1::2] << 4)  # neighbours share a byte: not llama.cpp's layout
    return np.concatenate([d.astype("<f2").view(np.uint8), packed], 1).reshape(*x.shape[:-1], -1)


def _q4_rounds(x):
    b = x.reshape(-1, 32)
    m = np.take_along_axis(b, np.abs(b).argmax(1)[:, None], 1)
    d = m / np.float32(-8)
    inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d))
    q = (np.round(b * inv) + 8).astype(np.uint8).clip(0, 15)
    packed = q[:, :16] | (q[:, 16:] << 4)
    return np.concatenate([d.astype("<f2").view(np.uint8), packed], 1).reshape(*x.shape[:-1], -1)


@exercise("quantization.q4_0_block", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.quantization.gguf_blocks:quantize_q4_0",
          wrong={"d from the magnitude, not the signed extreme": _q4_absmax,
                 "neighbouring codes share a byte": _q4_interleaved, "round instead of trunc(+8.5)": _q4_rounds},
          hint="m = the block value with the largest |m| (keep its sign); d = m / -8; codes = "
               "min(15, trunc(x / d + 8.5)); byte j = code[j] | code[j + 16] << 4; block = d as '<f2' bytes + 16 bytes")
def _q4_0_block():
    yield from _gguf_cases("Q4_0")
