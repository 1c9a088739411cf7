"""INT8 / INT4 / LLM.int8() against their oracles: torch's quantiser, torchao's affine
quantisation, bitsandbytes' Linear8bitLt; quantised layers and models that run."""

import pytest
import torch

from llmcourse.quantization import (
    Int4Linear, Int8Linear, Int8OutlierLinear, absmax_quantize, dequantize_int4, find_outlier_columns,
    int8_outlier_matmul, model_nbytes, pack_int4, quantize_int4, quantize_model, unpack_int4, vectorwise_quantize,
    zeropoint_quantize,
)


def _weights(shape=(48, 96), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * torch.rand(shape[0], 1, generator=g) * 3  # rows of different ranges


def test_absmax_per_tensor_equals_torch_quantize_per_tensor():
    w = _weights()
    qt = absmax_quantize(w)
    oracle = torch.quantize_per_tensor(w, float(qt.scale), 0, torch.qint8).int_repr()
    assert qt.q.dtype == torch.int8
    assert torch.equal(qt.q, oracle)
    assert float(qt.scale) == pytest.approx(float(w.abs().max()) / 127, rel=1e-6)
    assert (qt.dequantize() - w).abs().max() <= float(qt.scale) / 2 + 1e-6  # half a step at most


def test_absmax_per_channel_equals_torch_quantize_per_channel():
    w = _weights()
    qt = absmax_quantize(w, dim=0)
    assert qt.scale.shape == (48, 1)
    oracle = torch.quantize_per_channel(w, qt.scale.flatten().double(), torch.zeros(48, dtype=torch.long), 0,
                                        torch.qint8).int_repr()
    assert torch.equal(qt.q, oracle)
    per_tensor = (absmax_quantize(w).dequantize() - w).pow(2).mean()
    per_channel = (qt.dequantize() - w).pow(2).mean()
    assert per_channel < per_tensor  # rows of different ranges: per-channel scales win


def test_zeropoint_equals_torch_quint8_per_tensor_and_per_channel():
    w = _weights() + 1.5  # lopsided: mostly positive
    qt = zeropoint_quantize(w)
    oracle = torch.quantize_per_tensor(w, float(qt.scale), int(qt.zero), torch.quint8).int_repr()
    assert qt.q.dtype == torch.uint8 and torch.equal(qt.q, oracle)
    qc = zeropoint_quantize(w, dim=0)
    oracle = torch.quantize_per_channel(w, qc.scale.flatten().double(), qc.zero.flatten().long(), 0,
                                        torch.quint8).int_repr()
    assert torch.equal(qc.q, oracle)
    # asymmetric beats symmetric on a lopsided tensor
    assert (qt.dequantize() - w).abs().mean() < (absmax_quantize(w).dequantize() - w).abs().mean()


def test_zero_point_keeps_zero_exact_and_all_zero_tensor():
    w = torch.tensor([[0.0, 0.3, 1.7, 2.9]])
    assert zeropoint_quantize(w).dequantize()[0, 0] == 0.0
    z = torch.zeros(3, 4)
    assert torch.equal(absmax_quantize(z).dequantize(), z) and torch.equal(zeropoint_quantize(z, 0).dequantize(), z)


def test_int4_groupwise_equals_torchao_affine():
    from torchao.quantization.quant_primitives import MappingType, choose_qparams_affine, quantize_affine

    from llmcourse.quantization.int4 import EPS

    w = _weights((16, 128))
    qw = quantize_int4(w, group_size=32)
    scale, zero = choose_qparams_affine(w, MappingType.ASYMMETRIC, (1, 32), torch.uint8, quant_min=0, quant_max=15,
                                        eps=EPS)
    codes = quantize_affine(w, (1, 32), scale, zero, torch.uint8, 0, 15)
    assert torch.allclose(qw.scale, scale.reshape(16, 4))
    assert torch.equal(qw.zero.long(), zero.reshape(16, 4).long())
    assert torch.equal(unpack_int4(qw.packed), codes)
    err = (dequantize_int4(qw) - w).abs()
    assert (err <= qw.scale.repeat_interleave(32, dim=1) / 2 + 1e-6).all()
    assert qw.packed.numel() == w.numel() // 2 and 4 < qw.bits_per_weight < 6


def test_int4_smaller_groups_are_more_accurate():
    w = _weights((32, 256))
    errors = [(dequantize_int4(quantize_int4(w, g)) - w).pow(2).mean() for g in (32, 64, 128, 256)]
    assert errors == sorted(errors)


def test_pack_unpack_roundtrip_and_errors():
    q = torch.randint(0, 16, (5, 8), dtype=torch.uint8)
    packed = pack_int4(q)
    assert packed.shape == (5, 4) and torch.equal(unpack_int4(packed), q)
    assert packed[0, 0] == q[0, 0] | (q[0, 1] << 4)
    with pytest.raises(ValueError, match="0..15"):
        pack_int4(torch.tensor([[16, 0]]))
    with pytest.raises(ValueError, match="even"):
        pack_int4(torch.tensor([[1, 2, 3]]))
    with pytest.raises(ValueError, match="divide"):
        quantize_int4(torch.randn(4, 40), group_size=32)


@pytest.mark.parametrize("fn", [absmax_quantize, zeropoint_quantize, lambda w: quantize_int4(w, 32),
                                lambda w: vectorwise_quantize(w) and int8_outlier_matmul(w, *vectorwise_quantize(w))])
def test_nan_and_inf_are_refused(fn):
    for bad in (float("nan"), float("inf"), float("-inf")):
        w = torch.randn(4, 32)
        w[1, 3] = bad
        with pytest.raises(ValueError, match="NaN"):
            fn(w)


def test_vectorwise_quant_equals_bitsandbytes():
    bnb_f = pytest.importorskip("bitsandbytes.functional")
    w = _weights()
    q, absmax = vectorwise_quantize(w)
    q_ref, absmax_ref, _ = bnb_f.int8_vectorwise_quant(w.clone())
    assert torch.equal(q, q_ref) and torch.allclose(absmax, absmax_ref)


@pytest.mark.parametrize("threshold", [0.0, 6.0])
def test_outlier_matmul_equals_bitsandbytes_linear8bitlt(threshold):
    bnb = pytest.importorskip("bitsandbytes")
    g = torch.Generator().manual_seed(1)
    w = (torch.randn(64, 128, generator=g) * 0.1).half().float()  # bitsandbytes quantises fp16 weights
    x = torch.randn(5, 128, generator=g)
    x[:, [3, 70]] *= 20  # two outlier features, as in large transformers
    x = x.half().float()  # and it casts the activations to fp16 before quantising them
    lin = bnb.nn.Linear8bitLt(128, 64, bias=False, has_fp16_weights=False, threshold=threshold)
    lin.weight = bnb.nn.Int8Params(w.clone(), requires_grad=False, has_fp16_weights=False)
    lin = lin.to("cpu").eval()  # inference: the INT8 path (training on CPU dequantises instead)
    want = lin(x.clone()).float()
    q, absmax = vectorwise_quantize(w)
    got, cols = int8_outlier_matmul(x, q, absmax, threshold)
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    if threshold:
        assert cols.tolist() == [3, 70]


def test_outlier_decomposition_rescues_int8_on_outlier_features():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(64, 256, generator=g) * 0.05
    x = torch.randn(8, 256, generator=g)
    x[:, 11] = 60.0  # one huge feature: per-row absmax spends the whole range on it
    q, absmax = vectorwise_quantize(w)
    exact = x @ w.T
    plain, _ = int8_outlier_matmul(x, q, absmax, threshold=0.0)
    mixed, cols = int8_outlier_matmul(x, q, absmax, threshold=6.0)
    assert cols.tolist() == [11]
    assert (mixed - exact).abs().mean() < 0.2 * (plain - exact).abs().mean()
    assert find_outlier_columns(x, 100.0).numel() == 0


@pytest.mark.parametrize("make", [Int8Linear, lambda lin: Int4Linear(lin, 32), Int8OutlierLinear])
def test_quantised_linears_run_close_to_float(make):
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 48)
    qlin = make(lin)
    x = torch.randn(3, 7, 64)
    rel = (qlin(x) - lin(x)).norm() / lin(x).norm()
    assert qlin(x).shape == (3, 7, 48) and rel < 0.15


def test_int8_linear_is_exact_per_channel_math():
    torch.manual_seed(0)
    lin = torch.nn.Linear(32, 16, bias=False)
    qlin = Int8Linear(lin)
    x = torch.randn(4, 32)
    w_hat = absmax_quantize(lin.weight.detach(), dim=0).dequantize()
    assert torch.allclose(qlin(x), x @ w_hat.T, atol=1e-5)


def test_quantize_model_on_the_course_gpt_keeps_logits_close_and_shrinks_it():
    import copy

    from week6_models import prompts, tiny_target

    model = tiny_target()
    ids = torch.tensor([prompts(1)[0][:20]])
    want = model(ids)[0]
    size = model_nbytes(model)
    for scheme, tol in (("int8", 0.05), ("int8-outliers", 0.05), ("int4", 0.5), ("nf4", 0.5)):
        q = quantize_model(copy.deepcopy(model), scheme)
        assert not any(type(m) is torch.nn.Linear for n, m in q.named_modules() if n != "lm_head")
        got = q(ids)[0]
        assert (got - want).norm() / want.norm() < tol, scheme
        assert model_nbytes(q) < size
    with pytest.raises(ValueError, match="unknown scheme"):
        quantize_model(copy.deepcopy(model), "int3")


def test_nf4_scheme_matches_bitsandbytes_nf4_logits():
    """quantize_model(..., "nf4") runs week 5's NF4 layers: the same 4-bit codes as bitsandbytes'
    Linear4bit (blocks of 64), so the course GPT's logits equal the bitsandbytes model's."""
    import copy

    from llmcourse.quantization.evaluate import bnb_quantize
    from week6_models import prompts, tiny_target

    model = tiny_target()
    ids = torch.tensor([prompts(1)[0][:20]])
    ours = quantize_model(copy.deepcopy(model), "nf4")(ids)[0]
    theirs = bnb_quantize(model, "nf4")(ids)[0]
    want = model(ids)[0]
    assert (ours - theirs).norm() / want.norm() < 1e-3  # (INT4 g=64 differs by ~0.5)
