"""NF4 from scratch against bitsandbytes: the same packed codes, absmax and dequantised weights."""

import pytest
import torch

from llmcourse.quantization import (NF4_CODE, NF4Linear, dequantize_nf4, dynamic_code, nf4_bits_per_weight,
                                    normal_float_code, quantize_nf4)

bnbF = pytest.importorskip("bitsandbytes.functional")


def _bnb(w, blocksize, double_quant):
    q, state = bnbF.quantize_4bit(w, blocksize=blocksize, quant_type="nf4", compress_statistics=double_quant)
    return q, state, bnbF.dequantize_4bit(q, state)


def test_code_book_is_bitsandbytes_and_derived_from_normal_quantiles():
    assert torch.equal(NF4_CODE, bnbF.get_4bit_type("nf4", device="cpu"))
    derived = normal_float_code()
    assert (derived - NF4_CODE).abs().max() < 3e-7  # scipy's rounding in the original vs torch.special.ndtri
    assert derived[7] == 0 and derived[0] == -1 and derived[-1] == 1


def test_dynamic_code_is_bitsandbytes():
    assert torch.equal(dynamic_code(), bnbF.create_dynamic_map(signed=True))


@pytest.mark.parametrize("shape,blocksize", [((64, 128), 64), ((256, 256), 64), ((40, 33), 32), ((300, 7), 128),
                                             ((5,), 64), ((1000,), 256)])
@pytest.mark.parametrize("double_quant", [False, True])
def test_codes_absmax_and_dequantised_equal_bitsandbytes(shape, blocksize, double_quant):
    g = torch.Generator().manual_seed(hash((shape, blocksize)) % 1000)
    w = torch.randn(shape, generator=g) * 0.05
    q = quantize_nf4(w, blocksize, double_quant)
    bq, state, bdeq = _bnb(w, blocksize, double_quant)
    assert torch.equal(q.packed, bq.view(-1)), "packed 4-bit codes differ"
    assert torch.equal(q.absmax, state.absmax), "absmax (or its 8-bit codes) differ"
    if double_quant:
        assert torch.equal(q.absmax_scale, state.state2.absmax)
        assert q.absmax_offset == pytest.approx(state.offset.item(), abs=0)
    deq = dequantize_nf4(q)
    assert deq.shape == w.shape and deq.dtype == w.dtype
    bdeq = bdeq.reshape(w.shape)  # bitsandbytes returns a 1-D tensor as (1, n)
    assert torch.equal(deq, bdeq), f"dequantised weights differ by {(deq - bdeq).abs().max():.3g}"


def test_bfloat16_weights_equal_bitsandbytes():
    w = (torch.randn(128, 64) * 0.02).bfloat16()
    q = quantize_nf4(w, 64)
    bq, state, bdeq = _bnb(w, 64, False)
    assert torch.equal(q.packed, bq.view(-1)) and torch.equal(dequantize_nf4(q), bdeq)


def test_error_is_small_and_storage_is_4_point_5_bits():
    w = torch.randn(512, 512)
    q = quantize_nf4(w, 64)
    rel = (dequantize_nf4(q) - w).norm() / w.norm()
    assert rel < 0.12
    assert q.nbytes() * 8 / w.numel() == pytest.approx(nf4_bits_per_weight(64, False))
    qd = quantize_nf4(w, 64, double_quant=True)
    assert qd.nbytes() < q.nbytes()
    assert nf4_bits_per_weight(64, True) == pytest.approx(4.127, abs=1e-3)


def test_zero_block_and_odd_size_pad_with_the_exact_zero():
    w = torch.zeros(3 * 64 + 5)
    w[:64] = torch.randn(64)
    q = quantize_nf4(w, 64)
    assert torch.equal(dequantize_nf4(q)[64:], torch.zeros(3 * 64 + 5 - 64))
    assert (q.packed[-1] & 0xF) == 7, "the padding nibble of an odd-sized tensor is code 7 (0.0)"


@pytest.mark.parametrize("bad,kwargs,match", [
    (torch.arange(10), {}, "float tensor"),
    (torch.randn(10), {"blocksize": 48}, "blocksize"),
    (torch.randn(0), {}, "empty"),
    (torch.tensor([1.0, float("nan")]), {}, "NaN"),
])
def test_bad_input(bad, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        quantize_nf4(bad, **kwargs)
    with pytest.raises(TypeError, match="NF4Tensor"):
        dequantize_nf4(torch.zeros(3))


def test_nf4_linear_matches_bitsandbytes_linear4bit_and_backpropagates():
    bnb = pytest.importorskip("bitsandbytes")
    torch.manual_seed(0)
    lin = torch.nn.Linear(128, 64)
    ours = NF4Linear(lin, 64, double_quant=True, compute_dtype=torch.float32)
    ref = bnb.nn.Linear4bit(128, 64, bias=True, compute_dtype=torch.float32, quant_type="nf4", compress_statistics=True)
    ref.weight = bnb.nn.Params4bit(lin.weight.data.clone(), requires_grad=False, quant_type="nf4",
                                   compress_statistics=True, blocksize=64)
    ref.bias = torch.nn.Parameter(lin.bias.data.clone())
    ref = ref.to("cpu")
    x = torch.randn(5, 128, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y, y2 = ours(x), ref(x2)
    assert torch.allclose(y, y2, atol=1e-5)
    y.square().sum().backward()
    y2.square().sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-4)
    assert ours.weight_bytes() < lin.weight.numel()  # under one byte per weight
