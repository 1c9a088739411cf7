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
# # 3.1 Inside the transformer block
#
# Week 2's GPT used one particular recipe: multi-head attention, learned positions, a GELU
# MLP and LayerNorm — GPT-2's. Modern models changed almost every ingredient:
#
# | part | GPT-2 (2019) | Llama 3, Gemma 3, SEA-LION (2024-25) |
# | --- | --- | --- |
# | attention | multi-head | grouped-query (fewer K/V heads) |
# | positions | learned table | rotary (RoPE) |
# | MLP | GELU, 4x wide | SwiGLU, ~2.7x wide |
# | norm | LayerNorm | RMSNorm |
#
# This notebook builds each ingredient from scratch, checks it against the reference
# implementation (PyTorch, Hugging Face Llama and BLOOM), and runs two experiments:
# how well each position scheme handles sequences longer than it was trained on, and how
# the MLP variants train at the same parameter count. At the end, one config line turns the
# course GPT into a Llama that Hugging Face can run.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("3.1")

# %% [markdown]
# ## Knobs

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

TEXT_CHARS = cfg.pick(smoke=100_000, laptop=1_500_000)  # Shakespeare characters for the experiments
EXP_MODEL = cfg.pick(smoke=dict(n_layer=1, n_head=2, n_embd=32), laptop=dict(n_layer=2, n_head=4, n_embd=64),
                     colab=dict(n_layer=4, n_head=8, n_embd=256))
TRAIN_CTX = cfg.pick(smoke=16, laptop=64, colab=128)  # context length the position experiment trains at
BATCH = cfg.pick(smoke=8, laptop=32, colab=64)
EXP_STEPS = cfg.pick(smoke=12, laptop=400, colab=2000)  # per position scheme
FFN_STEPS = cfg.pick(smoke=12, laptop=400, colab=2000)  # per feed-forward variant
EVAL_WINDOWS = cfg.pick(smoke=4, laptop=48, colab=128)  # windows of 4 x TRAIN_CTX for loss vs position
EVAL_EVERY = cfg.pick(smoke=6, laptop=100, colab=250)
LR = 3e-3
device = cfg.device

# %% [markdown]
# ## 1. Multi-head attention
#
# One head computes one attention pattern. H heads run side by side on H slices of the
# features (head_dim = C / H each), so one head can track the previous token while another
# finds the subject of the sentence. The implementation trick is to do all heads with one
# matrix multiply: a fused projection `w_qkv` (3C, C) makes queries, keys and values for
# every head; a reshape (B, T, C) -> (B, H, T, C/H) splits the heads off the feature axis;
# attention runs on all heads at once; a reshape back and an output projection mix them.
#
# **Exercise.** `multi_head_attention(x, w_qkv, b_qkv, w_out, b_out, n_heads, causal)` for
# x (B, T, C). It is checked against `torch.nn.functional.multi_head_attention_forward`
# with the same weights.

# %%
from llmcourse.nn.attention import scaled_dot_product_attention


def multi_head_attention(x, w_qkv, b_qkv, w_out, b_out, n_heads, causal):
    ### BEGIN SOLUTION
    B, T, C = x.shape
    hd = C // n_heads
    q, k, v = (x @ w_qkv.T + b_qkv).split(C, dim=-1)  # (B, T, C) each
    q, k, v = (t.view(B, T, n_heads, hd).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
    y = scaled_dot_product_attention(q, k, v, is_causal=causal)  # (B, H, T, hd)
    y = y.transpose(1, 2).reshape(B, T, C)  # heads back side by side
    return y @ w_out.T + b_out
    ### END SOLUTION


# %%
check("block.mha", multi_head_attention)

# %% [markdown]
# The library's `MultiHeadAttention` is the same layer as a module. Its fused `qkv` weight
# has exactly the layout of PyTorch's `nn.MultiheadAttention.in_proj_weight`, so we can copy
# weights across and compare. One trap: `nn.MultiheadAttention` takes boolean masks with the
# **opposite** meaning (True = blocked), unlike `F.scaled_dot_product_attention` and our code.

# %%
from torch import nn

from llmcourse.nn import MultiHeadAttention

torch.manual_seed(0)
C, H, T = 64, 8, 10
ours = MultiHeadAttention(C, H).eval()
ref = nn.MultiheadAttention(C, H, batch_first=True).eval()
with torch.no_grad():
    ref.in_proj_weight.copy_(ours.qkv.weight), ref.in_proj_bias.copy_(ours.qkv.bias)
    ref.out_proj.weight.copy_(ours.proj.weight), ref.out_proj.bias.copy_(ours.proj.bias)
x = torch.randn(2, T, C)
blocked = torch.ones(T, T, dtype=torch.bool).triu(1)  # torch's convention: True = may NOT attend
with torch.no_grad():
    mha_diff = (ours(x, is_causal=True) - ref(x, x, x, attn_mask=blocked, need_weights=False)[0]).abs().max().item()
print(f"max |ours - nn.MultiheadAttention| = {mha_diff:.1e}")

# %% [markdown]
# ### Grouped-query attention
#
# During generation every layer keeps the keys and values of all past tokens (the KV cache,
# notebook 3.2). With H heads that is 2 · H · head_dim numbers per token per layer. GQA keeps
# H query heads but only H_kv key/value heads, each shared by a group of H / H_kv query
# heads. H_kv = 1 is *multi-query attention*. Quality barely moves; the cache shrinks by H / H_kv.

# %%
print(f"{'H_kv':>5} {'qkv params':>11} {'KV cache / token / layer (fp16)':>32}")
for n_kv in (8, 4, 2, 1):
    layer = MultiHeadAttention(C, H, n_kv)
    kv_bytes = 2 * n_kv * (C // H) * 2
    print(f"{n_kv:>5} {layer.qkv.weight.numel():>11,} {kv_bytes:>28} B")
gqa = MultiHeadAttention(C, H, 2).eval()
with torch.no_grad():
    print("GQA output:", tuple(gqa(x, is_causal=True).shape))

# %% [markdown]
# ## 2. Where is each token? Positional information
#
# Attention treats its input as a *set*: shuffle the tokens and the outputs shuffle the
# same way (without a causal mask). Check it:

# %%
perm = torch.randperm(T)
with torch.no_grad():
    permuted_diff = (ours(x)[:, perm] - ours(x[:, perm])).abs().max().item()
print(f"attention(x)[perm] vs attention(x[perm]): max difference {permuted_diff:.1e} -> order is invisible")

# %% [markdown]
# So positions must be injected. Four schemes:
#
# **Sinusoidal** (the original Transformer): add a fixed vector per position, made of sines
# and cosines at geometrically spaced frequencies,
# $PE_{pos, 2i} = \sin(pos / 10000^{2i/d})$, $PE_{pos, 2i+1} = \cos(pos / 10000^{2i/d})$.
#
# **Exercise.** `sinusoidal(n_positions, dim)` -> (n_positions, dim).

# %%
def sinusoidal(n_positions, dim):
    ### BEGIN SOLUTION
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]  # (n, 1)
    i = torch.arange(dim)[None, :]  # (1, dim)
    angle = pos / 10000 ** (2 * (i // 2) / dim)  # (n, dim)
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))
    ### END SOLUTION


# %%
check("block.sinusoidal", sinusoidal)

# %% [markdown]
# A practical detail: these vectors have entries of size about 1, while a GPT's embeddings
# start at a standard deviation of 0.02. Added as they are, positions drown the tokens and
# training stalls (try it). The original Transformer multiplied its embeddings by
# $\sqrt{d_{model}}$; the course GPT scales the fixed table down to the embeddings' size
# (`SINUSOIDAL_SCALE` in `gpt.py`).

# %%
from llmcourse.nn import alibi_bias, alibi_slopes, apply_rotary, RotaryEmbedding, sinusoidal_positions

fig, ax = plt.subplots(figsize=(7, 3))
ax.imshow(sinusoidal_positions(128, 64).T, aspect="auto", cmap="RdBu")
ax.set(xlabel="position", ylabel="feature", title="sinusoidal positions: fast clocks on top, slow below")
plt.show()

# %% [markdown]
# **RoPE** (rotary position embedding; Llama, Gemma, Qwen, SEA-LION). Nothing is added to
# the embeddings. Inside attention, each query and key is *rotated*: feature pairs
# $(x_i, x_{i + d/2})$ turn by angle $pos \cdot \theta_i$ with $\theta_i = base^{-2i/d}$.
# A rotation by $m\theta$ of $q$ and by $n\theta$ of $k$ leaves
# $q \cdot k$ depending only on $m - n$: attention sees relative positions, for free. (Which
# features form a pair is a convention; Hugging Face's Llama pairs $i$ with $i + d/2$ via
# `rotate_half`, and so do we, so weights transfer.)
#
# **Exercise.** `rope(x, positions, base)`: rotate x (B, H, T, hd) for the positions (T,).

# %%
def rope(x, positions, base=10000.0):
    ### BEGIN SOLUTION
    hd = x.shape[-1]
    inv_freq = 1.0 / base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)  # (hd/2,)
    angles = positions.float()[:, None] * inv_freq[None, :]  # (T, hd/2)
    emb = torch.cat([angles, angles], dim=-1)  # (T, hd)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    rotated = torch.cat([-x2, x1], dim=-1)
    return x * emb.cos() + rotated * emb.sin()
    ### END SOLUTION


# %%
check("block.rope", rope)

# %% [markdown]
# The relative-position property, seen: the score between a fixed query and key placed at
# distance m - n, for many absolute positions. Every curve is the same.

# %%
rot = RotaryEmbedding(64)
gq = torch.Generator().manual_seed(0)
qv, kv = torch.randn(64, generator=gq), torch.randn(64, generator=gq)
fig, ax = plt.subplots(figsize=(7, 3))
for start in (0, 100, 1000):
    scores = []
    for dist in range(0, 64):
        cq, sq = rot(torch.tensor([start + dist]))
        ck, sk = rot(torch.tensor([start]))
        scores.append((apply_rotary(qv[None], cq, sq) * apply_rotary(kv[None], ck, sk)).sum().item())
    ax.plot(scores, label=f"key at position {start}", ls=["-", "--", ":"][[0, 100, 1000].index(start)])
ax.set(xlabel="distance m - n", ylabel="q·k after RoPE", title="RoPE scores depend only on distance")
ax.legend()
plt.show()

# %% [markdown]
# **ALiBi** (BLOOM, MPT): no embedding at all. Add $-\text{slope}_h \cdot (i - j)$ to the
# attention score of query $i$ and key $j$: the further back a key, the larger the penalty.
# Heads get different slopes, a geometric sequence $2^{-8/H}, 2^{-16/H}, \dots$, so some heads
# focus on the last few tokens and others look far back. For H not a power of two, BLOOM
# takes the slopes of the largest power of two below H and adds every other slope of the
# next power of two.
#
# **Exercise.** `alibi_slopes(n_heads)` -> (n_heads,), equal to BLOOM's.

# %%
def my_alibi_slopes(n_heads):
    ### BEGIN SOLUTION
    p = 2 ** math.floor(math.log2(n_heads))
    slopes = [2 ** (-8 * k / p) for k in range(1, p + 1)]
    extra = [2 ** (-4 * k / p) for k in range(1, 2 * (n_heads - p), 2)]
    return torch.tensor(slopes + extra, dtype=torch.float32)
    ### END SOLUTION


# %%
check("block.alibi_slopes", my_alibi_slopes)

# %%
bias = alibi_bias(8, 16).masked_fill(~torch.ones(16, 16, dtype=torch.bool).tril(), float("nan"))
fig, axes = plt.subplots(1, 4, figsize=(11, 2.8))
for ax, h in zip(axes, (0, 2, 5, 7)):
    ax.imshow(bias[h], cmap="magma")
    ax.set(title=f"head {h}, slope {alibi_slopes(8)[h]:.3f}", xlabel="key", ylabel="query")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Experiment: training at one length, testing at 2x and 4x
#
# We train the same small GPT five times on Shakespeare characters, at context length
# `TRAIN_CTX`, with positions learned / sinusoidal / RoPE / ALiBi / none ("NoPE": a causal
# model can still infer position, since token t sees exactly t predecessors). Then we
# evaluate on windows four times longer and plot the loss at each position. Learned
# positions have no vector past `TRAIN_CTX`, so their curve stops there.

# %%
from llmcourse.assets.shakespeare import load_shakespeare
from llmcourse.models.gpt import GPT, GPTConfig
from llmcourse.tokenization.char import CharTokenizer
from llmcourse.training import get_batch, split_tokens, train

text = load_shakespeare(max_chars=TEXT_CHARS)
tok = CharTokenizer.train(text)
train_ids, val_ids = split_tokens(tok.encode(text), 0.1)
print(f"{len(train_ids):,} training characters, vocabulary {tok.vocab_size}")


def run(config, steps, seed=0, desc=""):
    """Train a fresh GPT for `steps` steps; return (model, history)."""
    torch.manual_seed(seed)
    model = GPT(config).to(device)
    g1, g2 = torch.Generator().manual_seed(seed + 1), torch.Generator().manual_seed(seed + 2)
    T = config.block_size
    hist = train(model, lambda: get_batch(train_ids, T, BATCH, g1, device), steps=steps, lr=LR,
                 val_batch=lambda: get_batch(val_ids, T, BATCH, g2, device), eval_every=EVAL_EVERY,
                 eval_batches=4, warmup=min(50, steps // 10), desc=desc)
    return model, hist


@torch.no_grad()
def loss_by_position(model, length, n_windows):
    """Mean next-token loss at each position 0..length-1 over validation windows of `length`."""
    model.eval()
    x, y = get_batch(val_ids, length, n_windows, torch.Generator().manual_seed(7), device)
    logits, _ = model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
    return loss.view(n_windows, length).mean(0).cpu()  # (length,)


SCHEMES = ["learned", "sinusoidal", "rope", "alibi", "none"]
base = GPTConfig(vocab_size=tok.vocab_size, block_size=TRAIN_CTX, attn_impl="sdpa", **EXP_MODEL)
curves, pos_hist = {}, {}
for scheme in SCHEMES:
    model, pos_hist[scheme] = run(base.replace(positions=scheme), EXP_STEPS, desc=f"positions={scheme}")
    length = TRAIN_CTX if scheme == "learned" else 4 * TRAIN_CTX
    if scheme != "learned":
        model.extend_context(length)
    curves[scheme] = loss_by_position(model, length, EVAL_WINDOWS)

# %%
def smooth(y, k=5):
    k = min(k, len(y))
    return torch.nn.functional.avg_pool1d(y[None, None], k, 1, padding=k // 2, count_include_pad=False)[0, 0][:len(y)]


fig, ax = plt.subplots(figsize=(9, 4))
for scheme, c in curves.items():
    ax.plot(smooth(c).numpy(), label=scheme)
for m in (1, 2):
    ax.axvline(m * TRAIN_CTX, color="grey", ls=":")
ax.text(TRAIN_CTX, ax.get_ylim()[1], " trained up to here", va="top", fontsize=8)
ax.set(xlabel="position in the sequence", ylabel="val loss (nats/char)",
       title=f"length extrapolation: trained at {TRAIN_CTX}, tested at {4 * TRAIN_CTX}")
ax.legend()
plt.show()

print(f"{'scheme':>11} {'<= 1x':>7} {'1x-2x':>7} {'2x-4x':>7}")
extrapolation = {}
for scheme, c in curves.items():
    r1 = c[:TRAIN_CTX].mean().item()
    r2 = c[TRAIN_CTX:2 * TRAIN_CTX].mean().item() if len(c) > TRAIN_CTX else float("nan")
    r4 = c[2 * TRAIN_CTX:].mean().item() if len(c) > 2 * TRAIN_CTX else float("nan")
    extrapolation[scheme] = (r1, r2, r4)
    print(f"{scheme:>11} {r1:>7.3f} {r2:>7.3f} {r4:>7.3f}")

# %% [markdown]
# What to look for (with the laptop profile; the smoke run is too short to mean anything):
# inside the training length the schemes are close. Past it, sinusoidal positions and RoPE
# get worse — the model meets position vectors or rotation angles it never saw — while
# ALiBi stays flat: its bias only says "far away is less relevant", which holds at any
# length. NoPE degrades gently. This is why long-context Llama variants rescale RoPE
# (position interpolation, YaRN) and fine-tune at the longer length. One short run per
# scheme is a single sample: rerun with other seeds before trusting small gaps.

# %% [markdown]
# ## 4. Norms and feed-forward networks
#
# **RMSNorm** drops LayerNorm's mean subtraction and bias: $y = x / \sqrt{\mathrm{mean}(x^2) + \epsilon} \cdot w$.
# One reduction instead of two, and it works as well.
#
# **Exercise.** `rms_norm(x, weight, eps)`; checked against `torch.nn.RMSNorm`.

# %%
def rms_norm(x, weight, eps):
    ### BEGIN SOLUTION
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight
    ### END SOLUTION


# %%
check("block.rmsnorm", rms_norm)

# %% [markdown]
# The feed-forward network widens each token's vector, applies a nonlinearity and narrows
# it back. **SwiGLU** replaces "linear, activation" by a *gate*: two projections, one passed
# through SiLU ($z \sigma(z)$), multiplied elementwise: $\mathrm{down}(\mathrm{silu}(x W_g) \odot x W_u)$.
#
# **Exercise.** `swiglu(x, w_gate, w_up, w_down)` (weights in `nn.Linear` layout: (out, in));
# checked against Hugging Face's `LlamaMLP`.

# %%
def swiglu(x, w_gate, w_up, w_down):
    ### BEGIN SOLUTION
    return (F.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T
    ### END SOLUTION


# %%
check("block.swiglu", swiglu)

# %% [markdown]
# SwiGLU has three matrices, so at the same width it has 1.5x the parameters. A fair
# comparison shrinks its hidden size to 2/3 of 4C (Llama's rule). Parameter counts of one
# MLP at C = 64:

# %%
from llmcourse.nn import FeedForward, matched_hidden_size

for act in ("relu", "gelu", "swiglu"):
    ffn = FeedForward(64, activation=act, bias=False)
    print(f"{act:>7}: hidden {matched_hidden_size(64, act):>4}, {sum(p.numel() for p in ffn.parameters()):,} parameters")

# %% [markdown]
# Now train the same GPT with each MLP (RoPE positions, everything else equal) and compare
# the validation curves.

# %%
ffn_hist, ffn_params = {}, {}
for act in ("relu", "gelu", "swiglu"):
    model, ffn_hist[act] = run(base.replace(positions="rope", activation=act), FFN_STEPS, desc=f"mlp={act}")
    ffn_params[act] = model.num_params()

fig, ax = plt.subplots(figsize=(7, 4))
for act, h in ffn_hist.items():
    ax.plot(h.eval_steps, h.val_loss, "o-", label=f"{act} ({ffn_params[act]:,} params)")
ax.set(xlabel="step", ylabel="val loss (nats/char)", title="feed-forward variants at matched parameters")
ax.legend()
plt.show()
for act, h in ffn_hist.items():
    print(f"{act:>7}: final val loss {h.val_loss[-1]:.3f}")

# %% [markdown]
# At this size and training length the three are close, and the order can change with the
# seed; SwiGLU's advantage (Shazeer 2020) is a few percent of loss at scale, which is why
# every recent LLM uses it. Compare curves, not single numbers, and at matched parameters.

# %% [markdown]
# ## 5. One config away from Llama
#
# All these switches live in `GPTConfig`. `GPTConfig.llama_style(...)` picks RMSNorm, RoPE,
# SwiGLU and no biases; `n_kv_head` adds GQA. Such a model exports to Hugging Face's
# `LlamaForCausalLM` (the fused QKV matrix is split into `q_proj`, `k_proj`, `v_proj`) and
# gives the same logits, so everything in the Llama ecosystem (generation, PEFT, GGUF export
# in week 6) works on it.

# %%
llama_cfg = GPTConfig.llama_style(vocab_size=tok.vocab_size, block_size=TRAIN_CTX, n_kv_head=2,
                                  **{**EXP_MODEL, "n_head": 4})
torch.manual_seed(0)
small_llama = GPT(llama_cfg).eval()
hf_llama = small_llama.to_hf()
probe = torch.randint(0, tok.vocab_size, (2, TRAIN_CTX))
with torch.no_grad():
    to_hf_diff = (small_llama(probe)[0] - hf_llama(probe).logits).abs().max().item()
print(type(hf_llama).__name__, f"| max |ours - HF Llama| = {to_hf_diff:.1e}")
print(hf_llama.config.num_attention_heads, "query heads,", hf_llama.config.num_key_value_heads, "KV heads")

# %% [markdown]
# ## Summary
# * Multi-head attention = one fused projection, a reshape, attention per head, a reshape back.
# * GQA shares K/V heads across query heads; it shrinks the KV cache with little loss.
# * Sinusoidal and learned positions are added to embeddings; RoPE rotates queries and keys
#   (relative positions); ALiBi biases scores by distance and extrapolates best.
# * SwiGLU and RMSNorm are the modern defaults; compare MLPs at matched parameter counts.

# %%
cfg.report(mha_vs_torch=f"{mha_diff:.1e}", to_hf_llama=f"{to_hf_diff:.1e}",
           **{f"loss_{s}_{k}": v for s, vals in extrapolation.items()
              for k, v in zip(("1x", "2x", "4x"), vals) if not math.isnan(v)},
           **{f"val_{a}": h.val_loss[-1] for a, h in ffn_hist.items()})
