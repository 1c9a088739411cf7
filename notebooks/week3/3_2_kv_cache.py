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
# ## Knobs and the model
# The model is **your course GPT** from notebook 3.1 (or the reference one, if you have not
# trained it yet: the next cell says which). Speed depends on a model's shapes, not on how
# well it was trained, so the reference works as well for the timings; correctness is checked
# on whichever it is.
#
# On a CPU we run on one thread: generation is a long chain of small matrix products, and on
# a 2-core machine shared with other work, threads spend more time waiting for each other
# than computing. It also makes the numbers steadier.

# %%
import copy
import math
import time

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

PROMPT_LEN = 16
LENGTHS = cfg.pick(smoke=[8, 16, 32, 64], laptop=[64, 128, 256, 512, 1024])  # new tokens to time
HF_MODEL = cfg.pick(smoke="tiny", laptop="gemma-3-270m")
HF_LENGTHS = cfg.pick(smoke=[4, 8, 16], laptop=[16, 32, 64, 128])
HF_PREFILL = cfg.pick(smoke=100, laptop=700)  # a prompt longer than Gemma's sliding window, for its cache size
BATCH_PROMPTS = cfg.pick(smoke=4, laptop=16)  # prompts generated together in the stretch section
BATCH_NEW = cfg.pick(smoke=8, laptop=48)  # tokens per prompt there
THREADS = cfg.pick(smoke=1, laptop=1, colab=None)  # None: leave torch's default
if THREADS and cfg.device == "cpu":
    torch.set_num_threads(THREADS)
device = cfg.device
timing_ok, timing_why = cfg.timing_is_reliable()
caveat = "" if timing_ok else " (timings unreliable on this busy machine: see the note in section 6)"
print(f"device {device}, {torch.get_num_threads()} thread(s); timings reliable: {timing_ok} {timing_why}")

# %%
from llmcourse.assets.artifacts import last_source, load_artifact
from llmcourse.models import GPT, GPTConfig, reference_course_gpt

art = load_artifact("course-gpt", fallback=reference_course_gpt)
model, tok = art["model"].to(device).eval(), art["tokenizer"]
c = model.config
whose = "yours, trained in notebook 3.1" if last_source("course-gpt") == "yours" else "the reference course GPT"
cfg.say(f"Model: **{whose}** — {model.num_params() / 1e6:.2f} M parameters, {c.n_layer} layers, width {c.n_embd}, "
        f"{c.n_head} query heads sharing {c.n_kv_head} key/value heads, vocabulary {c.vocab_size:,}, context "
        f"{c.block_size}; validation loss {art['metrics'].get('val_loss', float('nan')):.2f} nats/token.")

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
# for small models the per-token matrix products dominate.) Let us count:

# %%
P = PROMPT_LEN
print(f"{'new tokens n':>12} {'token-forwards, no cache':>25} {'with a cache':>13} {'ratio':>7}")
for n in (64, 128, 256, 512, 1024):
    plain, cached = n * P + n * (n - 1) // 2, P + n - 1
    print(f"{n:>12} {plain:>25,} {cached:>13,} {plain / cached:>6.0f}x")

# %% [markdown]
# Which part is repeated? In a causal model token i only attends to tokens 0..i, so nothing
# that comes later can change what token i computed: its keys and values in every layer
# are the same at step t and at step t+1. Let us check it on the course GPT with its cache
# hook: `model(idx, cache=c)` hands every layer's keys and values to `c.update(layer, k, v)`.
# A "cache" that only records them and hands them back shows what each step computes.

# %%
class Recorder:
    """Satisfies the cache protocol without caching: keeps each layer's keys and returns them unchanged."""

    def __init__(self):
        self.keys = {}

    def update(self, layer_idx, k, v):
        self.keys[layer_idx] = k  # (B, H_kv, T, hd)
        return k, v


tokens = torch.tensor([tok.encode_ordinary("To be, or not to be, that is the question")[:11]], device=device)
step_t, step_t1 = Recorder(), Recorder()
with torch.no_grad():
    model(tokens[:, :10], cache=step_t)  # step t: 10 tokens
    model(tokens, cache=step_t1)  # step t+1: the same 10 tokens and one more
key_change = max((step_t.keys[i] - step_t1.keys[i][:, :, :10]).abs().max().item() for i in range(c.n_layer))
assert key_change < 1e-5
print(f"keys of the first 10 tokens at step t vs t+1, largest difference over {c.n_layer} layers: {key_change:.1e}")

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
# **Exercise `kv_cache.update`** · difficulty 1 · ~10 min.
# `cache_update(k_cache, v_cache, k_new, v_new, pos)`: the buffers hold `pos` positions; write
# the T new ones (B, H_kv, T, hd) at slots pos .. pos+T-1 in place and return views of slots
# 0 .. pos+T-1. Raise `ValueError` if they do not fit. The check compares with `torch.cat` of
# the old and new keys, and checks that nothing else moved.

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
cache_update = check("kv_cache.update", cache_update)

# %% [markdown]
# Your `cache_update` makes a whole KV cache for the course GPT: one pair of buffers per layer,
# shaped with the model's **key/value** heads (with grouped-query attention only the shared
# heads are stored; each attention layer repeats them for its query heads after reading).
# It follows the model's cache protocol, `update(layer, k, v) -> (all keys, all values)`.

# %%
class MyKVCache:
    """A preallocated KV cache built on your cache_update: n_layer x (B, H_kv, max_len, hd), twice."""

    def __init__(self, model, batch_size, max_len):
        c = model.config
        p = next(model.parameters())
        shape = (batch_size, c.n_kv_head, max_len, c.head_dim)
        self.k = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in range(c.n_layer)]
        self.v = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in range(c.n_layer)]
        self.length = [0] * c.n_layer  # positions stored, per layer

    def update(self, layer_idx, k_new, v_new):
        k_all, v_all = cache_update(self.k[layer_idx], self.v[layer_idx], k_new, v_new, self.length[layer_idx])
        self.length[layer_idx] += k_new.shape[2]
        return k_all, v_all

    @property
    def nbytes(self):
        return sum(t.nbytes for t in self.k + self.v)

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
# **Exercise `kv_cache.memory_bytes`** · difficulty 1 · ~5 min.
# `memory_bytes(n_layer, n_kv_head, head_dim, n_tokens, dtype, batch_size)`.
# `torch.empty((), dtype=dtype).element_size()` is the size of one number. The check
# compares with the size of tensors of the cache's shape.

# %%
def memory_bytes(n_layer, n_kv_head, head_dim, n_tokens, dtype, batch_size):
    ### BEGIN SOLUTION
    bytes_per_number = torch.empty((), dtype=dtype).element_size()
    return 2 * n_layer * n_kv_head * head_dim * n_tokens * bytes_per_number * batch_size
    ### END SOLUTION


# %%
memory_bytes = check("kv_cache.memory_bytes", memory_bytes)

# %% [markdown]
# Your formula on some real models (published shapes), per sequence of their full context,
# and on a `MyKVCache` of the course GPT, against the bytes its tensors hold:

# %%
REAL_MODELS = {  # name: (layers, kv heads, head_dim, context, dtype, weights in GB)
    "GPT-2 small (MHA, 12 heads)": (12, 12, 64, 1024, torch.float32, 0.5),
    "Gemma 3 270M (1 kv head, no window)": (18, 1, 256, 32_768, torch.bfloat16, 0.54),
    "Llama 3 8B (GQA, 8 of 32 heads)": (32, 8, 128, 8_192, torch.bfloat16, 16.1),
    "Llama 3 8B at 128k tokens": (32, 8, 128, 131_072, torch.bfloat16, 16.1),
    "Llama 3 8B without GQA (32 kv)": (32, 32, 128, 8_192, torch.bfloat16, 16.1),
}
print(f"{'model':34} {'context':>8} {'cache / token':>14} {'cache / sequence':>17} {'weights':>8}")
real_cache_gb = {}
for name, (L, H_kv, hd, ctx, dt, weights_gb) in REAL_MODELS.items():
    real_cache_gb[name] = memory_bytes(L, H_kv, hd, ctx, dt, 1) / 1e9
    print(f"{name:34} {ctx:>8,} {memory_bytes(L, H_kv, hd, 1, dt, 1) / 1024:>11.1f} KB {real_cache_gb[name]:>14.2f} GB"
          f" {weights_gb:>6.1f} GB")
mine = MyKVCache(model, 1, c.block_size)
dt = next(model.parameters()).dtype
assert mine.nbytes == memory_bytes(c.n_layer, c.n_kv_head, c.head_dim, c.block_size, dt, 1)
print(f"course GPT, {c.block_size} tokens: formula {memory_bytes(c.n_layer, c.n_kv_head, c.head_dim, c.block_size, dt, 1):,}"
      f" B = measured {mine.nbytes:,} B")
cfg.say(f"A single 128k-token Llama 3 8B sequence holds {real_cache_gb['Llama 3 8B at 128k tokens']:.1f} GB of keys "
        f"and values, against 16.1 GB of weights; without GQA an 8k context would cost "
        f"{real_cache_gb['Llama 3 8B without GQA (32 kv)']:.1f} GB per sequence instead of "
        f"{real_cache_gb['Llama 3 8B (GQA, 8 of 32 heads)']:.1f} GB.")

# %% [markdown]
# ## 4. One decoding step of attention
#
# Now the step itself, for one attention layer with H heads (no biases, as in Llama). The new
# token x_new (B, 1, C) is projected to q, k, v; k and v go into the cache at slot `pos`; the
# query attends over slots 0..pos. No causal mask is needed: everything in the cache is in
# the past of the new token.
#
# **Exercise `kv_cache.attention_step`** · difficulty 2 · ~20 min.
# `attention_step(x_new, w_qkv, w_out, k_cache, v_cache, pos, n_heads)` returns the layer's
# output (B, 1, C) and updates the caches. The check runs
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
    keys, values = cache_update(k_cache, v_cache, k, v, pos)  # (B, H, pos + 1, hd)
    weights = (q @ keys.transpose(-2, -1) / math.sqrt(hd)).softmax(dim=-1)  # (B, H, 1, pos + 1)
    y = (weights @ values).transpose(1, 2).reshape(B, 1, C)  # heads side by side again
    return y @ w_out.T
    ### END SOLUTION


# %%
attention_step = check("kv_cache.attention_step", attention_step)

# %% [markdown]
# Your step on a real attention layer: decode 24 tokens one at a time and compare every output
# with the layer's ordinary causal forward over the whole sequence.

# %%
from llmcourse.nn import MultiHeadAttention

torch.manual_seed(0)
layer = MultiHeadAttention(64, 4, bias=False).eval()
xs = torch.randn(2, 24, 64)
k_buf, v_buf = torch.zeros(2, 4, 24, 16), torch.zeros(2, 4, 24, 16)
with torch.no_grad():
    stepwise = torch.cat([attention_step(xs[:, t:t + 1], layer.qkv.weight, layer.proj.weight, k_buf, v_buf, t, 4)
                          for t in range(24)], dim=1)
    step_diff = (stepwise - layer(xs, is_causal=True)).abs().max().item()
assert step_diff < 1e-5
print(f"token by token with your step vs the whole sequence at once: max difference {step_diff:.1e}")

# %% [markdown]
# ## 5. The cache inside the GPT
#
# The GPT speaks to a cache through one protocol:
#
#     logits, _ = model(idx_new, cache=cache, start_pos=p)
#
# runs the new tokens at positions p, p+1, ... Each attention layer calls
# `cache.update(layer, k, v)` and attends over what comes back; positions (learned, RoPE,
# ALiBi) and the causal mask are computed from `start_pos`. Prefill (the whole prompt, p = 0)
# and decoding (one token, p = tokens so far) are the same call.
#
# **Exercise `kv_cache.generate`** · difficulty 2 · ~20 min.
# `generate_with_cache(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None)`:
# build a `MyKVCache`, prefill the prompt, then feed back one token at a time, choosing each
# with the course's one sampler, `sample_next(logits[:, -1], temperature, top_k, generator)`
# (temperature 0 is greedy). It must return exactly what `model.generate` returns, greedy and
# sampled with the same generator (checked on GPT-2-style, Llama-style with GQA, and ALiBi
# models), and run each token through the model once.

# %%
from llmcourse.inference import sample_next


def generate_with_cache(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    ### BEGIN SOLUTION
    B, T = idx.shape
    cache = MyKVCache(model, B, T + max_new_tokens - 1)
    out = idx
    with torch.no_grad():
        logits, _ = model(idx, cache=cache, start_pos=0)  # prefill: (B, T, V)
        for step in range(max_new_tokens):
            next_id = sample_next(logits[:, -1], temperature, top_k, generator)  # (B, 1)
            out = torch.cat([out, next_id], dim=1)
            if step < max_new_tokens - 1:  # the last token never needs to be run
                logits, _ = model(next_id, cache=cache, start_pos=out.shape[1] - 1)  # (B, 1, V)
    return out
    ### END SOLUTION


# %%
generate_with_cache = check("kv_cache.generate", generate_with_cache)

# %% [markdown]
# Your cached generation on the course GPT, against its uncached `generate`: greedy, and
# sampled with the same seed (both draw from the same probabilities with the same random
# numbers). The tokens must be the same.

# %%
prompt_text = "Once upon a time"
prompt = torch.tensor([tok.encode_ordinary(prompt_text)], device=device)
n_check = min(max(LENGTHS), c.block_size - prompt.shape[1])
greedy_yours = generate_with_cache(model, prompt, n_check, temperature=0.0)
greedy_plain = model.generate(prompt, n_check, temperature=0)
sampled_yours = generate_with_cache(model, prompt, n_check, temperature=0.8, top_k=50,
                                    generator=torch.Generator(device=device).manual_seed(3))
sampled_plain = model.generate(prompt, n_check, temperature=0.8, top_k=50, seed=3)
cached_equals_uncached = torch.equal(greedy_yours, greedy_plain) and torch.equal(sampled_yours, sampled_plain)
assert cached_equals_uncached
print(f"{n_check} tokens, greedy and sampled: cached == uncached: {cached_equals_uncached}")
print(repr(tok.decode(sampled_yours[0].tolist())))

# %% [markdown]
# The library's `generate_cached(model, idx, n, temperature, top_k, seed)` is the same loop with
# EOS handling and clear errors, on the library's `KVCache`. It agrees with the uncached
# `generate` on every position scheme. One difference is by design: a cache cannot slide.
# Positions are baked into the stored keys, so `generate_cached` stops at the model's context
# (`block_size`) with an error, where `generate` crops the oldest tokens and recomputes everything.

# %%
from llmcourse.inference import KVCache, generate_cached, kv_cache_bytes_for, measured_cache_bytes

agree = {}
for label, demo_config in {
    "GPT-2 style": GPTConfig(vocab_size=65, block_size=96, n_layer=2, n_head=4, n_embd=32),
    "Llama style, GQA 4->2": GPTConfig.llama_style(vocab_size=65, block_size=96, n_layer=2, n_head=4, n_embd=32,
                                                   n_kv_head=2),
    "ALiBi, MQA 4->1": GPTConfig(vocab_size=65, block_size=96, n_layer=2, n_head=4, n_embd=32, positions="alibi",
                                 n_kv_head=1),
}.items():
    torch.manual_seed(1)
    m = GPT(demo_config).eval()
    p = torch.randint(65, (2, 8))
    greedy = torch.equal(generate_cached(m, p, 80, temperature=0), m.generate(p, 80, temperature=0))
    sampled = torch.equal(generate_cached(m, p, 80, seed=3, top_k=10), m.generate(p, 80, seed=3, top_k=10))
    agree[label] = greedy and sampled
    print(f"{label:24} greedy equal: {greedy}   sampling (seed 3, top-k 10) equal: {sampled}")
    try:
        generate_cached(m, p, 90)
    except ValueError as err:
        overflow_message = str(err)
assert all(agree.values())
print("past the context:", overflow_message)

# %% [markdown]
# ## 6. Speed: tokens per second against length
#
# One greedy run of the longest length gives the whole curve: `gpt_step_times` notes the time
# at which each token is ready, so the first k timestamps are a k-token generation (prompt
# included). Without the cache each step gets slower as the sequence grows; with it every step
# costs about the same. The longest runs go past the course GPT's training context: RoPE
# positions exist at any length (`extend_context`), and speed does not care that the text
# there is poor. The timing loop runs on the library's `KVCache`, the same cache as yours.

# %%
from llmcourse.inference.generation_speed import gpt_step_times, step_latencies, tokens_per_second

n_max = max(LENGTHS)
timed = copy.deepcopy(model).set_attn_impl("sdpa").eval()
if PROMPT_LEN + n_max > c.block_size:
    timed.extend_context(PROMPT_LEN + n_max)  # RoPE: positions past the training context exist
timing_prompt = torch.tensor([tok.encode_ordinary("The history of the Malay language " * 4)[:PROMPT_LEN]],
                             device=device)
gpt_step_times(timed, timing_prompt, 8, use_cache=True), gpt_step_times(timed, timing_prompt, 8, use_cache=False)
runs = {}
for use_cache in tqdm((True, False), desc="generating"):
    runs[use_cache] = gpt_step_times(timed, timing_prompt, n_max, use_cache=use_cache)
same_tokens = torch.equal(runs[True][0], runs[False][0])
assert same_tokens
tps = {cc: tokens_per_second(runs[cc][1], LENGTHS) for cc in (True, False)}
speedup = {n: a / b for n, a, b in zip(LENGTHS, tps[True], tps[False])}
print(f"same {n_max} tokens with and without the cache: {same_tokens}")
print(f"{'new tokens':>10} {'no cache tok/s':>15} {'cache tok/s':>12} {'speed-up':>9}")
for n, a, b in zip(LENGTHS, tps[True], tps[False]):
    print(f"{n:>10} {b:>15.1f} {a:>12.1f} {a / b:>8.1f}x")
if not timing_ok:
    cfg.say(f"**Timings unreliable:** {timing_why}.")

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
latency = {}
for i, (cc, label) in enumerate(((False, "no cache"), (True, "KV cache"))):
    latency[cc] = [1e3 * t for t in step_latencies(runs[cc][1])[1:]]  # step 0 is the prefill of the prompt
    steps = range(2, len(latency[cc]) + 2)
    axes[1].plot(steps, latency[cc], lw=0.5, alpha=0.35, color=f"C{i}")
    axes[1].plot(steps, running_median(latency[cc]), lw=1.5, color=f"C{i}", label=f"{label} (running median)")
axes[1].set(xlabel="step (tokens generated so far)", ylabel="ms per token", title="Latency of each step", ylim=(0, None))
axes[2].plot(LENGTHS, list(speedup.values()), "o-", color="C2")
axes[2].set(xlabel="tokens generated", ylabel="cache / no cache", title="Speed-up", ylim=(0, None))
length_axis(axes[2], LENGTHS)
for ax in axes[:2]:
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# What to look for in the middle plot: without the cache a step's cost should grow with the
# sequence (one more token to recompute each step), with it it should stay nearly flat. The
# numbers of this run:

# %%
def slope_ms_per_100(lat):
    """Least-squares growth of the step latency, in ms per 100 steps."""
    y = torch.tensor(lat, dtype=torch.float64)
    x = torch.arange(len(y), dtype=torch.float64)
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum()) * 100


growth = {cc: slope_ms_per_100(latency[cc]) for cc in (False, True)}
first, last = LENGTHS[0], LENGTHS[-1]
cfg.say(f"Step latency grows by {growth[False]:.2f} ms per 100 steps without the cache and by {growth[True]:.2f} "
        f"with it. The speed-up is {speedup[first]:.1f}x at {first} new tokens and {speedup[last]:.1f}x at {last}"
        + (": it grows with the length, as the quadratic count predicts" if speedup[last] > speedup[first] else
           ": at these lengths the fixed cost of a step (Python, launching small operations) still dominates")
        + caveat + ".")

# %% [markdown]
# ## 7. Memory: formula against measurement
#
# Caches allocate their buffers up front, so their memory is exactly what the formula gives
# for their capacity. Measured = the sum of `nbytes` of the key and value tensors, read from
# the tensors themselves; your formula knows only the shapes. Several lengths, head layouts
# and dtypes:

# %%
mem_tokens = [t for t in (16, 64, 128, 256, 512, 1024) if t <= c.block_size]
variants = {f"MHA ({c.n_head} kv heads), fp32": (c.n_head, torch.float32),
            f"GQA ({c.n_kv_head} kv heads), fp32": (c.n_kv_head, torch.float32),
            "MQA (1 kv head), bf16": (1, torch.bfloat16)}
memory = {}
for label, (n_kv, dtype) in variants.items():
    cc = c.replace(n_kv_head=n_kv)
    formula = [memory_bytes(cc.n_layer, n_kv, cc.head_dim, t, dtype, 1) for t in mem_tokens]
    measured = [measured_cache_bytes(KVCache(cc.n_layer, 1, n_kv, cc.head_dim, t, dtype=dtype)) for t in mem_tokens]
    memory[label] = (formula, measured)
    print(f"{label:26} formula == measured at every length: {formula == measured}   "
          f"{mem_tokens[-1]} tokens: {measured[-1] / 1024:.0f} KB")
formula_equals_measured = all(f == m for f, m in memory.values())
assert formula_equals_measured

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for i, (label, (formula, measured)) in enumerate(memory.items()):
    axes[0].plot(mem_tokens, [b / 1024 for b in formula], "-", color=f"C{i}", label=f"{label}: formula")
    axes[0].plot(mem_tokens, [b / 1024 for b in measured], "o", color=f"C{i}", label="measured (nbytes)")
axes[0].set(xlabel="tokens in the cache", ylabel="KB", title=f"KV cache of the {c.n_layer}-layer course GPT")
axes[0].legend(fontsize=8)
context = [2**k for k in range(10, 18)]
for name, (L, H_kv, hd, ctx, dtr, weights_gb) in REAL_MODELS.items():
    if "128k" not in name:
        axes[1].plot(context, [memory_bytes(L, H_kv, hd, t, dtr, 1) / 1e9 for t in context], label=name)
axes[1].axhline(16.1, ls="--", color="gray", label="Llama 3 8B weights (bf16)")
axes[1].set(xscale="log", yscale="log", xlabel="context (tokens)", ylabel="GB per sequence",
            title="KV cache of real models (your formula)")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Halving the bytes per number (bf16, int8) or the kv heads halves the cache; sliding windows
# cap it. That is the design space of week 6.
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
from llmcourse.inference.generation_speed import hf_cache, hf_step_times
from llmcourse.inference.kv_cache import kv_cache_bytes

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
hf_runs = {cc: hf_step_times(hf_model, hf_ids, max(HF_LENGTHS), use_cache=cc)
           for cc in tqdm((True, False), desc="HF generate")}
hf_same = torch.equal(hf_runs[True][0], hf_runs[False][0])
assert hf_same
hf_tps = {cc: tokens_per_second(hf_runs[cc][1], HF_LENGTHS) for cc in (True, False)}
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
hf_dt = next(hf_model.parameters()).dtype
kinds = {k: hc.layer_types.count(k) for k in set(hc.layer_types)}
print(f"layers: {kinds}, sliding_window = {hc.sliding_window}")
seen = hf_ids.shape[1] + max(HF_LENGTHS) - 1  # after generate; the last token is never run through the model
with torch.no_grad():
    long_cache = hf_cache(hf_model(torch.randint(hc.vocab_size, (1, HF_PREFILL), device=device), use_cache=True))
hf_memory = {}
for label, cache, n_tok in (("after generate", hf_runs[True][2], seen),
                            (f"after a {HF_PREFILL}-token prefill", long_cache, HF_PREFILL)):
    hf_memory[label] = (n_tok, measured_cache_bytes(cache), kv_cache_bytes_for(hc, n_tok, hf_dt),
                        kv_cache_bytes(hc.num_hidden_layers, hc.num_key_value_heads, hc.head_dim, n_tok, hf_dt))
    _, measured, formula, no_window = hf_memory[label]
    print(f"{label:26} {n_tok:>5} tokens: measured {measured:>12,} B   formula {formula:>12,} B   "
          f"(if every layer kept every token: {no_window:,} B)")
hf_measured, hf_formula = hf_memory[f"after a {HF_PREFILL}-token prefill"][1:3]
assert hf_measured == hf_formula

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
axes[0].plot(HF_LENGTHS, hf_tps[False], "o-", label="use_cache=False")
axes[0].plot(HF_LENGTHS, hf_tps[True], "s-", label="use_cache=True")
axes[0].set(xlabel="tokens generated", ylabel="tokens / s", title=f"Hugging Face {HF_MODEL}", ylim=(0, None))
length_axis(axes[0], HF_LENGTHS)
axes[0].legend()
long = [2**k for k in range(3, 16)]
axes[1].plot(long, [kv_cache_bytes_for(hc, t, hf_dt) / 2**20 for t in long], label="with sliding windows (formula)")
axes[1].plot(long, [kv_cache_bytes(hc.num_hidden_layers, hc.num_key_value_heads, hc.head_dim, t, hf_dt) / 2**20
                    for t in long], "--", label="if every layer kept every token")
for marker, (label, (n_tok, measured, _, _)) in zip("os", hf_memory.items()):
    axes[1].plot([n_tok], [measured / 2**20], marker, color="k", label=f"measured {label}")
axes[1].set(xscale="log", yscale="log", xlabel="tokens", ylabel="MiB", title=f"{HF_MODEL} KV cache ({hf_dt})")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %%
emb_share = hf_model.get_input_embeddings().weight.numel() / sum(p.numel() for p in hf_model.parameters())
hf_speedup_last = hf_tps[True][-1] / hf_tps[False][-1]
cfg.say(f"{HF_MODEL}: the same tokens both ways; the cache is {hf_speedup_last:.1f}x faster at {HF_LENGTHS[-1]} new "
        f"tokens (our course GPT: {speedup[last]:.1f}x at {last}). {emb_share:.0%} of its parameters are the "
        f"embedding of its {hc.vocab_size:,}-token vocabulary; the projection onto that vocabulary runs once per "
        f"step with or without a cache, a fixed cost the cache cannot remove{caveat}.")

# %% [markdown]
# ## 9. Stretch: many prompts, one batch
#
# One prompt at a time leaves most of the machine idle: a decoding step reads every weight
# matrix to multiply it by a single vector. A batch of B prompts reads the weights once for B
# tokens. Prompts have different lengths, so the batch is **left**-padded — every row's next
# token then lands in the same column — and an attention mask (B, S) marks the padding keys
# (0) that no query may attend to:
#
#     <pad> <pad>  The  cat      mask 0 0 1 1
#      Once  upon    a  time          1 1 1 1
#
# Left padding moves each prompt to later positions. With RoPE, attention scores depend only
# on the distance between tokens, so the shift changes nothing: the batch must produce exactly
# what each prompt produces alone. (With learned positions it would not.)
#
# **Exercise `kv_cache.batch_generate`** · difficulty 3 · ~35 min · stretch.
# `batch_generate(model, prompts, max_new_tokens, pad_id=0)`: greedy continuations of a list of
# token lists, one list of new tokens per prompt. Use one KV cache for the batch (`MyKVCache`),
# `model(idx, attention_mask=mask, cache=cache, start_pos=0)` for the prefill and one column of
# new tokens per step, the mask growing by a column of ones. Checked against `model.generate`
# on each prompt alone, and it must call the model with the whole batch. Then: how do tokens/s
# grow with the batch size on your machine, and where do they stop growing?

# %%
def batch_generate(model, prompts, max_new_tokens, pad_id=0):
    ### BEGIN SOLUTION
    B, P = len(prompts), max(len(p) for p in prompts)
    dev = next(model.parameters()).device
    idx = torch.tensor([[pad_id] * (P - len(p)) + list(p) for p in prompts], device=dev)  # (B, P)
    mask = torch.tensor([[0] * (P - len(p)) + [1] * len(p) for p in prompts], device=dev)  # (B, P)
    cache = MyKVCache(model, B, P + max_new_tokens - 1)
    out = []
    with torch.no_grad():
        logits, _ = model(idx, attention_mask=mask, cache=cache, start_pos=0)  # (B, P, V)
        for step in range(max_new_tokens):
            next_id = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
            out.append(next_id)
            if step < max_new_tokens - 1:
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, S + 1)
                logits, _ = model(next_id, attention_mask=mask, cache=cache, start_pos=P + step)
    return torch.cat(out, dim=1).tolist()
    ### END SOLUTION


# %%
batch_generate = check("kv_cache.batch_generate", batch_generate)

# %% [markdown]
# On the course GPT: prompts of different lengths in one batch, against each prompt alone
# (in float64, so that rounding cannot flip a near-tie between two tokens), then the time of
# the batch against the time of the prompts one by one.

# %%
starts = ["Selamat pagi", "The king", "Xin chào các bạn", "Magandang umaga po", "Once upon a time there was",
          "Apa kabar", "ROMEO:", "Sawasdee"]
prompts = [tok.encode_ordinary(starts[i % len(starts)]) for i in range(BATCH_PROMPTS)]
model64 = copy.deepcopy(model).double()
batched = batch_generate(model64, prompts, BATCH_NEW)
alone = [model64.generate(torch.tensor([p], device=device), BATCH_NEW, temperature=0)[0, len(p):].tolist()
         for p in prompts]
batch_equals_alone = batched == alone
assert batch_equals_alone
for p, row in list(zip(prompts, batched))[:4]:
    print(repr(tok.decode(p)), "->", repr(tok.decode(row)))
t0 = time.perf_counter()
batch_generate(model, prompts, BATCH_NEW)
batch_seconds = time.perf_counter() - t0
t0 = time.perf_counter()
for p in prompts:
    batch_generate(model, [p], BATCH_NEW)
alone_seconds = time.perf_counter() - t0
n_tokens = BATCH_PROMPTS * BATCH_NEW
cfg.say(f"{BATCH_PROMPTS} prompts x {BATCH_NEW} tokens: {n_tokens / batch_seconds:.0f} tokens/s in one batch, "
        f"{n_tokens / alone_seconds:.0f} tokens/s one prompt at a time ({alone_seconds / batch_seconds:.1f}x){caveat}.")

# %% [markdown]
# ## Summary
#
# * Without a cache, generating n tokens runs the model over P + (P+1) + ... + (P+n-1)
#   positions: quadratic. The keys and values of earlier tokens never change, so a KV cache
#   computes each once and every step runs one token. The tokens are the same; this run's
#   speed-ups are in section 6.
# * The cache is a preallocated (B, n_kv_head, max_len, head_dim) buffer per layer for keys
#   and one for values: 2 · layers · kv_heads · head_dim · tokens · bytes · batch, which
#   formula and measurement confirm to the byte. GQA, MQA and low precision shrink it;
#   sliding windows cap it.
# * A batch of left-padded prompts shares one cache and one pass over the weights per step.

# %%
cfg.report(
    model_source=last_source("course-gpt"), gpt_params_M=model.num_params() / 1e6,
    keys_unchanged=key_change < 1e-5, attention_step_equal=step_diff < 1e-5,
    cached_equals_uncached=cached_equals_uncached, library_cached_equals_uncached=all(agree.values()),
    same_tokens_timed=same_tokens, timing_reliable=timing_ok,
    **{f"tok_per_s_cache_{n}": a for n, a in zip(LENGTHS, tps[True])},
    **{f"tok_per_s_nocache_{n}": b for n, b in zip(LENGTHS, tps[False])},
    **{f"speedup_{n}": s for n, s in speedup.items()},
    formula_equals_measured=formula_equals_measured,
    hf_model=HF_MODEL, hf_same_tokens=hf_same,
    **{f"hf_speedup_{n}": a / b for n, a, b in zip(HF_LENGTHS, hf_tps[True], hf_tps[False])},
    hf_cache_measured_bytes=hf_measured, hf_cache_formula_bytes=hf_formula,
    batch_equals_alone=batch_equals_alone, batch_speedup=alone_seconds / batch_seconds,
)
