"""PPO pieces against their definitions: GAE by a direct loop, the clipped objective's gradient,
KL estimators against the exact KL (torch.distributions), a bandit solved by PPO, a NaN reward."""

import math
import os

import numpy as np
import pytest
import torch
from torch import nn

from llmcourse.alignment.gae import compute_gae
from llmcourse.alignment.kl import AdaptiveKLController, kl_k1, kl_k2, kl_k3
from llmcourse.alignment.ppo import PPOConfig, PPOTrainer, clipped_surrogate, value_loss


def gae_by_definition(r, v, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l}, delta_t = r_t + gamma V_{t+1} - V_t, V_T = 0: two plain loops."""
    B, T = r.shape
    adv = np.zeros((B, T))
    for b in range(B):
        for t in range(T):
            total = 0.0
            for l in range(T - t):
                nxt = v[b, t + l + 1] if t + l + 1 < T else 0.0
                delta = r[b, t + l] + gamma * nxt - v[b, t + l]
                total += (gamma * lam) ** l * delta
            adv[b, t] = total
    return adv


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (0.9, 0.5), (1.0, 1.0), (0.99, 0.0)])
def test_gae_equals_direct_loop(gamma, lam):
    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(3, 7, generator=g, dtype=torch.float64), torch.randn(3, 7, generator=g, dtype=torch.float64)
    adv, ret = compute_gae(r, v, gamma, lam)
    expected = gae_by_definition(r.numpy(), v.numpy(), gamma, lam)
    assert np.allclose(adv.numpy(), expected, atol=1e-12)
    assert torch.allclose(ret, adv + v)
    if lam == 1.0 and gamma == 1.0:  # the returns are then the plain reward-to-go
        assert torch.allclose(ret, r.flip(1).cumsum(1).flip(1))


def test_gae_bad_shapes():
    with pytest.raises(ValueError, match="both be"):
        compute_gae(torch.zeros(2, 3), torch.zeros(2, 4))


def test_clipped_objective_gradient_vanishes_outside_the_clip_range():
    old = torch.zeros(6)
    # log-ratios: inside, above 1 + eps, below 1 - eps; advantages positive then negative
    logp = torch.tensor([0.05, 0.5, -0.5, 0.05, 0.5, -0.5], requires_grad=True)
    adv = torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
    clipped_surrogate(logp, old, adv, clip=0.2).backward()
    g = logp.grad
    assert g[0] != 0 and g[3] != 0  # inside the range: pushed
    assert g[1] == 0  # A > 0 and ratio > 1.2: already pushed far enough
    assert g[5] == 0  # A < 0 and ratio < 0.8: already pulled far enough
    assert g[2] != 0 and g[4] != 0  # on the wrong side of the range the gradient stays (min picks it)
    # inside the range the gradient is -ratio * A / n
    assert torch.isclose(g[0], -torch.exp(torch.tensor(0.05)) / 6)


def test_value_loss_clips_the_move():
    old, ret = torch.zeros(1), torch.tensor([1.0])
    v = torch.tensor([0.5], requires_grad=True)  # moved 0.5 > clip 0.2 towards the target
    value_loss(v, old, ret, clip=0.2).backward()
    assert torch.isclose(value_loss(v, old, ret, 0.2), torch.tensor(0.5 * 0.8 ** 2))  # max picks the clipped error
    assert v.grad == 0


def test_kl_estimators_against_exact_kl():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(6, generator=g), 0)  # the policy
    q = torch.softmax(torch.randn(6, generator=g), 0)  # the reference
    exact = torch.distributions.kl_divergence(torch.distributions.Categorical(p), torch.distributions.Categorical(q))
    logp, logq = p.log(), q.log()
    # expectations under the policy, summed exactly over the support: k1 and k3 are unbiased
    assert torch.isclose((p * kl_k1(logp, logq)).sum(), exact, atol=1e-6)
    assert torch.isclose((p * kl_k3(logp, logq)).sum(), exact, atol=1e-6)
    assert (p * kl_k2(logp, logq)).sum() != pytest.approx(float(exact), abs=1e-6)  # k2 is biased
    assert (kl_k3(logp, logq) >= 0).all() and (kl_k2(logp, logq) >= 0).all()
    # and from samples, the Monte-Carlo means land near the exact value; k3 has less spread than k1
    x = torch.multinomial(p, 200_000, replacement=True, generator=g)
    k1, k3 = kl_k1(logp[x], logq[x]), kl_k3(logp[x], logq[x])
    assert abs(k1.mean() - exact) < 0.02 and abs(k3.mean() - exact) < 0.02
    assert k3.std() < k1.std()


def test_adaptive_kl_moves_towards_target():
    ctl = AdaptiveKLController(0.1, target=1.0, horizon=100)
    assert ctl.update(kl=5.0, n_samples=10) == pytest.approx(0.1 * (1 + 0.2 * 0.1))  # above target: grows
    ctl = AdaptiveKLController(0.1, target=1.0, horizon=100)
    assert ctl.update(kl=0.9, n_samples=10) == pytest.approx(0.1 * (1 - 0.1 * 0.1))  # below: shrinks
    assert ctl.update(kl=0.1, n_samples=10) == pytest.approx(0.099 * (1 - 0.2 * 0.1))  # by at most 20 %


class Bandit(nn.Module):
    """A "language model" whose next-token logits ignore the input: one token = one arm."""

    returns_hidden = True
    hidden_size = 4

    def __init__(self, arms: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(arms))
        self.h = nn.Parameter(torch.zeros(4), requires_grad=False)

    def forward(self, ids, attention_mask=None):
        B, L = ids.shape
        return self.logits.expand(B, L, -1), self.h.expand(B, L, -1)


class ArmTokenizer:
    def encode_ordinary(self, text):
        return [0]

    def decode(self, ids):
        return " ".join(str(i) for i in ids)


PAYOUT = [0.1, 0.3, 0.9, 0.5, 0.2]


def test_ppo_on_a_bandit_converges_to_the_best_arm():
    torch.manual_seed(0)
    model = Bandit(len(PAYOUT))
    cfg = PPOConfig(batch_size=32, response_len=1, ppo_epochs=4, minibatch_size=16, lr=0.05, init_kl_coef=0.0,
                    target_kl=None, seed=0)
    rng = np.random.default_rng(0)

    def reward(texts, metas):  # a noisy payout per arm
        return [PAYOUT[int(t)] + 0.1 * rng.standard_normal() for t in texts]

    trainer = PPOTrainer(model, ArmTokenizer(), reward, [("pull", None)], cfg)
    trainer.train(60, progress=False)
    probs = torch.softmax(model.logits.detach(), 0)
    assert int(probs.argmax()) == int(np.argmax(PAYOUT)) and probs.max() > 0.9
    assert trainer.history.series("reward")[-1] > 0.75


def test_nan_reward_skips_the_step_and_says_so(capsys):
    model = Bandit(3)
    cfg = PPOConfig(batch_size=4, response_len=1, minibatch_size=4, lr=0.5)
    trainer = PPOTrainer(model, ArmTokenizer(), lambda t, m: [1.0, math.nan, 0.0, 1.0], [("p", None)], cfg)
    before = model.logits.detach().clone()
    row = trainer.step()
    assert row["skipped"] and row["bad_rewards"] == 1
    assert torch.equal(model.logits, before)
    assert "step skipped" in capsys.readouterr().out
    with pytest.raises(ValueError, match="scores for 4"):
        PPOTrainer(model, ArmTokenizer(), lambda t, m: [1.0], [("p", None)], cfg).step()


def test_ppo_runs_on_the_course_gpt_and_moves_towards_the_reward():
    from llmcourse.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    gpt = GPT(GPTConfig.llama_style(vocab_size=16, block_size=32, n_layer=1, n_head=2, n_kv_head=1, n_embd=16))

    class Ids:  # token i <-> character chr(97 + i)
        def encode_ordinary(self, text):
            return [ord(c) - 97 for c in text]

        def decode(self, ids):
            return "".join(chr(97 + i) for i in ids)

    reward = lambda texts, metas: [t.count("c") / len(t) for t in texts]  # noqa: E731  more "c" is better
    cfg = PPOConfig(batch_size=16, response_len=6, ppo_epochs=2, minibatch_size=8, lr=3e-3, init_kl_coef=0.01)
    trainer = PPOTrainer(gpt, Ids(), reward, [("ab", None), ("ba", None)], cfg)
    first = np.mean([trainer.step()["reward"] for _ in range(3)])
    trainer.train(25, progress=False)
    last = np.mean(trainer.history.series("reward")[-3:])
    assert last > first + 0.2, (first, last)
    assert all(r["kl"] == r["kl"] for r in trainer.history.rows)  # finite KL bookkeeping


@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_run_trl_trains_the_course_gpt_export_with_the_ppo_reward(method, tmp_path):
    """trl's GRPO/RLOO take the same reward function as PPO and report one reward per step;
    each run keeps its files in a folder of its own."""
    from llmcourse.alignment import run_trl
    from llmcourse.models.gpt import GPT, GPTConfig
    from llmcourse.tokenization import course_tokenizer_to_hf
    from llmcourse.tokenization.bpe_regex import RegexTokenizer
    from llmcourse.tokenization.course_tokenizer import with_course_specials

    tok = with_course_specials(RegexTokenizer().train("English: the cat sat. Thai: สวัสดี " * 5, 280, progress=False))
    torch.manual_seed(0)
    gpt = GPT(GPTConfig.llama_style(vocab_size=len(tok.vocab), block_size=64, n_layer=1, n_head=2, n_kv_head=1,
                                    n_embd=16))
    seen = []

    def reward(texts, metas):  # the PPO signature: completions, metas
        seen.extend(metas)
        return [float(len(t) > 3) for t in texts]

    out = run_trl(method, gpt.to_hf(), course_tokenizer_to_hf(tok), ["English:", "Thai:"] * 4, ["en", "th"] * 4,
                  reward, 2, batch_size=4, num_generations=2, max_completion_length=4, lr=1e-3, seed=0)
    assert len(out["rewards"]) == 2 and all(0.0 <= r <= 1.0 for r in out["rewards"])
    assert set(seen) <= {"en", "th"} and len(seen) >= 8  # the dataset's meta column reached the reward
    assert out["steps_per_second"] > 0
    assert not os.path.exists(out["trainer"].args.output_dir)  # its own temporary folder, removed at the end
    with pytest.raises(ValueError, match="'grpo' or 'rloo'"):
        run_trl("ppo", gpt.to_hf(), course_tokenizer_to_hf(tok), ["a"], ["en"], reward, 1)
