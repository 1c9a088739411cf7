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
# # 4.3 Pre-training: causal and masked LM, checkpoints that survive a crash, MFU
#
# Everything comes together: the shards of 4.1, the infrastructure of 4.2, and the course
# GPT of weeks 2-3. You will
#
# * compare the two pre-training objectives, **causal LM** (GPT: predict the next token)
#   and **masked LM** (BERT: restore the hidden 15%), on the same shards;
# * run `llmcourse pretrain`, the command that trains from a laptop to a GPU cluster,
#   **kill it with SIGKILL** mid-run and resume it to the very same losses;
# * measure **tokens/s and MFU** (model FLOPs utilisation) with a FLOP count you write;
# * pre-train the course GPT and save it: weeks 5-8 fine-tune, quantise, serve, evaluate
#   and align this model, and week 7 ranks the checkpoints saved along the way.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("4.3")

# %% [markdown]
# ## Knobs

# %%
PRESET = cfg.pick(smoke="smoke", laptop="laptop", colab="colab")  # model size and schedule of `llmcourse pretrain`
STEPS = cfg.pick(smoke=40, laptop=600, colab=3000)  # optimiser steps of the course GPT's pre-training
CKPT_EVERY = cfg.pick(smoke=10, laptop=100, colab=500)  # a checkpoint (and week 7's sample of the run) every N steps
MLM_STEPS = cfg.pick(smoke=20, laptop=200, colab=1000)  # steps of the BERT / GPT comparison
CLI_STEPS = cfg.pick(smoke=12, laptop=30)  # steps of the kill -9 demonstration
BLOCK = cfg.pick(smoke=64, laptop=128, colab=256)

# %% [markdown]
# ## 1. The data and the model from before
#
# The shards come from 4.1 (your pipeline's language mixture); the course GPT from 3.1.
# When you have not run those, the course's reference versions are built instead and the
# notebook says so.

# %%
import json
import os
import signal
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from llmcourse.assets.artifacts import load_artifact, save_artifact
from llmcourse.data import tokenizer_fingerprint
from llmcourse.models.course import reference_course_gpt
from llmcourse.training import make_config, pretrain, reference_pretrain_shards

shards = load_artifact("pretrain-shards", fallback=reference_pretrain_shards)
print(shards)
earlier = load_artifact("course-gpt", fallback=reference_course_gpt)
tok = earlier["tokenizer"]
same_tokenizer = tokenizer_fingerprint(tok) == shards.manifest["tokenizer"]
print("3.1's model:", earlier["model"].config.n_layer, "layers,", f"{earlier['model'].num_params():,} parameters;",
      "same tokenizer as the shards:", same_tokenizer)
work = cfg.scratch("work")

# %% [markdown]
# ## 2. Two objectives on the same tokens
#
# **Causal LM**: every position predicts the next token, seeing only the past (a causal
# mask). All T positions of a window are training signal, and the model can generate.
# **Masked LM**: 15% of the tokens are chosen; 80% of those become `<mask>`, 10% a random
# token, 10% stay; the model sees both sides and restores them (week 3's `mask_tokens`).
# Only the chosen 15% carry a loss, so per token of text MLM learns from fewer
# predictions, but each with context on both sides: better representations for
# understanding tasks, no generation.
#
# The same `pretrain` loop trains both (`--model gpt|bert`), same shards, same steps:

# %%
objectives = {}
for kind in ("gpt", "bert"):
    c = make_config(PRESET, kind, data=str(shards.folder), block_size=BLOCK, steps=MLM_STEPS, ckpt_every=0,
                    eval_every=max(1, MLM_STEPS // 4), progress=True)
    objectives[kind] = pretrain(c, work / f"objective-{kind}", say=lambda *_: None)
fig, ax = plt.subplots(figsize=(7, 3.5))
for kind, res in objectives.items():
    ax.plot([m["step"] for m in res.metrics], [m["loss"] for m in res.metrics],
            label=f"{'causal LM (GPT)' if kind == 'gpt' else 'masked LM (BERT)'}")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy on its own targets")
ax.legend()
plt.show()
cfg.say(f"After {MLM_STEPS} steps: causal LM validation loss {objectives['gpt'].val_loss:.2f}, masked LM "
        f"{objectives['bert'].val_loss:.2f} nats. They are not the same task: the masked tokens see context on both "
        "sides, and only 15% of the tokens are predicted, so compare each curve with itself, not with the other.")

# %% [markdown]
# ## 3. FLOPs, tokens per second, MFU
#
# Training costs about 6 FLOPs per parameter per token (2 forward, 4 backward: gradients
# for the inputs and for the weights), plus attention's Q·Kᵀ and A·V, which have no
# parameters: 12·L·T·d per token (forward and backward, full T×T as PaLM counts it).
# MFU is that times tokens/s, over the machine's peak FLOP/s.
#
# **Exercise `training.flops_per_token`** · difficulty 2 · ~15 min. `flops_per_token(model,
# seq_len)` = 6·N + 12·n_layer·seq_len·n_embd, with N every parameter counted once (the
# output head is tied to the embedding: the same tensor). The check compares it with
# `torch.utils.flop_counter.FlopCounterMode` on a real forward and backward.

# %%
def flops_per_token(model, seq_len):
    ### BEGIN SOLUTION
    c = model.config
    n = sum(p.numel() for p in model.parameters())
    return 6 * n + 12 * c.n_layer * seq_len * c.n_embd
    ### END SOLUTION


# %%
flops_per_token = check("training.flops_per_token", flops_per_token)

# %% [markdown]
# The peak: a GPU's comes from its datasheet (an H100 does 989 dense bf16 TFLOP/s). A CPU
# has no honest per-process datasheet number, so we **measure** it: the rate of a large
# matrix multiply with the threads torch uses, in each precision.

# %%
from llmcourse.training import peak_flops

gpt_res = objectives["gpt"]
peaks = {p: peak_flops("cpu" if cfg.device == "cpu" else cfg.device, p) for p in ("fp32", "bf16")}
for p, (value, how) in peaks.items():
    print(f"{p}: {value / 1e9:8.1f} GFLOP/s  ({how})")
my_fpt = flops_per_token(gpt_res.model, BLOCK)
my_mfu = my_fpt * gpt_res.tokens_per_s / peaks["fp32"][0]
reliable, why = cfg.timing_is_reliable()
cfg.say(f"The GPT run: {gpt_res.tokens_per_s:,.0f} tokens/s × {my_fpt / 1e6:.2f} MFLOP/token = "
        f"{my_fpt * gpt_res.tokens_per_s / 1e9:.2f} GFLOP/s, an MFU of {my_mfu:.1%} of the measured fp32 peak. "
        "The rest of the time goes to work the FLOP count leaves out (the optimizer, norms, softmax, Python), "
        "which weighs more the smaller the model." + ("" if reliable else f" ({why})"))

# %% [markdown]
# ## 4. `llmcourse pretrain`, killed and resumed
#
# The command writes `metrics.jsonl` (one line per step: loss, lr, tokens/s, MFU) and,
# every `--ckpt-every` steps, a checkpoint with *everything* the next step depends on:
# weights, Adam's moments, the schedule, which batch comes next, and every random
# generator's state. A checkpoint is written under a temporary name, flushed, and renamed:
# a crash leaves the old file or the new one, never half of one.
#
# **Exercise `training.atomic_save`** · difficulty 2 · ~15 min. `atomic_save(state, path)`:
# `torch.save` into a temporary file in the same folder, `fsync`, `os.replace` onto `path`;
# remove the temporary file if anything fails. The check simulates a crash in the middle
# of `torch.save`: the old checkpoint must still load, and no temporary file may remain.

# %%
def atomic_save(state, path):
    ### BEGIN SOLUTION
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
    ### END SOLUTION


# %%
atomic_save = check("training.atomic_save", atomic_save)

# %% [markdown]
# Now the real thing. Once straight through (in this process: the command runs the same
# `pretrain` function); once as the command in a separate process, killed
# with `kill -9` (no chance to clean up, like a power cut or the out-of-memory killer) after
# a few steps, then run again with `--resume`. The resumed run must log, at every step
# after the checkpoint, *exactly* the loss of the run that was never interrupted.

# %%
env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
cmd = [sys.executable, "-m", "llmcourse.cli", "pretrain", "--model", "gpt", "--preset", "smoke", "--data",
       str(shards.folder), "--max-steps", str(CLI_STEPS), "--ckpt-every", "4", "--no-progress"]
print("$ llmcourse", " ".join(cmd[4:]), "--out DIR")
# the uninterrupted run: the same code in this process (the command calls exactly this function)
pretrain(make_config("smoke", "gpt", data=str(shards.folder), steps=CLI_STEPS, ckpt_every=4, progress=False),
         work / "straight", say=lambda *_: None)
proc = subprocess.Popen(cmd + ["--out", str(work / "killed")], env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
metrics_file = work / "killed" / "metrics.jsonl"
while not (metrics_file.is_file() and len(metrics_file.read_text().splitlines()) >= 6):
    time.sleep(0.02)
os.kill(proc.pid, signal.SIGKILL)
proc.wait()
logged_before_kill = len(metrics_file.read_text().splitlines())
print(f"killed with SIGKILL after step {logged_before_kill}; checkpoints on disk:",
      sorted(p.name for p in (work / "killed").glob("step_*.pt")))
out = subprocess.run(cmd + ["--out", str(work / "killed"), "--resume"], env=env, capture_output=True, text=True)
print(out.stdout.strip().splitlines()[0])


def losses(run):
    return [json.loads(line)["loss"] for line in (work / run / "metrics.jsonl").read_text().splitlines()]


straight, resumed = losses("straight"), losses("killed")
resume_exact = straight == resumed
assert resume_exact, "the resumed run drifted from the uninterrupted one"
print(f"{'step':>4s} {'uninterrupted':>14s} {'killed + resumed':>17s}")
for i in range(CLI_STEPS):
    print(f"{i + 1:4d} {straight[i]:14.6f} {resumed[i]:17.6f}" + ("  <- after the kill" if i + 1 > 4 * (
        logged_before_kill // 4) and i == 4 * (logged_before_kill // 4) else ""))
cfg.say(f"All {CLI_STEPS} losses of the killed-and-resumed run equal the uninterrupted run's, bit for bit.")

# %% [markdown]
# ## 5. Pre-training the course GPT
#
# The main run: the course GPT (Llama-style: RMSNorm, RoPE, SwiGLU, grouped-query
# attention) on the shards, with warmup + cosine decay, gradient clipping, validation every
# so often and a checkpoint every `CKPT_EVERY` steps (all kept: week 7 ranks them).

# %%
config = make_config(PRESET, "gpt", data=str(shards.folder), block_size=BLOCK, steps=STEPS, ckpt_every=CKPT_EVERY,
                     eval_every=CKPT_EVERY, keep_checkpoints=10_000)
run_dir = work / "course-gpt"
result = pretrain(config, run_dir)
rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].plot([r["step"] for r in rows], [r["loss"] for r in rows], alpha=0.5, label="train (per step)")
val_rows = [r for r in rows if "val_loss" in r]
axes[0].plot([r["step"] for r in val_rows], [r["val_loss"] for r in val_rows], "s-", label="validation")
axes[0].set_xlabel("step")
axes[0].set_ylabel("loss")
axes[0].legend()
axes[1].plot([r["step"] for r in rows], [r["lr"] for r in rows])
axes[1].set_title("learning rate: warmup, then cosine")
plt.tight_layout()
plt.show()

# %% [markdown]
# How does it compare with the 3.1 model? Both evaluated on the same validation windows of
# the shards (when they share the tokenizer), and a sample from each.

# %%
from llmcourse.data import TokenShardDataset
from llmcourse.inference.sampling import sample_next  # noqa: F401  (the one sampler, used by generate)

val = TokenShardDataset(shards.folder, BLOCK, "val")
n_val = min(len(val), cfg.pick(smoke=16, laptop=128))
vx = torch.stack([val[i][0] for i in range(n_val)])
vy = torch.stack([val[i][1] for i in range(n_val)])


@torch.no_grad()
def val_loss(model):
    model.eval()
    return float(np.mean([model(vx[i:i + 8], vy[i:i + 8])[1].item() for i in range(0, n_val, 8)]))


pretrained = result.model.eval()
ours_val = val_loss(pretrained)
before_val = val_loss(earlier["model"]) if same_tokenizer and earlier["model"].config.block_size >= BLOCK else None
prompt = torch.tensor([tok.encode("To be, or not to be", allowed_special="all")])
torch.manual_seed(0)
for name, m in (("3.1 model", earlier["model"]), ("pre-trained", pretrained)):
    out_ids = m.eval().generate(prompt, max_new_tokens=40, temperature=0.8, top_k=50)
    print(f"{name:12s}: {tok.decode(out_ids[0].tolist())!r}")
cfg.say(f"Validation loss on the shards: pre-trained course GPT {ours_val:.3f}" +
        (f", the 3.1 model {before_val:.3f}." if before_val is not None else
         " (the 3.1 model uses another tokenizer or a shorter context, so its loss is not comparable here)."))

# %% [markdown]
# Tokens/s and MFU of the main run, from `metrics.jsonl` (MFU there uses the library's
# FLOP count; yours gives the same number if it passed):

# %%
steady = rows[len(rows) // 5:]
tps = float(np.mean([r["tokens_per_s"] for r in steady]))
mfu_run = float(np.mean([r["mfu"] for r in steady]))
mfu_mine = flops_per_token(pretrained, BLOCK) * tps / peaks["fp32"][0]
print(f"tokens/s {tps:,.0f}   MFU (library) {mfu_run:.2%}   MFU (your FLOP count) {mfu_mine:.2%}   peak: {result.peak}")

# %% [markdown]
# ## 6. Saving the pre-trained model and its checkpoints
#
# Weeks 5-8 load `course-gpt-pretrained`; week 7's lite-eval ranks the checkpoints saved
# along the run (`pretrain-checkpoints`: one GPT per checkpoint plus the list of steps).
# The last checkpoint is also written with **your** `atomic_save` and read back safely
# (`weights_only=True`: tensors and plain containers, no code).

# %%
from llmcourse.models.gpt import GPT
from llmcourse.training import checkpoint_files

ckpts = {}
for path in sorted(checkpoint_files(run_dir)):
    state = torch.load(path, weights_only=True)
    m = GPT(pretrained.config)
    m.load_state_dict(state["model"])
    ckpts[f"step_{state['step']:06d}"] = m.eval()
steps_saved = sorted(int(k.split("_")[1]) for k in ckpts)
final_state = torch.load(checkpoint_files(run_dir)[0], weights_only=True)
atomic_save({"model": final_state["model"], "step": final_state["step"]}, work / "final.pt")
reloaded = torch.load(work / "final.pt", weights_only=True)
assert all(torch.equal(reloaded["model"][k], v.detach().cpu()) for k, v in pretrained.state_dict().items())
metrics = {"val_loss": ours_val, "steps": STEPS, "tokens": STEPS * config.batch_size * BLOCK,
           "tokens_per_s": tps, "mfu": mfu_run, "preset": PRESET, "trained_by": "4.3"}
save_artifact("course-gpt-pretrained", {"model": pretrained, "tokenizer": tok, "metrics": metrics}, notebook="4.3",
              about=f"course GPT pre-trained {STEPS} steps on the 4.1 shards", val_loss=ours_val)
save_artifact("pretrain-checkpoints", {**ckpts, "steps": steps_saved}, notebook="4.3",
              about=f"{len(ckpts)} checkpoints along the 4.3 pre-training run")
print(f"saved course-gpt-pretrained and {len(ckpts)} checkpoints at steps {steps_saved}")

# %% [markdown]
# ## 7. Stretch: a better recipe on the same budget
#
# **Exercise `training.pretrain_recipe`** (stretch) · difficulty 3 · ~40 min. Return a recipe
# `{"lr", "warmup", "batch_size", "min_lr_ratio", "weight_decay"}` that trains the smoke-size
# course GPT on 20,480 tokens (steps = tokens / (batch × 64)) to a validation loss of at
# most 4.80; the preset's own recipe reaches about 4.86. Try ideas with
# `recipe_val_loss(recipe)` first: each call trains for a few seconds.

# %%
from llmcourse.training.recipes import recipe_val_loss  # noqa: F401  (your experiments)


def my_recipe():
    ### BEGIN SOLUTION
    return {"lr": 1.5e-2, "warmup": 2, "batch_size": 4, "min_lr_ratio": 0.1, "weight_decay": 0.0}
    ### END SOLUTION


# %%
my_recipe = check("training.pretrain_recipe", my_recipe)

# %% [markdown]
# ## 8. The same code on a cluster: GPT-2 124M on FineWeb-Edu 10B
#
# The `cluster` preset is build-nanogpt's run: GPT-2 124M (12 layers, 12 heads, 768 wide,
# vocabulary padded to 50,304), 2¹⁹ tokens per step (512 sequences of 1,024), 19,073 steps
# = 10B tokens, lr 6e-4 with 715 warmup steps, bf16, `torch.compile`, HellaSwag every
# 250 steps. On 8 GPUs:
#
# ```bash
# llmcourse pretrain-data --source fineweb-edu --tokenizer gpt2 --out /data/edu10B   # streams and tokenises
# torchrun --standalone --nproc_per_node=8 -m llmcourse.training.pretrain \
#     --preset cluster --data /data/edu10B --out runs/gpt2-124m            # add --resume after a crash
# # several nodes: the same on each, with --nnodes=2 --node_rank=$i --rdzv-backend=c10d --rdzv-endpoint=HOST:29500
# ```
#
# On a single GPU the same command with `--nproc_per_node=1` (gradient accumulation makes
# up the batch: 8x the time). `benchmarks/bench_gpu_training.py` measures one step's tokens/s
# and MFU on whatever GPU runs `make gpu-check`.

# %%
cfg.report(mlm_val_loss=objectives["bert"].val_loss, clm_val_loss=objectives["gpt"].val_loss,
           resume_exact=resume_exact, pretrained_val_loss=ours_val,
           before_val_loss=before_val if before_val is not None else -1.0, tokens_per_s=tps, mfu=mfu_run,
           mfu_with_your_flops=mfu_mine, checkpoints_saved=len(ckpts), cpu_peak_gflops_fp32=peaks["fp32"][0] / 1e9,
           cpu_peak_gflops_bf16=peaks["bf16"][0] / 1e9)
