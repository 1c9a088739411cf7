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
# You build each ingredient from scratch and check it against the implementation it imitates
# (PyTorch, Hugging Face's Llama and BLOOM). Two experiments follow: how each position scheme
# copes with sequences longer than it was trained on, and how the MLP variants train at the same
# parameter count. Then you assemble your pieces into a Llama-style block, and **your block
# trains the course GPT**: the model that weeks 4 to 8 pre-train, fine-tune, quantise, serve,
# evaluate and align. At the end, one function call turns it into a Hugging Face Llama.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("3.1")

# %% [markdown]
# ## Knobs
# Every heavy number comes from the profile. The two experiments train small character-level
# models on Shakespeare, each variant with the same steps, batch and data, and — in the laptop
# profile — with three seeds, so that a difference can be told from the noise of one run.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

TEXT_CHARS = cfg.pick(smoke=100_000, laptop=1_000_000)  # Shakespeare characters for the experiments
EXP_MODEL = cfg.pick(smoke=dict(n_layer=1, n_head=2, n_embd=32), laptop=dict(n_layer=2, n_head=4, n_embd=64),
                     colab=dict(n_layer=4, n_head=8, n_embd=256))
TRAIN_CTX = cfg.pick(smoke=16, laptop=64, colab=128)  # context length the position experiment trains at
BATCH = cfg.pick(smoke=8, laptop=16, colab=64)
EXP_STEPS = cfg.pick(smoke=10, laptop=250, colab=2000)  # per position scheme and seed
FFN_STEPS = cfg.pick(smoke=10, laptop=250, colab=2000)  # per feed-forward variant and seed
SEEDS = cfg.pick(smoke=[0], laptop=[0, 1, 2])  # each variant is trained once per seed
EVAL_WINDOWS = cfg.pick(smoke=4, laptop=48, colab=128)  # windows of 4 x TRAIN_CTX for loss vs position
EVAL_EVERY = cfg.pick(smoke=5, laptop=50, colab=250)
LR = 3e-3
COURSE_CHARS = cfg.pick(smoke=15_000, laptop=200_000, colab=1_000_000)  # per source of the course text
COURSE_STEPS = cfg.pick(smoke=20, laptop=400, colab=3000)  # training steps of the course GPT
COURSE_BATCH = cfg.pick(smoke=8, laptop=8, colab=32)
COURSE_CTX = cfg.pick(smoke=64, laptop=128, colab=256)  # tokens per training window (<= block_size)
device = cfg.device

# %% [markdown]
# ## 1. Multi-head attention
#
# One head computes one attention pattern. H heads run side by side on H slices of the
# features (head_dim = C / H each), so one head can track the previous token while another
# finds the subject of the sentence. The implementation trick is to do all heads with one
# matrix multiply: a fused projection `w_qkv` makes queries, keys and values for every head;
# a reshape (B, T, C) -> (B, T, H, hd) -> (B, H, T, hd) splits the heads off the feature axis;
# attention runs on all heads at once; a reshape back and an output projection mix them.
#
# **Grouped-query attention** (GQA; Llama 3, Gemma, SEA-LION) keeps H query heads but only
# H_kv key/value heads, each shared by a group of H / H_kv query heads: kv head g serves query
# heads g·(H/H_kv) ... (g+1)·(H/H_kv) − 1 (that is `repeat_interleave`, not `repeat`). During
# generation every layer keeps the keys and values of all past tokens (the KV cache, notebook
# 3.2), so fewer kv heads means a smaller cache. H_kv = H is plain multi-head attention.
#
# Modern models rotate queries and keys by their position (RoPE, section 2) right after the
# head split. Your function takes that step as an argument, `rotate`, so the same attention
# serves a GPT-2-style model (no rotation) and a Llama (RoPE).
#
# **Exercise `block.mha`** · difficulty 2 · ~25 min. Write
# `multi_head_attention(x, w_qkv, w_out, n_head, n_kv_head=None, causal=True, rotate=None)` for
# x (B, T, C), no biases. `w_qkv` has (n_head + 2·n_kv_head)·hd rows: queries, then keys, then
# values. The check compares with `torch.nn.functional.multi_head_attention_forward` and with
# Hugging Face's `LlamaAttention` (GQA, with and without RoPE).

# %%
from llmcourse.nn import scaled_dot_product_attention


def multi_head_attention(x, w_qkv, w_out, n_head, n_kv_head=None, causal=True, rotate=None):
    ### BEGIN SOLUTION
    B, T, C = x.shape
    n_kv_head = n_head if n_kv_head is None else n_kv_head
    hd = w_qkv.shape[0] // (n_head + 2 * n_kv_head)
    q, k, v = (x @ w_qkv.T).split([n_head * hd, n_kv_head * hd, n_kv_head * hd], dim=-1)
    q = q.view(B, T, n_head, hd).transpose(1, 2)  # (B, H, T, hd)
    k = k.view(B, T, n_kv_head, hd).transpose(1, 2)  # (B, H_kv, T, hd)
    v = v.view(B, T, n_kv_head, hd).transpose(1, 2)
    if rotate is not None:
        q, k = rotate(q), rotate(k)
    k = k.repeat_interleave(n_head // n_kv_head, dim=1)  # (B, H, T, hd): kv head g serves a group
    v = v.repeat_interleave(n_head // n_kv_head, dim=1)
    y = scaled_dot_product_attention(q, k, v, is_causal=causal)  # (B, H, T, hd)
    y = y.transpose(1, 2).reshape(B, T, n_head * hd)  # heads back side by side
    return y @ w_out.T
    ### END SOLUTION


# %%
multi_head_attention = check("block.mha", multi_head_attention)

# %% [markdown]
# From here on `multi_head_attention` is yours if it passed (else the library's, and the
# check said so). Proof on a fresh layer: PyTorch's `nn.MultiheadAttention` keeps its fused
# projection in `in_proj_weight`, with exactly the layout of `w_qkv`, so we hand your function
# its weights. One trap: `nn.MultiheadAttention` takes boolean masks with the **opposite**
# meaning (True = blocked), unlike `F.scaled_dot_product_attention` and our code. The library's
# `MultiHeadAttention` module (with biases) is checked against it the same way.

# %%
from llmcourse.nn import MultiHeadAttention

torch.manual_seed(0)
C, H, T = 64, 8, 10
torch_mha = nn.MultiheadAttention(C, H, bias=False, batch_first=True).eval()
x = torch.randn(2, T, C)
blocked = torch.ones(T, T, dtype=torch.bool).triu(1)  # torch's convention: True = may NOT attend
with torch.no_grad():
    theirs = torch_mha(x, x, x, attn_mask=blocked, need_weights=False)[0]
    mha_diff = (multi_head_attention(x, torch_mha.in_proj_weight, torch_mha.out_proj.weight, H) - theirs).abs().max().item()
    lib = MultiHeadAttention(C, H).eval()  # the library's module, with biases
    ref = nn.MultiheadAttention(C, H, batch_first=True).eval()
    ref.in_proj_weight.copy_(lib.qkv.weight), ref.in_proj_bias.copy_(lib.qkv.bias)
    ref.out_proj.weight.copy_(lib.proj.weight), ref.out_proj.bias.copy_(lib.proj.bias)
    lib_diff = (lib(x, is_causal=True) - ref(x, x, x, attn_mask=blocked, need_weights=False)[0]).abs().max().item()
assert mha_diff < 1e-5 and lib_diff < 1e-5
print(f"max |your MHA - nn.MultiheadAttention| = {mha_diff:.1e};  library module (with biases): {lib_diff:.1e}")

# %% [markdown]
# What GQA saves, per token and layer, in a 16-bit cache (C = 64, H = 8 query heads):

# %%
print(f"{'H_kv':>5} {'qkv params':>11} {'KV cache / token / layer (fp16)':>32}")
for n_kv in (8, 4, 2, 1):
    layer = MultiHeadAttention(C, H, n_kv, bias=False)
    print(f"{n_kv:>5} {layer.qkv.weight.numel():>11,} {2 * n_kv * (C // H) * 2:>28} B")

# %% [markdown]
# ## 2. Where is each token? Positional information
#
# Attention treats its input as a *set*: shuffle the tokens and, without a causal mask, the
# outputs shuffle the same way. Your attention, on the weights above:

# %%
perm = torch.randperm(T)
with torch.no_grad():
    w_qkv, w_out = torch_mha.in_proj_weight, torch_mha.out_proj.weight
    permuted_diff = (multi_head_attention(x, w_qkv, w_out, H, causal=False)[:, perm]
                     - multi_head_attention(x[:, perm], w_qkv, w_out, H, causal=False)).abs().max().item()
assert permuted_diff < 1e-5
print(f"attention(x)[perm] vs attention(x[perm]): max difference {permuted_diff:.1e} -> order is invisible")

# %% [markdown]
# So positions must be injected. Four schemes.
#
# **Sinusoidal** (the original Transformer): add a fixed vector per position, made of sines
# and cosines at geometrically spaced frequencies,
# $PE_{pos, 2i} = \sin(pos / 10000^{2i/d})$, $PE_{pos, 2i+1} = \cos(pos / 10000^{2i/d})$.
#
# **Exercise `block.sinusoidal`** · difficulty 1 · ~10 min. `sinusoidal(n_positions, dim)` ->
# (n_positions, dim); checked against Hugging Face's XLM implementation.

# %%
def sinusoidal(n_positions, dim):
    ### BEGIN SOLUTION
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]  # (n, 1)
    i = torch.arange(dim)[None, :]  # (1, dim)
    angle = pos / 10000 ** (2 * (i // 2) / dim)  # (n, dim)
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))
    ### END SOLUTION


# %%
sinusoidal = check("block.sinusoidal", sinusoidal)

# %% [markdown]
# Your table, drawn. A practical detail: these vectors have entries of size about 1, while a
# GPT's embeddings start at a standard deviation of 0.02. Added as they are, positions drown
# the tokens and training stalls. The original Transformer multiplied its embeddings by
# $\sqrt{d_{model}}$; the course GPT scales the fixed table down to the embeddings' size
# (`SINUSOIDAL_SCALE` in `gpt.py`), and uses the library's `sinusoidal_positions`, the same table:

# %%
from llmcourse.nn import RotaryEmbedding, alibi_bias, apply_rotary, sinusoidal_positions

table = sinusoidal(128, 64)
assert torch.allclose(table, sinusoidal_positions(128, 64), atol=1e-5)
fig, ax = plt.subplots(figsize=(7, 3))
ax.imshow(table.T, aspect="auto", cmap="RdBu")
ax.set(xlabel="position", ylabel="feature", title="your sinusoidal positions: fast clocks on top, slow below")
plt.show()

# %% [markdown]
# **RoPE** (rotary position embedding; Llama, Gemma, Qwen, SEA-LION). Nothing is added to
# the embeddings. Inside attention, each query and key is *rotated*: feature pairs
# $(x_i, x_{i + d/2})$ turn by angle $pos \cdot \theta_i$ with $\theta_i = base^{-2i/d}$.
# A rotation by $m\theta$ of $q$ and by $n\theta$ of $k$ leaves $q \cdot k$ depending only on
# $m - n$: attention sees relative positions, for free. (Which features form a pair is a
# convention; Hugging Face's Llama pairs $i$ with $i + d/2$ via `rotate_half`, and so do we, so
# weights transfer. The RoFormer paper paired $2i$ with $2i+1$.)
#
# **Exercise `block.rope`** · difficulty 2 · ~15 min. `rope(x, positions, base)`: rotate x
# (B, H, T, hd) for the positions (T,); checked against Hugging Face's Llama.

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
rope = check("block.rope", rope)

# %% [markdown]
# The relative-position property, with your `rope`: the score between a fixed query and key
# placed at distance m - n, for keys at positions 0, 100 and 1000. The three curves must be
# one.

# %%
gq = torch.Generator().manual_seed(0)
qv, kv = torch.randn(64, generator=gq), torch.randn(64, generator=gq)
dists = torch.arange(64)
rope_scores = {}
for start in (0, 100, 1000):
    q_rot = rope(qv.expand(1, 1, 64, 64), start + dists)  # the query at start + d, for every d
    k_rot = rope(kv.expand(1, 1, 1, 64), torch.tensor([start]))  # the key at start
    rope_scores[start] = (q_rot * k_rot).sum(-1)[0, 0]  # (64,)
rope_relative_diff = max((rope_scores[s] - rope_scores[0]).abs().max().item() for s in (100, 1000))
assert rope_relative_diff < 1e-3
fig, ax = plt.subplots(figsize=(7, 3))
for (start, scores), ls in zip(rope_scores.items(), ["-", "--", ":"]):
    ax.plot(scores.numpy(), ls=ls, label=f"key at position {start}")
ax.set(xlabel="distance m - n", ylabel="q·k after RoPE", title="RoPE scores depend only on distance")
ax.legend()
plt.show()
print(f"largest difference between the curves: {rope_relative_diff:.1e} (float32 rounding of large angles)")

# %% [markdown]
# **ALiBi** (BLOOM, MPT): no embedding at all. Add $-\text{slope}_h \cdot (i - j)$ to the
# attention score of query $i$ and key $j$: the further back a key, the larger the penalty.
# Heads get different slopes, a geometric sequence $2^{-8/H}, 2^{-16/H}, \dots$, so some heads
# focus on the last few tokens and others look far back. For H not a power of two, BLOOM
# takes the slopes of the largest power of two below H and adds every other slope of the
# next power of two.
#
# **Exercise `block.alibi_slopes`** · difficulty 2 · ~15 min. `my_alibi_slopes(n_heads)` ->
# (n_heads,), equal to BLOOM's.

# %%
def my_alibi_slopes(n_heads):
    ### BEGIN SOLUTION
    p = 2 ** math.floor(math.log2(n_heads))
    slopes = [2 ** (-8 * k / p) for k in range(1, p + 1)]
    extra = [2 ** (-4 * k / p) for k in range(1, 2 * (n_heads - p), 2)]
    return torch.tensor(slopes + extra, dtype=torch.float32)
    ### END SOLUTION


# %%
my_alibi_slopes = check("block.alibi_slopes", my_alibi_slopes)

# %% [markdown]
# The bias of 12 heads (not a power of two) built from your slopes, equal to the library's
# `alibi_bias` that the course GPT adds to its scores:

# %%
slopes = my_alibi_slopes(12)
distance = (torch.arange(16)[:, None] - torch.arange(16)[None, :]).float()  # (16, 16): i - j
bias = -slopes[:, None, None] * distance  # (H, 16, 16)
future = distance < 0
assert torch.allclose(bias[:, ~future], alibi_bias(12, 16)[:, ~future])
fig, axes = plt.subplots(1, 4, figsize=(11, 2.8))
for ax, h in zip(axes, (0, 3, 8, 11)):
    ax.imshow(bias[h].masked_fill(future, float("nan")), cmap="magma")
    ax.set(title=f"head {h}, slope {slopes[h]:.3f}", xlabel="key", ylabel="query")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Experiment: training at one length, testing at 2x and 4x
#
# We train the same small GPT on Shakespeare characters at context length `TRAIN_CTX`, with
# positions learned / sinusoidal / RoPE / ALiBi / none ("NoPE": a causal model can still infer
# position, since token t sees exactly t predecessors): same data, steps, batch and learning
# rate for every scheme, once per seed. Then we evaluate on windows four times longer and plot
# the loss at each position. Learned positions have no vector past `TRAIN_CTX`, so their curve
# stops there. These runs use the library's GPT with PyTorch's fused attention kernel, for
# speed (the same numbers as yours, as section 1 showed).

# %%
from llmcourse.assets.shakespeare import load_shakespeare
from llmcourse.models import GPT, GPTConfig
from llmcourse.tokenization.char import CharTokenizer
from llmcourse.training import get_batch, split_tokens, train

text = load_shakespeare(max_chars=TEXT_CHARS)
char_tok = CharTokenizer.train(text)
train_ids, val_ids = split_tokens(char_tok.encode(text), 0.1)
print(f"{len(train_ids):,} training characters, vocabulary {char_tok.vocab_size}, seeds {SEEDS}")


def run(config, steps, seed, desc=""):
    """Train a fresh GPT for `steps` steps with `seed` (init and batches); return (model, history)."""
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
    """Mean next-token loss at each position 0..length-1 over the same validation windows of `length`."""
    model.eval()
    x, y = get_batch(val_ids, length, n_windows, torch.Generator().manual_seed(7), device)
    logits, _ = model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
    return loss.view(n_windows, length).mean(0).cpu()  # (length,)


SCHEMES = ["learned", "sinusoidal", "rope", "alibi", "none"]
base = GPTConfig(vocab_size=char_tok.vocab_size, block_size=TRAIN_CTX, attn_impl="sdpa", **EXP_MODEL)
curves = {s: [] for s in SCHEMES}  # scheme -> one loss-by-position curve per seed
rope_models = []  # kept for the stretch exercise
for scheme in SCHEMES:
    for seed in SEEDS:
        model, _ = run(base.replace(positions=scheme), EXP_STEPS, seed, desc=f"positions={scheme} seed={seed}")
        length = TRAIN_CTX if scheme == "learned" else 4 * TRAIN_CTX
        if scheme != "learned":
            model.extend_context(length)
        curves[scheme].append(loss_by_position(model, length, EVAL_WINDOWS))
        if scheme == "rope":
            rope_models.append(model)

# %% [markdown]
# The curves are means over the seeds, with the seed-to-seed spread (± one standard deviation)
# as a band; the table gives each range's mean ± spread.

# %%
def smooth(y, k=5):
    k = min(k, len(y))
    return F.avg_pool1d(y[None, None], k, 1, padding=k // 2, count_include_pad=False)[0, 0][:len(y)]


def mean_spread(values):
    """(mean, standard deviation over seeds; 0 for a single seed)."""
    t = torch.tensor(values, dtype=torch.float64)
    return t.mean().item(), (t.std().item() if len(t) > 1 else 0.0)


def ranges(curve):
    """Mean loss at positions <= 1x, 1x-2x and 2x-4x of the training length (NaN where the curve stops)."""
    parts = (curve[:TRAIN_CTX], curve[TRAIN_CTX:2 * TRAIN_CTX], curve[2 * TRAIN_CTX:])
    return [p.mean().item() if len(p) else float("nan") for p in parts]


fig, ax = plt.subplots(figsize=(9, 4))
for scheme, per_seed in curves.items():
    stack = torch.stack([smooth(c) for c in per_seed])  # (seeds, length)
    mean, sd = stack.mean(0), (stack.std(0) if len(per_seed) > 1 else torch.zeros(stack.shape[1]))
    ax.plot(mean.numpy(), label=scheme)
    ax.fill_between(range(len(mean)), (mean - sd).numpy(), (mean + sd).numpy(), alpha=0.2)
for m in (1, 2):
    ax.axvline(m * TRAIN_CTX, color="grey", ls=":")
ax.text(TRAIN_CTX, ax.get_ylim()[1], " trained up to here", va="top", fontsize=8)
ax.set(xlabel="position in the sequence", ylabel="val loss (nats/char)",
       title=f"length extrapolation: trained at {TRAIN_CTX}, tested at {4 * TRAIN_CTX} ({len(SEEDS)} seed(s))")
ax.legend()
plt.show()

extrapolation = {}  # scheme -> [(mean, spread) for <= 1x, 1x-2x, 2x-4x]
print(f"{'scheme':>11} {'<= 1x':>14} {'1x-2x':>14} {'2x-4x':>14}")
for scheme, per_seed in curves.items():
    per_range = list(zip(*[ranges(c) for c in per_seed]))  # 3 tuples of one value per seed
    extrapolation[scheme] = [mean_spread(v) for v in per_range]
    print(f"{scheme:>11} " + " ".join(f"{m:>7.3f} ± {s:<5.3f}" for m, s in extrapolation[scheme]))

# %% [markdown]
# What the numbers say (built from them):

# %%
inside = {s: v[0][0] for s, v in extrapolation.items()}
far = {s: v[2] for s, v in extrapolation.items() if s != "learned"}  # (mean, spread) at 2x-4x
best = min(far, key=lambda s: far[s][0])
runner_up = min((s for s in far if s != best), key=lambda s: far[s][0])
gap = far[runner_up][0] - far[best][0]
noise = max(far[best][1], far[runner_up][1])
cfg.say(f"Inside the training length the {len(SCHEMES)} schemes span {max(inside.values()) - min(inside.values()):.2f} nats "
        f"(from {min(inside, key=inside.get)} at {min(inside.values()):.2f} to {max(inside, key=inside.get)} at "
        f"{max(inside.values()):.2f}). From 2x to 4x the training length the lowest loss is **{best}**'s "
        f"({far[best][0]:.2f} ± {far[best][1]:.2f}), ahead of {runner_up} by {gap:.2f} nats"
        + (f", {'more' if gap > 2 * noise else 'less'} than twice the seed-to-seed spread ({noise:.2f})."
           if len(SEEDS) > 1 else " — a single seed: rerun in the laptop profile before trusting the order.")
        + " Change from 1x to 2x-4x: "
        + ", ".join(f"{s} {far[s][0] - inside[s]:+.2f}" for s in far) + " nats.")

# %% [markdown]
# What to look for: a scheme whose loss stays flat past the dotted line extrapolates; one
# that climbs meets inputs it never saw in training. Sinusoidal positions and RoPE show the
# model position vectors or rotation angles beyond the trained range; ALiBi's bias only says
# "far away is less relevant", which holds at any length; NoPE has no position input at all (it
infers positions by counting what it can see).
# Long-context Llama variants rescale RoPE for this reason — the stretch exercise below.

# %% [markdown]
# ### Stretch: stretching RoPE to a longer context
#
# RoPE pair i turns by $\theta_i$ per position, a full turn every $2\pi/\theta_i$ positions (its
# *wavelength*). Pairs with short wavelengths have turned many times during training: every
# angle they meet later was seen. Pairs whose wavelength exceeds the training context never
# completed a turn, and past it they show angles the model never saw. Llama 3.1 keeps the
# fast pairs, slows the slow ones down by a `factor` (position interpolation), and blends in
# between: with $s = (L / \lambda - a) / (b - a)$ for wavelength $\lambda$, trained length $L$,
# `low_freq_factor` a and `high_freq_factor` b,
#
# | wavelength | new frequency |
# | --- | --- |
# | $\lambda < L / b$ | $\theta$ (kept) |
# | $\lambda > L / a$ | $\theta / \text{factor}$ |
# | otherwise | $(1 - s)\,\theta / \text{factor} + s\,\theta$ |
#
# **Exercise `block.rope_scaling`** · difficulty 3 · ~30 min · stretch. Write
# `llama3_inv_freq(head_dim, base, factor, low_freq_factor, high_freq_factor, original_max_position)`
# -> (head_dim/2,); checked against Hugging Face's `rope_type="llama3"`. Then the cell after it
# puts your frequencies into the RoPE models trained above (no retraining) and measures the loss
# at 2x-4x. Open question to explore: which `factor` and which a, b work best here, and why
# does the loss *inside* the training length move too?

# %%
def llama3_inv_freq(head_dim, base=10000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                    original_max_position=8192):
    ### BEGIN SOLUTION
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    wavelen = 2 * math.pi / inv_freq
    smooth_s = (original_max_position / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth_s) * inv_freq / factor + smooth_s * inv_freq
    out = torch.where(wavelen > original_max_position / low_freq_factor, inv_freq / factor, blended)
    return torch.where(wavelen < original_max_position / high_freq_factor, inv_freq, out)
    ### END SOLUTION


# %%
llama3_inv_freq = check("block.rope_scaling", llama3_inv_freq)

# %%
head_dim = base.head_dim
scaled = llama3_inv_freq(head_dim, base.rope_theta, factor=4.0, low_freq_factor=1.0, high_freq_factor=4.0,
                         original_max_position=TRAIN_CTX)
print("wavelengths (positions per turn):", [round(2 * math.pi / f, 1) for f in rope_models[0].rotary.inv_freq.tolist()])
print("frequency kept (1) or slowed (<1):", [round(r, 3) for r in (scaled / rope_models[0].rotary.inv_freq).tolist()])
scaled_far, plain_far = [], []
for model in rope_models:
    plain_far.append(ranges(loss_by_position(model, 4 * TRAIN_CTX, EVAL_WINDOWS))[2])
    original = model.rotary.inv_freq.clone()
    model.rotary.inv_freq = scaled.to(original.device)
    scaled_curve = loss_by_position(model, 4 * TRAIN_CTX, EVAL_WINDOWS)
    scaled_far.append(ranges(scaled_curve)[2])
    model.rotary.inv_freq = original
(p_m, p_s), (s_m, s_s) = mean_spread(plain_far), mean_spread(scaled_far)
cfg.say(f"RoPE at 2x-4x the training length: {p_m:.2f} ± {p_s:.2f} nats as trained, {s_m:.2f} ± {s_s:.2f} with "
        f"your Llama-3.1 frequencies (factor 4, no retraining): {'better' if s_m < p_m else 'worse'} by "
        f"{abs(p_m - s_m):.2f}. Real models fine-tune briefly at the longer length after rescaling.")

# %% [markdown]
# ## 4. Norms and feed-forward networks
#
# **RMSNorm** drops LayerNorm's mean subtraction and bias:
# $y = x / \sqrt{\mathrm{mean}(x^2) + \epsilon} \cdot w$. One reduction instead of two.
#
# **Exercise `block.rmsnorm`** · difficulty 1 · ~5 min. `rms_norm(x, weight, eps)`; checked
# against `torch.nn.RMSNorm`.

# %%
def rms_norm(x, weight, eps):
    ### BEGIN SOLUTION
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight
    ### END SOLUTION


# %%
rms_norm = check("block.rmsnorm", rms_norm)

# %% [markdown]
# The feed-forward network widens each token's vector, applies a nonlinearity and narrows
# it back. **SwiGLU** replaces "linear, activation" by a *gate*: two projections, one passed
# through SiLU ($z \sigma(z)$), multiplied elementwise: $\mathrm{down}(\mathrm{silu}(x W_g) \odot x W_u)$.
#
# **Exercise `block.swiglu`** · difficulty 1 · ~10 min. `swiglu(x, w_gate, w_up, w_down)`
# (weights in `nn.Linear` layout: (out, in)); checked against Hugging Face's `LlamaMLP`.

# %%
def swiglu(x, w_gate, w_up, w_down):
    ### BEGIN SOLUTION
    return (F.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T
    ### END SOLUTION


# %%
swiglu = check("block.swiglu", swiglu)

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
# Now train the same GPT with each MLP (RoPE positions, everything else equal: data, steps,
# batch, learning rate, seeds) and compare the validation curves, mean ± spread over the seeds.

# %%
ffn_val, ffn_params, ffn_steps = {}, {}, None
for act in ("relu", "gelu", "swiglu"):
    ffn_val[act] = []
    for seed in SEEDS:
        model, hist = run(base.replace(positions="rope", activation=act), FFN_STEPS, seed, desc=f"mlp={act} seed={seed}")
        ffn_val[act].append(hist.val_loss)
        ffn_params[act], ffn_steps = model.num_params(), hist.eval_steps

fig, ax = plt.subplots(figsize=(7, 4))
for act, runs in ffn_val.items():
    t = torch.tensor(runs)  # (seeds, evaluations)
    sd = t.std(0) if len(runs) > 1 else torch.zeros(t.shape[1])
    ax.errorbar(ffn_steps, t.mean(0), yerr=sd, marker="o", capsize=3, label=f"{act} ({ffn_params[act]:,} params)")
ax.set(xlabel="step", ylabel="val loss (nats/char)", title=f"feed-forward variants, matched parameters, {len(SEEDS)} seed(s)")
ax.legend()
plt.show()
ffn_final = {act: mean_spread([r[-1] for r in runs]) for act, runs in ffn_val.items()}
for act, (m, s) in ffn_final.items():
    print(f"{act:>7}: final val loss {m:.3f} ± {s:.3f}")

# %%
order = sorted(ffn_final, key=lambda a: ffn_final[a][0])
lead = ffn_final[order[1]][0] - ffn_final[order[0]][0]
spread = max(s for _, s in ffn_final.values())
cfg.say(f"After {FFN_STEPS} steps: {' < '.join(f'{a} ({ffn_final[a][0]:.3f})' for a in order)}. The best leads the "
        f"next by {lead:.3f} nats, "
        + (f"{'more' if lead > 2 * spread else 'less'} than twice the largest seed-to-seed spread ({spread:.3f})"
           + ("; at this size that is a real difference." if lead > 2 * spread else
              "; at this size the variants are not told apart. SwiGLU's advantage reported at scale "
              "(Shazeer 2020) is a few percent of loss.")
           if len(SEEDS) > 1 else "with one seed: the laptop profile's three seeds say whether it is more than noise."))

# %% [markdown]
# ## 5. Your block, your GPT
#
# A Llama block is two residual sublayers, each reading a normalised copy of the stream:
#
#     x = x + attention(rms_norm(x))      # causal, RoPE, grouped-query heads
#     x = x + swiglu(rms_norm(x))
#
# **Exercise `block.llama_block`** · difficulty 2 · ~20 min. Write
# `llama_block(x, positions, weights, n_head, n_kv_head, eps, rope_theta)` from **your**
# `rms_norm`, `multi_head_attention`, `rope` and `swiglu`. `weights` holds the parameters of
# one block of the library's GPT, `dict(block.named_parameters())`: `norm1.weight`,
# `attn.qkv.weight`, `attn.proj.weight`, `norm2.weight`, `mlp.gate.weight`, `mlp.up.weight`,
# `mlp.down.weight`. Checked against Hugging Face's `LlamaDecoderLayer`.

# %%
def llama_block(x, positions, weights, n_head, n_kv_head, eps=1e-5, rope_theta=10000.0):
    ### BEGIN SOLUTION
    h = rms_norm(x, weights["norm1.weight"], eps)
    x = x + multi_head_attention(h, weights["attn.qkv.weight"], weights["attn.proj.weight"], n_head, n_kv_head,
                                 causal=True, rotate=lambda t: rope(t, positions, rope_theta))
    h = rms_norm(x, weights["norm2.weight"], eps)
    return x + swiglu(h, weights["mlp.gate.weight"], weights["mlp.up.weight"], weights["mlp.down.weight"])
    ### END SOLUTION


# %%
llama_block = check("block.llama_block", llama_block)

# %% [markdown]
# The whole model is an embedding, your blocks, a final norm and the output layer tied to the
# embedding. The weights live in a library `GPT` built from the course GPT's config (Llama
# style: RMSNorm, RoPE, SwiGLU, no biases, grouped-query attention; sizes from the profile);
# **the forward pass below is yours**.
#
# The data: the course tokenizer you trained in notebook 1.2 (the reference one if you have
# not), on the course text — Shakespeare and the seven-language sample, each source split
# 90/10 into training and validation.

# %%
from llmcourse.assets.artifacts import last_source, load_artifact, save_artifact
from llmcourse.models import course_gpt_config, course_tokens, reference_course_tokenizer

tok = load_artifact("course-tokenizer", fallback=reference_course_tokenizer)
cfg.say(f"Tokenizer: **{'yours, from notebook 1.2' if last_source('course-tokenizer') == 'yours' else 'the reference'}** "
        f"({tok.vocab_size:,} tokens).")
course_train, course_val = course_tokens(tok, COURSE_CHARS)
course_config = course_gpt_config(tok.vocab_size, cfg.profile)
print(f"{len(course_train):,} training tokens, {len(course_val):,} validation tokens; {course_config}")


def my_gpt_forward(model, idx):
    """Logits (B, T, V) of a Llama-style GPT computed by YOUR blocks on the model's weights."""
    c = model.config
    positions = torch.arange(idx.shape[1], device=idx.device)
    x = model.tok_emb(idx)  # (B, T, C)
    for block in model.blocks:
        x = llama_block(x, positions, dict(block.named_parameters()), c.n_head, c.n_kv_head, c.norm_eps, c.rope_theta)
    return model.lm_head(rms_norm(x, model.norm_f.weight, c.norm_eps))  # (B, T, V)


def my_loss(model, batch):
    x, y = batch
    logits = my_gpt_forward(model, x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


torch.manual_seed(cfg.seed)
course_gpt = GPT(course_config).to(device)
T_course = min(COURSE_CTX, course_config.block_size)
g_train, g_val = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
course_hist = train(course_gpt, lambda: get_batch(course_train, T_course, COURSE_BATCH, g_train, device),
                    steps=COURSE_STEPS, lr=LR, loss_fn=my_loss, eval_every=max(1, COURSE_STEPS // 5),
                    val_batch=lambda: get_batch(course_val, T_course, COURSE_BATCH, g_val, device),
                    eval_batches=4, warmup=COURSE_STEPS // 10, desc="course GPT (your blocks)")
course_hist.plot(label="course GPT")
plt.show()

# %% [markdown]
# Your forward pass and the library's `GPT.forward` on the same weights: the same logits, so the
# library model *is* your model, and from here on it is saved and loaded as one.

# %%
course_gpt.eval()
probe = get_batch(course_val, T_course, 4, torch.Generator().manual_seed(3), device)[0]
with torch.no_grad():
    yours_vs_library = (my_gpt_forward(course_gpt, probe) - course_gpt(probe)[0]).abs().max().item()
assert yours_vs_library < 1e-4, yours_vs_library
course_val_loss = course_hist.val_loss[-1]
print(f"max |your forward - GPT.forward| = {yours_vs_library:.1e};  validation loss {course_val_loss:.3f} nats/token "
      f"(uniform guessing: {math.log(tok.vocab_size):.2f}); trained in {course_hist.seconds:.0f} s "
      f"({course_hist.cpu_seconds:.0f} CPU-s)")
prompt = torch.tensor([tok.encode_ordinary("Selamat pagi")], device=device)
print(repr(tok.decode(course_gpt.generate(prompt, 40, temperature=0.8, top_k=40, seed=0)[0].tolist())))

# %% [markdown]
# Saved as the artifact `course-gpt`: notebook 3.2 measures its KV cache, week 4 pre-trains it,
# and every later week starts from what week 4 makes of it.

# %%
folder = save_artifact("course-gpt", {"model": course_gpt.cpu(), "tokenizer": tok,
                                      "metrics": {"val_loss": course_val_loss, "steps": COURSE_STEPS,
                                                  "tokens_seen": course_hist.tokens, "trained_by": "3.1"}},
                       notebook="3.1", about=f"Llama-style course GPT ({course_gpt.num_params() / 1e6:.2f}M params), "
                                             f"val loss {course_val_loss:.3f} after {COURSE_STEPS} steps")
course_gpt.to(device)
print("saved to", folder)

# %% [markdown]
# ## 6. One call away from Llama
#
# The course GPT's config is Llama's recipe, so the model exports to Hugging Face's
# `LlamaForCausalLM` (the fused QKV matrix is split into `q_proj`, `k_proj`, `v_proj`) and
# gives the same logits. Everything in the Llama ecosystem (generation, PEFT, GGUF export in
# week 6) then works on it.

# %%
hf_llama = course_gpt.to_hf()
with torch.no_grad():
    to_hf_diff = (course_gpt(probe)[0] - hf_llama(probe).logits).abs().max().item()
assert to_hf_diff < 1e-4, to_hf_diff
print(type(hf_llama).__name__, f"| max |ours - HF Llama| = {to_hf_diff:.1e} |",
      hf_llama.config.num_attention_heads, "query heads,", hf_llama.config.num_key_value_heads, "KV heads")

# %% [markdown]
# ## Summary
# * Multi-head attention = one fused projection, a reshape, attention per head, a reshape back;
#   GQA shares each K/V head across a group of query heads, which shrinks the KV cache.
# * Sinusoidal and learned positions are added to embeddings; RoPE rotates queries and keys
#   (relative positions); ALiBi biases scores by distance. Section 3 measured how each holds
#   up past its training length, with its seed-to-seed spread.
# * RMSNorm and SwiGLU are the modern defaults; compare MLPs at matched parameter counts and
#   across seeds before believing a difference.
# * Your pieces make a Llama block; your blocks trained the course GPT, which the library's
#   `GPT` and Hugging Face's `LlamaForCausalLM` reproduce logit for logit.

# %%
cfg.report(
    mha_equals_torch=mha_diff < 1e-5, mha_vs_torch=mha_diff, rope_relative_max_diff=rope_relative_diff,
    your_forward_equals_library=yours_vs_library < 1e-4, to_hf_equal=to_hf_diff < 1e-4, to_hf_llama=to_hf_diff,
    course_gpt_val_loss=course_val_loss, course_gpt_steps=COURSE_STEPS, course_gpt_params=course_gpt.num_params(),
    course_gpt_train_seconds=round(course_hist.seconds, 1), course_gpt_train_cpu_seconds=round(course_hist.cpu_seconds, 1),
    seeds=len(SEEDS),
    **{f"loss_{s}_{k}": m for s, vals in extrapolation.items()
       for k, (m, _) in zip(("1x", "2x", "4x"), vals) if not math.isnan(m)},
    rope_4x_scaled=s_m, rope_4x_plain=p_m,
    **{f"val_{a}": m for a, (m, _) in ffn_final.items()},
)
