"""Exercises of notebook 3.2 (KV cache). Oracles: torch.cat of the old and new keys, the
byte size of tensors allocated with the cache's shape, torch's multi-head attention over the
whole sequence, and the course GPT's uncached `generate` (one prompt at a time)."""

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


def _update_at_zero(k_cache, v_cache, k_new, v_new, pos):
    T = k_new.shape[2]
    k_cache[:, :, :T] = k_new  # overwrites position 0 instead of appending at pos
    v_cache[:, :, :T] = v_new
    return k_cache[:, :, :pos + T], v_cache[:, :, :pos + T]


def _update_cat(k_cache, v_cache, k_new, v_new, pos):
    if pos + k_new.shape[2] > k_cache.shape[2]:
        raise ValueError("cache full")
    return torch.cat([k_cache[:, :, :pos], k_new], dim=2), torch.cat([v_cache[:, :, :pos], v_new], dim=2)  # copies


def _update_whole_buffer(k_cache, v_cache, k_new, v_new, pos):
    end = pos + k_new.shape[2]
    if end > k_cache.shape[2]:
        raise ValueError("cache full")
    k_cache[:, :, pos:end], v_cache[:, :, pos:end] = k_new, v_new
    return k_cache, v_cache  # empty slots too: attention would read them


@exercise("kv_cache.update", difficulty=1, minutes=10,
          reference="llmcourse.inference.kv_cache:write_kv",
          wrong={"writes at slot 0, overwriting the first positions": _update_at_zero,
                 "torch.cat: copies instead of writing into the buffer": _update_cat,
                 "returns the whole buffer, empty slots included": _update_whole_buffer},
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


def _bytes_no_two(n_layer, n_kv_head, head_dim, n_tokens, dtype, batch_size):
    return n_layer * n_kv_head * head_dim * n_tokens * torch.empty((), dtype=dtype).element_size() * batch_size


def _bytes_always_fp32(n_layer, n_kv_head, head_dim, n_tokens, dtype, batch_size):
    return 2 * n_layer * n_kv_head * head_dim * n_tokens * 4 * batch_size  # 4 bytes whatever the dtype


def _bytes_no_batch(n_layer, n_kv_head, head_dim, n_tokens, dtype, batch_size):
    return 2 * n_layer * n_kv_head * head_dim * n_tokens * torch.empty((), dtype=dtype).element_size()


@exercise("kv_cache.memory_bytes", difficulty=1, minutes=5,
          reference="llmcourse.inference.kv_cache:kv_cache_bytes",
          wrong={"no factor 2 for keys AND values": _bytes_no_two,
                 "4 bytes per number whatever the dtype": _bytes_always_fp32,
                 "one sequence, whatever the batch": _bytes_no_batch},
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


def _step_parts(x_new, w_qkv, k_cache, v_cache, pos, n_heads):
    B, _, C = x_new.shape
    hd = C // n_heads
    q, k, v = (x_new @ w_qkv.T).split(C, dim=-1)
    q, k, v = (t.view(B, 1, n_heads, hd).transpose(1, 2) for t in (q, k, v))
    k_cache[:, :, pos:pos + 1], v_cache[:, :, pos:pos + 1] = k, v
    return q, k_cache[:, :, :pos + 1], v_cache[:, :, :pos + 1], B, C


def _step_causal(x_new, w_qkv, w_out, k_cache, v_cache, pos, n_heads):
    q, keys, values, B, C = _step_parts(x_new, w_qkv, k_cache, v_cache, pos, n_heads)
    y = F.scaled_dot_product_attention(q, keys, values, is_causal=True)  # top-left: the one query sees slot 0 only
    return y.transpose(1, 2).reshape(B, 1, C) @ w_out.T


def _step_new_only(x_new, w_qkv, w_out, k_cache, v_cache, pos, n_heads):
    q, keys, values, B, C = _step_parts(x_new, w_qkv, k_cache, v_cache, pos, n_heads)
    y = F.scaled_dot_product_attention(q, keys[:, :, -1:], values[:, :, -1:])  # the cache is never read
    return y.transpose(1, 2).reshape(B, 1, C) @ w_out.T


def _step_scale_c(x_new, w_qkv, w_out, k_cache, v_cache, pos, n_heads):
    q, keys, values, B, C = _step_parts(x_new, w_qkv, k_cache, v_cache, pos, n_heads)
    y = F.scaled_dot_product_attention(q, keys, values, scale=C ** -0.5)
    return y.transpose(1, 2).reshape(B, 1, C) @ w_out.T


@exercise("kv_cache.attention_step", difficulty=2, minutes=20,
          reference="llmcourse.inference.kv_cache:attention_step",
          wrong={"is_causal=True with one query: it sees slot 0 only": _step_causal,
                 "attends over the new token only, never reading the cache": _step_new_only,
                 "scores scaled by sqrt(C) instead of sqrt(head_dim)": _step_scale_c},
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


def _models(dtype=torch.float32):
    from llmcourse.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)  # a fixed model per case, whatever ran before
    base = dict(vocab_size=40, block_size=48, n_layer=2, n_head=4, n_embd=32)
    yield "GPT-2 style (learned positions)", GPT(GPTConfig(**base)).to(dtype)
    yield "Llama style (RoPE, GQA 2 kv heads)", GPT(GPTConfig.llama_style(**base, n_kv_head=2)).to(dtype)
    yield "ALiBi", GPT(GPTConfig(**base, positions="alibi")).to(dtype)


def _same_tokens(got, want):
    if not isinstance(got, torch.Tensor):
        return f"expected a tensor of token ids (B, T + n), got {type(got).__name__}"
    if got.shape != want.shape:
        return f"shape {tuple(got.shape)}, expected (B, T + n) = {tuple(want.shape)}"
    if torch.equal(got, want):
        return None
    first = int((got != want).nonzero()[0, 1])
    return f"tokens differ from model.generate's from position {first} on: got {got[0].tolist()}, expected {want[0].tolist()}"


def _generate_without_cache(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    return model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, generator=generator)


def _generate_off_by_one(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    from llmcourse.inference.kv_cache import KVCache
    from llmcourse.inference.sampling import sample_next

    cache = KVCache.for_model(model, batch_size=idx.shape[0])
    with torch.no_grad():
        logits, _ = model(idx, cache=cache, start_pos=0)
        out = idx
        for _ in range(max_new_tokens):
            next_id = sample_next(logits[:, -1], temperature, top_k, generator)
            out = torch.cat([out, next_id], dim=1)
            if out.shape[1] < model.config.block_size:
                logits, _ = model(next_id, cache=cache, start_pos=out.shape[1])  # one position too far
    return out


def _generate_rerun_prompt(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    from llmcourse.inference.kv_cache import KVCache
    from llmcourse.inference.sampling import sample_next

    out = idx
    with torch.no_grad():
        for _ in range(max_new_tokens):
            cache = KVCache.for_model(model, batch_size=idx.shape[0])  # a fresh cache every step: nothing reused
            logits, _ = model(out, cache=cache, start_pos=0)
            out = torch.cat([out, sample_next(logits[:, -1], temperature, top_k, generator)], dim=1)
    return out


@exercise("kv_cache.generate", difficulty=2, minutes=20,
          reference="llmcourse.inference.kv_cache:generate_cached",
          wrong={"no cache: model.generate recomputes everything": _generate_without_cache,
                 "start_pos one too far (the number of tokens so far)": _generate_off_by_one,
                 "a new cache every step, the whole sequence again": _generate_rerun_prompt},
          hint="cache = MyKVCache(model, B, T + n - 1) (or KVCache.for_model(model, batch_size=B)); "
               "logits, _ = model(idx, cache=cache, start_pos=0) for the prompt; then n times: next = "
               "sample_next(logits[:, -1], temperature, top_k, generator), append it, and run ONLY that token: "
               "model(next, cache=cache, start_pos=number of tokens already in the cache)")
def _generate():
    g = torch.Generator().manual_seed(1)
    with torch.random.fork_rng(devices=[]):
        models = list(_models())
    for label, model in models:
        model.eval()
        for B, T, n in ((1, 4, 12), (3, 2, 20)):
            idx = torch.randint(model.config.vocab_size, (B, T), generator=g)
            expected = model.generate(idx, n, temperature=0)  # the oracle: no cache, whole sequence every step
            yield Case(f"{label}, greedy, batch {B}, {n} tokens", args=(model, idx, n), kwargs=dict(temperature=0.0),
                       expected=expected, compare=_same_tokens)

    def sampling(fn):
        model = models[1][1]
        idx = torch.randint(40, (2, 3), generator=g)
        want = model.generate(idx, 15, temperature=0.8, top_k=10, generator=torch.Generator().manual_seed(5))
        got = fn(model, idx, 15, temperature=0.8, top_k=10, generator=torch.Generator().manual_seed(5))
        msg = _same_tokens(got, want)
        assert msg is None, f"sampling with the same generator: {msg} (draw with sample_next(logits[:, -1], " \
                            "temperature, top_k, generator), one draw per step)"

    def each_token_once(fn):
        model = models[1][1]
        seen: list[int] = []
        hook = model.register_forward_pre_hook(
            lambda m, args, kwargs: seen.append((args[0] if args else kwargs["idx"]).shape[1]), with_kwargs=True)
        try:
            fn(model, torch.randint(40, (1, 5), generator=g), 10, temperature=0.0)
        finally:
            hook.remove()
        assert sum(seen) <= 5 + 10 - 1 and seen[0] == 5, \
            f"the model ran on {seen} tokens per call: with a cache the prompt (5 tokens) runs once, then each new " \
            "token once (1 per call), 14 token-forwards in all"

    yield Case("sampling: same draws as model.generate with the same generator", test=sampling)
    yield Case("each token runs through the model once", test=each_token_once)


# ----------------------------------------------------------------------------- stretch: a batch of prompts
def _pad_right(model, prompts, max_new_tokens, pad_id=0):
    from llmcourse.inference.kv_cache import generate_cached

    P = max(len(p) for p in prompts)
    idx = torch.tensor([list(p) + [pad_id] * (P - len(p)) for p in prompts])  # right padding
    return generate_cached(model, idx, max_new_tokens, temperature=0)[:, P:].tolist()


def _pad_no_mask(model, prompts, max_new_tokens, pad_id=0):
    from llmcourse.inference.kv_cache import generate_cached

    P = max(len(p) for p in prompts)
    idx = torch.tensor([[pad_id] * (P - len(p)) + list(p) for p in prompts])  # left padding, but pads are attended
    return generate_cached(model, idx, max_new_tokens, temperature=0)[:, P:].tolist()


def _one_by_one(model, prompts, max_new_tokens, pad_id=0):
    from llmcourse.inference.kv_cache import generate_cached

    out = []
    for p in prompts:  # correct tokens, but no batch: as slow as before
        out.append(generate_cached(model, torch.tensor([list(p)]), max_new_tokens, temperature=0)[0, len(p):].tolist())
    return out


@exercise("kv_cache.batch_generate", difficulty=3, minutes=35, stretch=True,
          reference="llmcourse.inference.batch_generate:generate_batch",
          wrong={"right padding: rows' last tokens in different columns": _pad_right,
                 "left padding without an attention mask": _pad_no_mask,
                 "one prompt at a time (no batch)": _one_by_one},
          hint="left-pad to the longest prompt P; attention_mask (B, P) = 1 on real tokens; prefill model(idx, "
               "attention_mask=mask, cache=cache, start_pos=0); then per step append a column of ones to the mask "
               "and run the B new tokens at start_pos = P + step; return each row's new tokens as a list")
def _batch_generate():
    g = torch.Generator().manual_seed(3)
    with torch.random.fork_rng(devices=[]):
        models = [m for m in _models(torch.float64) if "learned" not in m[0]]  # left padding needs relative positions
        for _, model in models:  # larger weights than GPT-2's init: varied tokens, so attending to pads shows
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.normal_(1.0 if "norm" in name else 0.0, 0.1 if "norm" in name else p.shape[-1] ** -0.5)
    for label, model in models:
        model.eval()
        prompts = [torch.randint(6, 40, (n,), generator=g).tolist() for n in (5, 1, 3, 5)]
        expected = [model.generate(torch.tensor([p]), 16, temperature=0)[0, len(p):].tolist() for p in prompts]
        yield Case(f"{label}: prompts of 5, 1, 3, 5 tokens", args=(model, prompts, 16), kwargs=dict(pad_id=0),
                   expected=expected,
                   compare=lambda got, want: None if [list(map(int, r)) for r in got] == want else
                   f"got {[list(map(int, r)) for r in got]}, expected each prompt's own greedy continuation {want}")

    def batched(fn):
        model = models[0][1]
        seen: list[int] = []
        hook = model.register_forward_pre_hook(
            lambda m, args, kwargs: seen.append((args[0] if args else kwargs["idx"]).shape[0]), with_kwargs=True)
        try:
            fn(model, [[7, 8, 9], [10], [11, 12]], 6, pad_id=0)
        finally:
            hook.remove()
        assert seen and all(b == 3 for b in seen), \
            f"the model was called with batches of {sorted(set(seen))} rows: run all 3 prompts together in every call"

    yield Case("all prompts in one batch", test=batched)
