"""Transformer building blocks against their oracles: torch modules and Hugging Face's Llama/BLOOM/XLM code."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from llmcourse.nn import (
    FeedForward,
    LayerNorm,
    LearnedPositions,
    MultiHeadAttention,
    RMSNorm,
    RotaryEmbedding,
    alibi_bias,
    alibi_slopes,
    apply_rotary,
    matched_hidden_size,
    sinusoidal_positions,
)


def _torch_mha_copy(ours: MultiHeadAttention, d: int, h: int) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(d, h, bias=ours.qkv.bias is not None, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.out_proj.weight.copy_(ours.proj.weight)
        if ours.qkv.bias is not None:
            ref.in_proj_bias.copy_(ours.qkv.bias)
            ref.out_proj.bias.copy_(ours.proj.bias)
    return ref.eval()


# ---------------------------------------------------------------- multi-head attention
@settings(max_examples=25, deadline=None)
@given(h=st.sampled_from([1, 2, 4, 8]), hd=st.sampled_from([2, 4, 8]), T=st.integers(1, 12),
       B=st.integers(1, 3), bias=st.booleans(), impl=st.sampled_from(["ours", "sdpa"]), seed=st.integers(0, 999))
def test_mha_equals_torch_multihead_attention(h, hd, T, B, bias, impl, seed):
    torch.manual_seed(seed)
    d = h * hd
    ours = MultiHeadAttention(d, h, bias=bias, attn_impl=impl).eval()
    ref = _torch_mha_copy(ours, d, h)
    x = torch.randn(B, T, d)
    # causal self-attention; torch's module wants True = BLOCKED, the opposite of ours
    blocked = torch.ones(T, T, dtype=torch.bool).triu(1)
    want, _ = ref(x, x, x, attn_mask=blocked, need_weights=False)
    torch.testing.assert_close(ours(x, is_causal=True), want, atol=1e-5, rtol=1e-4)
    # key padding (keep the first key so no row is empty)
    pad = torch.rand(B, T) > 0.6
    pad[:, 0] = False
    want, _ = ref(x, x, x, key_padding_mask=pad, need_weights=False)
    torch.testing.assert_close(ours(x, mask=~pad[:, None, None, :]), want, atol=1e-5, rtol=1e-4)


def test_mha_cross_attention_equals_torch():
    torch.manual_seed(0)
    ours = MultiHeadAttention(16, 4).eval()
    ref = _torch_mha_copy(ours, 16, 4)
    x, ctx = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    want, _ = ref(x, ctx, ctx, need_weights=False)
    torch.testing.assert_close(ours(x, context=ctx), want, atol=1e-5, rtol=1e-4)


def test_gqa_equals_repeated_kv_heads_and_hf_repeat_kv():
    from transformers.models.llama.modeling_llama import repeat_kv as hf_repeat_kv

    torch.manual_seed(0)
    H, Hkv, hd, T = 8, 2, 4, 6
    gqa = MultiHeadAttention(H * hd, H, Hkv).eval()
    x = torch.randn(2, T, H * hd)
    q, k, v = gqa.project_qkv(x)
    assert q.shape == (2, H, T, hd) and k.shape == v.shape == (2, Hkv, T, hd)
    k_full, v_full = hf_repeat_kv(k, H // Hkv), hf_repeat_kv(v, H // Hkv)
    y = F.scaled_dot_product_attention(q, k_full, v_full, is_causal=True)  # (B, H, T, hd)
    want = gqa.proj(y.transpose(1, 2).reshape(2, T, H * hd))
    torch.testing.assert_close(gqa(x, is_causal=True), want, atol=1e-5, rtol=1e-4)
    assert gqa.qkv.weight.shape[0] == (H + 2 * Hkv) * hd  # fewer K/V parameters


def test_mha_with_a_cache_attends_over_all_keys_bottom_right_causal():
    class ListCache:
        def __init__(self):
            self.k, self.v = None, None

        def update(self, layer_idx, k, v):
            self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
            self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
            return self.k, self.v

    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, 2).eval()
    x = torch.randn(1, 7, 16)
    full = mha(x, is_causal=True)
    cache = ListCache()
    steps = [mha(x[:, :4], is_causal=True, cache=cache)] + [mha(x[:, t:t + 1], is_causal=True, cache=cache) for t in range(4, 7)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-4)


def test_gqa_heads_that_do_not_divide_raise():
    with pytest.raises(ValueError, match="must divide n_heads"):
        MultiHeadAttention(24, 6, 4)
    with pytest.raises(ValueError, match="not divisible"):
        MultiHeadAttention(30, 4)
    with pytest.raises(ValueError, match="batch, length"):
        MultiHeadAttention(16, 4)(torch.randn(5, 16))


# ---------------------------------------------------------------- positions
def test_sinusoidal_equals_xlm_create_sinusoidal_embeddings():
    from transformers.models.xlm.modeling_xlm import create_sinusoidal_embeddings

    for n, d in ((50, 16), (33, 10), (7, 7)):
        ref = torch.empty(n, d)
        create_sinusoidal_embeddings(n, d, ref)
        torch.testing.assert_close(sinusoidal_positions(n, d), ref, atol=1e-5, rtol=1e-5)


def test_learned_positions_refuse_positions_past_the_table():
    pe = LearnedPositions(8, 4)
    assert pe(torch.arange(8)).shape == (8, 4)
    with pytest.raises(ValueError, match="cannot go past"):
        pe(torch.arange(9))


@pytest.mark.parametrize("hd, theta", [(8, 10000.0), (16, 500000.0), (64, 10000.0)])
def test_rope_equals_hf_llama_rotary_embedding(hd, theta):
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    H = 4
    cfg = LlamaConfig(hidden_size=H * hd, num_attention_heads=H, head_dim=hd,
                      rope_parameters={"rope_type": "default", "rope_theta": theta})
    hf_rope = LlamaRotaryEmbedding(cfg)
    ours = RotaryEmbedding(hd, theta)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, H, 11, hd, generator=g), torch.randn(2, 2, 11, hd, generator=g)
    pos = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]])
    cos_ref, sin_ref = hf_rope(q, pos)  # (B, T, hd)
    cos, sin = ours(pos)
    torch.testing.assert_close(cos, cos_ref)
    torch.testing.assert_close(sin, sin_ref)
    q_ref, k_ref = apply_rotary_pos_emb(q, k, cos_ref, sin_ref)
    torch.testing.assert_close(apply_rotary(q, cos, sin), q_ref)
    torch.testing.assert_close(apply_rotary(k, cos, sin), k_ref)


def test_rope_scores_depend_only_on_relative_position():
    rope = RotaryEmbedding(16)
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(16, generator=g), torch.randn(16, generator=g)

    def score(m, n):
        cq, sq = rope(torch.tensor([m]))
        ck, sk = rope(torch.tensor([n]))
        return (apply_rotary(q[None], cq, sq) * apply_rotary(k[None], ck, sk)).sum()

    torch.testing.assert_close(score(7, 3), score(104, 100), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("H", [1, 2, 4, 6, 8, 12, 16])
def test_alibi_equals_hf_bloom(H):
    from transformers.models.bloom.modeling_bloom import _get_alibi_slopes, build_alibi_tensor

    torch.testing.assert_close(alibi_slopes(H), _get_alibi_slopes(H, torch.device("cpu")))
    T = 9
    bloom = build_alibi_tensor(torch.ones(1, T), H, torch.float32).view(H, 1, T)  # slope * j
    ours = alibi_bias(H, T)  # -slope * (i - j)
    # the two differ by slope * i, one constant per query row
    torch.testing.assert_close(ours - bloom, -alibi_slopes(H)[:, None, None] * torch.arange(T)[None, :, None].float()
                               .expand(H, T, T))
    # ... which softmax ignores: the causal attention weights are identical
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    q, k = torch.randn(1, H, T, 8), torch.randn(1, H, T, 8)
    scores = q @ k.transpose(-2, -1) / math.sqrt(8)
    w_ours = (scores + ours).masked_fill(~causal, float("-inf")).softmax(-1)
    w_bloom = (scores + bloom).masked_fill(~causal, float("-inf")).softmax(-1)
    torch.testing.assert_close(w_ours, w_bloom)


def test_alibi_offset_matches_the_tail_of_the_full_bias():
    full = alibi_bias(4, 10)
    torch.testing.assert_close(alibi_bias(4, 3, 10), full[:, 7:])  # default offset S - L
    torch.testing.assert_close(alibi_bias(4, 1, 10, offset=9), full[:, 9:])


# ---------------------------------------------------------------- norms and feed-forward
def test_layernorm_and_rmsnorm_equal_torch_and_hf():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    torch.manual_seed(0)
    x = torch.randn(3, 5, 32) * 3 + 1
    ln, ref = LayerNorm(32), nn.LayerNorm(32)
    with torch.no_grad():
        ln.weight.normal_(), ln.bias.normal_()
        ref.weight.copy_(ln.weight), ref.bias.copy_(ln.bias)
    torch.testing.assert_close(ln(x), ref(x), atol=1e-5, rtol=1e-5)
    rms, ref2, hf = RMSNorm(32, eps=1e-6), nn.RMSNorm(32, eps=1e-6), LlamaRMSNorm(32, eps=1e-6)
    with torch.no_grad():
        rms.weight.normal_()
        ref2.weight.copy_(rms.weight), hf.weight.copy_(rms.weight)
    torch.testing.assert_close(rms(x), ref2(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rms(x), hf(x), atol=1e-5, rtol=1e-5)
    xb = x.bfloat16()
    torch.testing.assert_close(rms(xb).float(), hf.to(torch.float32)(xb).float(), atol=2e-2, rtol=2e-2)


def test_feedforward_variants_match_their_formulas_and_parameter_counts():
    from transformers.models.llama.modeling_llama import LlamaMLP
    from transformers import LlamaConfig

    d = 48
    counts = {}
    for act in ("relu", "gelu", "swiglu"):
        ffn = FeedForward(d, activation=act, bias=False)
        counts[act] = sum(p.numel() for p in ffn.parameters())
    assert counts["relu"] == counts["gelu"] == 2 * d * 4 * d
    assert abs(counts["swiglu"] - counts["relu"]) / counts["relu"] < 0.01
    assert matched_hidden_size(d, "swiglu") == 128 and matched_hidden_size(d, "gelu") == 192
    # SwiGLU equals Hugging Face's LlamaMLP with the same weights
    ffn = FeedForward(d, activation="swiglu", bias=False)
    hf = LlamaMLP(LlamaConfig(hidden_size=d, num_attention_heads=4, intermediate_size=ffn.up.out_features,
                                hidden_act="silu"))
    with torch.no_grad():
        hf.gate_proj.weight.copy_(ffn.gate.weight), hf.up_proj.weight.copy_(ffn.up.weight)
        hf.down_proj.weight.copy_(ffn.down.weight)
    x = torch.randn(2, 3, d)
    torch.testing.assert_close(ffn(x), hf(x))
    gelu = FeedForward(d, activation="gelu_tanh")
    torch.testing.assert_close(gelu(x), gelu.down(F.gelu(gelu.up(x), approximate="tanh")))
    with pytest.raises(ValueError, match="unknown activation"):
        FeedForward(d, activation="tanh")


# ---------------------------------------------------------------- the functional forms (exercise references of 3.1)
def test_functional_mha_equals_the_module_and_torch():
    from llmcourse.nn import multi_head_attention

    torch.manual_seed(0)
    for n_kv in (4, 2, 1):
        layer = MultiHeadAttention(32, 4, n_kv, bias=False).eval()
        x = torch.randn(2, 9, 32)
        with torch.no_grad():
            for causal in (True, False):
                torch.testing.assert_close(multi_head_attention(x, layer.qkv.weight, layer.proj.weight, 4, n_kv,
                                                                causal=causal), layer(x, is_causal=causal))
    ref = _torch_mha_copy(MultiHeadAttention(32, 4, bias=False).eval(), 32, 4)
    blocked = torch.ones(9, 9, dtype=torch.bool).triu(1)
    with torch.no_grad():
        torch.testing.assert_close(multi_head_attention(x, ref.in_proj_weight, ref.out_proj.weight, 4),
                                   ref(x, x, x, attn_mask=blocked, need_weights=False)[0])


def test_functional_rope_norm_swiglu_equal_the_modules():
    from llmcourse.nn import rms_norm, rope, swiglu

    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 16)
    pos = torch.arange(5, 12)
    torch.testing.assert_close(rope(x, pos, 500000.0), apply_rotary(x, *RotaryEmbedding(16, 500000.0)(pos)))
    norm = RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        norm.weight.normal_(1, 0.3)
        torch.testing.assert_close(rms_norm(x, norm.weight, 1e-5), norm(x))
    ffn = FeedForward(16, 40, activation="swiglu", bias=False)
    with torch.no_grad():
        torch.testing.assert_close(swiglu(x, ffn.gate.weight, ffn.up.weight, ffn.down.weight), ffn(x))


def test_llama_block_equals_the_gpt_block_and_hf_decoder_layer():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding

    from llmcourse.models.gpt import GPT, GPTConfig
    from llmcourse.nn import llama_block

    torch.manual_seed(0)
    cfg = GPTConfig.llama_style(vocab_size=50, block_size=16, n_layer=1, n_head=4, n_kv_head=2, n_embd=32,
                                rope_theta=500000.0)
    block = GPT(cfg).blocks[0].eval()
    with torch.no_grad():
        for name, p in block.named_parameters():
            p.normal_(1.0 if "norm" in name else 0.0, 0.2)
    x, pos = torch.randn(2, 10, 32), torch.arange(10)
    weights = dict(block.named_parameters())
    with torch.no_grad():
        got = llama_block(x, pos, weights, 4, 2, 1e-5, 500000.0)
        hf_cfg = LlamaConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, intermediate_size=cfg.ffn_hidden,
                             rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 500000.0})
        hf_cfg._attn_implementation = "sdpa"
        hf = LlamaDecoderLayer(hf_cfg, 0).eval()
        a, m = hf.self_attn, hf.mlp
        q, k, v = weights["attn.qkv.weight"].split([32, 16, 16])
        for dst, src in ((a.q_proj, q), (a.k_proj, k), (a.v_proj, v), (a.o_proj, weights["attn.proj.weight"]),
                         (m.gate_proj, weights["mlp.gate.weight"]), (m.up_proj, weights["mlp.up.weight"]),
                         (m.down_proj, weights["mlp.down.weight"]), (hf.input_layernorm, weights["norm1.weight"]),
                         (hf.post_attention_layernorm, weights["norm2.weight"])):
            dst.weight.copy_(src)
        out = hf(x, position_embeddings=LlamaRotaryEmbedding(hf_cfg)(x, pos[None]), attention_mask=None)
    torch.testing.assert_close(got, out[0] if isinstance(out, tuple) else out, atol=1e-5, rtol=1e-4)
    with pytest.raises(KeyError, match="lacks"):
        llama_block(x, pos, {"norm1.weight": weights["norm1.weight"]}, 4, 2)


@pytest.mark.parametrize("hd, base, factor, low, high, original", [(128, 500000.0, 8.0, 1.0, 4.0, 8192),
                                                                   (16, 10000.0, 4.0, 1.0, 4.0, 64)])
def test_llama3_rope_scaling_equals_hugging_face(hd, base, factor, low, high, original):
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from llmcourse.nn import llama3_inv_freq, rope_inv_freq

    cfg = LlamaConfig(hidden_size=2 * hd, num_attention_heads=2, head_dim=hd, max_position_embeddings=int(original * factor),
                      rope_parameters={"rope_type": "llama3", "rope_theta": base, "factor": factor,
                                       "low_freq_factor": low, "high_freq_factor": high,
                                       "original_max_position_embeddings": original})
    expected, _ = ROPE_INIT_FUNCTIONS["llama3"](cfg, "cpu")
    got = llama3_inv_freq(hd, base, factor, low, high, original)
    torch.testing.assert_close(got, expected.float())
    plain = rope_inv_freq(hd, base)
    assert got[0] == plain[0] and torch.isclose(got[-1], plain[-1] / factor)  # fast pairs kept, slow ones slowed
    with pytest.raises(ValueError, match="high_freq_factor"):
        llama3_inv_freq(hd, base, factor, 4.0, 1.0, original)
