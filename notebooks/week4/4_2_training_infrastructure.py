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
# # 4.2 Training infrastructure: FineWeb, torchrun, mixed precision, big batches
#
# Pre-training a real model is a systems problem. This notebook takes the pieces one at a
# time, each proven on this machine:
#
# 1. **FineWeb**: the same code reads FineWeb-Edu streamed from the Hub or a local corpus
#    in FineWeb's schema, through 4.1's pipeline, into shards;
# 2. **gradient accumulation**: k small batches give exactly the gradient of one big one;
# 3. **data parallelism with `torchrun`**: DDP (every rank a full copy, gradients
#    averaged) and FSDP (every rank a shard of the model state); 2 ranks with half the batch
#    end where 1 process with the whole batch ends;
# 4. **mixed precision**: bf16 autocast, fp16 with a loss scaler (and its skipped steps);
# 5. **large batches**: how to scale the learning rate (linear, square root) with warmup.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("4.2")

# %% [markdown]
# ## Knobs

# %%
DOCS = cfg.pick(smoke=80, laptop=600)  # FineWeb rows through the pipeline
DDP_STEPS = cfg.pick(smoke=3, laptop=20)  # steps of the torchrun runs
PREC_STEPS = cfg.pick(smoke=8, laptop=150)  # steps per precision
LR_TOKENS = cfg.pick(smoke=8 * 64 * 8, laptop=8 * 64 * 300)  # token budget of each learning-rate run
SEEDS = cfg.pick(smoke=[0], laptop=[0, 1, 2])  # seeds per comparison (mean ± spread)
BLOCK = 64

# %% [markdown]
# ## 1. FineWeb, online or offline, through one code path
#
# FineWeb rows carry `text, id, dump, url, date, file_path, language, language_score,
# token_count`. With the Hub, `datasets.load_dataset("HuggingFaceFW/fineweb-edu",
# name="sample-10BT", streaming=True)` yields them one by one without downloading the
# 10-billion-token sample. Offline, the course wrote its own corpus in the same schema as
# a parquet file, read back with pyarrow exactly like a FineWeb shard.

# %%
import json
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pyarrow.parquet as pq
import torch

from llmcourse.assets.fineweb import fineweb_offline_path, fineweb_sample
from llmcourse.data import filter_documents, write_shards

rows, source = fineweb_sample(DOCS, online=cfg.online)
print(f"{len(rows)} rows from {source}")
if not cfg.online:
    print(pq.read_schema(fineweb_offline_path()))
print({k: (v[:60] + "...") if isinstance(v, str) and len(v) > 60 else v for k, v in rows[0].items()})

kept, report = filter_documents(rows, progress=False)
print("pipeline:", report.stages)

from llmcourse.assets.artifacts import load_artifact
from llmcourse.models.course import reference_course_tokenizer

tok = load_artifact("course-tokenizer", fallback=reference_course_tokenizer)
work = cfg.scratch("work")
shards = work / "fineweb-shards"
manifest = write_shards((d["text"] for d in kept), tok, shards, val_fraction=0.1, progress=False)
print("shards:", manifest["tokens"], manifest["tokenizer"])

# %% [markdown]
# ## 2. Gradient accumulation
#
# Memory limits the batch a device can hold; the optimiser wants a bigger one. Run k
# micro-batches, each backward on `loss / k`: gradients *add up* in `.grad`, so the total
# is the gradient of the mean loss over all k·b sequences, as if the big batch had been
# run at once (as long as every micro-batch has as many tokens, as our windows do).
#
# **Exercise `training.accumulate`** · difficulty 1 · ~15 min. `accumulate_gradients(model,
# micro_batches, loss_fn)`: zero the gradients once, accumulate over the micro-batches,
# return a list with a copy of every parameter's gradient.

# %%
def accumulate_gradients(model, micro_batches, loss_fn):
    ### BEGIN SOLUTION
    model.zero_grad(set_to_none=True)
    for batch in micro_batches:
        (loss_fn(model, batch) / len(micro_batches)).backward()
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]
    ### END SOLUTION


# %%
accumulate_gradients = check("training.accumulate", accumulate_gradients)

# %% [markdown]
# With your function, on the course GPT and a batch of 16 FineWeb windows: one batch of 16
# against 4 micro-batches of 4. The tolerance: the same float32 numbers summed in another
# order differ by a few units in the last place (~1e-7 relative), far below the 4x a
# forgotten `/ k` would give.

# %%
from llmcourse.data import TokenShardDataset
from llmcourse.models.course import course_gpt_config
from llmcourse.models.gpt import GPT

train = TokenShardDataset(shards, BLOCK, "train")
xb = torch.stack([train[i][0] for i in range(16)])
yb = torch.stack([train[i][1] for i in range(16)])
torch.manual_seed(0)
model = GPT(course_gpt_config(tok.vocab_size, "smoke", block_size=BLOCK, attn_impl="sdpa"))
loss_fn = lambda m, b: m(b[0], b[1])[1]  # noqa: E731
big = accumulate_gradients(model, [(xb, yb)], loss_fn)
acc = accumulate_gradients(model, [(xb[i:i + 4], yb[i:i + 4]) for i in range(0, 16, 4)], loss_fn)
acc_diff = max((a - b).abs().max().item() for a, b in zip(acc, big))
acc_equal = all(torch.allclose(a, b, atol=1e-6, rtol=1e-5) for a, b in zip(acc, big))
assert acc_equal
cfg.say(f"4 micro-batches of 4 against one batch of 16: the largest gradient difference is {acc_diff:.1e}.")

# %% [markdown]
# ## 3. Data parallelism with `torchrun`
#
# `torchrun --nproc_per_node=N -m llmcourse.training.pretrain ...` starts N copies of the
# training script; each learns its rank from the environment, joins a process group
# (**gloo** on CPUs, **NCCL** on GPUs: the script picks it) and reads its own slice of
# every global batch. With **DDP** each rank holds the whole model; after backward an
# all-reduce averages the gradients, so all ranks take the same step. With equal slices
# the average of the ranks' mean gradients is the mean gradient of the whole batch: 2 ranks
# with 4 sequences each should end where 1 process with 8 ends. **FSDP** (`fully_shard`)
# keeps only 1/N of every parameter, gradient and optimiser state per rank, gathering a
# layer's weights just before it runs.
#
# The commands, exactly as you would type them (the same on a GPU machine, or on several
# nodes with `--nnodes/--node_rank/--rdzv-endpoint`):

# %%
import shutil
import subprocess

from llmcourse.training import make_config, pretrain

env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
common = ["-m", "llmcourse.training.pretrain", "--preset", "smoke", "--data", str(shards),
          "--max-steps", str(DDP_STEPS), "--ckpt-every", str(DDP_STEPS), "--no-progress"]
runs = {}
for name, extra in [("DDP", []), ("FSDP", ["--fsdp"])]:
    cmd = [torchrun, "--standalone", "--nproc_per_node=2", *common, "--out", str(work / name), *extra]
    print("$", " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd)))
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    runs[name] = time.perf_counter() - t0
    print("  ", [line for line in res.stdout.splitlines() if line.startswith("[pretrain]")][-1])
single = pretrain(make_config("smoke", data=str(shards), steps=DDP_STEPS, ckpt_every=DDP_STEPS, progress=False),
                  work / "single", say=lambda *_: None)


def weights(name):
    return torch.load(work / name / f"step_{DDP_STEPS:08d}.pt", weights_only=True)["model"]


one = weights("single")
ddp_diff = max((weights("DDP")[k] - one[k]).abs().max().item() for k in one)
fsdp_diff = max((weights("FSDP")[k] - one[k]).abs().max().item() for k in one)
assert ddp_diff < 2e-5 and fsdp_diff < 2e-5
mem = {name: [json.loads((work / name / "ranks" / f"rank_{r}.json").read_text())["state_bytes"] for r in (0, 1)]
       for name in ("DDP", "FSDP")}
print(f"{'':6s} {'params':>10s} {'grads':>10s} {'Adam state':>11s} {'total/rank':>11s}  (bytes, rank 0)")
for name in ("DDP", "FSDP"):
    m = mem[name][0]
    print(f"{name:6s} {m['params']:10,d} {m['grads']:10,d} {m['optimizer']:11,d} {m['total']:11,d}")
fsdp_ratio = mem["FSDP"][0]["total"] / mem["DDP"][0]["total"]
cfg.say(f"After {DDP_STEPS} steps, 2 DDP ranks differ from one process by at most {ddp_diff:.1e} in any weight, "
        f"2 FSDP ranks by {fsdp_diff:.1e} (float32 rounding: the sums run in another order). FSDP holds "
        f"{fsdp_ratio:.0%} of DDP's model state per rank.")

# %% [markdown]
# The batch must split evenly: a global batch of 6 over 4 ranks is refused before anything
# starts (and nothing in the run folder is touched):

# %%
from llmcourse.training import check_batch_layout

try:
    check_batch_layout(6, 2, 4)
except ValueError as err:
    print("refused:", err)

# %% [markdown]
# ## 4. Mixed precision
#
# `torch.autocast` runs matrix multiplies in 16 bits and keeps softmax, norms and the loss
# in 32; the weights and Adam stay float32. **bf16** has float32's exponent range: no
# special care. **fp16** has 5 exponent bits: small gradients underflow to 0, so the loss
# is multiplied by a scale S before backward and the gradients divided by S after; if any
# gradient overflows to inf, the step is *skipped* and S halved; after enough clean steps S
# doubles.
#
# **Exercise `training.loss_scaler`** (stretch) · difficulty 3 · ~40 min. Write `LossScaler`
# with `scale(loss)`, `step(optimizer)` (unscale, skip on inf/NaN), `update()` and
# `get_scale()`, behaving exactly like `torch.amp.GradScaler` (the check runs both through
# 10 steps with three overflows).

# %%
class LossScaler:
    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        ### BEGIN SOLUTION
        self.s = float(init_scale)
        self.growth, self.backoff, self.interval = growth_factor, backoff_factor, growth_interval
        self.good, self.found_inf = 0, False
        ### END SOLUTION

    def scale(self, loss):
        ### BEGIN SOLUTION
        return loss * self.s
        ### END SOLUTION

    def step(self, optimizer):
        ### BEGIN SOLUTION
        self.found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.mul_(1.0 / self.s)
                    self.found_inf |= not bool(torch.isfinite(p.grad).all())
        if not self.found_inf:
            optimizer.step()
        return not self.found_inf
        ### END SOLUTION

    def update(self):
        ### BEGIN SOLUTION
        if self.found_inf:
            self.s *= self.backoff
            self.good = 0
        else:
            self.good += 1
            if self.good == self.interval:
                self.s *= self.growth
                self.good = 0
        ### END SOLUTION

    def get_scale(self):
        ### BEGIN SOLUTION
        return self.s
        ### END SOLUTION


# %%
LossScaler = check("training.loss_scaler", LossScaler)

# %% [markdown]
# Three runs of the course GPT on the FineWeb shards, equal steps and data: fp32, bf16
# autocast, and fp16 autocast with **your** loss scaler, started at a deliberately huge
# scale (2³²) so you can watch it back off: each overflow is a skipped step.

# %%
from llmcourse.training import autocast

xs = torch.stack([train[i][0] for i in range(len(train))])
ys = torch.stack([train[i][1] for i in range(len(train))])


def run(precision, seed=0, scaler=None, steps=PREC_STEPS, batch=8):
    torch.manual_seed(seed)
    m = GPT(course_gpt_config(tok.vocab_size, "smoke", block_size=BLOCK, attn_impl="sdpa"))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    losses, scales, skipped = [], [], []
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(len(xs), (batch,), generator=g)
        opt.zero_grad(set_to_none=True)
        with autocast("cpu", precision):
            loss = m(xs[idx], ys[idx])[1]
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            skipped.append(not scaler.step(opt))
            scaler.update()
            scales.append(scaler.get_scale())
        losses.append(loss.item())
    tps = steps * batch * BLOCK / (time.perf_counter() - t0)
    return losses, tps, scales, skipped


prec = {p: run(p) for p in ("fp32", "bf16")}
prec["fp16 + scaler"] = run("fp16", scaler=LossScaler(init_scale=2.0 ** 32, growth_interval=50))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for name, (losses, tps, _, _) in prec.items():
    axes[0].plot(losses, label=f"{name} ({tps:,.0f} tok/s)")
axes[0].set_xlabel("step")
axes[0].set_ylabel("train loss")
axes[0].legend()
_, _, scales, skipped = prec["fp16 + scaler"]
axes[1].semilogy(scales, "o-", ms=3)
axes[1].set_title(f"fp16 loss scale ({sum(skipped)} skipped steps)")
axes[1].set_xlabel("step")
plt.tight_layout()
plt.show()
reliable, why = cfg.timing_is_reliable()
faster16 = prec["bf16"][1] > prec["fp32"][1]
cfg.say(f"On this {cfg.device.upper()}: fp32 {prec['fp32'][1]:,.0f} tokens/s, bf16 {prec['bf16'][1]:,.0f}, fp16 "
        f"{prec['fp16 + scaler'][1]:,.0f}. " + ("16-bit math is faster here: the hardware has 16-bit matrix units. "
        if faster16 else "16-bit math is slower here: without bf16/fp16 matrix units (AVX-512 BF16, AMX, tensor "
        "cores) it is emulated. On a GPU's tensor cores bf16 is the fast path. ") +
        f"The scaler skipped {sum(skipped)} steps while backing off from 2^32 to {scales[-1]:.0f}."
        + ("" if reliable else f" ({why})"))

# %% [markdown]
# ## 5. Large batches and the learning rate
#
# A bigger batch averages away more gradient noise, so it allows a bigger step. From a
# (batch, lr) that works, two rules: **linear** (lr × k for k times the batch; Goyal et al.,
# with warmup) and **square root** (lr × √k; closer to what Adam tolerates).
#
# **Exercise `training.scaled_lr`** · difficulty 1 · ~5 min.

# %%
import math


def scaled_lr(base_lr, base_batch, batch, rule="sqrt"):
    ### BEGIN SOLUTION
    ratio = batch / base_batch
    return base_lr * (ratio if rule == "linear" else math.sqrt(ratio))
    ### END SOLUTION


# %%
scaled_lr = check("training.scaled_lr", scaled_lr)

# %% [markdown]
# The experiment: base batch 8 at lr 3e-3, then batches of 32 with the rate unchanged,
# scaled linearly and by the square root, all with warmup and cosine decay, all on the
# **same number of tokens** (so the big batch takes 4x fewer steps), several seeds.

# %%
from llmcourse.training import make_config as mk

BASE_LR, BASE_B = 3e-3, 8
settings = {"batch 8": (8, BASE_LR), "batch 32, same lr": (32, BASE_LR),
            "batch 32, linear": (32, scaled_lr(BASE_LR, BASE_B, 32, "linear")),
            "batch 32, sqrt": (32, scaled_lr(BASE_LR, BASE_B, 32, "sqrt"))}
results = {}
for name, (b, lr) in settings.items():
    vals = []
    for seed in SEEDS:
        steps = max(2, LR_TOKENS // (b * BLOCK))
        c = mk("smoke", data=str(shards), batch_size=b, micro_batch=8, lr=lr, steps=steps, warmup=max(1, steps // 10),
               eval_every=steps, ckpt_every=0, eval_batches=4, seed=seed, progress=False)
        vals.append(pretrain(c, work / f"lr-{name}-{seed}".replace(" ", "_").replace(",", ""), say=lambda *_: None).val_loss)
    results[name] = (float(np.mean(vals)), float(np.std(vals)), lr)
for name, (mean, sd, lr) in results.items():
    print(f"{name:20s} lr {lr:.2e}  val loss {mean:.3f} ± {sd:.3f}")
best = min(results, key=lambda k: results[k][0])
same_lr_loses = results["batch 32, same lr"][0] > results["batch 8"][0]
cfg.say(f"On an equal token budget ({LR_TOKENS:,} tokens, {len(SEEDS)} seed(s)), the lowest validation loss comes "
        f"from '{best}'. A 4x bigger batch with an unchanged rate takes 4x fewer steps of the same size: here it "
        + ("ends above" if same_lr_loses else "does not end above") + " the small batch's loss.")

# %%
cfg.report(fineweb_docs=len(rows), fineweb_kept=len(kept), fineweb_train_tokens=manifest["tokens"]["train"],
           accumulation_max_diff=acc_diff, accumulation_equal=acc_equal, ddp_max_diff=ddp_diff,
           fsdp_max_diff=fsdp_diff, ddp_equals_single=ddp_diff < 2e-5, fsdp_equals_single=fsdp_diff < 2e-5,
           fsdp_state_ratio=fsdp_ratio, tokens_per_s_fp32=prec["fp32"][1], tokens_per_s_bf16=prec["bf16"][1],
           tokens_per_s_fp16=prec["fp16 + scaler"][1], fp16_skipped_steps=sum(skipped),
           final_loss_fp32=prec["fp32"][0][-1], final_loss_bf16=prec["bf16"][0][-1],
           **{f"val_loss_{k.replace(' ', '_').replace(',', '')}": v[0] for k, v in results.items()})
