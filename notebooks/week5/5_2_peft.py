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
# # 5.2 Parameter-efficient fine-tuning
#
# Full fine-tuning (5.1) trains every weight and pays 16 bytes per parameter for it. Most of
# that is unnecessary: the change fine-tuning makes is small and structured. This notebook
# builds the methods practitioners use instead, each checked against the library people
# use for it, and compares them on the same domain with the same budget:
#
# | method | what trains | checked against |
# | --- | --- | --- |
# | LoRA | a low-rank update B·A beside frozen linear layers | peft `LoraConfig` |
# | QLoRA | LoRA over a base frozen in 4-bit NF4 | bitsandbytes `quantize_4bit`, peft + `Linear4bit` |
# | adapters | small bottleneck layers after each sublayer (Houlsby) | — |
# | prompt tuning | a few "virtual token" embeddings in front of the input | peft `PromptTuningConfig` |
#
# and NF4 itself, from the normal distribution's quantiles to bytes equal to bitsandbytes'.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("5.2")

# %% [markdown]
# ## Knobs

# %%
import copy
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch

DOMAIN_CHARS = cfg.pick(smoke=120_000, laptop=1_500_000, colab=4_000_000)
BLOCK = cfg.pick(smoke=64, laptop=128, colab=256)
BATCH = cfg.pick(smoke=8, laptop=8, colab=32)
STEPS = cfg.pick(smoke=15, laptop=150, colab=1000)  # the same budget for every method (laptop: ~30 min on one core)
SEEDS = cfg.pick(smoke=[0], laptop=[0, 1, 2])
RANKS = cfg.pick(smoke=[4], laptop=[2, 8, 32])
LR_FULL, LR_PEFT = 5e-4, 3e-3  # parameter-efficient methods train few weights and take a larger step
CLOZE_ITEMS = cfg.pick(smoke=30, laptop=200)
EVAL_TOKENS = cfg.pick(smoke=3_000, laptop=30_000)
QLORA_MODEL = cfg.pick(smoke="course-gpt", laptop="gemma-3-270m")  # QLoRA vs peft + bitsandbytes
QLORA_STEPS = cfg.pick(smoke=4, laptop=30, colab=100)
QLORA_BATCH, QLORA_BLOCK = cfg.pick(smoke=(2, 32), laptop=(2, 64), colab=(8, 256))
# QLoRA computes in bfloat16 on a GPU; most CPUs lack bfloat16 instructions (10-20x slower), so float32 there
QLORA_DTYPE = torch.bfloat16 if cfg.device == "cuda" else torch.float32
if cfg.device == "cpu":
    torch.set_num_threads(cfg.threads)
device = cfg.device

# %% [markdown]
# ## The model and the domain (as in 5.1)

# %%
from llmcourse.assets.artifacts import last_source, load_artifact, save_artifact
from llmcourse.assets.domain_corpus import CLOZE_KEYWORDS, cloze_items, domain_corpus
from llmcourse.finetuning import cloze_accuracy, perplexity, trainable_parameters
from llmcourse.models import reference_pretrained_gpt
from llmcourse.training import get_batch, train

art = load_artifact("course-gpt-pretrained", fallback=reference_pretrained_gpt)
pretrained, tok = art["model"].to(device).eval(), art["tokenizer"]
pretrained.set_attn_impl("sdpa")
corpus = domain_corpus(DOMAIN_CHARS)
ids = {s: torch.tensor(tok.encode_ordinary(corpus.text(s))) for s in ("train", "val", "test")}
items = cloze_items(corpus.test, CLOZE_ITEMS, seed=0)
print(f"course GPT {pretrained.num_params():,} parameters; domain train {len(ids['train']):,} tokens, "
      f"test {len(ids['test']):,}")

# %% [markdown]
# ## 1. LoRA
#
# Fine-tuning changes a weight matrix W (out x in) by ΔW. LoRA bets that ΔW has low rank and
# learns it as B·A, with A (r x in) and B (out x r):
#
#     y = x Wᵀ + (alpha / r) · x Aᵀ Bᵀ          W frozen, A and B trained
#
# B starts at zero, so training starts exactly at the pre-trained model; `alpha / r` keeps
# the update's size comparable when you change r. After training, `W + (alpha/r)·B·A` is
# one matrix again: **merged**, the model has no extra layers and no extra latency.
#
# **Exercise `finetuning.lora_linear`** · difficulty 2 · ~25 min. Write the class
# `LoRALinear(base, r, alpha, dropout=0.0)`: freeze `base`; parameters `lora_A` (r, in),
# Kaiming-uniform like nn.Linear's init, and `lora_B` (out, r), zeros; `forward`; and
# `merge()` returning a plain `nn.Linear`. Checked against peft's LoRA layer with the same A
# and B (outputs, gradients and merged weights).

# %%
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha, dropout=0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.r, self.scaling = r, alpha / r
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))  # (out, r): zero, so we start at W
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.base(x) + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling
        ### END SOLUTION

    def merge(self):
        ### BEGIN SOLUTION
        merged = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged
        ### END SOLUTION


# %%
LoRALinear = check("finetuning.lora_linear", LoRALinear)

# %% [markdown]
# Now put your layer into the course GPT: `apply_lora` wraps every linear layer whose name
# matches a target (peft's matching rule) and freezes everything else. Then the same model
# with peft: the same A and B must give the same logits, and merging must give the same
# weights. A target that matches nothing is an error that lists the layer names there are.

# %%
import peft

from llmcourse.finetuning import apply_lora, merge_lora

TARGETS = ["qkv", "proj", "gate", "up", "down"]
lora_model = apply_lora(copy.deepcopy(pretrained), TARGETS, r=4, alpha=8, lora_cls=LoRALinear)
for m in lora_model.modules():  # a non-zero B, as after some training, so the comparison means something
    if hasattr(m, "lora_B"):
        nn.init.normal_(m.lora_B, std=0.02)
theirs = peft.inject_adapter_in_model(peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS),
                                      copy.deepcopy(pretrained))
for name, m in lora_model.named_modules():
    if hasattr(m, "lora_B"):
        layer = theirs.get_submodule(name)
        layer.lora_A["default"].weight.data.copy_(m.lora_A.data)
        layer.lora_B["default"].weight.data.copy_(m.lora_B.data)
x = get_batch(ids["val"], BLOCK, 2, torch.Generator().manual_seed(0), device=device)[0]
with torch.no_grad():
    lora_vs_peft = (lora_model(x)[0] - theirs(x)[0]).abs().max().item()
    for layer in theirs.modules():
        if isinstance(layer, peft.tuners.lora.LoraLayer):
            layer.merge()
    merged = merge_lora(copy.deepcopy(lora_model))
    merged_vs_peft = (merged(x)[0] - theirs(x)[0]).abs().max().item()
print(f"LoRA vs peft: logits differ by {lora_vs_peft:.1e}; merged vs peft merged: {merged_vs_peft:.1e}")
assert lora_vs_peft < 1e-4 and merged_vs_peft < 1e-4
try:
    apply_lora(copy.deepcopy(pretrained), ["q_proj"], r=4, alpha=8)
except ValueError as err:
    print(f"\nbad target: {err}")
del theirs, merged

# %% [markdown]
# ## 2. NF4: four bits that follow the normal distribution
#
# QLoRA stores the frozen weights in 4 bits. With 16 values to spend, where should they go?
# Trained weights are close to normally distributed, so put them at **quantiles** of the
# normal distribution: each code then covers the same share of the weights. NF4 takes 8
# quantiles for the positive side and 7 for the negative side, plus an exact zero, and
# scales them to [-1, 1]; a block of 64 weights is divided by its largest |w| (absmax) so
# it fits that range.
#
# **Exercise `quantization_nf4.normal_float_code`** · difficulty 2 · ~20 min. Derive the 16
# NF4 values: positive side `torch.special.ndtri(torch.linspace(offset, 0.5, 9)[:-1])`,
# negative side `-ndtri(linspace(offset, 0.5, 8)[:-1])`, with offset = 0.9677083; add 0,
# sort, divide by the maximum. Checked against bitsandbytes' table.

# %%
def normal_float_code(offset=0.9677083):
    ### BEGIN SOLUTION
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, 9, dtype=torch.float64)[:-1])
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, 8, dtype=torch.float64)[:-1])
    code = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values
    return (code / code.max()).float()
    ### END SOLUTION


# %%
normal_float_code = check("quantization_nf4.normal_float_code", normal_float_code)

# %%
import bitsandbytes.functional as bnbF

from llmcourse.quantization import NF4_CODE

derived = normal_float_code()
print("NF4 values:", [round(v, 4) for v in derived.tolist()])
code_gap = (derived - NF4_CODE).abs().max().item()
cfg.say(f"Your code book differs from the 16 constants bitsandbytes hard-codes by at most {code_gap:.1e} (they were "
        "computed with scipy and rounded to float32). From here on we use the published constants, so our bytes can "
        "equal bitsandbytes' exactly.")
code = NF4_CODE
w = pretrained.blocks[0].mlp.up.weight.detach().float().cpu()
fig, ax = plt.subplots(1, 2, figsize=(11, 3.5))
ax[0].hist((w.reshape(-1, 64) / w.reshape(-1, 64).abs().amax(1, keepdim=True)).flatten(), bins=80, alpha=0.6,
           density=True, label="weights / block absmax")
for v in code:
    ax[0].axvline(v, color="C1", lw=0.8)
ax[0].set_title("a layer's weights and the 16 NF4 values")
ax[1].plot(code, "o-", label="NF4 (normal quantiles)")
ax[1].plot(torch.linspace(-1, 1, 16), "s--", label="evenly spaced 4-bit")
ax[1].legend()
ax[1].set_title("code values")
plt.show()

# %% [markdown]
# **Exercise `quantization_nf4.quantize_blockwise`** · difficulty 2 · ~20 min. Write
# `quantize_blockwise(w, code, blocksize=64)` returning `(codes, absmax)`: cut the flattened
# weights into blocks (the last one may be shorter), divide each block by its absmax, and
# pick for every number the index of the **nearest** code value (compare with the
# midpoints between neighbouring values: `torch.bucketize`). Codes as uint8, one per weight.
# Checked against the codes bitsandbytes packs.

# %%
def quantize_blockwise(w, code, blocksize=64):
    ### BEGIN SOLUTION
    flat = w.reshape(-1).float()
    n = flat.numel()
    n_blocks = -(-n // blocksize)
    blocks = torch.nn.functional.pad(flat, (0, n_blocks * blocksize - n)).view(n_blocks, blocksize)
    absmax = blocks.abs().amax(dim=1)
    scaled = (blocks / absmax.clamp(min=1e-38)[:, None]).clamp(-1, 1).reshape(-1)[:n]
    codes = torch.bucketize(scaled, (code[:-1] + code[1:]) / 2).to(torch.uint8)
    return codes, absmax
    ### END SOLUTION


# %%
quantize_blockwise = check("quantization_nf4.quantize_blockwise", quantize_blockwise)

# %% [markdown]
# With your codes, dequantisation is one lookup and one multiply: `code[q] * absmax`. The
# library's `quantize_nf4` packs two codes per byte (first in the high nibble) and must give
# **the same bytes** as bitsandbytes, and the same dequantised weights. Compare the error
# with evenly spaced 4-bit values on the same blocks:

# %%
from llmcourse.quantization import dequantize_nf4, nf4_bits_per_weight, quantize_nf4

codes, absmax = quantize_blockwise(w, code)
ours_nf4 = (code[codes.long()].view(-1, 64) * absmax[:, None]).view_as(w)
uniform = torch.linspace(-1, 1, 16)
u_codes, u_absmax = quantize_blockwise(w, uniform)
ours_int4 = (uniform[u_codes.long()].view(-1, 64) * u_absmax[:, None]).view_as(w)
q = quantize_nf4(w, 64)
bq, state = bnbF.quantize_4bit(w, blocksize=64, quant_type="nf4")
nf4_equal = torch.equal(q.packed, bq.view(-1)) and torch.equal(dequantize_nf4(q), bnbF.dequantize_4bit(bq, state))
assert nf4_equal and torch.equal(dequantize_nf4(q), ours_nf4)
rel = lambda a: ((a - w).norm() / w.norm()).item()  # noqa: E731
print(f"packed bytes and dequantised weights equal bitsandbytes': {nf4_equal}")
cfg.say(f"On this layer the relative error is {rel(ours_nf4):.4f} with NF4 and {rel(ours_int4):.4f} with evenly "
        f"spaced 4-bit values (same blocks, same absmax).")

# %% [markdown]
# ### Stretch: quantising the quantisation constants
#
# One float32 absmax per 64 weights costs 32/64 = 0.5 bit per weight. *Double quantisation*
# stores the absmax values themselves in 8 bits: subtract their mean (they are all
# positive; centring uses both halves of a signed code), cut them into blocks of 256, and
# quantise each block with bitsandbytes' 8-bit *dynamic* code (a tiny float format).
#
# **Exercise `quantization_nf4.double_quantize`** · difficulty 3 · ~30 min (stretch). Write
# `double_quantize(absmax)` returning `(codes uint8, scales float32 (one per 256), offset)`
# (use `dynamic_code()` from `llmcourse.quantization`). Checked against bitsandbytes' codes.
# Then compute the bits per weight it saves.

# %%
from llmcourse.quantization import dynamic_code


def double_quantize(absmax):
    ### BEGIN SOLUTION
    offset = absmax.mean()
    centred = absmax - offset
    n = centred.numel()
    n_blocks = -(-n // 256)
    blocks = torch.nn.functional.pad(centred, (0, n_blocks * 256 - n)).view(n_blocks, 256)
    scales = blocks.abs().amax(dim=1)
    scaled = (blocks / scales.clamp(min=1e-38)[:, None]).reshape(-1)[:n]
    dyn = dynamic_code()
    codes = torch.bucketize(scaled, (dyn[:-1] + dyn[1:]) / 2).to(torch.uint8)
    return codes, scales, float(offset)
    ### END SOLUTION


# %%
double_quantize = check("quantization_nf4.double_quantize", double_quantize)

# %%
dq_codes, dq_scales, dq_offset = double_quantize(q.absmax)
bits_plain = nf4_bits_per_weight(64, double_quant=False)
bits_double = (q.packed.numel() * 8 + dq_codes.numel() * 8 + dq_scales.numel() * 32 + 32) / w.numel()
qd = quantize_nf4(w, 64, double_quant=True)
bq2, state2 = bnbF.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
dq_equal = torch.equal(qd.absmax, state2.absmax) and torch.equal(dequantize_nf4(qd), bnbF.dequantize_4bit(bq2, state2))
assert dq_equal
cfg.say(f"Bits per weight: {bits_plain:.3f} with float32 absmax, {bits_double:.3f} with your double quantisation "
        f"(the formula says {nf4_bits_per_weight(64, True):.3f} for large tensors); float32 weights cost 32. The "
        f"library's double-quantised codes equal bitsandbytes': {dq_equal}.")

# %% [markdown]
# ## 3. The methods, with the same budget
#
# Every method trains from the same pre-trained model, on the same batches, for the same
# number of steps. For each we measure what it trains, the peak memory of a training step
# (weights + everything a step allocates), the time per step, the validation perplexity,
# the keyword cloze and the size of what you would ship (the trained weights alone, as
# safetensors).

# %%
from safetensors.torch import save_file
from tqdm.auto import tqdm

from llmcourse.finetuning import PromptTunedGPT, apply_adapters, apply_qlora, measure_step
from llmcourse.training import make_optimizer

ok, why = cfg.timing_is_reliable()
if not ok:
    print(f"note: {why}")


def build(method, seed):
    torch.manual_seed(seed)  # the same random LoRA A / adapter init per seed
    base = copy.deepcopy(pretrained)
    if method == "full FT":
        return base, LR_FULL
    if method.startswith("LoRA r="):
        r = int(method.split("=")[1])
        return apply_lora(base, TARGETS, r=r, alpha=2 * r, lora_cls=LoRALinear), LR_PEFT
    if method == "QLoRA r=8":
        return apply_qlora(base, TARGETS, r=8, alpha=16, compute_dtype=QLORA_DTYPE), LR_PEFT
    if method == "adapters m=16":
        return apply_adapters(base, bottleneck=16), LR_PEFT
    if method == "prompt tuning n=16":
        return PromptTunedGPT(base, n_virtual=16, seed=seed), 3e-2
    raise ValueError(method)


def shipped_bytes(model):
    """Bytes of the trained weights saved as safetensors: the file you would ship."""
    with tempfile.TemporaryDirectory() as d:
        state = {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}
        save_file(state, str(Path(d) / "adapter.safetensors"))
        return (Path(d) / "adapter.safetensors").stat().st_size


METHODS = ["full FT"] + [f"LoRA r={r}" for r in RANKS] + ["QLoRA r=8", "adapters m=16", "prompt tuning n=16"]
table, curves, kept = {}, {}, {}
bar = tqdm(total=len(METHODS) * len(SEEDS), desc="fine-tuning runs (method x seed)")
for method in METHODS:
    runs = []
    for seed in SEEDS:
        bar.set_postfix(method=method, seed=seed)
        model, lr = build(method, seed)
        model.to(device).train()
        g_train, g_val = torch.Generator().manual_seed(100 + seed), torch.Generator().manual_seed(200 + seed)
        block = BLOCK - 16 if method.startswith("prompt") else BLOCK  # the virtual tokens use context too
        if seed == SEEDS[0]:  # memory and time of one step, measured once per method
            opt = make_optimizer(model, 1e-12)
            batch = get_batch(ids["train"], block, BATCH, g_train, device=device)

            def step():
                opt.zero_grad(set_to_none=True)
                model(*batch)[1].backward()
                opt.step()
            cost = measure_step(model, step, opt, timed_steps=2, device=device)
        history = train(model, lambda: get_batch(ids["train"], block, BATCH, g_train, device=device), steps=STEPS,
                        lr=lr, val_batch=lambda: get_batch(ids["val"], block, BATCH, g_val, device=device),
                        eval_every=max(1, STEPS // 5), eval_batches=4, warmup=max(1, STEPS // 10),
                        progress=False, desc=method)
        model.eval()
        runs.append((perplexity(model, ids["test"][:EVAL_TOKENS], block),
                     cloze_accuracy(model, tok, items, CLOZE_KEYWORDS, max_len=block)))
        if seed == SEEDS[0]:
            curves[method] = history
            kept[method] = model
        bar.update()
    trained, total = trainable_parameters(model)
    ppl = torch.tensor([r[0] for r in runs])
    acc = torch.tensor([r[1] for r in runs])
    table[method] = {"trainable": trained, "fraction": trained / total, "peak_MB": cost.peak / 1e6,
                     "ms_per_step": cost.seconds * 1000, "ppl": ppl.mean().item(),
                     "ppl_spread": ppl.std().item() if len(runs) > 1 else 0.0, "cloze": acc.mean().item(),
                     "file_KB": shipped_bytes(model) / 1024}
    bar.write(f"{method:20} done: test ppl {ppl.mean():.2f}")
bar.close()
base_ppl = perplexity(pretrained, ids["test"][:EVAL_TOKENS], BLOCK)

# %%
print(f"pre-trained model, no fine-tuning: test perplexity {base_ppl:.2f}\n")
print(f"{'method':20}{'trainable':>11}{'share':>8}{'peak MB':>9}{'ms/step':>9}{'test ppl':>16}{'cloze':>7}"
      f"{'file KB':>9}")
for method, row in table.items():
    print(f"{method:20}{row['trainable']:>11,}{row['fraction']:>8.2%}{row['peak_MB']:>9.1f}{row['ms_per_step']:>9.0f}"
          f"{row['ppl']:>9.2f} ± {row['ppl_spread']:<4.2f}{row['cloze']:>7.2f}{row['file_KB']:>9.1f}")
if not ok:
    print("(times measured on a busy machine: compare them with care)")

fig, ax = plt.subplots(1, 3, figsize=(15, 4))
for method, row in table.items():
    ax[0].scatter(row["trainable"], row["ppl"], s=40)
    ax[0].annotate(method, (row["trainable"], row["ppl"]), fontsize=8)
ax[0].set_xscale("log")
ax[0].axhline(base_ppl, ls="--", color="gray", label="no fine-tuning")
ax[0].set_xlabel("trainable parameters (log)")
ax[0].set_ylabel("domain test perplexity")
ax[0].legend()
ax[1].barh(list(table), [r["peak_MB"] for r in table.values()])
ax[1].set_xlabel("peak memory of a training step (MB, measured)")
for method, h in curves.items():
    ax[2].plot(h.eval_steps, h.val_loss, "o-", label=method, ms=3)
ax[2].set_xlabel("step")
ax[2].set_ylabel("validation loss")
ax[2].legend(fontsize=7)
plt.tight_layout()
plt.show()
best = min(table, key=lambda m: table[m]["ppl"])
lora_name = f"LoRA r={RANKS[-1]}"
cfg.say(f"With {STEPS} steps each, the lowest test perplexity is {best}'s ({table[best]['ppl']:.2f}; before "
        f"fine-tuning {base_ppl:.2f}). {lora_name} trains {table[lora_name]['fraction']:.1%} of the parameters and "
        f"reaches {table[lora_name]['ppl']:.2f} against full fine-tuning's {table['full FT']['ppl']:.2f}, with a "
        f"{table[lora_name]['file_KB']:.0f} KB adapter instead of {table['full FT']['file_KB']:.0f} KB.")

# %% [markdown]
# ## 4. QLoRA against peft + bitsandbytes
#
# Our QLoRA (frozen `NF4Linear` layers, LoRA in float32, everything else in the compute dtype:
# bfloat16 on a GPU, float32 on a CPU) against
# what a practitioner would write: bitsandbytes' `Linear4bit` layers with peft's LoRA, with
# the same A and B, trained on the same batches with the same optimizer. The loss curves
# must agree (up to rounding). The laptop profile does it on Gemma 3 270M; the
# smoke profile on the course GPT exported to Hugging Face's Llama.

# %%
from llmcourse.finetuning import peft_bnb_twin

if QLORA_MODEL == "course-gpt":
    hf_model, hf_ids = pretrained.to_hf().float(), ids["train"]
    Q_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
else:
    from llmcourse.assets import load_lm

    hf_model, gtok = load_lm(QLORA_MODEL, device=device)
    hf_ids = torch.tensor(gtok(corpus.text("train")[:200_000], add_special_tokens=False)["input_ids"])
    Q_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
torch.manual_seed(0)
ours_q = apply_qlora(copy.deepcopy(hf_model), Q_TARGETS, r=8, alpha=16, compute_dtype=QLORA_DTYPE)
twin = peft_bnb_twin(hf_model, ours_q, Q_TARGETS, r=8, alpha=16, compute_dtype=QLORA_DTYPE)
opt_o = torch.optim.AdamW([p for p in ours_q.parameters() if p.requires_grad], lr=1e-3)
opt_t = torch.optim.AdamW([p for p in twin.parameters() if p.requires_grad], lr=1e-3)
gq = torch.Generator().manual_seed(0)
loss_o, loss_t = [], []
for _ in tqdm(range(QLORA_STEPS), desc="QLoRA: ours and peft + bitsandbytes"):
    xb = get_batch(hf_ids, QLORA_BLOCK, QLORA_BATCH, gq, device=device)[0]
    for model, opt, log in ((ours_q, opt_o, loss_o), (twin, opt_t, loss_t)):
        loss = model(input_ids=xb, labels=xb).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        log.append(loss.item())
qlora_gap = max(abs(a - b) for a, b in zip(loss_o, loss_t))
plt.plot(loss_o, "o-", label="ours (NF4Linear + LoRALinear)")
plt.plot(loss_t, "x--", label="peft + bitsandbytes Linear4bit")
plt.xlabel("step")
plt.ylabel("training loss")
plt.legend()
plt.title(f"QLoRA on {QLORA_MODEL}")
plt.show()
assert qlora_gap < 0.02 * max(loss_o), f"QLoRA loss curves differ by {qlora_gap}"
cfg.say(f"Over {QLORA_STEPS} steps the two QLoRA loss curves differ by at most {qlora_gap:.4f} "
        f"(losses around {loss_o[-1]:.2f}).")

# %% [markdown]
# ### What 4 bits save on a real model
#
# One step of LoRA on the float32 model against one step of QLoRA, measured. (In the laptop
# profile this is Gemma 3 270M, where the 262k-token embedding — not quantised, and kept in
# the compute dtype — is a large share of what remains; on a CPU that dtype is float32.)

# %%
def qlora_step_cost(model):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-12)
    xb = get_batch(hf_ids, QLORA_BLOCK, QLORA_BATCH, torch.Generator().manual_seed(1), device=device)[0]

    def step():
        opt.zero_grad(set_to_none=True)
        model(input_ids=xb, labels=xb).loss.backward()
        opt.step()
    return measure_step(model, step, opt, timed_steps=1, device=device)


torch.manual_seed(0)
lora_fp32 = apply_lora(copy.deepcopy(hf_model), Q_TARGETS, r=8, alpha=16)
c_lora, c_qlora = qlora_step_cost(lora_fp32), qlora_step_cost(ours_q)
qlora_memory_ratio = c_qlora.peak / c_lora.peak
print(f"LoRA on float32: weights {c_lora.weights / 1e6:8.1f} MB, step peak {c_lora.peak / 1e6:8.1f} MB, "
      f"{c_lora.seconds:.2f} s/step")
print(f"QLoRA (NF4):     weights {c_qlora.weights / 1e6:8.1f} MB, step peak {c_qlora.peak / 1e6:8.1f} MB, "
      f"{c_qlora.seconds:.2f} s/step")
cfg.say(f"QLoRA's peak memory is {qlora_memory_ratio:.0%} of LoRA-on-float32's for {QLORA_MODEL} "
        f"(the goal for Gemma 3 270M is at most 40%).")
del lora_fp32, twin

# %% [markdown]
# ## 5. Prompt tuning equals peft's
#
# The soft prompt is n free vectors in front of the input embeddings. Given the same
# vectors, our forward must equal peft's `PromptTuningConfig` on a Hugging Face model.

# %%
from llmcourse.finetuning import SoftPrompt, prompt_tuned_forward

hf_small = pretrained.to_hf().float()
pm = peft.get_peft_model(copy.deepcopy(hf_small), peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=8))
soft = SoftPrompt(8, hf_small.config.hidden_size, init=torch.randn(8, hf_small.config.hidden_size) * 0.02)
pm.prompt_encoder["default"].embedding.weight.data.copy_(soft.weight.data)
xb = x[:, :32].cpu()
with torch.no_grad():
    prompt_diff = (prompt_tuned_forward(hf_small, soft, xb, labels=xb).logits
                   - pm(input_ids=xb, labels=xb).logits).abs().max().item()
assert prompt_diff < 1e-4
print(f"prompt tuning vs peft: logits differ by {prompt_diff:.1e}")

# %% [markdown]
# ## 6. Save the LoRA adapter
#
# The artifact `course-gpt-lora` holds the base model the adapter was trained on, the adapter
# (only A and B) and its settings; `model_from_lora_bundle` rebuilds the adapted model (or
# the merged one) in weeks 6-8.

# %%
from llmcourse.finetuning import lora_bundle, model_from_lora_bundle

lora_kept = kept[lora_name]
bundle = lora_bundle(copy.deepcopy(pretrained).cpu(), lora_kept.cpu(), tok, r=RANKS[-1], alpha=2 * RANKS[-1],
                     target_modules=TARGETS, metrics={"test_ppl": table[lora_name]["ppl"]})
rebuilt = model_from_lora_bundle(bundle, merge=True)
with torch.no_grad():
    bundle_diff = (rebuilt(x.cpu())[0] - lora_kept(x.cpu())[0]).abs().max().item()
assert bundle_diff < 1e-4
save_artifact("course-gpt-lora", bundle, notebook="5.2", about=f"LoRA r={RANKS[-1]} adapter on the pre-trained course GPT")
cfg.report(lora_vs_peft=lora_vs_peft < 1e-4, merged_vs_peft=merged_vs_peft < 1e-4, nf4_equal_bnb=nf4_equal,
           double_quant_equal_bnb=dq_equal, prompt_tuning_vs_peft=prompt_diff < 1e-4, qlora_loss_gap=qlora_gap,
           qlora_memory_ratio=qlora_memory_ratio, lora_test_ppl=table[lora_name]["ppl"],
           full_ft_test_ppl=table["full FT"]["ppl"], base_test_ppl=base_ppl,
           lora_trainable_share=table[lora_name]["fraction"], base_model=last_source("course-gpt-pretrained"))

# %% [markdown]
# ## What to take away
#
# * LoRA trains a small fraction of the weights, ships a file of kilobytes, and merges back
#   into the model for free; its quality at a given budget is in the table above.
# * NF4 spends 16 values where normal weights are, and double quantisation brings the
#   overhead of the block scales to about an eighth of a bit; QLoRA trains LoRA over such a
#   base, and peft + bitsandbytes do the same computation.
# * Adapters and prompt tuning train even less; the table shows what that costs here.
