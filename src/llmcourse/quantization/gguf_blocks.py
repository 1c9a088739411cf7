"""llama.cpp's block formats Q8_0 and Q4_0, from scratch, byte for byte.

GGUF stores a quantised matrix row by row, each row cut into blocks of 32 weights. A
block is a float16 scale d followed by the 32 codes:

    Q8_0  (34 bytes / 32 weights = 8.5 bits):
          d = max|x| / 127                          q = round(x / d)    (round half away from 0)
          bytes: d (2, little-endian float16) | q_0 .. q_31 (int8)
    Q4_0  (18 bytes / 32 weights = 4.5 bits):
          m = the value of largest magnitude, with its sign;   d = m / -8
          q = min(15, trunc(x / d + 8.5))             codes 0..15; x ≈ (q - 8) · d
          bytes: d (2) | 16 bytes: low nibble = q_j, high nibble = q_{j+16}

Q4_0 divides by -8 rather than 7 so that the largest value lands exactly on the code
0 (-8 · d = m), using all 16 levels; the sign trick keeps that extreme exact.

`gguf_quantize(x, "Q8_0")` returns the uint8 blocks (rows, row_len / 32 · bytes per
block), exactly what `gguf.quants.quantize` returns (the tests compare the bytes), and
what `export_gguf` writes into the file.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCK", "QTYPES", "gguf_dequantize", "gguf_quantize", "quantize_q4_0", "quantize_q8_0"]

BLOCK = 32
QTYPES = {"Q8_0": 2 + BLOCK, "Q4_0": 2 + BLOCK // 2}  # bytes per block of 32


def _check(x: np.ndarray, qtype: str) -> np.ndarray:
    if qtype not in QTYPES and qtype not in ("F16", "F32"):
        raise ValueError(f"unknown GGUF type {qtype!r}; use one of Q8_0, Q4_0, F16, F32")
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"gguf_quantize takes a float array, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"cannot quantise an array with {int(np.isnan(x).sum())} NaN and "
                         f"{int(np.isinf(x).sum())} inf values to {qtype}: the block scale would be NaN or inf. "
                         "Find where they came from (np.isfinite) and fix the weights first")
    if qtype in QTYPES and (x.ndim == 0 or x.shape[-1] % BLOCK):
        raise ValueError(f"{qtype} quantises rows in blocks of {BLOCK}: the last dimension "
                         f"({x.shape[-1] if x.ndim else 'none'}) must be a multiple of {BLOCK}; keep such a "
                         "tensor in F16 (llama.cpp's converter does the same)")
    return x


def _round_away(v: np.ndarray) -> np.ndarray:
    """C's roundf: halves go away from zero (numpy's round goes to even).

    Not floor(|v| + 0.5): in float32, 0.49999997 + 0.5 rounds up to 1. The fractional part
    a - floor(a) is exact, so compare it with 0.5 instead.
    """
    a = np.abs(v)
    whole = np.floor(a)
    return np.sign(v) * (whole + (a - whole >= np.float32(0.5)))


def _q8_0(blocks: np.ndarray) -> np.ndarray:
    d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)  # (n, 1) float32
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d)
    q = _round_away(blocks * inv).astype(np.int8)  # (n, 32)
    return np.concatenate([d.astype("<f2").view(np.uint8), q.view(np.uint8)], axis=1)  # (n, 34)


def _q4_0(blocks: np.ndarray) -> np.ndarray:
    pick = np.abs(blocks).argmax(axis=1)[:, None]  # first index of the largest magnitude
    m = np.take_along_axis(blocks, pick, axis=1)  # (n, 1), with its sign
    d = m / np.float32(-8)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d)
    q = np.trunc(blocks * inv + np.float32(8.5)).astype(np.uint8).clip(0, 15)  # (n, 32) codes
    packed = q[:, : BLOCK // 2] | (q[:, BLOCK // 2:] << np.uint8(4))  # (n, 16)
    return np.concatenate([d.astype("<f2").view(np.uint8), packed], axis=1)  # (n, 18)


def gguf_quantize(x: np.ndarray, qtype: str) -> np.ndarray:
    """x (..., n) float -> GGUF data: uint8 blocks (..., n / 32 · block bytes) for Q8_0 / Q4_0,
    float16 / float32 values for F16 / F32 (as gguf.quants.quantize)."""
    x = _check(x, qtype)
    if qtype == "F32":
        return x.astype(np.float32, copy=False)
    if qtype == "F16":
        return x.astype(np.float16, copy=False)
    blocks = x.astype(np.float32, copy=False).reshape(-1, BLOCK)  # (n_blocks, 32)
    out = (_q8_0 if qtype == "Q8_0" else _q4_0)(blocks)
    return out.reshape(*x.shape[:-1], x.shape[-1] // BLOCK * QTYPES[qtype])


def gguf_dequantize(data: np.ndarray, qtype: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """uint8 blocks -> float32 values: q · d (Q8_0), (q - 8) · d (Q4_0)."""
    if qtype in ("F16", "F32"):
        return np.asarray(data, dtype=np.float32)
    if qtype not in QTYPES:
        raise ValueError(f"unknown GGUF type {qtype!r}")
    blocks = np.asarray(data, dtype=np.uint8).reshape(-1, QTYPES[qtype])
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    if qtype == "Q8_0":
        q = blocks[:, 2:].copy().view(np.int8).astype(np.float32)
    else:
        packed = blocks[:, 2:]
        q = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.float32) - 8
    out = (q * d).reshape(*np.asarray(data).shape[:-1], -1)
    return out.reshape(shape) if shape is not None else out


def quantize_q8_0(x: np.ndarray) -> np.ndarray:
    """Q8_0 blocks of a float32 array (..., n): `gguf_quantize(x, "Q8_0")`."""
    return gguf_quantize(x, "Q8_0")


def quantize_q4_0(x: np.ndarray) -> np.ndarray:
    """Q4_0 blocks of a float32 array (..., n): `gguf_quantize(x, "Q4_0")`."""
    return gguf_quantize(x, "Q4_0")
