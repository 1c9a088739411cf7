"""Exercises of notebook 3.2 (KV cache). Oracles: torch.cat of the old and new keys, the
byte size of tensors allocated with the cache's shape, torch's multi-head attention over the
whole sequence, and the course GPT's uncached `generate`."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise

SENTINEL = 7.0  # value of the empty slots of a fresh cache buffer, so stray writes show


def _buffers(B: int, H: int, max_len: int, hd: int, filled: int, g: torch.Generator):
    """Two (B, H, max_len, hd) buffers whose first `filled` slots hold random keys/values."""
    k = torch.full((B, H, max_len, hd), SENTINEL)
    v = torch.full((B, H, max_len, hd), SENTINEL)
    k[:, :, :filled] = torch.randn(B, H, filled, hd, generator=g)
    v[:, :, :filled] = torch.randn(B, H, filled, hd, generator=g)
    return k, v


@exercise("kv_cache.update",
          hint="k_cache[:, :, pos:pos + T] = k_new (same for v), then return k_cache[:, :, :pos + T] and "
               "v_cache[:, :, :pos + T] (views: no torch.cat); raise ValueError if pos + T > k_cache.shape[2]")
def _update():
    g = torch.Generator().manual_seed(0)

    def appends(B, H, max_len, hd, pos, T):
        def test(fn):
            k_cache, v_cache = _buffers(B, H, max_len, hd, pos, g)
            old_k, old_v = k_cache[:, :, :pos].clone(), v_cache[:, :, :pos].clone()
            k_new, v_new = torch.randn(B, H, T, hd, generator=g), torch.randn(B, H, T, hd, generator=g)
            k_all, v_all = fn(k_cache, v_cache, k_new, v_new, pos)
            want_k, want_v = torch.cat([old_k, k_new], dim=2), torch.cat([old_v, v_new], dim=2)  # the oracle
            assert tuple(k_all.shape) == tuple(want_k.shape), \
                f"returned keys should be (B, H, pos + T, hd) = {tuple(want_k.shape)}, got {tuple(k_all.shape)}"
            assert torch.equal(k_all, want_k) and torch.equal(v_all, want_v), \
                "returned keys/values should be the stored ones followed by the new ones"
            assert torch.equal(k_cache[:, :, pos:pos + T], k_new) and torch.equal(v_cache[:, :, pos:pos + T], v_new), \
                "the new keys/values must be written into the buffers in place, at slots pos .. pos + T - 1"
            assert bool((k_cache[:, :, pos + T:] == SENTINEL).all()), "slots after pos + T must stay untouched"
        return test

    yield Case("prefill: empty cache, 5 tokens", test=appends(2, 3, 12, 4, 0, 5))
    yield Case("decode: one token after 5", test=appends(2, 3, 12, 4, 5, 1))
    yield Case("fills the last slot", test=appends(1, 2, 8, 4, 7, 1))

    def no_copy(fn):
        k_cache, v_cache = _buffers(1, 2, 10, 4, 3, g)
        k_all, v_all = fn(k_cache, v_cache, torch.randn(1, 2, 1, 4, generator=g), torch.randn(1, 2, 1, 4, generator=g), 3)
        assert k_all.untyped_storage().data_ptr() == k_cache.untyped_storage().data_ptr(), \
            "return a view of the buffer (k_cache[:, :, :pos + T]), not a copy: copying every step is what a cache avoids"

    def overflow(fn):
        k_cache, v_cache = _buffers(1, 2, 6, 4, 5, g)
        try:
            fn(k_cache, v_cache, torch.randn(1, 2, 2, 4, generator=g), torch.randn(1, 2, 2, 4, generator=g), 5)
        except ValueError:
            return
        raise AssertionError("5 stored + 2 new > 6 slots: raise ValueError saying the cache is full")

    yield Case("returns views, not copies", test=no_copy)
    yield Case("overflow raises ValueError", test=overflow)


@exercise("kv_cache.memory_bytes",
          hint="2 (keys and values) * n_layer * n_kv_head * head_dim * n_tokens * batch_size * bytes per number; "
               "torch.empty((), dtype=dtype).element_size() gives the bytes of one number")
def _memory_bytes():
    def allocated(n_layer, n_kv_head, head_dim, n_tokens, dtype, batch_size):
        # the oracle: what tensors of the cache's shape occupy ("meta" tensors have a size but no memory)
        one = torch.empty(batch_size, n_kv_head, n_tokens, head_dim, dtype=dtype, device="meta")
        return 2 * n_layer * one.nbytes

    for label, args in (
        ("course GPT, 4 layers, 1024 tokens, fp32", (4, 4, 32, 1024, torch.float32, 1)),
        ("GPT-2 small, 1024 tokens, fp32", (12, 12, 64, 1024, torch.float32, 1)),
        ("Llama 3 8B (GQA: 8 kv heads), 8192 tokens, bf16", (32, 8, 128, 8192, torch.bfloat16, 1)),
        ("Gemma 3 270M (1 kv head), 32k tokens, batch 4, fp16", (18, 1, 256, 32768, torch.float16, 4)),
        ("int8 cache", (2, 2, 16, 10, torch.int8, 3)),
    ):
        yield Case(label, args=args, expected=allocated(*args),
                   compare=lambda got, want: None if int(got) == want else f"got {got} bytes, expected {want}")


def _step_oracle(x, w_qkv, w_out, n_heads):
    """torch's multi-head attention over the whole sequence x (B, S, C), causal, no biases."""
    B, S, C = x.shape
    blocked = torch.ones(S, S, dtype=torch.bool).triu(1)  # torch's module: True = may NOT attend
    y, _ = F.multi_head_attention_forward(
        x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), C, n_heads, w_qkv, None, None, None, False,
        0.0, w_out, None, training=False, need_weights=False, attn_mask=blocked)
    return y.transpose(0, 1)  # (B, S, C)


@exercise("kv_cache.attention_step",
          hint="q, k, v = (x_new @ w_qkv.T).split(C, -1), each viewed as (B, 1, n_heads, hd) and transposed to "
               "(B, n_heads, 1, hd); write k, v into the caches at slot pos; attend q over k_cache[:, :, :pos + 1] "
               "(no mask needed: every cached key is in the past); merge heads and multiply by w_out.T")
def _attention_step():
    g = torch.Generator().manual_seed(0)

    def one_step(B, S, C, H):
        def test(fn):
            hd = C // H
            x = torch.randn(B, S, C, generator=g)
            w_qkv, w_out = torch.randn(3 * C, C, generator=g) / C**0.5, torch.randn(C, C, generator=g) / C**0.5
            pos = S - 1
            k_cache = torch.zeros(B, H, S + 3, hd)
            v_cache = torch.zeros(B, H, S + 3, hd)
            _, wk, wv = w_qkv.split(C, dim=0)  # the keys and values of the earlier tokens, projected directly
            k_cache[:, :, :pos] = (x[:, :pos] @ wk.T).view(B, pos, H, hd).transpose(1, 2)
            v_cache[:, :, :pos] = (x[:, :pos] @ wv.T).view(B, pos, H, hd).transpose(1, 2)
            y = fn(x[:, pos:], w_qkv, w_out, k_cache, v_cache, pos, H)
            want = _step_oracle(x, w_qkv, w_out, H)[:, -1:]  # (B, 1, C): the last row of full attention
            assert tuple(y.shape) == (B, 1, C), f"output should be (B, 1, C) = {(B, 1, C)}, got {tuple(y.shape)}"
            diff = (y - want).abs().max().item()
            assert diff < 1e-4, f"output differs from full attention's last position by {diff:.2e}"
            new_k = (x[:, pos:] @ wk.T).view(B, 1, H, hd).transpose(1, 2)
            assert torch.allclose(k_cache[:, :, pos:pos + 1], new_k, atol=1e-5), \
                "the new token's key must be written into k_cache at slot pos"
        return test

    def whole_sequence(fn):
        B, S, C, H = 2, 7, 16, 4
        x = torch.randn(B, S, C, generator=g)
        w_qkv, w_out = torch.randn(3 * C, C, generator=g) / C**0.5, torch.randn(C, C, generator=g) / C**0.5
        k_cache, v_cache = torch.zeros(B, H, S, C // H), torch.zeros(B, H, S, C // H)
        ys = torch.cat([fn(x[:, t:t + 1], w_qkv, w_out, k_cache, v_cache, t, H) for t in range(S)], dim=1)
        diff = (ys - _step_oracle(x, w_qkv, w_out, H)).abs().max().item()
        assert diff < 1e-4, f"decoding token by token from an empty cache differs from full causal attention by {diff:.2e}"

    yield Case("one step, B=1 S=5 C=8 heads=2", test=one_step(1, 5, 8, 2))
    yield Case("one step, B=3 S=9 C=24 heads=3", test=one_step(3, 9, 24, 3))
    yield Case("first token (empty cache)", test=one_step(2, 1, 16, 4))
    yield Case("token by token equals full causal attention", test=whole_sequence)


def _models():
    from llmcourse.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)  # a fixed model per case, whatever ran before
    base = dict(vocab_size=40, block_size=48, n_layer=2, n_head=4, n_embd=32)
    yield "GPT-2 style (learned positions)", GPT(GPTConfig(**base))
    yield "Llama style (RoPE, GQA 2 kv heads)", GPT(GPTConfig.llama_style(**base, n_kv_head=2))
    yield "ALiBi", GPT(GPTConfig(**base, positions="alibi"))


@exercise("kv_cache.greedy_generate",
          hint="cache = KVCache.for_model(model, batch_size=B); logits, _ = model(idx, cache=cache, start_pos=0) for "
               "the prompt; then repeatedly take argmax of logits[:, -1], append it, and run ONLY that token with "
               "start_pos = number of tokens already in the cache")
def _greedy_generate():
    g = torch.Generator().manual_seed(1)
    with torch.random.fork_rng(devices=[]):
        models = list(_models())
    for label, model in models:
        model.eval()
        for B, T, n in ((1, 4, 12), (3, 2, 20)):
            idx = torch.randint(model.config.vocab_size, (B, T), generator=g)
            expected = model.generate(idx, n, temperature=0)  # the oracle: no cache, whole sequence every step
            yield Case(f"{label}, batch {B}, {n} tokens", args=(model, idx, n), expected=expected,
                       compare=lambda got, want: None if torch.equal(got, want) else
                       f"tokens differ from model.generate(temperature=0): got {got.tolist()}, expected {want.tolist()}")
