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
# # 8.2 RLHF fundamentals: rewards, PPO from scratch, and trl's GRPO/RLOO
#
# Supervised fine-tuning shows a model *what* to write. Reinforcement learning tells it *how
# good* what it wrote was, and lets it find better text on its own. This notebook aligns your
# course GPT to one goal: **write in the language the prompt asks for** ("Thai:" -> Thai).
#
# 1. **Rewards.** A *verifiable* reward (a language identifier's probability of the requested
#    language) and a *learned* one: a Bradley-Terry reward model trained on preference pairs,
#    its held-out accuracy, and what happens when a policy optimises it too hard (reward hacking).
# 2. **PPO from scratch** (exercises: GAE, the clipped objective, the k3 KL estimate, and a
#    bandit as the stretch): rollouts through the course sampler, a value head, per-token KL to a
#    frozen reference with an adaptive coefficient, minibatch epochs.
# 3. **The same task with trl's GRPO and RLOO** on the same model: reward curves, KL, samples
#    before and after, time, side by side.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("8.2")

# %% [markdown]
# ## Knobs

# %%
PPO_STEPS = cfg.pick(smoke=4, laptop=120)
BATCH = cfg.pick(smoke=8, laptop=32)  # responses per step, for PPO, GRPO and RLOO alike
RESPONSE_LEN = cfg.pick(smoke=8, laptop=16)  # tokens per response
GROUP = 4  # GRPO/RLOO: responses per prompt
LR = cfg.pick(smoke=3e-4, laptop=3e-4)
SEEDS = cfg.pick(smoke=[0], laptop=[0, 1, 2])
RM_PAIRS = cfg.pick(smoke=64, laptop=1200)
RM_STEPS = cfg.pick(smoke=10, laptop=300)
HACK_STEPS = cfg.pick(smoke=3, laptop=120)

# %%
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

# %% [markdown]
# ## 1. The policy and the task
#
# The policy is your model: the instruction-tuned course GPT of week 5 when you made it,
# otherwise the pre-trained one of week 4 (or the reference build of either).

# %%
from llmcourse.assets.artifacts import load_artifact
from llmcourse.models.course import reference_pretrained_gpt

try:
    from llmcourse.finetuning import reference_sft_gpt  # week 5
except ImportError:
    reference_sft_gpt = None
if reference_sft_gpt is not None:
    art = load_artifact("course-gpt-sft", fallback=reference_sft_gpt)
    start_name = "course-gpt-sft"
else:
    art = load_artifact("course-gpt-pretrained", fallback=reference_pretrained_gpt)
    start_name = "course-gpt-pretrained"
base_gpt, tok = art["model"], art["tokenizer"]
base_gpt.eval()
print(f"policy starts from {start_name}: {sum(p.numel() for p in base_gpt.parameters()):,} parameters")

# %% [markdown]
# The prompts name a language; the **verifiable reward** is the probability that langid.py
# (restricted to the five languages of the task) gives that language for the response. No
# human, no reward model: it can be checked, so it cannot be fooled by style. On real text it
# does what it should:

# %%
from llmcourse.alignment import TASK_LANGS, language_prompts, language_reward, true_quality
from llmcourse.assets.multilingual import multilingual_sample

prompts = language_prompts()
print("prompts:", [p for p, _ in prompts])
for code in TASK_LANGS:
    sample = multilingual_sample(code, 60, seed=1)
    print(f"{code}: reward {language_reward([sample], [code])[0]:.2f} for its own text, "
          f"{language_reward([sample], ['en' if code != 'en' else 'th'])[0]:.2f} when another language was asked: "
          f"{sample[:40]!r}")

# %% [markdown]
# ## 2. PPO, piece by piece
#
# **Exercise `ppo.gae`** · difficulty 2 · ~20 min. Generalised advantage estimation. Rewards and
# values are (B, T); the episode ends after T, so V_T = 0. Going backwards,
# `delta_t = r_t + gamma V_{t+1} - V_t` and `A_t = delta_t + gamma lam A_{t+1}`. Return
# `(advantages, returns)` with `returns = advantages + values`.

# %%
def compute_gae(rewards, values, gamma=1.0, lam=0.95):
    ### BEGIN SOLUTION
    values = values.detach()
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    next_value = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        adv[:, t] = running
        next_value = values[:, t]
    return adv, adv + values
    ### END SOLUTION


# %%
compute_gae = check("ppo.gae", compute_gae)

# %% [markdown]
# **Exercise `ppo.clipped_surrogate`** · difficulty 2 · ~15 min. PPO's policy loss: with
# `ratio = exp(logp - old_logp)`, return `-mean(min(ratio * A, clip(ratio, 1 - clip, 1 + clip) * A))`.
# The `min` is the point: once a token's probability moved more than `clip` in the direction
# the advantage wants, its gradient is zero, so one batch cannot push the policy far.

# %%
def clipped_surrogate(logp, old_logp, advantages, clip=0.2):
    ### BEGIN SOLUTION
    ratio = torch.exp(logp - old_logp)
    return -torch.minimum(ratio * advantages, torch.clamp(ratio, 1 - clip, 1 + clip) * advantages).mean()
    ### END SOLUTION


# %%
clipped_surrogate = check("ppo.clipped_surrogate", clipped_surrogate)

# %% [markdown]
# **Exercise `ppo.kl_k3`** · difficulty 1 · ~10 min. From samples of the policy, the KL to the
# reference can be estimated per token. With `r = pi_ref(x) / pi(x)`, `k1 = -log r` is unbiased but
# noisy and can be negative; `k3 = (r - 1) - log r` is unbiased *and* never negative (GRPO uses
# it). Write `kl_k3(logp, ref_logp)`.

# %%
def kl_k3(logp, ref_logp):
    ### BEGIN SOLUTION
    log_r = ref_logp - logp
    return torch.exp(log_r) - 1 - log_r
    ### END SOLUTION


# %%
kl_k3 = check("ppo.kl_k3", kl_k3)

# %% [markdown]
# **Exercise `ppo.bandit`** · difficulty 3 · ~40 min (stretch). The smallest RL problem: K slot
# machines with unknown payouts, an episode is one pull. Write `solve_bandit(payouts, steps,
# seed)` that learns a policy (a vector of K logits) with PPO — sample a batch of arms, reward
# them (add noise: `payouts[a] + 0.1 * N(0, 1)`), advantages relative to the batch, a few epochs
# of the clipped objective — and returns the final arm probabilities. After 60 steps the best
# arm must have more than 90 % of the probability. (Hint: `PPOTrainer` with a one-token "language
# model" is one way; a dozen lines of torch is another.)

# %%
def solve_bandit(payouts, steps=60, seed=0):
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    logits = torch.zeros(len(payouts), requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.05)
    for _ in range(steps):
        with torch.no_grad():
            probs = torch.softmax(logits, 0)
            arms = torch.multinomial(probs, 32, replacement=True)
            old_logp = torch.log(probs[arms])
            rewards = torch.tensor([payouts[a] + 0.1 * rng.standard_normal() for a in arms.tolist()])
            adv = (rewards - rewards.mean()) / (rewards.std() + 1e-8)
        for _ in range(4):
            logp = torch.log_softmax(logits, 0)[arms]
            loss = clipped_surrogate(logp, old_logp, adv, 0.2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return torch.softmax(logits.detach(), 0).numpy()
    ### END SOLUTION


# %%
solve_bandit = check("ppo.bandit", solve_bandit)
probs = solve_bandit([0.1, 0.3, 0.9, 0.5, 0.2], 60, 0)
plt.figure(figsize=(4, 2.5))
plt.bar(range(5), probs)
plt.xticks(range(5), ["0.1", "0.3", "0.9", "0.5", "0.2"])
plt.xlabel("arm (mean payout)")
plt.ylabel("probability after 60 steps")
plt.show()

# %% [markdown]
# ## 3. PPO on the course GPT
#
# `PPOTrainer` puts the pieces together (your `compute_gae` and `clipped_surrogate` are plugged
# in): rollouts of `RESPONSE_LEN` tokens through the course sampler, a value head on the last
# hidden state, the per-token reward `-beta (log pi - log pi_ref)` plus the language reward at
# the last token, GAE, and 4 epochs of minibatches. beta adapts towards a target KL.

# %%
from llmcourse.alignment import PPOConfig, PPOTrainer, kl_k1


def ppo_run(reward_fn, steps, seed, init_kl=0.02, target_kl=2.0, desc="PPO"):
    torch.manual_seed(seed)
    policy = copy.deepcopy(base_gpt)
    config = PPOConfig(batch_size=BATCH, response_len=RESPONSE_LEN, minibatch_size=max(4, BATCH // 2), lr=LR,
                       init_kl_coef=init_kl, target_kl=target_kl, seed=seed)
    trainer = PPOTrainer(policy, tok, reward_fn, prompts, config, gae_fn=compute_gae, surrogate_fn=clipped_surrogate)
    trainer.train(steps, progress=not cfg.smoke, desc=desc)
    return policy, trainer


@torch.no_grad()
def samples_and_scores(trainer, n_per_lang=4, seed=123):
    """Greedy-free samples (temperature 1) for every language; their verifiable reward and k1/k3 KL."""
    g = torch.Generator().manual_seed(seed)
    texts = [p for p, _ in prompts for _ in range(n_per_lang)]
    langs = [l for _, l in prompts for _ in range(n_per_lang)]
    ids, mask, P = trainer.generate(texts, generator=g)
    responses = trainer.decode(ids, P)
    from llmcourse.alignment import forward_lm, response_logprobs

    logp = response_logprobs(forward_lm(trainer.policy.lm, "gpt", ids, mask)[0], ids, P)
    ref = response_logprobs(forward_lm(base_gpt, "gpt", ids, mask)[0], ids, P)
    return {"responses": responses, "langs": langs, "reward": float(np.mean(language_reward(responses, langs))),
            "quality": float(np.mean(true_quality(responses, langs))),
            "kl_k1": float(kl_k1(logp, ref).sum(1).mean()), "kl_k3": float(kl_k3(logp, ref).sum(1).mean())}


before_trainer = PPOTrainer(copy.deepcopy(base_gpt), tok, language_reward,
                            prompts, PPOConfig(batch_size=BATCH, response_len=RESPONSE_LEN))
before = samples_and_scores(before_trainer)
ppo_runs = [ppo_run(lambda t, m: language_reward(t, m), PPO_STEPS, seed) for seed in SEEDS]
aligned_gpt, ppo_trainer = ppo_runs[0]
after = samples_and_scores(ppo_trainer)
print(f"verifiable reward: {before['reward']:.3f} before -> {after['reward']:.3f} after PPO "
      f"(KL to the start: k1 {after['kl_k1']:.3f}, k3 {after['kl_k3']:.3f} nats per response)")
for (p, l), b, a in list(zip([(p, l) for p, l in prompts for _ in range(4)], before["responses"], after["responses"]))[::4]:
    print(f"{p:>12s} before: {b!r:40.40s} after: {a!r:40.40s}")
betas, target = ppo_trainer.history.series("beta"), ppo_trainer.cfg.target_kl
kl_times = after["kl_k1"] / target
cfg.say(f"The policy ends {after['kl_k1']:.1f} nats per response (k1) from where it started, {kl_times:.1f} times the "
        f"target of {target}; the adaptive coefficient beta went from {betas[0]:.3f} to {betas[-1]:.3f} in "
        f"{len(betas)} steps. " + ("The controller moves beta by at most 20 % per horizon of "
        f"{ppo_trainer.cfg.kl_horizon} responses, too slowly to hold the reward's pull: read the samples above with "
        "that distance in mind." if kl_times > 1.5 else "The leash held."))

# %% [markdown]
# ## 4. A learned reward: Bradley-Terry, and how it gets hacked
#
# Most things we want are not verifiable. Then a **reward model** learns them from comparisons:
# for a prompt, a person preferred response A over B. Bradley-Terry says
# `P(A > B) = sigmoid(r(A) - r(B))`; training maximises the log of that over the pairs. Here the
# pairs are real snippets: one in the requested language (chosen), one in another (rejected).
# The model is the course's one `RewardModel` (week 5 trains it on its own preferences): a copy
# of the course GPT's trunk with a scalar head on the last token, trained by the same
# `train_reward_model`. Here it reads plain text, prompt + response, as PPO will hand it over.

# %%
from llmcourse.alignment import RewardModel, language_preference_pairs, reward_accuracy, train_reward_model

pairs = language_preference_pairs(RM_PAIRS, seed=0)
held_pairs = language_preference_pairs(cfg.pick(smoke=32, laptop=300), seed=1)
torch.manual_seed(0)
rm = RewardModel(copy.deepcopy(base_gpt))
rm_acc_before = reward_accuracy(rm, tok, held_pairs)
rm_history, rm_acc = train_reward_model(rm, tok, pairs, RM_STEPS, lr=3e-4, val_pairs=held_pairs,
                                        progress=not cfg.smoke)
rm_losses = rm_history.train_loss
print(f"reward model: Bradley-Terry loss {rm_losses[0]:.3f} -> {rm_losses[-1]:.3f}; held-out pair accuracy "
      f"{rm_acc_before:.1%} untrained -> {rm_acc:.1%}")


# %% [markdown]
# Now optimise the reward model instead of the verifiable reward, with almost no KL leash. Watch
# two numbers: the reward model's score (what the policy sees) and the *true quality* (the right
# language and not a loop of a few characters: what we actually want). The reward model only ever
# saw fluent snippets, so nothing in its training tells it that a repeated syllable is bad.

# %%
def rm_reward(texts, langs):
    return rm.score_texts([f"{TASK_LANGS[l]}:" for l in langs], texts, tok)


hack_policy, hack_trainer = ppo_run(rm_reward, HACK_STEPS, 0, init_kl=0.0, target_kl=None, desc="PPO vs RM")
hacked = samples_and_scores(hack_trainer)
rm_curve = hack_trainer.history.series("reward")
rm_before, rm_after = float(np.mean(rm_curve[: max(1, len(rm_curve) // 10)])), float(np.mean(rm_curve[-max(1, len(rm_curve) // 10):]))
print(f"reward-model score {rm_before:.2f} -> {rm_after:.2f}; true quality {before['quality']:.3f} -> {hacked['quality']:.3f}; "
      f"verifiable reward {before['reward']:.3f} -> {hacked['reward']:.3f}")
for r in hacked["responses"][::4]:
    print("   ", repr(r))
hack_gap = (rm_after - rm_before) > 0 and hacked["quality"] < after["quality"]
cfg.say(f"Against the reward model, PPO moved its score from {rm_before:.2f} to {rm_after:.2f}, while the true quality "
        f"went from {before['quality']:.3f} to {hacked['quality']:.3f} — against {after['quality']:.3f} for the policy "
        f"trained on the verifiable reward. " + ("The learned reward was exploited: its score rose while the quality "
        "stayed below what the verifiable reward reached." if hack_gap else "Here the reward model held up at this budget; "
        "in the laptop profile, with more steps, compare the two curves again."))

# %% [markdown]
# ## 5. The same task with trl: GRPO and RLOO
#
# trl trains the same model (exported to Hugging Face Llama with `to_hf()`, its tokenizer
# converted to a fast tokenizer with equal ids; the reward model above reads the export and
# gives the same rewards) on the same prompts and reward, with the same
# number of responses per step. GRPO normalises each reward within its group of `GROUP`
# responses to the same prompt; RLOO subtracts the mean of the *other* responses. Neither has a
# value head.

# %%
from llmcourse.alignment import run_trl
from llmcourse.tokenization import course_tokenizer_to_hf

hf_tok = course_tokenizer_to_hf(tok)
probe = "Thai: สวัสดีครับ, Xin chào!"
assert hf_tok(probe, add_special_tokens=False)["input_ids"] == tok.encode_ordinary(probe)

# the same reward model reads the Hugging Face export: same weights, same hidden state, same reward
rm_hf = RewardModel(rm.backbone.to_hf()).eval()
rm_hf.score.load_state_dict(rm.score.state_dict())
probe_langs = [l for _, l in prompts]
probe_texts = [f" {multilingual_sample(l, 30, seed=2)}" for l in probe_langs]
probe_prompts = [f"{TASK_LANGS[l]}:" for l in probe_langs]
rm_on_gpt = rm.score_texts(probe_prompts, probe_texts, tok)
rm_on_hf = rm_hf.score_texts(probe_prompts, probe_texts, hf_tok)
assert np.allclose(rm_on_gpt, rm_on_hf, atol=1e-4), (rm_on_gpt, rm_on_hf)
print("reward model on the course GPT:", np.round(rm_on_gpt, 3), "\non its Hugging Face export:  ", np.round(rm_on_hf, 3))
cfg.report(rm_same_on_hf=True)
trl_prompts = [p for p, _ in prompts] * 20
trl_langs = [l for _, l in prompts] * 20
trl_results = {"grpo": [], "rloo": []}
for method in trl_results:
    for seed in SEEDS:
        trl_results[method].append(run_trl(method, base_gpt.to_hf(), hf_tok, trl_prompts, trl_langs,
                                           lambda c, m: language_reward(c, m), PPO_STEPS, batch_size=BATCH,
                                           num_generations=GROUP, max_completion_length=RESPONSE_LEN, lr=LR,
                                           beta=0.02, seed=seed))
ppo_curves = [t.history.series("reward") for _, t in ppo_runs]


def smooth(x, k=max(1, PPO_STEPS // 10)):
    x = np.asarray(x, float)
    return np.convolve(x, np.ones(k) / k, mode="valid") if len(x) >= k else x


fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for name, curves, colour in (("PPO (ours)", ppo_curves, "tab:blue"),
                             ("GRPO (trl)", [r["rewards"] for r in trl_results["grpo"]], "tab:orange"),
                             ("RLOO (trl)", [r["rewards"] for r in trl_results["rloo"]], "tab:green")):
    for i, c in enumerate(curves):
        axes[0].plot(smooth(c), color=colour, alpha=0.8, label=name if i == 0 else None)
axes[0].set_xlabel("step")
axes[0].set_ylabel("verifiable reward (mean of the batch)")
axes[0].legend()
axes[1].plot([t.history.series("kl") for _, t in ppo_runs][0], label="PPO: KL per response (k1)", color="tab:blue")
axes[1].plot(trl_results["grpo"][0]["kl"], label="GRPO: KL per token (k3)", color="tab:orange")
axes[1].plot(trl_results["rloo"][0]["kl"], label="RLOO: KL", color="tab:green")
axes[1].set_xlabel("step")
axes[1].set_ylabel("KL to the reference")
axes[1].legend()
plt.show()

# %%
def last(curves):
    k = max(1, PPO_STEPS // 10)
    vals = [np.mean(c[-k:]) for c in curves]
    return float(np.mean(vals)), float(np.std(vals))


ppo_final, ppo_sd = last(ppo_curves)
grpo_final, grpo_sd = last([r["rewards"] for r in trl_results["grpo"]])
rloo_final, rloo_sd = last([r["rewards"] for r in trl_results["rloo"]])
ppo_sps = float(np.mean([t.steps_per_second for _, t in ppo_runs]))
grpo_sps = float(np.mean([r["steps_per_second"] for r in trl_results["grpo"]]))
rloo_sps = float(np.mean([r["steps_per_second"] for r in trl_results["rloo"]]))
reliable, why = cfg.timing_is_reliable()
print(f"{'method':>10s} {'final reward':>16s} {'steps/s':>8s}")
for name, (m, s), sps in (("PPO", (ppo_final, ppo_sd), ppo_sps), ("GRPO", (grpo_final, grpo_sd), grpo_sps),
                          ("RLOO", (rloo_final, rloo_sd), rloo_sps)):
    print(f"{name:>10s} {m:8.3f} ± {s:5.3f} {sps:8.2f}")
print(f"start: {ppo_curves[0][0]:.3f}")
cfg.say(f"After {PPO_STEPS} steps of {BATCH} responses ({len(SEEDS)} seed(s)), the mean verifiable reward is "
        f"{ppo_final:.3f} for our PPO, {grpo_final:.3f} for trl's GRPO and {rloo_final:.3f} for RLOO. "
        + ("" if reliable else why))
cfg.report(ppo_reward_start=float(np.mean([c[0] for c in ppo_curves])), ppo_reward_final=ppo_final,
           grpo_reward_final=grpo_final, rloo_reward_final=rloo_final, rm_heldout_accuracy=rm_acc,
           reward_before=before["reward"], reward_after=after["reward"], kl_k3_after=after["kl_k3"],
           ppo_steps_per_s=ppo_sps, grpo_steps_per_s=grpo_sps, rm_score_gain=rm_after - rm_before,
           hacked_quality=hacked["quality"])

# %% [markdown]
# A NaN from a reward function (a crashed judge, a division by zero) must not reach the weights:
# the trainer skips the step and says so.

# %%
nan_trainer = PPOTrainer(copy.deepcopy(base_gpt), tok, lambda t, m: [float("nan")] * len(t), prompts,
                         PPOConfig(batch_size=4, response_len=4, minibatch_size=4))
row = nan_trainer.step()
assert row["skipped"]
cfg.report(nan_step_skipped=bool(row["skipped"]))

# %% [markdown]
# ## 6. Save the aligned model
#
# The PPO policy trained on the verifiable reward is the next link of the thread:
# `course-gpt-aligned`, which 8.3 gives retrieval to.

# %%
from llmcourse.assets.artifacts import save_artifact

folder = save_artifact("course-gpt-aligned", {"model": aligned_gpt, "tokenizer": tok,
                                              "metrics": {"reward_before": before["reward"], "reward_after": after["reward"],
                                                          "kl_k3": after["kl_k3"], "steps": PPO_STEPS,
                                                          "started_from": start_name}},
                       notebook="8.2", about="course GPT aligned by PPO to answer in the requested language")
print(f"saved {folder}")
