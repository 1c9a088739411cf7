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
# 3. **Decoding from scratch**: you write softmax, greedy, top-k, top-p, min-p, the
#    repetition penalty and (the stretch) beam search on raw logits; each is checked against
#    transformers' own logits processors or `model.generate`, and from then on **the notebook
#    decodes with your pieces** (or the library's, and says so, while yours do not pass).
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
# profile uses Gemma 3 270M throughout; on Colab `"sea-lion"` loads SEA-LION v4 (Gemma 3
# based) in 4-bit.

# %%
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

LM_NAME = cfg.pick(smoke="tiny", laptop="gemma-3-270m", colab="sea-lion")
NEW_TOKENS = cfg.pick(smoke=6, laptop=40)  # tokens per decoding demo
BENCH_TOKENS = cfg.pick(smoke=6, laptop=64)  # tokens per runtime measurement
BENCH_REPEATS = cfg.pick(smoke=1, laptop=3)
WARM_UP = cfg.pick(smoke=False, laptop=True)  # one untimed run first (smoke only checks the code runs)
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
# GPU, `"sea-lion"` is the smallest Gemma-based SEA-LION v4 model (AI Singapore's Gemma 3
# 4B, instruction-tuned for the region) quantised to 4 bits with bitsandbytes, so it fits a
# free T4's 16 GB (set `LLMCOURSE_SEA_LION` to another Hub id to try a different one).
# Offline it falls back to Gemma 3 270M, the same Gemma 3 family, shipped as a GGUF file on
# PyPI: transformers reads GGUF with `gguf_file=` and the course keeps a float32
# safetensors copy in its cache.

# %%
from llmcourse.assets import gemma_gguf_path, load_lm

model, tok = load_lm(LM_NAME)
n_params = sum(p.numel() for p in model.parameters())
print(f"{type(model).__name__}: {n_params / 1e6:.1f}M parameters, vocabulary {len(tok):,}, dtype {model.dtype}")

# %% [markdown]
# A tokenizer turns text into ids and back. How many tokens does each prompt cost, per
# UTF-8 byte? A byte-level tokenizer with no merges for a script would need one token per
# byte; notebook 1.2 measures this properly, on seven languages.

# %%
per_byte = {}
for lang, text in PROMPTS.items():
    ids = tok(text, add_special_tokens=False).input_ids
    per_byte[lang] = len(ids) / len(text.encode("utf-8"))
    print(f"{lang:11s} {len(ids):3d} tokens for {len(text.encode('utf-8')):3d} bytes  {tok.convert_ids_to_tokens(ids)[:8]}")
cfg.say(f"With a vocabulary of {len(tok):,} entries, the Thai prompt costs {per_byte['Thai']:.2f} tokens per "
        f"UTF-8 byte and the English one {per_byte['English']:.2f}.")

# %% [markdown]
# **Chat templates.** An instruction-tuned model was trained on conversations written in a
# fixed format: turns wrapped in special tokens. `tokenizer.apply_chat_template` writes a
# list of messages in that format, so the model sees exactly what it was trained on. The
# base Gemma 3 270M has no template (it was never tuned to chat); SEA-LION has one.

# %%
messages = [{"role": "user", "content": "Apa ibu kota Indonesia? Jawab dalam satu kalimat."}]
if getattr(tok, "chat_template", None):
    chat_text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    print(chat_text)
    chat_ids = tok(chat_text, return_tensors="pt", add_special_tokens=False).input_ids.to(model.device)
    with torch.no_grad():
        reply = model.generate(chat_ids, max_new_tokens=40, do_sample=False)[0, chat_ids.size(1):]
    print("reply:", tok.decode(reply, skip_special_tokens=True))
else:
    print(f"{type(model).__name__} here is a base model without a chat template: prompts are plain text.")

# %% [markdown]
# ## 2. PyTorch in five minutes
#
# **Tensors** carry a shape, a dtype and a device. The dtype decides memory and precision:
# a model in float32 needs 4 bytes per parameter, bfloat16 2, and 4-bit quantisation half
# a byte. The arithmetic for this model and for a 7B one is below.

# %%
x = torch.randn(2, 3)
print(x.shape, x.dtype, x.device)
for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.int8):
    print(f"{str(dtype):15s} {torch.tensor([], dtype=dtype).element_size()} bytes/element")
for name, n in (("this model", n_params), ("a 7B model", 7e9)):
    print(f"{name:11s} fp32 {n * 4 / 1e9:6.2f} GB, bf16 {n * 2 / 1e9:6.2f} GB, 4-bit {n / 2 / 1e9:6.2f} GB "
          f"(a free T4 has 16 GB)")
third = torch.tensor(1 / 3)
print(f"1/3 in fp32 {third.item():.10f}, in bf16 {third.to(torch.bfloat16).item():.10f}, "
      f"in fp16 {third.to(torch.float16).item():.10f}")
print(f"largest value: fp32 {torch.finfo(torch.float32).max:.3g}, bf16 {torch.finfo(torch.bfloat16).max:.3g}, "
      f"fp16 {torch.finfo(torch.float16).max:.3g}")

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
# ### Softmax with temperature
# **Exercise `decoding.softmax`** · difficulty 1 · ~10 min. Logits become probabilities with
# a softmax. Dividing the logits by a **temperature** T first sharpens (T < 1) or flattens
# (T > 1) the distribution. Implement it so it does not overflow for logits like 1000
# (hint: softmax does not change if you subtract a constant from every logit).

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
softmax = check("decoding.softmax", softmax)

# %% [markdown]
# Here is what temperature does to the model's actual next-token distribution after the
# English prompt: the top-10 probabilities at three temperatures, computed with the
# `softmax` the check returned (yours when it passes).

# %%
prompt_ids = tok(PROMPTS["English"], return_tensors="pt").input_ids
with torch.no_grad():
    next_logits = model(prompt_ids.to(model.device)).logits[0, -1].float().cpu()  # (V,)
top = next_logits.topk(10).indices
fig, ax = plt.subplots(figsize=(9, 3))
for i, t in enumerate((0.5, 1.0, 2.0)):
    ax.bar(torch.arange(10) + i * 0.27, softmax(next_logits, t)[top], width=0.27, label=f"T={t}")
ax.set_xticks(range(10), [repr(tok.decode([int(t)])) for t in top], rotation=30)
ax.set_ylabel("probability")
ax.set_title("Next-token distribution: temperature sharpens or flattens it")
ax.legend()
plt.show()
top_p_at = {t: softmax(next_logits, t).max().item() for t in (0.5, 1.0, 2.0)}
cfg.say(f"The most likely next token has probability {top_p_at[0.5]:.2f} at T=0.5, {top_p_at[1.0]:.2f} at T=1 "
        f"and {top_p_at[2.0]:.2f} at T=2.")

# %% [markdown]
# ## 3. Decoding from scratch
#
# Generation is a loop: run the model, turn the last position's logits into one token,
# append it, repeat until an end-of-sequence (EOS) token or a length limit.
#
# ### Greedy decoding
# **Exercise `decoding.greedy`** · difficulty 2 · ~15 min. Always take the most likely
# token. Return the prompt followed by the new tokens, shape (1, T), and stop right after the model's EOS id (`model.generation_config.eos_token_id`).
# The simple way re-runs the model on the whole sequence at every step (`logits_to_keep=1`
# asks transformers for the last position's logits only: 262k floats, not 262k per token); the library
# version (`llmcourse.inference.decoding.greedy`) keeps a key/value cache instead —
# notebook 3.2 explains it. Both must agree with `model.generate(do_sample=False)`, and
# section 4 decodes with the `greedy` the check returns.

# %%
@torch.no_grad()
def greedy(model, input_ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    ### BEGIN SOLUTION
    eos = model.generation_config.eos_token_id
    eos = set(eos) if isinstance(eos, list) else {eos}
    ids = input_ids
    for _ in range(max_new_tokens):
        logits = model(ids, logits_to_keep=1).logits[:, -1, :]  # (1, V): only the last position's
        nxt = logits.argmax(dim=-1, keepdim=True)  # (1, 1)
        ids = torch.cat([ids, nxt], dim=1)
        if nxt.item() in eos:
            break
    return ids
    ### END SOLUTION


# %%
greedy = check("decoding.greedy", greedy)

# %% [markdown]
# ### Top-k, top-p and min-p
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
#
# **Exercise `decoding.top_k_filter`** · difficulty 1 · ~10 min.
# **Exercise `decoding.top_p_filter`** · difficulty 2 · ~15 min.
# **Exercise `decoding.min_p_filter`** · difficulty 1 · ~10 min.

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
    drop = probs < p * probs.amax(-1, keepdim=True)  # the top token always survives: p <= 1
    return logits.masked_fill(drop, float("-inf"))
    ### END SOLUTION


# %%
top_k_filter = check("decoding.top_k_filter", top_k_filter)
top_p_filter = check("decoding.top_p_filter", top_p_filter)
min_p_filter = check("decoding.min_p_filter", min_p_filter)

# %% [markdown]
# How many tokens survive each filter (yours) on the model's real distribution after the
# English prompt? Look at how top-p and min-p respond to the model's confidence, while
# top-k keeps the same number whatever the distribution.

# %%
from llmcourse.inference import decoding as D

row = next_logits[None]
survivors = {
    "top-k 50": top_k_filter(row, 50),
    "top-p 0.9": top_p_filter(row, 0.9),
    "top-p 0.5": top_p_filter(row, 0.5),
    "min-p 0.05": min_p_filter(row, 0.05),
    "min-p 0.2": min_p_filter(row, 0.2),
}
for name, filtered in survivors.items():
    print(f"{name:11s} keeps {int(torch.isfinite(filtered).sum()):6d} of {row.size(-1):,} tokens")

# %% [markdown]
# ### Repetition penalty
# **Exercise `decoding.repetition_penalty`** · difficulty 1 · ~10 min. Small models love to
# repeat themselves. The CTRL paper's fix: every token already in the
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
repetition_penalty = check("decoding.repetition_penalty", repetition_penalty)

# %% [markdown]
# ### Beam search (the stretch)
# **Exercise `decoding.beam_search`** · difficulty 3 · ~45 min. Greedy commits to one token
# at a time; beam search keeps the `num_beams` most likely *partial sequences* alive and
# returns the best one. Make yours agree with `model.generate(num_beams=...)` token for
# token, including when some hypotheses end early with EOS. transformers' rules
# (`early_stopping=False`, `length_penalty=1`):
#
# * a hypothesis' score is the sum of its tokens' log-probabilities; at step one only the
#   first beam expands (all beams start identical);
# * each step, among all (beam, next token) pairs keep the best `2 * num_beams` candidates;
# * a candidate among the top `num_beams` that ends with EOS, or reaches `max_new_tokens`,
#   is *finished* with score `sum_logprob / new_tokens ** length_penalty`; keep the
#   `num_beams` best finished ones;
# * the best `num_beams` candidates that did not end run on;
# * stop when `num_beams` hypotheses are finished and the best running one, normalised the
#   same way at the current length, cannot beat the worst of them; return the best finished.
#
# No key/value cache needed: re-run the model on all running beams at each step.

# %%
@torch.no_grad()
def beam_search(model, input_ids: torch.Tensor, num_beams: int, max_new_tokens: int,
                length_penalty: float = 1.0) -> torch.Tensor:
    ### BEGIN SOLUTION
    eos = model.generation_config.eos_token_id
    eos = set(eos) if isinstance(eos, list) else {eos}
    seqs = input_ids.repeat(num_beams, 1)  # (nb, T)
    scores = torch.full((num_beams,), -1e9, device=input_ids.device)
    scores[0] = 0.0  # only the first beam expands at step one
    finished = []  # (normalised score, sequence)
    for step in range(1, max_new_tokens + 1):
        logp = torch.log_softmax(model(seqs, logits_to_keep=1).logits[:, -1, :].float(), dim=-1)  # (nb, V)
        vocab = logp.size(-1)
        top, idx = (logp + scores[:, None]).view(-1).topk(2 * num_beams)
        running = []
        for rank, (s, i) in enumerate(zip(top.tolist(), idx.tolist())):
            cand = torch.cat([seqs[i // vocab], torch.tensor([i % vocab], device=seqs.device)])
            if (i % vocab) in eos or step == max_new_tokens:
                if rank < num_beams:
                    finished.append((s / step**length_penalty, cand))
            elif len(running) < num_beams:
                running.append((s, cand))
        finished = sorted(finished, key=lambda f: -f[0])[:num_beams]
        if not running or (len(finished) == num_beams and running[0][0] / step**length_penalty <= finished[-1][0]):
            break
        seqs = torch.stack([c for _, c in running])
        scores = torch.tensor([s for s, _ in running], device=seqs.device)
    return finished[0][1][None]
    ### END SOLUTION


# %%
beam_search = check("decoding.beam_search", beam_search)

# %% [markdown]
# ## 4. Every strategy on the same prompts, with your pieces
#
# Generation is a loop around one decision: which token comes next.
# `llmcourse.inference.decoding.generate_with(model, ids, n, choose)` runs the loop (with a
# key/value cache, stopping after EOS) and asks `choose(logits, ids)` for each next token.
# Our `choose` is built from **your** repetition penalty, top-k, top-p, min-p and softmax;
# greedy and beam search are your functions too.

# %%
def sample_with_your_pieces(ids, temperature=1.0, top_k=None, top_p=None, min_p=None, penalty=1.0):
    """Sampling with the pieces above, in transformers' order: penalty, temperature, top-k, top-p, min-p."""
    def choose(logits, seen):  # logits (1, V), seen (1, T)
        if penalty != 1.0:
            logits = repetition_penalty(logits, seen, penalty)
        logits = logits / temperature
        if top_k is not None:
            logits = top_k_filter(logits, top_k)
        if top_p is not None:
            logits = top_p_filter(logits, top_p)
        if min_p is not None:
            logits = min_p_filter(logits, min_p)
        return torch.multinomial(softmax(logits), num_samples=1)  # torch's global RNG, as generate() uses
    return D.generate_with(model, ids, NEW_TOKENS, choose)


SAMPLED = {  # the same settings for generate() (top_k=0 switches off its default top-k of 50)
    "T=0.7, top-k 40": dict(temperature=0.7, top_k=40),
    "top-p 0.9": dict(top_p=0.9),
    "min-p 0.1, rep 1.3": dict(min_p=0.1, penalty=1.3),
}
strategies = {"greedy": lambda ids: greedy(model, ids, NEW_TOKENS),
              f"beam ({NUM_BEAMS})": lambda ids: beam_search(model, ids, NUM_BEAMS, NEW_TOKENS)}
for name, kw in SAMPLED.items():
    strategies[name] = lambda ids, kw=kw: (torch.manual_seed(0), sample_with_your_pieces(ids, **kw))[1]

outputs = {}  # (language, strategy) -> prompt + new tokens
for lang, text in tqdm(PROMPTS.items(), desc="prompts"):
    ids = tok(text, return_tensors="pt").input_ids.to(model.device)
    for name, run in strategies.items():
        outputs[lang, name] = run(ids)
        new = outputs[lang, name][0, ids.size(1):]
        print(f"{lang:11s} {name:20s} {tok.decode(new, skip_special_tokens=True).replace(chr(10), ' ')[:90]!r}")

# %% [markdown]
# Now the proof: `model.generate` with the same settings gives the same tokens. For the
# sampled runs we seed torch's global generator before each call, which is what both
# `generate` and your sampler draw from.

# %%
agree = {"greedy": 0, "beam": 0, "sampling": 0}
for lang, text in PROMPTS.items():
    ids = tok(text, return_tensors="pt").input_ids.to(model.device)
    agree["greedy"] += torch.equal(outputs[lang, "greedy"],
                                   model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False))
    agree["beam"] += torch.equal(outputs[lang, f"beam ({NUM_BEAMS})"],
                                 model.generate(ids, max_new_tokens=NEW_TOKENS, num_beams=NUM_BEAMS, do_sample=False))
    same = True
    for name, kw in SAMPLED.items():
        hf_kw = {"top_k": 0, **{("repetition_penalty" if k == "penalty" else k): v for k, v in kw.items()}}
        torch.manual_seed(0)
        theirs = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=True, **hf_kw)
        same &= torch.equal(outputs[lang, name], theirs)
    agree["sampling"] += same
print({k: f"{v}/{len(PROMPTS)} prompts identical to generate()" for k, v in agree.items()})
assert all(v == len(PROMPTS) for v in agree.values()), "every strategy must reproduce generate() token for token"

# %% [markdown]
# Beam search keeps several hypotheses and returns the one with the best *length-normalised*
# log-probability, so it usually finds a continuation the model finds more likely than
# greedy's; compare the per-token numbers below (a shorter hypothesis that ended with EOS
# can win on the normalised score while its total is lower).

# %%
ids = tok(PROMPTS["English"], return_tensors="pt").input_ids.to(model.device)
per_token = {}
for name, out in [("greedy", outputs["English", "greedy"]), ("beam", outputs["English", f"beam ({NUM_BEAMS})"])]:
    n_new = out.size(1) - ids.size(1)
    lp = D.sequence_logprob(model, out, ids.size(1))
    per_token[name] = lp / n_new
    print(f"{name:6s} log p = {lp:8.2f} over {n_new} tokens ({lp / n_new:.3f} per token)")
cfg.say(f"On the English prompt beam search ({NUM_BEAMS} beams) reached {per_token['beam']:.3f} nats per token, "
        f"greedy {per_token['greedy']:.3f}: beam search is "
        f"{'ahead' if per_token['beam'] > per_token['greedy'] + 1e-6 else 'not ahead'} here.")

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
logit_agreement = {}
for lang, text in PROMPTS.items():
    ids = gemma_tok(text).input_ids
    ours_ll = llamacpp_logits(llm, ids)[-1]
    with torch.no_grad():
        hf = gemma(torch.tensor([ids], device=gemma.device)).logits[0, -1].float().cpu().numpy()
    cos = float(ours_ll @ hf / np.linalg.norm(ours_ll) / np.linalg.norm(hf))
    same_top = int(ours_ll.argmax()) == int(hf.argmax())
    logit_agreement[lang] = (cos, same_top)
    print(f"{lang:11s} cosine {cos:.4f}, same top token: {same_top}, "
          f"top-5 overlap {len(set(np.argsort(-ours_ll)[:5]) & set(np.argsort(-hf)[:5]))}/5")
llm.close()
min_cosine = min(c for c, _ in logit_agreement.values())
assert min_cosine > 0.99 and all(t for _, t in logit_agreement.values()), \
    "llama.cpp and transformers should compute (nearly) the same logits from the same GGUF"
cfg.say(f"Both runtimes pick the same next token on all {len(PROMPTS)} prompts; the lowest cosine between "
        f"their logit vectors is {min_cosine:.4f}.")

# %% [markdown]
# Now speed. **Time to first token** (TTFT) is what a user waits before anything appears:
# the whole prompt must be processed (prefill). **Tokens per second** is the decode speed
# after that. We measure transformers, llama.cpp in-process, and llama.cpp's
# OpenAI-compatible server (started here on 127.0.0.1, the way you would talk to Ollama),
# plus a real Ollama server if one is running.
#
# Timings are only worth reading on a machine that is doing nothing else: the numbers
# below come with a verdict from `cfg.timing_is_reliable()`.

# %%
reliable, why_not = cfg.timing_is_reliable()
if not reliable:
    print("⚠", why_not)
prompt = PROMPTS["English"]
llm = load_llama(gguf, n_ctx=512, n_threads=torch.get_num_threads())  # the same threads as torch
runs = {"transformers": lambda: hf_generate_timed(gemma, gemma_tok, prompt, BENCH_TOKENS),
        "llama.cpp (in-process)": lambda: llamacpp_generate_timed(llm, prompt, BENCH_TOKENS)}
timings = {name: [] for name in runs}
for name, fn in runs.items():
    if WARM_UP:
        fn()
    for _ in tqdm(range(BENCH_REPEATS), desc=name):
        timings[name].append(fn())
with LlamaServer(gguf, n_ctx=512, n_threads=torch.get_num_threads()) as server:
    name = "llama.cpp server (OpenAI API)"
    if WARM_UP:
        openai_generate_timed(server.base_url, server.model_name, prompt, 4)
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
# **What to look for.** On a CPU, decoding one token means reading every weight once, so
# speed follows the bytes read per token. llama.cpp reads the 4-bit weights as they are;
# transformers reads the float32 copy. The server adds HTTP and JSON on top but is what
# applications talk to (Ollama, vLLM and OpenAI all speak this API). On a GPU the picture
# changes: week 6 measures vLLM against plain transformers.

# %%
speed = {name: tps for name, _, tps in rows}
ttfts = {name: ttft for name, ttft, _ in rows}
weight_bytes_ratio = sum(p.numel() * p.element_size() for p in gemma.parameters()) / gguf.stat().st_size
speedup = speed["llama.cpp (in-process)"] / speed["transformers"]
if reliable:
    cfg.say(f"transformers reads {weight_bytes_ratio:.1f}x more weight bytes than the GGUF holds; llama.cpp "
            f"decoded {speedup:.1f}x as many tokens per second ({speed['llama.cpp (in-process)']:.1f} against "
            f"{speed['transformers']:.1f}), and the server {speed['llama.cpp server (OpenAI API)']:.1f} tokens/s.")
else:
    cfg.say(f"transformers reads {weight_bytes_ratio:.1f}x more weight bytes than the GGUF holds. The speeds "
            f"above were measured while the machine was busy, so they are not compared here: run this notebook "
            f"alone (or `llmcourse bench runtimes`) to compare the runtimes.")
cfg.report(
    lm=LM_NAME,
    decoding_matches_generate=all(v == len(PROMPTS) for v in agree.values()),
    hf_tokens_per_s=speed["transformers"],
    llamacpp_tokens_per_s=speed["llama.cpp (in-process)"],
    server_tokens_per_s=speed["llama.cpp server (OpenAI API)"],
    hf_ttft_ms=ttfts["transformers"],
    llamacpp_ttft_ms=ttfts["llama.cpp (in-process)"],
    llamacpp_speedup=speedup,
    timing_reliable=reliable,
    llamacpp_min_logit_cosine=min_cosine,
    weight_bytes_ratio=weight_bytes_ratio,
)
