"""Exercises of 8.2 RLHF fundamentals. Oracles: the definitions written out as plain loops in float64
(GAE), the PPO paper's objective in NumPy, torch.distributions' exact KL, and a bandit's known best arm."""

from __future__ import annotations

import numpy as np
import torch

from llmcourse.exercises.registry import Case, exercise


def _gae_loop(r, v, gamma, lam):
    B, T = r.shape
    adv = np.zeros((B, T))
    for b in range(B):
        for t in range(T):
            for l in range(T - t):
                nxt = v[b, t + l + 1] if t + l + 1 < T else 0.0
                adv[b, t] += (gamma * lam) ** l * (r[b, t + l] + gamma * nxt - v[b, t + l])
    return adv


def _compare_gae(got, expected):
    if not isinstance(got, tuple) or len(got) != 2:
        return "return a tuple (advantages, returns)"
    adv, ret = (torch.as_tensor(x).double() for x in got)
    exp_adv, exp_ret = expected
    if tuple(adv.shape) != exp_adv.shape:
        return f"advantages have shape {tuple(adv.shape)}, expected {exp_adv.shape}"
    if not np.allclose(adv.numpy(), exp_adv, atol=1e-6):
        return "advantages differ from the definition sum_l (gamma lam)^l delta_{t+l}"
    if not np.allclose(ret.numpy(), exp_ret, atol=1e-6):
        return "returns differ: returns = advantages + values"
    return None


def _gae_td_only(rewards, values, gamma=1.0, lam=0.95):
    nxt = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], 1)
    adv = rewards + gamma * nxt - values
    return adv, adv + values


def _gae_returns_are_advantages(rewards, values, gamma=1.0, lam=0.95):
    from llmcourse.alignment.gae import compute_gae

    adv, _ = compute_gae(rewards, values, gamma, lam)
    return adv, adv


def _gae_forward(rewards, values, gamma=1.0, lam=0.95):
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1]):  # accumulates the past instead of the future
        nxt = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(values[:, 0])
        running = rewards[:, t] + gamma * nxt - values[:, t] + gamma * lam * running
        adv[:, t] = running
    return adv, adv + values


@exercise("ppo.gae", difficulty=2, minutes=20, reference="llmcourse.alignment.gae:compute_gae",
          wrong={"one-step TD error only (lam ignored)": _gae_td_only,
                 "returns = advantages (values not added)": _gae_returns_are_advantages,
                 "accumulated forwards in time": _gae_forward},
          hint="go backwards: delta_t = r_t + gamma * V_{t+1} - V_t (V_T = 0), A_t = delta_t + gamma * lam * A_{t+1}; "
               "returns = advantages + values")
def _gae():
    for seed, (B, T, gamma, lam) in enumerate([(1, 4, 1.0, 0.95), (3, 6, 0.9, 0.5), (2, 5, 1.0, 1.0)]):
        g = torch.Generator().manual_seed(seed)
        r, v = torch.randn(B, T, generator=g, dtype=torch.float64), torch.randn(B, T, generator=g, dtype=torch.float64)
        adv = _gae_loop(r.numpy(), v.numpy(), gamma, lam)
        yield Case(f"B={B} T={T} gamma={gamma} lam={lam}", args=(r, v, gamma, lam), expected=(adv, adv + v.numpy()),
                   compare=_compare_gae)


def _surrogate_no_min(logp, old_logp, adv, clip=0.2):
    return -(torch.clamp(torch.exp(logp - old_logp), 1 - clip, 1 + clip) * adv).mean()


def _surrogate_max(logp, old_logp, adv, clip=0.2):
    ratio = torch.exp(logp - old_logp)
    return -torch.maximum(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv).mean()


def _surrogate_clip_logratio(logp, old_logp, adv, clip=0.2):
    ratio = torch.exp(logp - old_logp)
    return -torch.minimum(ratio * adv, torch.clamp(logp - old_logp, -clip, clip) * adv).mean()


@exercise("ppo.clipped_surrogate", difficulty=2, minutes=15, reference="llmcourse.alignment.ppo:clipped_surrogate",
          wrong={"clipped term only (no min)": _surrogate_no_min, "max instead of min": _surrogate_max,
                 "clips the log-ratio instead of the ratio": _surrogate_clip_logratio},
          hint="ratio = exp(logp - old_logp); loss = -mean(min(ratio * A, clamp(ratio, 1 - clip, 1 + clip) * A))")
def _clipped():
    for seed in range(3):
        rng = np.random.default_rng(seed)
        logp, old, adv = rng.normal(0, 0.4, 12), rng.normal(0, 0.4, 12), rng.normal(0, 1, 12)
        ratio = np.exp(logp - old)
        expected = -np.mean(np.minimum(ratio * adv, np.clip(ratio, 0.8, 1.2) * adv))  # the PPO paper, eq. 7
        yield Case(f"12 tokens (seed {seed})", args=tuple(torch.tensor(x) for x in (logp, old, adv)),
                   expected=float(expected), atol=1e-9)

    def zero_gradient_outside(fn):
        logp = torch.tensor([0.5, -0.5], dtype=torch.float64, requires_grad=True)
        fn(logp, torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, -1.0], dtype=torch.float64), 0.2).backward()
        assert logp.grad is not None and torch.all(logp.grad == 0), \
            f"outside the clip range on the advantage's side the gradient must be 0, got {logp.grad.tolist()}"
    yield Case("no gradient beyond the clip range", test=zero_gradient_outside)


def _k1(logp, ref_logp):
    return logp - ref_logp


def _k3_inverted(logp, ref_logp):
    log_r = logp - ref_logp  # pi / pi_ref instead of pi_ref / pi
    return torch.exp(log_r) - 1 - log_r


@exercise("ppo.kl_k3", difficulty=1, minutes=10, reference="llmcourse.alignment.kl:kl_k3",
          wrong={"k1 (log pi - log pi_ref)": _k1, "ratio upside down (pi / pi_ref)": _k3_inverted},
          hint="r = pi_ref(x) / pi(x) = exp(ref_logp - logp); k3 = (r - 1) - log r")
def _kl_k3():
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        p = torch.softmax(torch.randn(7, generator=g, dtype=torch.float64) * 1.5, 0)
        q = torch.softmax(torch.randn(7, generator=g, dtype=torch.float64) * 1.5, 0)
        exact = torch.distributions.kl_divergence(torch.distributions.Categorical(p), torch.distributions.Categorical(q))

        def unbiased(fn, p=p, q=q, exact=exact):
            est = fn(p.log(), q.log())
            assert torch.is_tensor(est) and est.shape == p.shape, "return one estimate per sample (same shape as logp)"
            assert (est >= -1e-12).all(), "k3 is never negative"
            mean = float((p * est).sum())  # E_{x ~ pi}[k3(x)], summed exactly over the 7 outcomes
            assert abs(mean - float(exact)) < 1e-9, f"E[k3] = {mean:.6f} but KL(pi || pi_ref) = {float(exact):.6f}"
        yield Case(f"unbiased on a 7-outcome distribution (seed {seed})", test=unbiased)


def _bandit_uniform(payouts, steps=60, seed=0):
    return np.full(len(payouts), 1 / len(payouts))


def _bandit_ascends_loss(payouts, steps=60, seed=0):
    from llmcourse.alignment.ppo import solve_bandit

    return solve_bandit([-p for p in payouts], steps, seed)  # a sign error: learns the worst arm


@exercise("ppo.bandit", difficulty=3, minutes=40, stretch=True, reference="llmcourse.alignment.ppo:solve_bandit",
          wrong={"no update at all": _bandit_uniform, "sign error (maximises the loss)": _bandit_ascends_loss},
          hint="a policy = a vector of K logits; each step sample a batch of arms, reward them, advantages = reward "
               "minus the batch mean (or GAE with T=1), then a few epochs of the clipped surrogate; return softmax(logits)")
def _bandit():
    for payouts in ([0.1, 0.3, 0.9, 0.5, 0.2], [0.8, 0.2, 0.4]):
        best = int(np.argmax(payouts))

        def finds_best(fn, payouts=payouts, best=best):
            probs = np.asarray(fn(payouts, 60, 0), dtype=float)
            assert probs.shape == (len(payouts),), f"return the {len(payouts)} arm probabilities"
            assert abs(probs.sum() - 1) < 1e-5, "the probabilities must sum to 1"
            assert probs.argmax() == best and probs[best] > 0.9, \
                f"after 60 steps the best arm ({best}) should have > 0.9 probability, got {np.round(probs, 3).tolist()}"
        yield Case(f"{len(payouts)} arms, best = {best}", test=finds_best)
