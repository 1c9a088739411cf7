"""Exercises of notebook 5.2 on NF4. Oracle: bitsandbytes (its NF4 table, its quantize_4bit codes,
its double-quantised absmax)."""

from __future__ import annotations

import torch

from llmcourse.exercises.registry import Case, exercise


def _bnb():
    import bitsandbytes.functional as bnbF

    return bnbF


def _uniform_code():
    return torch.linspace(-1, 1, 16)


def _symmetric_code():  # 8 quantiles on each side, no exact zero
    p = torch.linspace(0.5 + 1 / 32, 0.9677083, 8, dtype=torch.float64)
    v = torch.special.ndtri(p)
    code = torch.cat([-v.flip(0), v])
    return (code / code.max()).float()


@exercise("quantization_nf4.normal_float_code", difficulty=2, minutes=20,
          reference="llmcourse.quantization.nf4:normal_float_code",
          wrong={"evenly spaced (int4-like)": _uniform_code, "symmetric, no exact zero": _symmetric_code},
          hint="positive side: torch.special.ndtri(linspace(offset, 0.5, 9)[:-1]) (8 values); negative side: "
               "-ndtri(linspace(offset, 0.5, 8)[:-1]) (7 values); add 0; sort; divide by the max; float32")
def _code():
    yield Case("the 16 NF4 values of bitsandbytes", args=(), expected=_bnb().get_4bit_type("nf4", device="cpu"),
               atol=1e-6, rtol=0)


def _unpacked_bnb(w, blocksize):
    packed, state = _bnb().quantize_4bit(w, blocksize=blocksize, quant_type="nf4")
    packed = packed.view(-1)
    codes = torch.stack([packed >> 4, packed & 0xF], 1).reshape(-1)[: w.numel()]
    return codes, state.absmax


def _q_global_absmax(w, code, blocksize=64):
    from llmcourse.quantization.nf4 import _nearest

    flat = w.reshape(-1).float()
    am = flat.abs().max()
    n_blocks = -(-flat.numel() // blocksize)
    return _nearest(flat / am, code), am.repeat(n_blocks)


def _q_floor(w, code, blocksize=64):
    from llmcourse.quantization.nf4 import _blockwise_absmax

    absmax, scaled = _blockwise_absmax(w.reshape(-1).float(), blocksize)
    idx = (torch.searchsorted(code, scaled, right=True) - 1).clamp(0, 15)  # the code below, not the nearest
    return idx.to(torch.uint8), absmax


def _q_signed_max(w, code, blocksize=64):
    from llmcourse.quantization.nf4 import _nearest

    flat = w.reshape(-1).float()
    n_blocks = -(-flat.numel() // blocksize)
    padded = torch.nn.functional.pad(flat, (0, n_blocks * blocksize - flat.numel()))
    mx = padded.view(n_blocks, blocksize).max(1).values  # max, not max |w|
    scaled = (padded.view(n_blocks, blocksize) / mx[:, None]).clamp(-1, 1).reshape(-1)[: flat.numel()]
    return _nearest(scaled, code), mx


@exercise("quantization_nf4.quantize_blockwise", difficulty=2, minutes=20,
          reference="llmcourse.quantization.nf4:quantize_blockwise",
          wrong={"one absmax for the whole tensor": _q_global_absmax, "rounds down, not to nearest": _q_floor,
                 "max instead of max |w|": _q_signed_max},
          hint="flatten; pad to whole blocks; absmax = blocks.abs().amax(1); scaled = blocks / absmax[:, None]; "
               "code index = torch.bucketize(scaled, midpoints of the code); cut the padding off; codes as uint8")
def _quantize():
    from llmcourse.quantization.nf4 import NF4_CODE

    g = torch.Generator().manual_seed(11)
    for shape, bs in (((32, 64), 64), ((10, 30), 64), ((256,), 32), ((128, 8), 128)):
        w = torch.randn(shape, generator=g) * 0.03
        codes, absmax = _unpacked_bnb(w, bs)
        yield Case(f"{shape}, blocks of {bs}", args=(w, NF4_CODE, bs), expected=(codes, absmax))


def _dq_test(fn):
    from llmcourse.quantization.nf4 import dynamic_code

    bnbF = _bnb()
    g = torch.Generator().manual_seed(13)
    for n in (256, 1000, 4096):
        absmax = torch.rand(n, generator=g) * 0.1 + 0.01
        codes, scales, offset = fn(absmax)
        assert codes.dtype == torch.uint8 and codes.shape == (n,), "codes: uint8, one per absmax"
        assert scales.shape == (-(-n // 256),), "one float32 scale per block of 256 absmax values"
        want_offset = absmax.mean()
        assert abs(offset - want_offset.item()) < 1e-7, "subtract the mean of the absmax first (the offset)"
        q, state = bnbF.quantize_blockwise(absmax - want_offset, code=dynamic_code(), blocksize=256)
        assert torch.allclose(scales, state.absmax), "block scales differ from bitsandbytes'"
        agree = (codes == q).float().mean().item()
        off = (codes.int() - q.int()).abs().max().item()
        assert agree > 0.99 and off <= 1, f"only {agree:.1%} of the 8-bit codes match bitsandbytes' (max off by {off})"
        back = dynamic_code()[codes.long()].view(-1) * scales.repeat_interleave(256)[:n] + offset
        assert (back - absmax).abs().max() < 0.01 * absmax.max(), "the absmax do not come back from their codes"


def _dq_no_offset(absmax):
    from llmcourse.quantization.nf4 import _blockwise_absmax, _nearest, dynamic_code

    scales, scaled = _blockwise_absmax(absmax, 256)
    return _nearest(scaled, dynamic_code()), scales, 0.0


def _dq_one_scale(absmax):
    from llmcourse.quantization.nf4 import _nearest, dynamic_code

    offset = absmax.mean()
    c = absmax - offset
    s = c.abs().max()
    n_blocks = -(-absmax.numel() // 256)
    return _nearest(c / s, dynamic_code()), s.repeat(n_blocks), float(offset)


@exercise("quantization_nf4.double_quantize", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.quantization.nf4:double_quantize_absmax",
          wrong={"no mean offset": _dq_no_offset, "one scale for all blocks": _dq_one_scale},
          hint="offset = absmax.mean(); split (absmax - offset) into blocks of 256; per block scale = max |x|; "
               "codes = nearest value of dynamic_code() to x / scale (uint8); return (codes, scales, float(offset))")
def _double():
    yield Case("8-bit absmax codes as bitsandbytes makes them", test=_dq_test)
