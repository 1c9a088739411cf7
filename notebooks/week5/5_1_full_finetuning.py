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
# # 5.1 Full fine-tuning
#
# Week 4 pre-trained the course GPT on general text: Shakespeare and seven languages of
# Southeast Asia. Now we teach it a **domain**: Python code, the standard library's own
# source. *Full* fine-tuning keeps training every weight, on the new data, from the
# pre-trained starting point. This notebook measures what that buys and what it costs:
#
# * **quality**: perplexity on held-out domain modules, and a **task** — a keyword cloze
#   (a real line of code with one keyword blanked, ten candidates) — before and after;
# * **forgetting**: perplexity on the general text the model knew before;
# * **memory**: weights, gradients, Adam states and activations, by formula and measured;
#   and what gradient checkpointing trades for them;
# * **time** per step, and the same for Gemma 3 270M, a real pre-trained model.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("5.1")

# %% [markdown]
# ## Knobs

# %%
import copy
import math
import time

import matplotlib.pyplot as plt
import torch

DOMAIN_CHARS = cfg.pick(smoke=120_000, laptop=1_500_000, colab=4_000_000)  # stdlib source used (all splits)
BLOCK = cfg.pick(smoke=64, laptop=128, colab=256)  # tokens per training window
BATCH = cfg.pick(smoke=8, laptop=16, colab=32)
STEPS = cfg.pick(smoke=30, laptop=600, colab=1500)  # full fine-tuning steps
LR = cfg.pick(smoke=1e-3, laptop=5e-4, colab=3e-4)
SEEDS = cfg.pick(smoke=[0], laptop=[0, 1, 2])  # the L2-SP comparison: mean ± spread over seeds
CLOZE_ITEMS = cfg.pick(smoke=30, laptop=300, colab=500)
EVAL_TOKENS = cfg.pick(smoke=4_000, laptop=40_000, colab=100_000)  # held-out tokens per perplexity
GEMMA = cfg.pick(smoke="", laptop="gemma-3-270m")  # the real model's section ("": skipped in smoke)
GEMMA_STEPS = cfg.pick(smoke=2, laptop=20, colab=100)
GEMMA_BATCH, GEMMA_BLOCK = cfg.pick(smoke=(1, 32), laptop=(2, 64), colab=(8, 256))
if cfg.device == "cpu":
    torch.set_num_threads(cfg.threads)
device = cfg.device

# %% [markdown]
# ## 1. The domain: the Python standard library, split by module
#
# Every Python installation ships its standard library as `.py` files (PSF License). A
# module is one *document*; we split by document — 80% of modules for training, 10% for
# validation, 10% for test — so the test modules are code the model has never seen, not
# just windows it has not seen of files it trained on. The corpus refuses a training split
# that overlaps the test split.

# %%
from llmcourse.assets.domain_corpus import CLOZE_KEYWORDS, DomainCorpus, DomainOverlapError, cloze_items, domain_corpus

corpus = domain_corpus(DOMAIN_CHARS)
for split in ("train", "val", "test"):
    names = list(getattr(corpus, split))
    print(f"{split:5} {len(names):3} modules {corpus.sizes[split]:>9,} characters   e.g. {', '.join(names[:4])}")
try:  # a leaked test module is refused, not silently trained on
    leaked = next(iter(corpus.test))
    DomainCorpus({**corpus.train, leaked: corpus.test[leaked]}, corpus.val, corpus.test)
except DomainOverlapError as err:
    print(f"\nrefused: {err}")

# %% [markdown]
# ## 2. The model: week 4's pre-trained course GPT
#
# We load the model you pre-trained in 4.3. If it is not there, the course builds a small
# reference one the same way (and says so).

# %%
from llmcourse.assets.artifacts import last_source, load_artifact, save_artifact
from llmcourse.models import reference_pretrained_gpt
from llmcourse.models.course import course_text
from llmcourse.training import get_batch, split_tokens, train

art = load_artifact("course-gpt-pretrained", fallback=reference_pretrained_gpt)
pretrained, tok = art["model"].to(device).eval(), art["tokenizer"]
pretrained.set_attn_impl("sdpa")
print(f"course GPT: {pretrained.num_params():,} parameters, {pretrained.config.n_layer} layers, "
      f"width {pretrained.config.n_embd}, context {pretrained.config.block_size}, vocabulary {tok.vocab_size}")

ids = {s: torch.tensor(tok.encode_ordinary(corpus.text(s))) for s in ("train", "val", "test")}
general_val = split_tokens(torch.tensor(tok.encode_ordinary("\n".join(course_text(40_000).values()))), 0.1)[1]
for s, t in ids.items():
    print(f"{s:5} {len(t):>8,} tokens ({corpus.sizes[s] / len(t):.2f} characters per token)")
print(f"general held-out text (Shakespeare + SEA languages): {len(general_val):,} tokens")

# %% [markdown]
# ## 3. Perplexity on held-out text
#
# Perplexity is exp of the mean next-token loss: "as uncertain as a uniform choice among
# that many tokens". To score every held-out token once, cut the stream into consecutive
# windows of `block_size` (no overlap), run them, and average the loss over **all tokens**
# of all windows before taking the exponential.
#
# **Exercise `finetuning.perplexity`** · difficulty 1 · ~10 min. Write
# `perplexity(model, ids, block_size, batch_size=8)` for the course GPT (`model(x)` returns
# `(logits, loss)`). Checked against torch's cross-entropy on the same windows.

# %%
import torch.nn.functional as F


def perplexity(model, ids, block_size, batch_size=8):
    ### BEGIN SOLUTION
    ids = torch.as_tensor(ids)
    n = (len(ids) - 1) // block_size
    x = ids[: n * block_size].view(n, block_size)  # (n, T) consecutive windows
    y = ids[1: n * block_size + 1].view(n, block_size)  # the next token of every position
    total = 0.0
    with torch.no_grad():
        for s in range(0, n, batch_size):
            logits = model(x[s:s + batch_size].to(next(model.parameters()).device))[0].float().cpu()
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[s:s + batch_size].reshape(-1),
                                     reduction="sum").item()
    return math.exp(total / y.numel())
    ### END SOLUTION


# %%
perplexity = check("finetuning.perplexity", perplexity)

# %% [markdown]
# ### The keyword cloze: a task, not just a loss
#
# Perplexity rewards predicting *every* token. A task asks something specific: in a held-out
# line such as `    ____ isinstance(output, str):`, which of ten Python keywords belongs in
# the blank? The model scores the line completed with each candidate (the log-likelihood of
# the line given the lines before it, per character so that long keywords are not penalised for
# their length) and picks the highest. Chance is 10%.

# %%
from llmcourse.finetuning import cloze_accuracy

items = cloze_items(corpus.test, CLOZE_ITEMS, seed=0)
print(f"{len(items)} cloze items from the test modules, e.g.:")
for it in items[:3]:
    print(f"   {(it.before + '____' + it.after).strip()!r:60}  answer: {it.answer}")


def evaluate(model, label):
    """Domain val/test perplexity, cloze accuracy and general-text perplexity of a model."""
    model.eval()
    row = {"model": label,
           "domain_val_ppl": perplexity(model, ids["val"][:EVAL_TOKENS], BLOCK),
           "domain_test_ppl": perplexity(model, ids["test"][:EVAL_TOKENS], BLOCK),
           "cloze_acc": cloze_accuracy(model, tok, items, CLOZE_KEYWORDS, max_len=pretrained.config.block_size),
           "general_ppl": perplexity(model, general_val[:EVAL_TOKENS], BLOCK)}
    return row


before = evaluate(pretrained, "pre-trained")
print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in before.items()})

# %% [markdown]
# ## 4. What full fine-tuning costs in memory
#
# Training with AdamW in float32 keeps for every parameter its weight (4 bytes), its
# gradient (4) and Adam's two running averages m and v (8): **16 bytes per parameter**
# before a single activation. A 7B-parameter model needs 112 GB for that alone — the reason
# the next notebook exists.
#
# **Exercise `finetuning.memory_formula`** · difficulty 1 · ~10 min. Write
# `memory_formula(n_params, n_trainable)` returning a dict of bytes with keys `weights`,
# `gradients`, `adam`, `total` (float32, AdamW). Checked against the tensors a real AdamW
# step allocates.

# %%
def memory_formula(n_params, n_trainable):
    ### BEGIN SOLUTION
    weights = 4.0 * n_params  # float32 weights, trained or frozen
    gradients = 4.0 * n_trainable  # only trained parameters get a .grad
    adam = 8.0 * n_trainable  # m and v per trained parameter
    return {"weights": weights, "gradients": gradients, "adam": adam, "total": weights + gradients + adam}
    ### END SOLUTION


# %%
memory_formula = check("finetuning.memory_formula", memory_formula)

# %% [markdown]
# Now measure one training step. On a GPU, `torch.cuda.max_memory_allocated` would tell;
# on a CPU, `PeakMemory` watches every tensor operation and keeps the high-water mark of
# the bytes alive. Activations have their own formula (`gpt_activation_bytes` counts what
# each layer keeps for the backward pass: norms, q/k/v, attention probabilities, the MLP's
# four hidden tensors, the logits).

# %%
from llmcourse.finetuning import (disable_gradient_checkpointing, enable_gradient_checkpointing,
                                  gpt_activation_bytes, measure_step, trainable_parameters)
from llmcourse.training import make_optimizer

ok, why = cfg.timing_is_reliable()
if not ok:
    print(f"note: {why}")


def one_step_cost(model, batch, checkpointing=False):
    """Measured memory and time of one full fine-tuning step (a fresh AdamW)."""
    (enable_gradient_checkpointing if checkpointing else disable_gradient_checkpointing)(model)
    model.train()
    opt = make_optimizer(model, 1e-9)  # a learning rate of ~0 leaves the weights as they are

    def step():
        opt.zero_grad(set_to_none=True)
        model(*batch)[1].backward()
        opt.step()
    cost = measure_step(model, step, opt, timed_steps=2, device=device)
    disable_gradient_checkpointing(model)
    return cost


probe = copy.deepcopy(pretrained)
g = torch.Generator().manual_seed(0)
batch = get_batch(ids["train"], BLOCK, BATCH, g, device=device)
n_train, n_all = trainable_parameters(probe)
formula = memory_formula(n_all, n_train)
act = gpt_activation_bytes(probe.config, BATCH, BLOCK)
cost = one_step_cost(probe, batch)
MB = 1e6  # decimal megabytes, as the rest of the course
print(f"{'':28}{'formula':>10}{'measured':>10}")
print(f"{'weights':28}{formula['weights'] / MB:>9.2f}M{cost.weights / MB:>9.2f}M")
print(f"{'Adam states (m, v)':28}{formula['adam'] / MB:>9.2f}M{cost.optimizer / MB:>9.2f}M")
print(f"{'gradients + activations':28}{(formula['gradients'] + act) / MB:>9.2f}M"
      f"{(cost.step_peak - cost.optimizer) / MB:>9.2f}M   (step high-water mark less the Adam states)")
print(f"{'peak':28}{(formula['total'] + act) / MB:>9.2f}M{cost.peak / MB:>9.2f}M")
peak_ratio = cost.peak / (formula["total"] + act)
cfg.say(f"The measured peak is {peak_ratio:.2f}x the formula's (weights + gradients + Adam + activations): "
        f"{cost.peak / MB:.1f} MB against {(formula['total'] + act) / MB:.1f} MB. One step takes "
        f"{cost.seconds * 1000:.0f} ms here.")

# %% [markdown]
# ### Gradient checkpointing
#
# Activations grow with batch x length x layers. *Gradient checkpointing* keeps only each
# block's input in the forward pass and recomputes the block during the backward pass:
# activation memory of one block instead of all of them, for roughly one more forward pass.

# %%
rows = []
for ckpt in (False, True):
    c = one_step_cost(probe, batch, checkpointing=ckpt)
    rows.append(c)
    print(f"checkpointing {'on ' if ckpt else 'off'}: step high-water mark {c.step_peak / MB:7.2f} MB, "
          f"activation formula {gpt_activation_bytes(probe.config, BATCH, BLOCK, checkpointing=ckpt) / MB:6.2f} MB, "
          f"{c.seconds * 1000:6.0f} ms/step")
ckpt_mem_ratio = rows[1].step_peak / rows[0].step_peak
ckpt_time_ratio = rows[1].seconds / rows[0].seconds
cfg.say(f"Checkpointing changes the step's memory by {ckpt_mem_ratio:.2f}x and its time by {ckpt_time_ratio:.2f}x"
        + (" (timings unreliable on a busy machine)." if not ok else "."))
del probe

# %% [markdown]
# ## 5. Full fine-tuning on the domain
#
# The course's training loop, every weight trainable, on random windows of the training
# modules. Watch the validation loss (held-out modules) fall.

# %%
def finetune(loss_fn=None, seed=0, steps=STEPS, progress=True):
    """A copy of the pre-trained model fully fine-tuned on the domain: (model, history)."""
    model = copy.deepcopy(pretrained).train()
    torch.manual_seed(seed)
    g_train, g_val = torch.Generator().manual_seed(seed + 1), torch.Generator().manual_seed(seed + 2)
    kwargs = {"loss_fn": loss_fn(model)} if loss_fn else {}
    history = train(model, lambda: get_batch(ids["train"], BLOCK, BATCH, g_train, device=device), steps=steps,
                    lr=LR, val_batch=lambda: get_batch(ids["val"], BLOCK, BATCH, g_val, device=device),
                    eval_every=max(1, steps // 5), eval_batches=4, warmup=max(1, steps // 10), progress=progress,
                    desc=f"full FT seed {seed}", **kwargs)
    return model.eval(), history


finetuned, history = finetune()
history.plot(label="full FT")
plt.title("full fine-tuning of the course GPT on stdlib code")
plt.show()
after = evaluate(finetuned, "fully fine-tuned")

# %%
print(f"{'':18}{'domain val ppl':>15}{'domain test ppl':>16}{'cloze acc':>10}{'general ppl':>12}")
for row in (before, after):
    print(f"{row['model']:18}{row['domain_val_ppl']:>15.2f}{row['domain_test_ppl']:>16.2f}{row['cloze_acc']:>10.3f}"
          f"{row['general_ppl']:>12.2f}")
forgetting = after["general_ppl"] / before["general_ppl"]
cfg.say(f"Fine-tuning took the held-out domain perplexity from {before['domain_test_ppl']:.1f} to "
        f"{after['domain_test_ppl']:.1f} and the keyword cloze from {before['cloze_acc']:.0%} to "
        f"{after['cloze_acc']:.0%} (chance: 10%). On general text the perplexity went from "
        f"{before['general_ppl']:.1f} to {after['general_ppl']:.1f} ({forgetting:.2f}x): "
        + ("that is catastrophic forgetting." if forgetting > 1.05 else "little forgetting at this budget."))

# %% [markdown]
# ## 6. Stretch: a brake on forgetting (L2-SP)
#
# Plain weight decay pulls weights towards zero. L2-SP pulls them towards where they
# started, θ0, the pre-trained weights: loss + (alpha / 2) Σ ||θ - θ0||². The model may
# still move where the domain needs it, but every step away costs.
#
# **Exercise `finetuning.l2sp_penalty`** · difficulty 3 · ~25 min (stretch). Write
# `l2sp_penalty(model, reference, alpha)` over the *trainable* parameters (`reference` maps
# names to θ0). Then, open-ended: choose `ALPHA` so that forgetting drops while the domain
# perplexity stays close to plain fine-tuning's. The comparison below runs both with the same
# budget (and, in the laptop profile, three seeds).

# %%
def l2sp_penalty(model, reference, alpha):
    ### BEGIN SOLUTION
    total = 0.0
    for name, p in model.named_parameters():
        if p.requires_grad:
            total = total + (p - reference[name]).pow(2).sum()
    return 0.5 * alpha * total
    ### END SOLUTION


# %%
l2sp_penalty = check("finetuning.l2sp_penalty", l2sp_penalty)

# %%
from llmcourse.finetuning import l2sp_loss_fn, snapshot
from llmcourse.training.loop import default_loss

ALPHA = cfg.pick(smoke=1.0, laptop=0.5)
results = {"plain": [], "L2-SP": []}
for seed in SEEDS:
    for name in results:
        make_loss = (lambda m: l2sp_loss_fn(default_loss, snapshot(m), ALPHA, penalty=l2sp_penalty)) \
            if name == "L2-SP" else None
        model, _ = (finetuned, None) if (name == "plain" and seed == 0) else finetune(make_loss, seed, progress=False)
        results[name].append((perplexity(model, ids["test"][:EVAL_TOKENS], BLOCK),
                              perplexity(model, general_val[:EVAL_TOKENS], BLOCK)))


def mean_spread(values):
    t = torch.tensor(values)
    return t.mean().item(), (t.std().item() if len(values) > 1 else 0.0)


print(f"{'':8}{'domain test ppl':>22}{'general ppl':>22}   ({len(SEEDS)} seed(s), {STEPS} steps each)")
summary = {}
for name, vals in results.items():
    d, gen = mean_spread([v[0] for v in vals]), mean_spread([v[1] for v in vals])
    summary[name] = (d, gen)
    print(f"{name:8}{d[0]:>14.2f} ± {d[1]:<5.2f}{gen[0]:>14.2f} ± {gen[1]:<5.2f}")
cfg.say(f"With alpha = {ALPHA}, L2-SP ends at general-text perplexity {summary['L2-SP'][1][0]:.2f} against "
        f"{summary['plain'][1][0]:.2f} for plain fine-tuning, and domain perplexity {summary['L2-SP'][0][0]:.2f} "
        f"against {summary['plain'][0][0]:.2f}.")

# %% [markdown]
# ## 7. The same on a real model: Gemma 3 270M
#
# Gemma 3 270M (offline, from the course's PyPI copy) has 268M parameters, 170M of them in
# its 262k-token embedding. Full fine-tuning in float32 needs 16 bytes per parameter —
# about 4.3 GB before activations — and each step updates all of them. It knows Python
# already, so the question is how much a few steps on the standard library still move it.
# (Laptop and Colab profiles; the smoke profile skips it.)

# %%
gemma_rows = []
if GEMMA:
    from llmcourse.assets import load_lm
    from llmcourse.finetuning import PeakMemory, perplexity as lm_perplexity
    from llmcourse.finetuning.memory import tensor_bytes

    gemma, gtok = load_lm(GEMMA, device=device)
    g_ids = {s: torch.tensor(gtok(corpus.text(s)[:DOMAIN_CHARS // 4], add_special_tokens=False)["input_ids"])
             for s in ("train", "test")}
    g_general = torch.tensor(gtok("\n".join(course_text(20_000).values()), add_special_tokens=False)["input_ids"])
    g_eval = cfg.pick(smoke=256, laptop=2048)

    def gemma_eval(model, label):
        return {"model": label, "domain_test_ppl": lm_perplexity(model, g_ids["test"][:g_eval], GEMMA_BLOCK, 4),
                "general_ppl": lm_perplexity(model, g_general[:g_eval], GEMMA_BLOCK, 4)}

    gemma_rows.append(gemma_eval(gemma, "Gemma 3 270M"))
    n_g = sum(p.numel() for p in gemma.parameters())
    g_formula = memory_formula(n_g, n_g)
    opt = torch.optim.AdamW(gemma.parameters(), lr=1e-5, weight_decay=0.0)
    gg = torch.Generator().manual_seed(0)
    costs = {}
    gemma.train()
    for ckpt in (False, True):
        (gemma.gradient_checkpointing_enable if ckpt else gemma.gradient_checkpointing_disable)()
        x, y = get_batch(g_ids["train"], GEMMA_BLOCK, GEMMA_BATCH, gg, device=device)
        # measured with a fresh optimizer of learning rate 0: both settings allocate Adam's
        # states inside the step, and measuring moves no weight before the fine-tuning below
        probe_opt = torch.optim.AdamW(gemma.parameters(), lr=0.0, weight_decay=0.0)

        def gemma_step():
            probe_opt.zero_grad(set_to_none=True)
            gemma(input_ids=x, labels=x).loss.backward()
            probe_opt.step()
        costs[ckpt] = measure_step(gemma, gemma_step, probe_opt, timed_steps=1, device=device)
        del probe_opt
    gemma.gradient_checkpointing_disable()
    for ckpt, c in costs.items():
        print(f"Gemma, checkpointing {'on ' if ckpt else 'off'}: weights {c.weights / 1e9:.2f} GB + step high-water "
              f"mark {c.step_peak / 1e9:.2f} GB (Adam's states included), {c.seconds:.1f} s/step")
    print(f"formula: weights {g_formula['weights'] / 1e9:.2f} GB, gradients {g_formula['gradients'] / 1e9:.2f} GB, "
          f"Adam {g_formula['adam'] / 1e9:.2f} GB")
    hist = train(gemma, lambda: get_batch(g_ids["train"], GEMMA_BLOCK, GEMMA_BATCH, gg, device=device),
                 steps=GEMMA_STEPS, lr=1e-5, optimizer=opt, eval_every=GEMMA_STEPS, eval_batches=1,
                 loss_fn=lambda m, b: m(input_ids=b[0], labels=b[0]).loss, desc="Gemma full FT")
    gemma.eval()
    gemma_rows.append(gemma_eval(gemma, f"+ {GEMMA_STEPS} steps"))
    for r in gemma_rows:
        print(f"{r['model']:16} domain test ppl {r['domain_test_ppl']:8.2f}   general ppl {r['general_ppl']:8.2f}")
    cfg.say(f"{GEMMA_STEPS} full fine-tuning steps moved Gemma's domain perplexity from "
            f"{gemma_rows[0]['domain_test_ppl']:.2f} to {gemma_rows[1]['domain_test_ppl']:.2f} and its general-text "
            f"perplexity from {gemma_rows[0]['general_ppl']:.2f} to {gemma_rows[1]['general_ppl']:.2f}; one step "
            f"held {(costs[False].peak) / 1e9:.1f} GB at its peak ({costs[True].peak / 1e9:.1f} GB with "
            f"checkpointing).")
    del gemma, opt
else:
    print("smoke profile: the Gemma 3 270M section runs in the laptop and Colab profiles")

# %% [markdown]
# ## 8. Save the fine-tuned model
#
# `course-gpt-finetuned` is the fully fine-tuned course GPT; the next notebook compares
# parameter-efficient methods against it.

# %%
save_artifact("course-gpt-finetuned", {"model": finetuned.cpu(), "tokenizer": tok,
                                       "metrics": {k: v for k, v in after.items() if k != "model"}},
              notebook="5.1", about="course GPT fully fine-tuned on Python stdlib code", steps=STEPS)
cfg.report(domain_ppl_before=before["domain_test_ppl"], domain_ppl_after=after["domain_test_ppl"],
           cloze_before=before["cloze_acc"], cloze_after=after["cloze_acc"],
           general_ppl_before=before["general_ppl"], general_ppl_after=after["general_ppl"],
           memory_peak_over_formula=peak_ratio, checkpointing_memory_ratio=ckpt_mem_ratio,
           domain_improved=after["domain_test_ppl"] < before["domain_test_ppl"],
           base_model=last_source("course-gpt-pretrained"))

# %% [markdown]
# ## What to take away
#
# * Full fine-tuning moves every weight: the domain gets much better quickly, and what the
#   model knew before can pay for it (compare the general-text column above).
# * Its memory is dominated by 16 bytes per parameter (weights, gradients, Adam) plus
#   activations; checkpointing trades activation memory for recomputation.
# * Next (5.2): train a tiny fraction of the weights instead — LoRA, QLoRA, adapters,
#   prompt tuning — and compare them with this notebook's numbers.
