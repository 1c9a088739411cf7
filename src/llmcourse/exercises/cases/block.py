"""Exercises of notebook 3.1 (Transformer block). Oracles: torch's multi-head attention and
RMSNorm, and Hugging Face's own implementations (XLM sinusoids, Llama RoPE and MLP, BLOOM ALiBi)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise


@exercise("block.mha",
          hint="one matmul x @ w_qkv.T + b_qkv gives q|k|v; view as (B, T, H, hd) and transpose to (B, H, T, hd); "
               "attention per head; transpose back and reshape to (B, T, C); output projection")
def _mha():
    g = torch.Generator().manual_seed(0)
    for B, T, C, H, causal in ((2, 5, 16, 4, False), (1, 7, 12, 3, True), (3, 4, 32, 8, True)):
        x = torch.randn(B, T, C, generator=g)
        w_qkv, b_qkv = torch.randn(3 * C, C, generator=g) / C**0.5, torch.randn(3 * C, generator=g) * 0.1
        w_out, b_out = torch.randn(C, C, generator=g) / C**0.5, torch.randn(C, generator=g) * 0.1
        blocked = torch.ones(T, T, dtype=torch.bool).triu(1) if causal else None  # torch: True = blocked
        xt = x.transpose(0, 1)  # (T, B, C), the functional's layout
        expected, _ = F.multi_head_attention_forward(
            xt, xt, xt, C, H, w_qkv, b_qkv, None, None, False, 0.0, w_out, b_out,
            training=False, need_weights=False, attn_mask=blocked)
        yield Case(f"B={B} T={T} C={C} H={H} causal={causal}", args=(x, w_qkv, b_qkv, w_out, b_out, H, causal),
                   expected=expected.transpose(0, 1))


@exercise("block.sinusoidal",
          hint="angle[pos, i] = pos / 10000 ** (2 * (i // 2) / dim); sin at even features, cos at odd ones")
def _sinusoidal():
    from transformers.models.xlm.modeling_xlm import create_sinusoidal_embeddings

    for n, d in ((10, 8), (64, 32), (5, 6)):
        ref = torch.empty(n, d)
        create_sinusoidal_embeddings(n, d, ref)
        yield Case(f"{n} positions x {d}", args=(n, d), expected=ref.clone())


@exercise("block.rope",
          hint="inv_freq = 1 / base ** (arange(0, hd, 2) / hd); angles = positions[:, None] * inv_freq; "
               "cos/sin of cat(angles, angles); x * cos + rotate_half(x) * sin, rotate_half(x1, x2) = (-x2, x1)")
def _rope():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    g = torch.Generator().manual_seed(0)
    for B, H, T, hd, base, start in ((1, 2, 6, 8, 10000.0, 0), (2, 4, 5, 16, 500000.0, 7)):
        x = torch.randn(B, H, T, hd, generator=g)
        positions = torch.arange(start, start + T)
        rot = LlamaRotaryEmbedding(LlamaConfig(hidden_size=H * hd, num_attention_heads=H, head_dim=hd,
                                               rope_parameters={"rope_type": "default", "rope_theta": base}))
        cos, sin = rot(x, positions[None])
        expected, _ = apply_rotary_pos_emb(x, x, cos, sin)
        yield Case(f"hd={hd} base={base:g} positions {start}..{start + T - 1}", args=(x, positions, base),
                   expected=expected)


@exercise("block.alibi_slopes",
          hint="for n a power of two: slopes 2^(-8/n * k), k = 1..n. Otherwise take the slopes of the largest power "
               "of two p < n and add every other slope (k = 1, 3, 5, ...) of 2p until there are n")
def _alibi():
    from transformers.models.bloom.modeling_bloom import _get_alibi_slopes

    for n in (1, 4, 8, 6, 12, 20):
        yield Case(f"{n} heads", args=(n,), expected=_get_alibi_slopes(n, torch.device("cpu")))


@exercise("block.rmsnorm", hint="x / sqrt(mean(x ** 2, last dim) + eps) * weight (no mean subtraction, no bias)")
def _rmsnorm():
    g = torch.Generator().manual_seed(0)
    for shape, eps in (((4, 8), 1e-6), ((2, 3, 16), 1e-5)):
        x = torch.randn(*shape, generator=g) * 4 + 1
        w = torch.randn(shape[-1], generator=g)
        norm = torch.nn.RMSNorm(shape[-1], eps=eps)
        with torch.no_grad():
            norm.weight.copy_(w)
        yield Case(f"shape {shape}", args=(x, w, eps), expected=norm(x).detach())


@exercise("block.swiglu", hint="down( silu(x @ w_gate.T) * (x @ w_up.T) ): silu(z) = z * sigmoid(z)")
def _swiglu():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaMLP

    g = torch.Generator().manual_seed(0)
    for d, h in ((8, 16), (32, 85)):
        x = torch.randn(2, 3, d, generator=g)
        mlp = LlamaMLP(LlamaConfig(hidden_size=d, intermediate_size=h, num_attention_heads=1, hidden_act="silu"))
        with torch.no_grad():
            for lin in (mlp.gate_proj, mlp.up_proj, mlp.down_proj):
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) / lin.weight.shape[1] ** 0.5)
        args = (x, mlp.gate_proj.weight.detach().clone(), mlp.up_proj.weight.detach().clone(),
                mlp.down_proj.weight.detach().clone())
        yield Case(f"d={d} hidden={h}", args=args, expected=mlp(x).detach())
