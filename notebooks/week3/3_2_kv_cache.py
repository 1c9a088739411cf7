# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3.2 The KV cache
#
# A language model writes one token at a time. To write token t+1 it needs the logits at
# position t, and the GPT of weeks 2-3 computes those by running **the whole sequence**
# through every layer — again at every step. Almost all of that work was already done one
# step earlier.
#
# This notebook finds out exactly which part is repeated (the keys and values of the
# attention layers), stores it (the *KV cache*), and measures what that buys and costs:
#
# * **speed**: tokens/s with and without the cache as the generated text gets longer, for
#   the course GPT and for a Hugging Face model (`use_cache=True/False`);
# * **memory**: the cache's size by formula, 2 · layers · kv_heads · head_dim · tokens ·
#   bytes, against the bytes its tensors actually hold;
# * **correctness**: with and without the cache, the model must produce the same tokens.
#
# Every inference engine (llama.cpp, vLLM, TensorRT-LLM, `model.generate`) is built around
# this cache; week 6 manages it in pages and shares it between requests.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("3.2")

# %% [markdown]
# ## Knobs
# The speed experiment uses a GPT the size of the laptop profile's models (4 layers, 128
# wide, as in notebooks 2.2-3.3) with a character vocabulary, and a context long enough for
# 1024 new tokens. Its weights are **random**: the time a forward pass takes does not depend
# on the values of the weights, only on their shapes, so there is nothing to train for a
# speed test (the tokens it writes are gibberish, and we only check that both ways agree).
#
# On a CPU we run on one thread: generation is a long chain of small matrix products, and on
# a 2-core machine shared with other work, threads spend more time waiting for each other
# than computing. It also makes the numbers steadier.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

MODEL = cfg.pick(smoke=dict(n_layer=2, n_head=4, n_embd=64), laptop=dict(n_layer=4, n_head=4, n_embd=128),
                 colab=dict(n_layer=6, n_head=6, n_embd=384))
VOCAB = 65  # Shakespeare's characters, as in notebook 2.2
PROMPT_LEN = 16
LENGTHS = cfg.pick(smoke=[8, 16, 32, 64], laptop=[64, 128, 256, 512, 1024])  # new tokens to time
HF_MODEL = cfg.pick(smoke="tiny", laptop="gemma-3-270m")
HF_LENGTHS = cfg.pick(smoke=[4, 8, 16], laptop=[16, 32, 64, 128])
HF_PREFILL = cfg.pick(smoke=100, laptop=700)  # a prompt longer than Gemma's sliding window, for its cache size
THREADS = cfg.pick(smoke=1, laptop=1, colab=None)  # None: leave torch's default
if THREADS and cfg.device == "cpu":
    torch.set_num_threads(THREADS)
device = cfg.device
print(f"device {device}, {torch.get_num_threads()} thread(s)")

# %% [markdown]
# ## 1. Generating without a cache is quadratic
#
# Plain generation (`GPT.generate` of notebook 2.2) is this loop:
#
# ```python
# for step in range(n):
#     logits = model(tokens)                  # ALL tokens so far: (B, P + step, V)
#     next_id = logits[:, -1].argmax(-1)      # only the last row is used
#     tokens = cat([tokens, next_id])
# ```
#
# With a prompt of P tokens, step s runs P + s tokens through the model, so n new tokens
# cost P + (P+1) + ... + (P+n-1) = n·P + n(n-1)/2 token-forwards: **quadratic** in n. (Inside
# each forward, attention compares every token with every earlier one, another T² term;
# for small models the per-token matrix products dominate.) Doubling the text quadruples
# the work. Let us count:

# %%
P = PROMPT_LEN
print(f"{'new tokens n':>12} {'token-forwards, no cache':>25} {'with a cache':>13} {'ratio':>7}")
for n in (64, 128, 256, 512, 1024):
    plain, cached = n * P + n * (n - 1) // 2, P + n - 1
    print(f"{n:>12} {plain:>25,} {cached:>13,} {plain / cached:>6.0f}x")

# %% [markdown]
# Which part is repeated? In a causal model token i only attends to tokens 0..i, so nothing
# that comes later can change what token i computed: its keys and values in every layer
# are the same at step t and at step t+1. Let us check it with the model's cache hook:
# `model(idx, cache=c)` hands every layer's keys and values to `c.update(layer, k, v)`.
# A "cache" that only records them and hands them back shows what each step computes.

# %%
from llmcourse.models.gpt import GPT, GPTConfig

torch.manual_seed(0)
demo = GPT(GPTConfig(vocab_size=VOCAB, block_size=64, n_layer=2, n_head=4, n_embd=32)).eval()


class Recorder:
    """Satisfies the cache protocol without caching: keeps each layer's keys and returns them unchanged."""

    def __init__(self):
        self.keys = {}

    def update(self, layer_idx, k, v):
        self.keys[layer_idx] = k  # (B, H_kv, T, hd)
        return k, v


tokens = torch.randint(VOCAB, (1, 11))
step_t, step_t1 = Recorder(), Recorder()
with torch.no_grad():
    demo(tokens[:, :10], cache=step_t)  # step t: 10 tokens
    demo(tokens, cache=step_t1)  # step t+1: the same 10 tokens and one more
for layer in (0, 1):
    same = (step_t.keys[layer] - step_t1.keys[layer][:, :, :10]).abs().max().item()
    print(f"layer {layer}: keys of the first 10 tokens, step t vs t+1: max difference {same:.1e}")

# %% [markdown]
# Identical (up to rounding). Only the **new** token's keys and values are new, and only the
# **new** token's query is needed (we want one row of logits). So per step: project the one
# new token, append its k and v to those kept from before, and let its query attend over all
# of them. That store of keys and values is the KV cache.
#
# ## 2. A cache for one layer
#
# Concatenating (`torch.cat([k_old, k_new])`) would copy the whole cache at every step — a
# quadratic cost again, in memory traffic. Real caches **preallocate** a buffer for the
# longest sequence, (B, H_kv, max_len, head_dim), and write each step's keys into the next
# free slots; attention then reads a *view* of the filled part.
#
# **Exercise.** `cache_update(k_cache, v_cache, k_new, v_new, pos)`: the buffers hold `pos`
# positions; write the T new ones (B, H_kv, T, hd) at slots pos .. pos+T-1 in place and
# return views of slots 0 .. pos+T-1. Raise `ValueError` if they do not fit. The check
# compares with `torch.cat` of the old and new keys.

# %%
def cache_update(k_cache, v_cache, k_new, v_new, pos):
    ### BEGIN SOLUTION
    end = pos + k_new.shape[2]
    if end > k_cache.shape[2]:
        raise ValueError(f"KV cache full: {pos} stored + {k_new.shape[2]} new > {k_cache.shape[2]} slots")
    k_cache[:, :, pos:end] = k_new  # in place, no copy of the old entries
    v_cache[:, :, pos:end] = v_new
    return k_cache[:, :, :end], v_cache[:, :, :end]  # views (B, H_kv, end, hd)
    ### END SOLUTION


# %%
check("kv_cache.update", cache_update)

# %% [markdown]
# ## 3. What the cache costs in memory
#
# Per token, every layer keeps one key and one value vector per key/value head:
#
#     bytes = 2 · n_layer · n_kv_head · head_dim · tokens · bytes_per_number · batch
#
# It grows linearly with the context and the batch, and for long contexts it can exceed the
# weights themselves. That is why modern models use grouped-query attention (n_kv_head much
# smaller than n_head, notebook 3.1) and why engines store caches in 16 or 8 bits.
#
# **Exercise.** `memory_bytes(n_layer, n_kv_head, head_dim, n_tokens, dtype, batch_size)`.
# `torch.empty((), dtype=dtype).element_size()` is the size of one number. The check
# compares with the size of tensors of the cache's shape.

# %%
def memory_bytes(n_layer, n_kv_head, head_dim, n_tokens, dtype, batch_size):
    ### BEGIN SOLUTION
    bytes_per_number = torch.empty((), dtype=dtype).element_size()
    return 2 * n_layer * n_kv_head * head_dim * n_tokens * bytes_per_number * batch_size
    ### END SOLUTION


# %%
check("kv_cache.memory_bytes", memory_bytes)

# %% [markdown]
# The library's `kv_cache_bytes` is the same formula. For some real models (published
# shapes), per sequence of their full context:

# %%
from llmcourse.inference.kv_cache import KVCache, kv_cache_bytes

REAL_MODELS = {  # name: (layers, kv heads, head_dim, context, dtype, weights in GB)
    "GPT-2 small (MHA, 12 heads)": (12, 12, 64, 1024, torch.float32, 0.5),
    "Gemma 3 270M (1 kv head, no window)": (18, 1, 256, 32_768, torch.bfloat16, 0.54),
    "Llama 3 8B (GQA, 8 of 32 heads)": (32, 8, 128, 8_192, torch.bfloat16, 16.1),
    "Llama 3 8B at 128k tokens": (32, 8, 128, 131_072, torch.bfloat16, 16.1),
    "Llama 3 8B without GQA (32 kv)": (32, 32, 128, 8_192, torch.bfloat16, 16.1),
}
print(f"{'model':34} {'context':>8} {'cache / token':>14} {'cache / sequence':>17} {'weights':>8}")
for name, (L, H_kv, hd, ctx, dt, weights_gb) in REAL_MODELS.items():
    per_token = kv_cache_bytes(L, H_kv, hd, 1, dt)
    print(f"{name:34} {ctx:>8,} {per_token / 1024:>11.1f} KB {kv_cache_bytes(L, H_kv, hd, ctx, dt) / 1e9:>14.2f} GB"
          f" {weights_gb:>6.1f} GB")
print("(Gemma 3 also keeps only the last 512 tokens in 15 of its 18 layers: sliding-window attention, section 8)")

# %% [markdown]
# ## 4. One decoding step of attention
#
# Now the step itself, for one attention layer with H heads (no biases, as in Llama). The new
# token x_new (B, 1, C) is projected to q, k, v; k and v go into the cache at slot `pos`; the
# query attends over slots 0..pos. No causal mask is needed: everything in the cache is in
# the past of the new token.
#
# **Exercise.** `attention_step(x_new, w_qkv, w_out, k_cache, v_cache, pos, n_heads)` returns
# the layer's output (B, 1, C) and updates the caches. The check runs
# `torch.nn.functional.multi_head_attention_forward` on the *whole* sequence with a causal
# mask and compares with its last position, and also decodes a sequence token by token from
# an empty cache and compares every position.

# %%
def attention_step(x_new, w_qkv, w_out, k_cache, v_cache, pos, n_heads):
    ### BEGIN SOLUTION
    B, _, C = x_new.shape
    hd = C // n_heads
    q, k, v = (x_new @ w_qkv.T).split(C, dim=-1)  # (B, 1, C) each
    q, k, v = (t.view(B, 1, n_heads, hd).transpose(1, 2) for t in (q, k, v))  # (B, H, 1, hd)
    k_cache[:, :, pos:pos + 1] = k
    v_cache[:, :, pos:pos + 1] = v
    keys, values = k_cache[:, :, :pos + 1], v_cache[:, :, :pos + 1]  # (B, H, pos + 1, hd)
    weights = (q @ keys.transpose(-2, -1) / math.sqrt(hd)).softmax(dim=-1)  # (B, H, 1, pos + 1)
    y = (weights @ values).transpose(1, 2).reshape(B, 1, C)  # heads side by side again
    return y @ w_out.T
    ### END SOLUTION


# %%
check("kv_cache.attention_step", attention_step)

# %% [markdown]
# ## 5. The cache inside the GPT
#
# The library's `KVCache` (`llmcourse.inference.kv_cache`) keeps one preallocated key and
# value buffer per layer, shaped (B, n_kv_head, max_len, head_dim) — n_kv_head, not n_head:
# with grouped-query attention only the shared heads are stored, and the layer repeats them
# for its query heads after reading the cache. The GPT speaks to it through one protocol:
#
#     logits, _ = model(idx_new, cache=cache, start_pos=p)
#
# runs the new tokens at positions p, p+1, ... Each attention layer calls
# `cache.update(layer, k, v)` and attends over what comes back; positions (learned, RoPE,
# ALiBi) and the causal mask are computed from `start_pos`. Prefill (the whole prompt, p = 0)
# and decoding (one token, p = tokens so far) are the same call.
#
# **Exercise.** `greedy_generate(model, idx, max_new_tokens)` with a cache: build
# `KVCache.for_model(model, batch_size=B)`, prefill the prompt, then feed back one token at a
# time. It must return exactly what `model.generate(idx, n, temperature=0)` returns (the
# check runs it on GPT-2-style, Llama-style with GQA, and ALiBi models).

# %%
def greedy_generate(model, idx, max_new_tokens):
    ### BEGIN SOLUTION
    cache = KVCache.for_model(model, batch_size=idx.shape[0])
    out = idx
    with torch.no_grad():
        logits, _ = model(idx, cache=cache, start_pos=0)  # prefill: (B, T, V)
        for step in range(max_new_tokens):
            next_id = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
            out = torch.cat([out, next_id], dim=1)
            if step < max_new_tokens - 1:  # the last token never needs to be run
                logits, _ = model(next_id, cache=cache, start_pos=out.shape[1] - 1)  # (B, 1, V)
    return out
    ### END SOLUTION


# %%
check("kv_cache.greedy_generate", greedy_generate)

# %% [markdown]
# The library's `generate_cached(model, idx, n, temperature, top_k, seed)` is the same loop
# with sampling, EOS handling and clear errors. It must agree with the uncached
# `model.generate` token for token: greedily, and when sampling with the same seed (both draw
# from the same probabilities with the same random numbers). One difference is by design: a
# cache cannot slide. Positions are baked into the stored keys, so `generate_cached` stops at
# the model's context (`block_size`) with an error, where `generate` crops the oldest tokens
# and recomputes everything.

# %%
from llmcourse.inference.kv_cache import forward_cached, generate_cached

agree = {}
for label, demo_config in {
    "GPT-2 style": GPTConfig(vocab_size=VOCAB, block_size=96, n_layer=2, n_head=4, n_embd=32),
    "Llama style, GQA 4->2": GPTConfig.llama_style(vocab_size=VOCAB, block_size=96, n_layer=2, n_head=4,
                                                   n_embd=32, n_kv_head=2),
    "ALiBi, MQA 4->1": GPTConfig(vocab_size=VOCAB, block_size=96, n_layer=2, n_head=4, n_embd=32,
                                 positions="alibi", n_kv_head=1),
}.items():
    torch.manual_seed(1)
    m = GPT(demo_config).eval()
    prompt = torch.randint(VOCAB, (2, 8))
    greedy = torch.equal(generate_cached(m, prompt, 80, temperature=0), m.generate(prompt, 80, temperature=0))
    sampled = torch.equal(generate_cached(m, prompt, 80, seed=3, top_k=10), m.generate(prompt, 80, seed=3, top_k=10))
    agree[label] = greedy and sampled
    print(f"{label:24} greedy equal: {greedy}   sampling (seed 3, top-k 10) equal: {sampled}")
    try:
        generate_cached(m, prompt, 90)
    except ValueError as err:
        overflow_message = str(err)
print("past the context:", overflow_message)

# %% [markdown]
# ## 6. Speed: tokens per second against length
#
# Now the GPT of the knobs. One greedy run of the longest length gives the whole curve:
# `gpt_step_times` notes the time at which each token is ready, so the first k timestamps
# are a k-token generation (prompt included). Without the cache each step gets slower as
# the sequence grows; with it every step costs about the same.

# %%
from llmcourse.inference.generation_speed import gpt_step_times, step_latencies, tokens_per_second

n_max = max(LENGTHS)
config = GPTConfig(vocab_size=VOCAB, block_size=PROMPT_LEN + n_max, attn_impl="sdpa", **MODEL)
torch.manual_seed(0)
model = GPT(config).to(device).eval()  # random weights: speed depends on shapes, not values
prompt = torch.randint(VOCAB, (1, PROMPT_LEN), device=device)
print(f"GPT: {model.num_params() / 1e6:.2f} M parameters, {config.n_layer} layers, width {config.n_embd}, "
      f"context {config.block_size}")
gpt_step_times(model, prompt, 8, use_cache=True), gpt_step_times(model, prompt, 8, use_cache=False)  # warm-up
runs = {}
for use_cache in tqdm((True, False), desc="generating"):
    runs[use_cache] = gpt_step_times(model, prompt, n_max, use_cache=use_cache)
same_tokens = torch.equal(runs[True][0], runs[False][0])
tps = {c: tokens_per_second(runs[c][1], LENGTHS) for c in (True, False)}
speedup = {n: a / b for n, a, b in zip(LENGTHS, tps[True], tps[False])}
print(f"same {n_max} tokens with and without the cache: {same_tokens}")
print(f"{'new tokens':>10} {'no cache tok/s':>15} {'cache tok/s':>12} {'speed-up':>9}")
for n, a, b in zip(LENGTHS, tps[True], tps[False]):
    print(f"{n:>10} {b:>15.1f} {a:>12.1f} {a / b:>8.1f}x")

# %%
def length_axis(ax, lengths):
    """A log2 x-axis labelled with exactly the lengths we measured."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.minorticks_off()


def running_median(values, window=9):
    """Smooth a noisy series (a shared machine makes single steps jump) without shifting it."""
    t = torch.tensor(values)
    half = window // 2
    padded = torch.cat([t[:1].repeat(half), t, t[-1:].repeat(half)])
    return padded.unfold(0, window, 1).median(dim=-1).values.tolist()


fig, axes = plt.subplots(1, 3, figsize=(15, 4))
axes[0].plot(LENGTHS, tps[False], "o-", label="no cache")
axes[0].plot(LENGTHS, tps[True], "s-", label="KV cache")
axes[0].set(xlabel="tokens generated", ylabel="tokens / s", title="Generation speed (course GPT)", ylim=(0, None))
length_axis(axes[0], LENGTHS)
for i, (c, label) in enumerate(((False, "no cache"), (True, "KV cache"))):
    lat = [1e3 * t for t in step_latencies(runs[c][1])[1:]]  # step 0 is the prefill of the prompt
    steps = range(2, len(lat) + 2)
    axes[1].plot(steps, lat, lw=0.5, alpha=0.35, color=f"C{i}")
    axes[1].plot(steps, running_median(lat), lw=1.5, color=f"C{i}", label=f"{label} (running median)")
axes[1].set(xlabel="step (tokens generated so far)", ylabel="ms per token", title="Latency of each step",
            ylim=(0, None))
axes[2].plot(LENGTHS, list(speedup.values()), "o-", color="C2")
axes[2].axhline(5, ls="--", color="gray", label="goal: 5x at 512 tokens")
axes[2].set(xlabel="tokens generated", ylabel="cache / no cache", title="Speed-up", ylim=(0, None))
length_axis(axes[2], LENGTHS)
for ax in axes:
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the middle plot first. Without the cache a step's cost grows linearly with the
# sequence (one more token to recompute each step), so the total is quadratic and the
# tokens/s of the left plot fall as the text gets longer. With the cache the step cost is
# almost flat: one token's matrix products plus attention over the cache, which grows
# linearly but is tiny for a model this size. The speed-up therefore *grows with length*:
# modest for short texts, large for long ones. For short generations on a small model the
# fixed cost of a step (Python and the launch of a few dozen small operations) dominates
# both ways, so the gain starts small.
#
# ## 7. Memory: formula against measurement
#
# `KVCache` allocates its buffers up front, so its memory is exactly what the formula gives
# for its capacity. Measured = the sum of `nbytes` of the key and value tensors, read from
# the tensors themselves; the formula knows only the shapes. Let us compare for several
# lengths, head layouts and dtypes.

# %%
from llmcourse.inference.kv_cache import kv_cache_bytes_for, measured_cache_bytes

mem_tokens = [t for t in (16, 64, 128, 256, 512, 1024) if t <= config.block_size]
variants = {"MHA (4 kv heads), fp32": (config.n_head, torch.float32),
            "GQA (2 kv heads), fp32": (2, torch.float32),
            "MQA (1 kv head), bf16": (1, torch.bfloat16)}
memory = {}
for label, (n_kv, dtype) in variants.items():
    c = config.replace(n_kv_head=n_kv)
    formula = [kv_cache_bytes_for(c, t, dtype) for t in mem_tokens]
    measured = [measured_cache_bytes(KVCache(c.n_layer, 1, n_kv, c.head_dim, t, dtype=dtype)) for t in mem_tokens]
    memory[label] = (formula, measured)
    print(f"{label:24} formula == measured at every length: {formula == measured}   "
          f"{mem_tokens[-1]} tokens: {measured[-1] / 1024:.0f} KB")
run_cache = KVCache.for_model(model, max_len=PROMPT_LEN + n_max - 1)
generate_cached(model, prompt, n_max, temperature=0, cache=run_cache)  # fills it
print(f"after the {n_max}-token run: {run_cache}")
print(f"formula for {len(run_cache)} tokens: {kv_cache_bytes_for(config, len(run_cache)) / 2**20:.2f} MiB, "
      f"measured: {measured_cache_bytes(run_cache) / 2**20:.2f} MiB")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for i, (label, (formula, measured)) in enumerate(memory.items()):
    axes[0].plot(mem_tokens, [b / 1024 for b in formula], "-", color=f"C{i}", label=f"{label}: formula")
    axes[0].plot(mem_tokens, [b / 1024 for b in measured], "o", color=f"C{i}", label="measured (nbytes)")
axes[0].set(xlabel="tokens in the cache", ylabel="KB", title=f"KV cache of the {config.n_layer}-layer course GPT")
axes[0].legend(fontsize=8)
context = [2**k for k in range(10, 18)]
for name, (L, H_kv, hd, ctx, dt, weights_gb) in REAL_MODELS.items():
    if "128k" not in name:
        axes[1].plot(context, [kv_cache_bytes(L, H_kv, hd, t, dt) / 1e9 for t in context], label=name)
axes[1].axhline(16.1, ls="--", color="gray", label="Llama 3 8B weights (bf16)")
axes[1].set(xscale="log", yscale="log", xlabel="context (tokens)", ylabel="GB per sequence",
            title="KV cache of real models (formula)")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Formula and measurement agree to the byte, and the cache grows in a straight line with the
# tokens. At real scale it is the memory problem of serving: a single 128k-token Llama 3 8B
# sequence holds 17 GB of keys and values, more than the weights; without GQA an 8k context
# would already cost 4.3 GB per sequence. Halving the bytes (bf16, int8) or the kv heads
# halves it; that is the whole design space of week 6.
#
# ## 8. The same with Hugging Face
#
# `model.generate(..., use_cache=True)` is the default in transformers; `use_cache=False`
# recomputes everything like our plain loop. We time both token by token (a logits
# processor notes the clock as each step's logits arrive) and read the cache it returns.
# In the smoke profile the model is a tiny randomly initialised Gemma 3 built from a
# config (no tokenizer to load); in the laptop profile it is the real Gemma 3 270M.

# %%
import transformers

from llmcourse.assets import load_lm
from llmcourse.assets.models import tiny_config
from llmcourse.inference.generation_speed import hf_step_times

if HF_MODEL == "tiny":
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        hf_model = transformers.Gemma3ForCausalLM(tiny_config(vocab_size=2048)).to(device).eval()
    hf_ids = torch.randint(2048, (1, 8), device=device)
    hf_tok = None
else:
    hf_model, hf_tok = load_lm(HF_MODEL, device=device)
    hf_ids = hf_tok("The capital of Indonesia is", return_tensors="pt").input_ids.to(device)
hc = hf_model.config
print(f"{HF_MODEL}: {sum(p.numel() for p in hf_model.parameters()) / 1e6:.1f} M parameters, "
      f"{hc.num_hidden_layers} layers, {hc.num_attention_heads} query heads, {hc.num_key_value_heads} kv head(s), "
      f"head_dim {hc.head_dim}, vocabulary {hc.vocab_size:,}")
hf_step_times(hf_model, hf_ids, 2, use_cache=True)  # warm-up
hf_runs = {c: hf_step_times(hf_model, hf_ids, max(HF_LENGTHS), use_cache=c)
           for c in tqdm((True, False), desc="HF generate")}
hf_same = torch.equal(hf_runs[True][0], hf_runs[False][0])
hf_tps = {c: tokens_per_second(hf_runs[c][1], HF_LENGTHS) for c in (True, False)}
print(f"same tokens with use_cache=True and False: {hf_same}")
print(f"{'new tokens':>10} {'use_cache=False':>16} {'use_cache=True':>15} {'speed-up':>9}")
for n, a, b in zip(HF_LENGTHS, hf_tps[True], hf_tps[False]):
    print(f"{n:>10} {b:>12.1f} tok/s {a:>11.1f} tok/s {a / b:>8.1f}x")
if hf_tok is not None:
    print(repr(hf_tok.decode(hf_runs[True][0][0])))

# %% [markdown]
# Its cache is a `DynamicCache` (it grows by concatenation instead of preallocating). The
# formula needs one refinement for Gemma 3: most of its layers use **sliding-window**
# attention (each token sees only the last `sliding_window` tokens), and for those layers
# the cache keeps only the last `sliding_window - 1` positions. `kv_cache_bytes_for` counts
# min(tokens, window - 1) for them; full-attention layers count every token. To see the
# window at work we also measure the cache after one prefill of a prompt longer than the
# window (random token ids: the cache's size depends only on their number).

# %%
from llmcourse.inference.generation_speed import hf_cache

dt = next(hf_model.parameters()).dtype
kinds = {k: hc.layer_types.count(k) for k in set(hc.layer_types)}
print(f"layers: {kinds}, sliding_window = {hc.sliding_window}")
seen = hf_ids.shape[1] + max(HF_LENGTHS) - 1  # after generate; the last token is never run through the model
with torch.no_grad():
    long_cache = hf_cache(hf_model(torch.randint(hc.vocab_size, (1, HF_PREFILL), device=device), use_cache=True))
hf_memory = {}
for label, cache, tokens in (("after generate", hf_runs[True][2], seen), (f"after a {HF_PREFILL}-token prefill",
                                                                          long_cache, HF_PREFILL)):
    hf_memory[label] = (tokens, measured_cache_bytes(cache), kv_cache_bytes_for(hc, tokens, dt),
                        kv_cache_bytes(hc.num_hidden_layers, hc.num_key_value_heads, hc.head_dim, tokens, dt))
    _, measured, formula, no_window = hf_memory[label]
    print(f"{label:26} {tokens:>5} tokens: measured {measured:>12,} B   formula {formula:>12,} B   "
          f"(if every layer kept every token: {no_window:,} B)")
hf_measured, hf_formula = hf_memory[f"after a {HF_PREFILL}-token prefill"][1:3]

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
axes[0].plot(HF_LENGTHS, hf_tps[False], "o-", label="use_cache=False")
axes[0].plot(HF_LENGTHS, hf_tps[True], "s-", label="use_cache=True")
axes[0].set(xlabel="tokens generated", ylabel="tokens / s", title=f"Hugging Face {HF_MODEL}", ylim=(0, None))
length_axis(axes[0], HF_LENGTHS)
axes[0].legend()
long = [2**k for k in range(3, 16)]
axes[1].plot(long, [kv_cache_bytes_for(hc, t, dt) / 2**20 for t in long], label="with sliding windows (formula)")
axes[1].plot(long, [kv_cache_bytes(hc.num_hidden_layers, hc.num_key_value_heads, hc.head_dim, t, dt) / 2**20
                    for t in long], "--", label="if every layer kept every token")
for marker, (label, (tokens, measured, _, _)) in zip("os", hf_memory.items()):
    axes[1].plot([tokens], [measured / 2**20], marker, color="k", label=f"measured {label}")
axes[1].set(xscale="log", yscale="log", xlabel="tokens", ylabel="MiB", title=f"{HF_MODEL} KV cache ({dt})")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Same tokens both ways again, and a cache that is faster the longer the text. For Gemma
# 3 270M (laptop profile) the gain at these lengths is smaller than for our GPT at 512
# tokens, for two reasons. Its vocabulary has 262k tokens: 170 of its 270 M parameters are
# the embedding, and the projection onto the vocabulary runs once per step with or without
# a cache, a fixed cost the cache cannot remove. And the lengths are short (an uncached
# 270M model is slow on a CPU), so the recomputed prefix is still small; the gain grows with
# it. The tiny model of the smoke profile is almost all embedding: there the cache has
# almost nothing to save, and its bookkeeping can even cost more than it saves.
#
# ## Summary
#
# * Without a cache, generating n tokens runs the model over 1 + 2 + ... + n positions:
#   quadratic. The keys and values of earlier tokens never change, so a KV cache computes
#   each once and every step runs one token.
# * The cache is a preallocated (B, n_kv_head, max_len, head_dim) buffer per layer for keys
#   and one for values; 2 · layers · kv_heads · head_dim · tokens · bytes, which formula
#   and measurement confirm to the byte. GQA, MQA and low precision shrink it; sliding
#   windows cap it.
# * The output is the same token for token; the speed-up grows with the length.

# %%
cfg.report(
    gpt_params_M=model.num_params() / 1e6,
    same_tokens_cached_vs_uncached=same_tokens and all(agree.values()),
    **{f"tok_per_s_cache_{n}": a for n, a in zip(LENGTHS, tps[True])},
    **{f"tok_per_s_nocache_{n}": b for n, b in zip(LENGTHS, tps[False])},
    **{f"speedup_{n}": s for n, s in speedup.items()},
    formula_equals_measured=all(f == m for f, m in memory.values()),
    hf_model=HF_MODEL,
    hf_same_tokens=hf_same,
    **{f"hf_speedup_{n}": a / b for n, a, b in zip(HF_LENGTHS, hf_tps[True], hf_tps[False])},
    hf_cache_measured_bytes=hf_measured,
    hf_cache_formula_bytes=hf_formula,
)
