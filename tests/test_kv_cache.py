"""KV cache (notebook 3.2): cached generation against the uncached model, memory formula
against the bytes the tensors hold, Hugging Face's cache and generate as oracles, bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.inference.batch_generate import generate_batch
from llmcourse.inference.generation_speed import gpt_step_times, hf_step_times, step_latencies, tokens_per_second
from llmcourse.inference.kv_cache import (
    KVCache, attention_step, forward_cached, generate_cached, kv_cache_bytes, kv_cache_bytes_for, measured_cache_bytes,
    write_kv,
)
from llmcourse.models.gpt import GPT, GPTConfig


BASE = dict(vocab_size=37, block_size=40, n_layer=2, n_head=4, n_embd=32)
CONFIGS = {
    "gpt2 (learned)": GPTConfig(**BASE),
    "sinusoidal": GPTConfig(**BASE, positions="sinusoidal"),
    "no positions": GPTConfig(**BASE, positions="none"),
    "rope": GPTConfig(**BASE, positions="rope"),
    "alibi": GPTConfig(**BASE, positions="alibi"),
    "gqa 2 kv heads": GPTConfig(**BASE, n_kv_head=2),
    "mqa + rope": GPTConfig(**BASE, n_kv_head=1, positions="rope"),
    "llama style gqa": GPTConfig.llama_style(**BASE, n_kv_head=2),
    "sdpa kernel, alibi gqa": GPTConfig(**BASE, positions="alibi", n_kv_head=2, attn_impl="sdpa"),
    "3 layers rmsnorm relu": GPTConfig(**{**BASE, "n_layer": 3}, norm="rmsnorm", activation="relu"),
}


def make(config: GPTConfig, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(config).eval()
    with torch.no_grad():  # larger weights than the init: sharper logits, so greedy choices are not near-ties
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(4.0)
    return model


# ----------------------------------------------------------------------------- the same tokens


@pytest.mark.parametrize("name", list(CONFIGS))
def test_greedy_cached_equals_uncached(name):
    model = make(CONFIGS[name])
    idx = torch.randint(37, (3, 5), generator=torch.Generator().manual_seed(1))
    n = model.config.block_size - 5 + 1  # fills the context exactly
    want = model.generate(idx, n, temperature=0)
    got = generate_cached(model, idx, n, temperature=0)
    assert torch.equal(got, want)


@pytest.mark.parametrize("name", ["gpt2 (learned)", "rope", "alibi", "mqa + rope"])
def test_cached_logits_equal_full_forward(name):
    """Prefill a few tokens, then one at a time: every position's logits match one full forward."""
    model = make(CONFIGS[name])
    idx = torch.randint(37, (2, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full, _ = model(idx)  # (B, T, V): the oracle
        cache = KVCache.for_model(model, batch_size=2)
        parts = [forward_cached(model, idx[:, :6], cache)]
        parts += [forward_cached(model, idx[:, t:t + 1], cache) for t in range(6, 17)]
        parts.append(forward_cached(model, idx[:, 17:], cache))  # a chunk of 3 after single steps
    assert len(cache) == 20
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["gpt2 (learned)", "llama style gqa", "alibi"])
def test_sampling_equal_with_the_same_generator(name):
    model = make(CONFIGS[name])
    idx = torch.randint(37, (2, 3), generator=torch.Generator().manual_seed(3))
    for kw in (dict(temperature=1.0), dict(temperature=0.7, top_k=5)):
        want = model.generate(idx, 30, generator=torch.Generator().manual_seed(4), **kw)
        got = generate_cached(model, idx, 30, generator=torch.Generator().manual_seed(4), **kw)
        assert torch.equal(got, want), kw
        assert torch.equal(generate_cached(model, idx, 30, seed=9, **kw), model.generate(idx, 30, seed=9, **kw))


def test_eos_stops_like_generate():
    model = make(CONFIGS["rope"])
    idx = torch.randint(37, (4, 2), generator=torch.Generator().manual_seed(5))
    plain = model.generate(idx, 30, seed=0)
    eos = int(plain[0, 6])  # a token the first row produces early
    assert torch.equal(generate_cached(model, idx, 30, seed=0, eos_token_id=eos),
                       model.generate(idx, 30, seed=0, eos_token_id=eos))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), positions=st.sampled_from(["learned", "rope", "alibi", "sinusoidal"]),
       n_kv_head=st.sampled_from([1, 2, 4]), batch=st.integers(1, 3), prompt=st.integers(1, 10),
       new=st.integers(1, 20))
def test_property_greedy_equal(seed, positions, n_kv_head, batch, prompt, new):
    config = GPTConfig(vocab_size=23, block_size=32, n_layer=2, n_head=4, n_embd=16, n_kv_head=n_kv_head,
                       positions=positions)
    model = make(config, seed)
    idx = torch.randint(23, (batch, prompt), generator=torch.Generator().manual_seed(seed))
    assert torch.equal(generate_cached(model, idx, new, temperature=0), model.generate(idx, new, temperature=0))


def test_equals_hugging_face_llama_generate():
    """Another oracle: the same weights in LlamaForCausalLM, generating with its own cache."""
    model = make(GPTConfig.llama_style(**BASE, n_kv_head=2))
    hf = model.to_hf()
    idx = torch.randint(37, (2, 4), generator=torch.Generator().manual_seed(6))
    want = hf.generate(idx, attention_mask=torch.ones_like(idx), max_new_tokens=25, min_new_tokens=25,
                       do_sample=False, pad_token_id=0)
    assert torch.equal(generate_cached(model, idx, 25, temperature=0), want)


def test_cache_reuse_and_truncate():
    model = make(CONFIGS["rope"])
    idx = torch.randint(37, (1, 12), generator=torch.Generator().manual_seed(7))
    cache = KVCache.for_model(model)
    first = generate_cached(model, idx[:, :3], 10, temperature=0, cache=cache)
    assert torch.equal(generate_cached(model, idx[:, :3], 10, temperature=0, cache=cache), first)  # reset inside
    with torch.no_grad():
        cache.reset()
        full = forward_cached(model, idx, cache)
        cache.truncate(8)  # roll back 4 positions and recompute them
        again = forward_cached(model, idx[:, 8:], cache)
    torch.testing.assert_close(again, full[:, 8:], atol=1e-5, rtol=1e-5)
    assert len(cache) == 12


def test_step_times_same_tokens_both_ways():
    model = make(CONFIGS["gqa 2 kv heads"])
    idx = torch.randint(37, (1, 4), generator=torch.Generator().manual_seed(8))
    a, ta = gpt_step_times(model, idx, 20, use_cache=True)
    b, tb = gpt_step_times(model, idx, 20, use_cache=False)
    assert torch.equal(a, b) and torch.equal(a, model.generate(idx, 20, temperature=0))
    assert len(ta) == len(tb) == 20 and ta == sorted(ta) and all(t > 0 for t in tb)
    assert len(tokens_per_second(ta, [1, 10, 20])) == 3 and len(step_latencies(tb)) == 20
    with pytest.raises(ValueError, match="outside"):
        tokens_per_second(ta, [21])


# ----------------------------------------------------------------------------- memory


@pytest.mark.parametrize("name", ["gpt2 (learned)", "gqa 2 kv heads", "mqa + rope"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_formula_equals_measured(name, dtype):
    config = CONFIGS[name]
    for batch, tokens in ((1, 1), (2, 17), (3, config.block_size)):
        cache = KVCache(config.n_layer, batch, config.n_kv_head, config.head_dim, tokens, dtype=dtype)
        measured = sum(t.nbytes for t in cache.keys + cache.values)  # counted directly
        assert measured_cache_bytes(cache) == cache.nbytes == measured
        assert kv_cache_bytes(config.n_layer, config.n_kv_head, config.head_dim, tokens, dtype, batch) == measured
        assert kv_cache_bytes_for(config, tokens, dtype, batch) == measured


def test_gqa_shrinks_the_cache_by_the_group_size():
    mha = KVCache.for_model(make(CONFIGS["gpt2 (learned)"]))
    gqa = KVCache.for_model(make(CONFIGS["gqa 2 kv heads"]))
    mqa = KVCache.for_model(make(CONFIGS["mqa + rope"]))
    assert mha.keys[0].shape[1] == 4 and gqa.keys[0].shape[1] == 2 and mqa.keys[0].shape[1] == 1
    assert mha.nbytes == 2 * gqa.nbytes == 4 * mqa.nbytes


def test_formula_matches_hugging_face_dynamic_cache():
    """HF's DynamicCache after generate: full layers hold every position, Gemma's sliding ones the last W - 1."""
    transformers = pytest.importorskip("transformers")
    from llmcourse.assets.models import tiny_config

    torch.manual_seed(0)
    gemma = transformers.Gemma3ForCausalLM(tiny_config(300, sliding_window=8, num_hidden_layers=3,
                                                       layer_types=["sliding_attention", "sliding_attention",
                                                                    "full_attention"])).eval()
    llama = make(GPTConfig.llama_style(**BASE, n_kv_head=2)).to_hf()
    idx = torch.randint(37, (2, 3), generator=torch.Generator().manual_seed(0))
    for hf in (gemma, llama):
        for n in (2, 15):  # before and after the sliding window fills
            tokens, times, cache = hf_step_times(hf, idx, n, use_cache=True)
            assert len(times) == n and tokens.shape == (2, 3 + n)
            seen = 3 + n - 1  # the last token is never run through the model
            assert measured_cache_bytes(cache) == kv_cache_bytes_for(hf.config, seen, torch.float32, batch_size=2)
    plain, _, none = hf_step_times(gemma, idx, 6, use_cache=False)
    assert none is None and torch.equal(plain, hf_step_times(gemma, idx, 6, use_cache=True)[0])


def test_measured_bytes_of_legacy_tuples_and_bad_type():
    k = torch.zeros(1, 2, 5, 4)
    assert measured_cache_bytes(((k, k), (k, None))) == 3 * k.nbytes
    with pytest.raises(TypeError, match="measure"):
        measured_cache_bytes("cache")
    with pytest.raises(ValueError, match="non-negative"):
        kv_cache_bytes(2, 2, 4, -1)
    with pytest.raises(TypeError, match="dtype"):
        kv_cache_bytes(2, 2, 4, 1, dtype="fp16")


# ----------------------------------------------------------------------------- bad input


def test_overflow_past_capacity_is_a_clear_error_and_keeps_the_cache():
    model = make(CONFIGS["gpt2 (learned)"])
    cache = KVCache.for_model(model, max_len=6)
    idx = torch.randint(37, (1, 6))
    forward_cached(model, idx[:, :5], cache)
    with pytest.raises(ValueError, match="overflow.*capacity"):
        forward_cached(model, idx[:, :2], cache)
    assert len(cache) == 5  # nothing lost
    with pytest.raises(ValueError, match="overflow"):
        cache.update(0, torch.zeros(1, 4, 2, 8), torch.zeros(1, 4, 2, 8))  # directly, layer by layer
    with pytest.raises(ValueError, match="max_len=41 is longer than the model's context"):
        KVCache.for_model(model, max_len=41)


def test_past_the_models_context_is_a_clear_error():
    model = make(CONFIGS["rope"])
    idx = torch.randint(37, (1, 10))
    generate_cached(model, idx, 31, temperature=0)  # 10 + 31 - 1 = 40 = block_size: fits
    with pytest.raises(ValueError, match="exceed the model's context block_size=40.*at most 31"):
        generate_cached(model, idx, 32, temperature=0)
    with pytest.raises(ValueError, match="this call needs"):
        generate_cached(model, idx, 20, cache=KVCache.for_model(model, max_len=12))


def test_empty_and_malformed_input():
    model = make(CONFIGS["gpt2 (learned)"])
    with pytest.raises(ValueError, match="empty batch"):
        generate_cached(model, torch.zeros(0, 3, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="empty prompt"):
        generate_cached(model, torch.zeros(2, 0, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="batch_size >= 1"):
        KVCache(2, 0, 4, 8, 10)
    with pytest.raises(ValueError, match=r"\(batch, length\)"):
        generate_cached(model, torch.zeros(3, dtype=torch.long), 5)
    assert torch.equal(generate_cached(model, torch.ones(1, 3, dtype=torch.long), 0), torch.ones(1, 3, dtype=torch.long))
    cache = KVCache.for_model(model, batch_size=2)
    with pytest.raises(ValueError, match="batch 1 but the cache was built for batch 2"):
        forward_cached(model, torch.ones(1, 3, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="n_kv_head=4"):
        cache.update(0, torch.zeros(2, 2, 1, 8), torch.zeros(2, 2, 1, 8))
    with pytest.raises(IndexError, match="layer_idx 5"):
        cache.update(5, torch.zeros(2, 4, 1, 8), torch.zeros(2, 4, 1, 8))
    with pytest.raises(ValueError, match="token ids"):  # the model's own check; the cache is rolled back
        forward_cached(model, torch.full((2, 3), 99), cache)
    assert len(cache) == 0


# ----------------------------------------------------------------------------- the pieces of the exercises


def test_write_kv_writes_in_place_and_returns_views():
    k_cache, v_cache = torch.full((2, 3, 8, 4), 7.0), torch.full((2, 3, 8, 4), 7.0)
    k_new, v_new = torch.randn(2, 3, 2, 4), torch.randn(2, 3, 2, 4)
    k_all, v_all = write_kv(k_cache, v_cache, k_new, v_new, 3)
    assert k_all.shape == (2, 3, 5, 4) and torch.equal(k_all[:, :, 3:], k_new) and torch.equal(v_all[:, :, 3:], v_new)
    assert k_all.data_ptr() == k_cache.data_ptr() and bool((k_cache[:, :, 5:] == 7).all())
    with pytest.raises(ValueError, match="overflow"):
        write_kv(k_cache, v_cache, torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), 5)


def test_attention_step_equals_the_module_with_a_cache():
    from llmcourse.nn import MultiHeadAttention

    torch.manual_seed(0)
    layer = MultiHeadAttention(24, 3, bias=False).eval()
    x = torch.randn(2, 7, 24)
    k_cache, v_cache = torch.zeros(2, 3, 7, 8), torch.zeros(2, 3, 7, 8)
    with torch.no_grad():
        steps = torch.cat([attention_step(x[:, t:t + 1], layer.qkv.weight, layer.proj.weight, k_cache, v_cache, t, 3)
                           for t in range(7)], dim=1)
        torch.testing.assert_close(steps, layer(x, is_causal=True))


@pytest.mark.parametrize("name", ["rope", "alibi", "no positions", "llama style gqa", "sdpa kernel, alibi gqa"])
def test_batch_generation_equals_each_prompt_alone(name):
    model = make(CONFIGS[name]).double()
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(1, 37, (n,), generator=g).tolist() for n in (6, 1, 3, 6, 2)]
    got = generate_batch(model, prompts, 12)
    want = [model.generate(torch.tensor([p]), 12, temperature=0)[0, len(p):].tolist() for p in prompts]
    assert got == want


def test_batch_generation_refuses_absolute_positions_and_stops_at_eos():
    with pytest.raises(ValueError, match="absolute"):
        generate_batch(make(CONFIGS["gpt2 (learned)"]), [[1, 2], [3]], 4)
    model = make(CONFIGS["rope"]).double()
    first = generate_batch(model, [[1, 2, 3], [4]], 6)
    eos = first[0][2]
    out = generate_batch(model, [[1, 2, 3], [4]], 6, eos_token_id=eos)
    for row, full in zip(out, first):  # each row ends at its first EOS token (kept), the others run on
        assert row == (full[: full.index(eos) + 1] if eos in full else full)
    with pytest.raises(ValueError, match="exceed block_size"):
        generate_batch(model, [[1] * 30], 20)
    with pytest.raises(ValueError, match="at least one token"):
        generate_batch(model, [[1], []], 3)
    assert generate_batch(model, [[1], [2, 3]], 0) == [[], []]


@pytest.mark.parametrize("bad, match", [(dict(top_k=0), "top_k"), (dict(top_k=-3), "top_k"),
                                        (dict(max_new_tokens=2.5), "max_new_tokens"),
                                        (dict(max_new_tokens=-1), "max_new_tokens"),
                                        (dict(temperature=-1.0), "temperature")])
def test_generation_arguments_are_validated_both_ways(bad, match):
    model = make(CONFIGS["rope"])
    idx = torch.ones(1, 3, dtype=torch.long)
    kwargs = {"max_new_tokens": 4, **bad}
    n = kwargs.pop("max_new_tokens")
    with pytest.raises(ValueError, match=match):
        model.generate(idx, n, **kwargs)
    with pytest.raises(ValueError, match=match):
        generate_cached(model, idx, n, **kwargs)
