"""Exercises of notebook 3.1 (Transformer block).

Oracles: torch's multi-head attention and RMSNorm, and Hugging Face's own implementations
(XLM sinusoids, Llama's rotary embedding, attention, MLP and decoder layer, Llama 3.1's
RoPE scaling, BLOOM's ALiBi slopes). Each exercise names the library's answer and the
mistakes students make, which the cases must catch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise


def _llama_config(**kw):
    from transformers import LlamaConfig

    kw.setdefault("rope_parameters", {"rope_type": "default", "rope_theta": 10000.0})
    config = LlamaConfig(attention_bias=False, mlp_bias=False, hidden_act="silu", **kw)
    config._attn_implementation = "sdpa"  # causal when no mask is given
    return config


# ----------------------------------------------------------------------------- multi-head attention
def _mha_wrong_view(x, w_qkv, w_out, n_head, n_kv_head=None, causal=True, rotate=None):
    B, T, C = x.shape
    hd = C // n_head
    q, k, v = F.linear(x, w_qkv).split(C, dim=-1)
    q, k, v = (t.reshape(B, n_head, T, hd) for t in (q, k, v))  # heads cut across tokens
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return F.linear(y.transpose(1, 2).reshape(B, T, C), w_out)


def _mha_wrong_scale(x, w_qkv, w_out, n_head, n_kv_head=None, causal=True, rotate=None):
    B, T, C = x.shape
    n_kv_head = n_kv_head or n_head
    hd = C // n_head
    q, k, v = F.linear(x, w_qkv).split([C, n_kv_head * hd, n_kv_head * hd], dim=-1)
    q = q.view(B, T, n_head, hd).transpose(1, 2)
    k, v = (t.view(B, T, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, 1) for t in (k, v))
    if rotate is not None:
        q, k = rotate(q), rotate(k)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=1 / math.sqrt(C))  # sqrt(C), not sqrt(hd)
    return F.linear(y.transpose(1, 2).reshape(B, T, C), w_out)


def _mha_wrong_repeat(x, w_qkv, w_out, n_head, n_kv_head=None, causal=True, rotate=None):
    B, T, C = x.shape
    n_kv_head = n_kv_head or n_head
    hd = C // n_head
    q, k, v = F.linear(x, w_qkv).split([C, n_kv_head * hd, n_kv_head * hd], dim=-1)
    q = q.view(B, T, n_head, hd).transpose(1, 2)
    k, v = (t.view(B, T, n_kv_head, hd).transpose(1, 2).repeat(1, n_head // n_kv_head, 1, 1) for t in (k, v))
    if rotate is not None:
        q, k = rotate(q), rotate(k)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return F.linear(y.transpose(1, 2).reshape(B, T, C), w_out)


def _mha_rotates_values(x, w_qkv, w_out, n_head, n_kv_head=None, causal=True, rotate=None):
    B, T, C = x.shape
    n_kv_head = n_kv_head or n_head
    hd = C // n_head
    q, k, v = F.linear(x, w_qkv).split([C, n_kv_head * hd, n_kv_head * hd], dim=-1)
    q = q.view(B, T, n_head, hd).transpose(1, 2)
    k, v = (t.view(B, T, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, 1) for t in (k, v))
    if rotate is not None:
        q, k, v = rotate(q), rotate(k), rotate(v)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return F.linear(y.transpose(1, 2).reshape(B, T, C), w_out)


@exercise("block.mha", difficulty=2, minutes=25,
          reference="llmcourse.nn.functional:multi_head_attention",
          wrong={"heads split with reshape(B, H, T, hd), without the transpose": _mha_wrong_view,
                 "scores scaled by sqrt(C) instead of sqrt(head_dim)": _mha_wrong_scale,
                 "kv heads repeated with .repeat (interleaved groups)": _mha_wrong_repeat,
                 "rotate applied to the values too": _mha_rotates_values},
          hint="x @ w_qkv.T splits into q (H*hd), k and v (H_kv*hd each); view each as (B, T, heads, hd) and "
               "transpose to (B, heads, T, hd); rotate q and k if given; repeat_interleave k and v by H/H_kv on "
               "the head axis; attention; transpose back, reshape to (B, T, H*hd); @ w_out.T")
def _mha():
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding, rotate_half

    g = torch.Generator().manual_seed(0)
    for B, T, C, H, causal in ((2, 5, 16, 4, False), (1, 7, 12, 3, True), (3, 4, 32, 8, True)):
        x = torch.randn(B, T, C, generator=g)
        w_qkv, w_out = torch.randn(3 * C, C, generator=g) / C**0.5, torch.randn(C, C, generator=g) / C**0.5
        blocked = torch.ones(T, T, dtype=torch.bool).triu(1) if causal else None  # torch: True = blocked
        xt = x.transpose(0, 1)  # (T, B, C), the functional's layout
        expected, _ = F.multi_head_attention_forward(
            xt, xt, xt, C, H, w_qkv, None, None, None, False, 0.0, w_out, None,
            training=False, need_weights=False, attn_mask=blocked)
        yield Case(f"torch MHA: B={B} T={T} C={C} H={H} causal={causal}",
                   args=(x, w_qkv, w_out, H), kwargs=dict(causal=causal), expected=expected.transpose(0, 1))

    # Hugging Face's Llama attention: grouped-query heads, with and without RoPE, causal
    for B, T, H, H_kv, hd, use_rope in ((2, 6, 4, 2, 8, False), (1, 9, 6, 2, 4, True), (2, 5, 4, 1, 8, True)):
        C = H * hd
        config = _llama_config(hidden_size=C, num_attention_heads=H, num_key_value_heads=H_kv, head_dim=hd,
                               intermediate_size=2 * C)
        attn = LlamaAttention(config, layer_idx=0).eval()
        with torch.no_grad():
            for lin in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj):
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) / lin.weight.shape[1] ** 0.5)
        x = torch.randn(B, T, C, generator=g)
        positions = torch.arange(3, 3 + T)
        if use_rope:
            cos, sin = LlamaRotaryEmbedding(config)(x, positions[None])  # (1, T, hd)
        else:
            cos, sin = torch.ones(1, T, hd), torch.zeros(1, T, hd)
        with torch.no_grad():
            expected, _ = attn(x, position_embeddings=(cos, sin), attention_mask=None)
        w_qkv = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]).detach().clone()
        rotate = (lambda t, c=cos[:, None], s=sin[:, None]: t * c + rotate_half(t) * s) if use_rope else None
        yield Case(f"HF Llama attention: H={H} H_kv={H_kv} hd={hd} rope={use_rope}",
                   args=(x, w_qkv, attn.o_proj.weight.detach().clone(), H),
                   kwargs=dict(n_kv_head=H_kv, causal=True, rotate=rotate), expected=expected.detach())


# ----------------------------------------------------------------------------- positions
def _sin_halves(n_positions, dim):
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, dtype=torch.float32)[None]
    angle = pos / 10000 ** (i / dim)  # (n, dim/2)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)[:, :dim]  # sines then cosines, not interleaved


def _sin_wrong_exponent(n_positions, dim):
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    i = torch.arange(dim)[None]
    angle = pos / 10000 ** (i / dim)  # i, not 2 * (i // 2): each pair's sin and cos at different frequencies
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))


@exercise("block.sinusoidal", difficulty=1, minutes=10,
          reference="llmcourse.nn.positions:sinusoidal_positions",
          wrong={"sines in the first half, cosines in the second": _sin_halves,
                 "exponent i / dim instead of 2 * (i // 2) / dim": _sin_wrong_exponent},
          hint="angle[pos, i] = pos / 10000 ** (2 * (i // 2) / dim); sin at even features, cos at odd ones")
def _sinusoidal():
    from transformers.models.xlm.modeling_xlm import create_sinusoidal_embeddings

    for n, d in ((10, 8), (64, 32), (5, 6)):
        ref = torch.empty(n, d)
        create_sinusoidal_embeddings(n, d, ref)
        yield Case(f"{n} positions x {d}", args=(n, d), expected=ref.clone())


def _rope_interleaved(x, positions, base=10000.0):
    hd = x.shape[-1]
    inv_freq = 1.0 / base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    angles = positions.float()[:, None] * inv_freq  # (T, hd/2)
    x1, x2 = x[..., 0::2], x[..., 1::2]  # pairs (2i, 2i + 1): the original paper's layout, not Llama's
    out = torch.stack([x1 * angles.cos() - x2 * angles.sin(), x1 * angles.sin() + x2 * angles.cos()], dim=-1)
    return out.flatten(-2)


def _rope_wrong_freq(x, positions, base=10000.0):
    hd = x.shape[-1]
    inv_freq = 1.0 / base ** (torch.arange(0, hd // 2, dtype=torch.float32) / hd)  # i / hd, not 2i / hd
    emb = torch.cat([positions.float()[:, None] * inv_freq] * 2, dim=-1)
    x1, x2 = x.chunk(2, dim=-1)
    return x * emb.cos() + torch.cat([-x2, x1], dim=-1) * emb.sin()


def _rope_no_minus(x, positions, base=10000.0):
    hd = x.shape[-1]
    inv_freq = 1.0 / base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    emb = torch.cat([positions.float()[:, None] * inv_freq] * 2, dim=-1)
    x1, x2 = x.chunk(2, dim=-1)
    return x * emb.cos() + torch.cat([x2, x1], dim=-1) * emb.sin()  # a reflection, not a rotation


@exercise("block.rope", difficulty=2, minutes=15,
          reference="llmcourse.nn.positions:rope",
          wrong={"rotates interleaved pairs (2i, 2i+1) instead of halves": _rope_interleaved,
                 "frequencies base^(-i/hd) instead of base^(-2i/hd)": _rope_wrong_freq,
                 "rotate_half without the minus sign": _rope_no_minus},
          hint="inv_freq = 1 / base ** (arange(0, hd, 2) / hd); angles = positions[:, None] * inv_freq; "
               "cos/sin of cat(angles, angles); x * cos + rotate_half(x) * sin, rotate_half(x1, x2) = (-x2, x1)")
def _rope():
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    g = torch.Generator().manual_seed(0)
    for B, H, T, hd, base, start in ((1, 2, 6, 8, 10000.0, 0), (2, 4, 5, 16, 500000.0, 7)):
        x = torch.randn(B, H, T, hd, generator=g)
        positions = torch.arange(start, start + T)
        rot = LlamaRotaryEmbedding(_llama_config(hidden_size=H * hd, num_attention_heads=H, head_dim=hd,
                                                 rope_parameters={"rope_type": "default", "rope_theta": base}))
        cos, sin = rot(x, positions[None])
        expected, _ = apply_rotary_pos_emb(x, x, cos, sin)
        yield Case(f"hd={hd} base={base:g} positions {start}..{start + T - 1}", args=(x, positions, base),
                   expected=expected)


def _alibi_naive(n_heads):
    return torch.tensor([2 ** (-8 * k / n_heads) for k in range(1, n_heads + 1)], dtype=torch.float32)


def _alibi_consecutive(n_heads):
    p = 2 ** math.floor(math.log2(n_heads))
    slopes = [2 ** (-8 * k / p) for k in range(1, p + 1)]
    extra = [2 ** (-4 * k / p) for k in range(1, n_heads - p + 1)]  # 1, 2, 3...: not every other slope
    return torch.tensor(slopes + extra, dtype=torch.float32)


@exercise("block.alibi_slopes", difficulty=2, minutes=15,
          reference="llmcourse.nn.positions:alibi_slopes",
          wrong={"2^(-8k/n) for any n (right only for powers of two)": _alibi_naive,
                 "extra slopes taken consecutively, not every other one": _alibi_consecutive},
          hint="for n a power of two: slopes 2^(-8/n * k), k = 1..n. Otherwise take the slopes of the largest power "
               "of two p < n and add every other slope (k = 1, 3, 5, ...) of 2p until there are n")
def _alibi():
    from transformers.models.bloom.modeling_bloom import _get_alibi_slopes

    for n in (1, 4, 8, 6, 12, 20):
        yield Case(f"{n} heads", args=(n,), expected=_get_alibi_slopes(n, torch.device("cpu")))


# ----------------------------------------------------------------------------- norms and MLPs
def _rms_minus_mean(x, weight, eps):
    x = x - x.mean(dim=-1, keepdim=True)  # that is LayerNorm's first step
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def _rms_eps_outside(x, weight, eps):
    return x / (torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True)) + eps) * weight


@exercise("block.rmsnorm", difficulty=1, minutes=5,
          reference="llmcourse.nn.norms:rms_norm",
          wrong={"subtracts the mean (that is LayerNorm)": _rms_minus_mean,
                 "eps added outside the square root": _rms_eps_outside},
          hint="x / sqrt(mean(x ** 2, last dim) + eps) * weight (no mean subtraction, no bias)")
def _rmsnorm():
    g = torch.Generator().manual_seed(0)
    for shape, eps, scale in (((4, 8), 1e-6, 4.0), ((2, 3, 16), 1e-5, 4.0), ((3, 32), 1e-2, 0.01)):
        x = torch.randn(*shape, generator=g) * scale + scale / 4
        w = torch.randn(shape[-1], generator=g)
        norm = torch.nn.RMSNorm(shape[-1], eps=eps)
        with torch.no_grad():
            norm.weight.copy_(w)
        yield Case(f"shape {shape}, eps {eps:g}, activations ~{scale:g}", args=(x, w, eps), expected=norm(x).detach())


def _swiglu_swapped(x, w_gate, w_up, w_down):
    return (F.silu(x @ w_up.T) * (x @ w_gate.T)) @ w_down.T  # the gate's SiLU on the up branch


def _swiglu_sigmoid(x, w_gate, w_up, w_down):
    return (torch.sigmoid(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T  # GLU's sigmoid, not SiLU


@exercise("block.swiglu", difficulty=1, minutes=10,
          reference="llmcourse.nn.feedforward:swiglu",
          wrong={"SiLU on the up branch instead of the gate": _swiglu_swapped,
                 "sigmoid instead of SiLU (plain GLU)": _swiglu_sigmoid},
          hint="down( silu(x @ w_gate.T) * (x @ w_up.T) ): silu(z) = z * sigmoid(z)")
def _swiglu():
    from transformers.models.llama.modeling_llama import LlamaMLP

    g = torch.Generator().manual_seed(0)
    for d, h in ((8, 16), (32, 85)):
        x = torch.randn(2, 3, d, generator=g)
        mlp = LlamaMLP(_llama_config(hidden_size=d, intermediate_size=h, num_attention_heads=1))
        with torch.no_grad():
            for lin in (mlp.gate_proj, mlp.up_proj, mlp.down_proj):
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) / lin.weight.shape[1] ** 0.5)
        args = (x, mlp.gate_proj.weight.detach().clone(), mlp.up_proj.weight.detach().clone(),
                mlp.down_proj.weight.detach().clone())
        yield Case(f"d={d} hidden={h}", args=args, expected=mlp(x).detach())


# ----------------------------------------------------------------------------- the whole block
def _block_parts(x, positions, w, n_head, n_kv_head, rope_theta):
    from llmcourse.nn.functional import multi_head_attention
    from llmcourse.nn.positions import rope

    def attend(h):
        return multi_head_attention(h, w["attn.qkv.weight"], w["attn.proj.weight"], n_head, n_kv_head, causal=True,
                                    rotate=lambda t: rope(t, positions, rope_theta))

    def mlp(h):
        from llmcourse.nn.feedforward import swiglu

        return swiglu(h, w["mlp.gate.weight"], w["mlp.up.weight"], w["mlp.down.weight"])

    return attend, mlp


def _block_post_norm(x, positions, weights, n_head, n_kv_head, eps=1e-5, rope_theta=10000.0):
    from llmcourse.nn.norms import rms_norm

    attend, mlp = _block_parts(x, positions, weights, n_head, n_kv_head, rope_theta)
    x = rms_norm(x + attend(x), weights["norm1.weight"], eps)  # post-norm: the original Transformer's order
    return rms_norm(x + mlp(x), weights["norm2.weight"], eps)


def _block_no_mlp_residual(x, positions, weights, n_head, n_kv_head, eps=1e-5, rope_theta=10000.0):
    from llmcourse.nn.norms import rms_norm

    attend, mlp = _block_parts(x, positions, weights, n_head, n_kv_head, rope_theta)
    x = x + attend(rms_norm(x, weights["norm1.weight"], eps))
    return mlp(rms_norm(x, weights["norm2.weight"], eps))  # the residual stream is dropped


def _block_one_norm(x, positions, weights, n_head, n_kv_head, eps=1e-5, rope_theta=10000.0):
    from llmcourse.nn.norms import rms_norm

    attend, mlp = _block_parts(x, positions, weights, n_head, n_kv_head, rope_theta)
    x = x + attend(rms_norm(x, weights["norm1.weight"], eps))
    return x + mlp(rms_norm(x, weights["norm1.weight"], eps))  # norm1's weight used twice


@exercise("block.llama_block", difficulty=2, minutes=20,
          reference="llmcourse.nn.functional:llama_block",
          wrong={"post-norm: normalise after adding the residual": _block_post_norm,
                 "no residual connection around the MLP": _block_no_mlp_residual,
                 "norm1's weight used for both norms": _block_one_norm},
          hint="h = rms_norm(x, w['norm1.weight'], eps); x = x + multi_head_attention(h, w['attn.qkv.weight'], "
               "w['attn.proj.weight'], n_head, n_kv_head, causal=True, rotate=lambda t: rope(t, positions, "
               "rope_theta)); then x + swiglu(rms_norm(x, w['norm2.weight'], eps), gate, up, down)")
def _llama_block():
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding

    g = torch.Generator().manual_seed(0)
    for B, T, H, H_kv, hd, theta, start in ((2, 6, 4, 2, 8, 10000.0, 0), (1, 7, 4, 4, 4, 500000.0, 5)):
        C = H * hd
        config = _llama_config(hidden_size=C, num_attention_heads=H, num_key_value_heads=H_kv, head_dim=hd,
                               intermediate_size=3 * C, rms_norm_eps=1e-5,
                               rope_parameters={"rope_type": "default", "rope_theta": theta})
        layer = LlamaDecoderLayer(config, layer_idx=0).eval()
        with torch.no_grad():
            for name, p in layer.named_parameters():
                p.copy_(torch.randn(p.shape, generator=g) * (0.2 if "norm" in name else 1 / p.shape[-1] ** 0.5)
                        + (1.0 if "norm" in name else 0.0))
        x = torch.randn(B, T, C, generator=g)
        positions = torch.arange(start, start + T)
        cos, sin = LlamaRotaryEmbedding(config)(x, positions[None])
        with torch.no_grad():
            expected = layer(x, position_embeddings=(cos, sin), attention_mask=None)
        expected = expected[0] if isinstance(expected, tuple) else expected
        a, m = layer.self_attn, layer.mlp
        weights = {"norm1.weight": layer.input_layernorm.weight, "norm2.weight": layer.post_attention_layernorm.weight,
                   "attn.qkv.weight": torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]),
                   "attn.proj.weight": a.o_proj.weight, "mlp.gate.weight": m.gate_proj.weight,
                   "mlp.up.weight": m.up_proj.weight, "mlp.down.weight": m.down_proj.weight}
        weights = {k: v.detach().clone() for k, v in weights.items()}
        yield Case(f"HF LlamaDecoderLayer: H={H} H_kv={H_kv} hd={hd} positions {start}..{start + T - 1}",
                   args=(x, positions, weights, H, H_kv), kwargs=dict(eps=1e-5, rope_theta=theta),
                   expected=expected.detach(), atol=1e-4)


# ----------------------------------------------------------------------------- stretch: RoPE for longer contexts
def _inv_freq(head_dim, base):
    return 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)


def _scaling_all(head_dim, base=10000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                 original_max_position=8192):
    return _inv_freq(head_dim, base) / factor  # plain position interpolation: every pair slowed down


def _scaling_inverted_smooth(head_dim, base=10000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                             original_max_position=8192):
    inv = _inv_freq(head_dim, base)
    wavelen = 2 * math.pi / inv
    smooth = (wavelen / original_max_position - low_freq_factor) / (high_freq_factor - low_freq_factor)  # upside down
    blended = (1 - smooth) * inv / factor + smooth * inv
    out = torch.where(wavelen > original_max_position / low_freq_factor, inv / factor, blended)
    return torch.where(wavelen < original_max_position / high_freq_factor, inv, out)


def _scaling_swapped(head_dim, base=10000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                     original_max_position=8192):
    inv = _inv_freq(head_dim, base)
    wavelen = 2 * math.pi / inv
    smooth = (original_max_position / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * inv / factor + smooth * inv
    out = torch.where(wavelen > original_max_position / low_freq_factor, inv, blended)  # long waves kept
    return torch.where(wavelen < original_max_position / high_freq_factor, inv / factor, out)  # short ones slowed


@exercise("block.rope_scaling", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.nn.positions:llama3_inv_freq",
          wrong={"every frequency divided by factor (plain interpolation)": _scaling_all,
                 "smooth factor computed from wavelen / original, upside down": _scaling_inverted_smooth,
                 "short and long wavelengths swapped": _scaling_swapped},
          hint="wavelen = 2 pi / inv_freq; keep pairs with wavelen < original / high_freq_factor; divide by factor "
               "those with wavelen > original / low_freq_factor; in between blend with s = (original / wavelen - "
               "low_freq_factor) / (high_freq_factor - low_freq_factor): (1 - s) * inv_freq / factor + s * inv_freq")
def _rope_scaling():
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    for hd, base, factor, low, high, original in ((128, 500000.0, 8.0, 1.0, 4.0, 8192), (16, 10000.0, 4.0, 1.0, 4.0, 64),
                                                  (32, 10000.0, 2.0, 2.0, 8.0, 256), (64, 10000.0, 16.0, 1.0, 2.0, 32)):
        config = _llama_config(hidden_size=hd * 2, num_attention_heads=2, head_dim=hd,
                               max_position_embeddings=int(original * factor),
                               rope_parameters={"rope_type": "llama3", "rope_theta": base, "factor": factor,
                                                "low_freq_factor": low, "high_freq_factor": high,
                                                "original_max_position_embeddings": original})
        expected, _ = ROPE_INIT_FUNCTIONS["llama3"](config, "cpu")
        yield Case(f"hd={hd} base={base:g} factor={factor:g} low/high {low:g}/{high:g} trained at {original}",
                   args=(hd, base, factor, low, high, original), expected=expected.float(), atol=1e-7, rtol=1e-5)
