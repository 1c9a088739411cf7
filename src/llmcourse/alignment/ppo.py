"""PPO for a language model, from scratch (Schulman et al., 2017; Ziegler et al., 2019; InstructGPT).

One PPO step on a batch of prompts:

1. **Rollout.** The policy writes a response of T tokens to each prompt through the course
   sampler (`llmcourse.inference.sampling`). A frozen reference copy scores the same tokens.
2. **Reward.** A reward function scores each whole response (a verifiable check, or a
   reward model). The per-token reward is the KL penalty -beta * (log pi - log pi_ref) at
   every token, plus the score at the last one. A NaN score skips the step (and says so):
   one broken reward must not poison the weights.
3. **Advantages.** A value head on the policy's last hidden state predicts, at every token,
   the reward still to come; GAE (`compute_gae`) turns rewards and values into advantages
   and returns. Advantages are whitened (mean 0, std 1) over the batch.
4. **Update.** For a few epochs over minibatches, maximise the *clipped surrogate*

       ratio = pi(a) / pi_old(a)
       L_pg  = -mean( min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) )

   so that a token whose probability already moved by more than eps gets no further push
   (its gradient is zero), plus vf_coef times the clipped value loss. The KL coefficient
   adapts towards a target KL (`AdaptiveKLController`).

The policy is the course GPT (the learner's model) or any Hugging Face causal LM, whole or
with LoRA adapters (then the reference is the same model with its adapters switched off).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.alignment.gae import compute_gae
from llmcourse.alignment.kl import AdaptiveKLController
from llmcourse.inference.sampling import sample_next

__all__ = ["PPOConfig", "PPOTrainer", "PolicyWithValue", "clipped_surrogate", "response_logprobs", "solve_bandit",
           "value_loss"]


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                      clip: float = 0.2) -> torch.Tensor:
    """PPO's policy loss: -mean(min(ratio * A, clip(ratio, 1 - clip, 1 + clip) * A)), ratio = exp(logp - old_logp)."""
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * advantages
    return -torch.minimum(unclipped, clipped).mean()


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               clip: float | None = 0.2) -> torch.Tensor:
    """0.5 * mean(max((V - R)^2, (V_clipped - R)^2)): the value may move at most `clip` from its old estimate."""
    loss = (values - returns) ** 2
    if clip is not None:
        v_clipped = old_values + torch.clamp(values - old_values, -clip, clip)
        loss = torch.maximum(loss, (v_clipped - returns) ** 2)
    return 0.5 * loss.mean()


def response_logprobs(logits: torch.Tensor, ids: torch.Tensor, start: int) -> torch.Tensor:
    """log p of the tokens ids[:, start:] under logits (B, L, V) of the whole sequence: (B, L - start)."""
    logp = F.log_softmax(logits[:, start - 1 : -1].float(), dim=-1)  # position t predicts token t + 1
    return logp.gather(-1, ids[:, start:, None]).squeeze(-1)


def _encode(tokenizer, text: str) -> list[int]:
    if hasattr(tokenizer, "encode_ordinary"):
        return tokenizer.encode_ordinary(text)
    return tokenizer.encode(text, add_special_tokens=False)


class PolicyWithValue(nn.Module):
    """A causal LM and a value head on its last hidden state: forward -> (logits (B, L, V), values (B, L)).

    Works with the course GPT (the hidden state is caught after its final norm), a Hugging
    Face causal LM (output_hidden_states), or any module with `returns_hidden = True` whose
    forward(ids, attention_mask=...) returns (logits, hidden).
    """

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm
        self.kind = self._kind(lm)
        dim = self._hidden_size(lm)
        self.value_head = nn.Linear(dim, 1)
        nn.init.zeros_(self.value_head.weight)  # start by predicting 0 everywhere
        nn.init.zeros_(self.value_head.bias)

    @staticmethod
    def _kind(lm: nn.Module) -> str:
        if getattr(lm, "returns_hidden", False):
            return "custom"
        base = getattr(lm, "get_base_model", lambda: lm)()
        if hasattr(base, "norm_f") and hasattr(base, "tok_emb"):
            return "gpt"
        if hasattr(lm, "config") and hasattr(lm, "get_input_embeddings"):
            return "hf"
        raise TypeError(f"{type(lm).__name__} is neither the course GPT nor a Hugging Face causal LM")

    def _hidden_size(self, lm: nn.Module) -> int:
        if self.kind == "custom":
            return int(lm.hidden_size)
        if self.kind == "gpt":
            return getattr(lm, "get_base_model", lambda: lm)().config.n_embd
        return int(lm.get_input_embeddings().weight.shape[1])

    def logits_and_hidden(self, ids: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        return forward_lm(self.lm, self.kind, ids, mask)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logits, hidden = self.logits_and_hidden(ids, mask)
        return logits, self.value_head(hidden.float()).squeeze(-1)


def forward_lm(lm: nn.Module, kind: str, ids: torch.Tensor, mask: torch.Tensor | None):
    """(logits (B, L, V), last hidden state (B, L, C)) of a course GPT, HF LM or custom module."""
    if kind == "custom":
        return lm(ids, attention_mask=mask)
    if kind == "gpt":
        base = getattr(lm, "get_base_model", lambda: lm)()
        caught = {}
        handle = base.norm_f.register_forward_hook(lambda mod, inp, out: caught.__setitem__("h", out))
        try:
            logits, _ = lm(ids, attention_mask=mask)
        finally:
            handle.remove()
        return logits, caught["h"]
    out = lm(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    return out.logits, out.hidden_states[-1]


@dataclass
class PPOConfig:
    """Knobs of PPO for an LM (defaults in the range of InstructGPT and trl's old PPOTrainer)."""

    batch_size: int = 16  # prompts (= responses) per step
    response_len: int = 16  # tokens generated per response (the episode ends there)
    ppo_epochs: int = 4
    minibatch_size: int = 8
    lr: float = 1e-4
    clip: float = 0.2
    vf_coef: float = 0.5
    value_clip: float | None = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    init_kl_coef: float = 0.05
    target_kl: float | None = 1.0  # per sequence; None keeps beta fixed
    kl_horizon: int = 1000
    temperature: float = 1.0
    max_grad_norm: float = 1.0
    seed: int = 0


@dataclass
class PPOHistory:
    """Per-step statistics of a PPO run."""

    rows: list[dict] = field(default_factory=list)

    def series(self, key: str) -> list[float]:
        return [r[key] for r in self.rows if key in r and not r.get("skipped")]


class PPOTrainer:
    """PPO on a causal LM with a reward function over (prompt metadata, response text)."""

    def __init__(self, lm: nn.Module, tokenizer, reward_fn: Callable[[list[str], list], Sequence[float]],
                 prompts: Sequence[tuple[str, object]], config: PPOConfig = PPOConfig(), ref_lm: nn.Module | None = None,
                 pad_id: int = 0, gae_fn: Callable = compute_gae, surrogate_fn: Callable = clipped_surrogate):
        """`gae_fn` and `surrogate_fn` default to the library's; a notebook passes the learner's own."""
        if not prompts:
            raise ValueError("no prompts to train on")
        self.cfg, self.tokenizer, self.reward_fn = config, tokenizer, reward_fn
        self.gae_fn, self.surrogate_fn = gae_fn, surrogate_fn
        self.prompts = list(prompts)
        self.policy = PolicyWithValue(lm)
        self.uses_adapters = hasattr(lm, "disable_adapter")  # peft: the reference is the adapters switched off
        if ref_lm is None and not self.uses_adapters:
            ref_lm = copy.deepcopy(lm)
        self.ref = ref_lm
        if self.ref is not None:
            self.ref.eval()
            for p in self.ref.parameters():
                p.requires_grad_(False)
        self.pad_id = pad_id
        params = [p for p in self.policy.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
        self.kl_ctl = AdaptiveKLController(config.init_kl_coef, config.target_kl, config.kl_horizon)
        self.rng = np.random.default_rng(config.seed)
        self.gen = torch.Generator().manual_seed(config.seed)
        self.history = PPOHistory()
        self.device = next(lm.parameters()).device

    # ------------------------------------------------------------------ rollouts
    def _left_pad(self, prompt_ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(p) for p in prompt_ids)
        ids = torch.full((len(prompt_ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
        for i, p in enumerate(prompt_ids):
            ids[i, width - len(p) :], mask[i, width - len(p) :] = torch.tensor(p), 1
        return ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def generate(self, prompt_texts: Sequence[str], temperature: float | None = None,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Sample a response of response_len tokens per prompt: (sequences (B, P + T), mask, P)."""
        ids, mask = self._left_pad([_encode(self.tokenizer, t) for t in prompt_texts])
        P = ids.shape[1]
        temp = self.cfg.temperature if temperature is None else temperature
        was = self.policy.training
        self.policy.eval()
        for _ in range(self.cfg.response_len):
            logits, _ = forward_lm(self.policy.lm, self.policy.kind, ids, mask)
            nxt = sample_next(logits[:, -1, :], temp, generator=generator or self.gen)  # (B, 1): the one sampler
            ids = torch.cat([ids, nxt], dim=1)
            mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
        self.policy.train(was)
        return ids, mask, P

    def decode(self, ids: torch.Tensor, P: int) -> list[str]:
        return [self.tokenizer.decode(row[P:].tolist()) for row in ids]

    @torch.no_grad()
    def _ref_logprobs(self, ids: torch.Tensor, mask: torch.Tensor, P: int) -> torch.Tensor:
        if self.ref is not None:
            logits, _ = forward_lm(self.ref, self.policy.kind, ids, mask)
        else:
            with self.policy.lm.disable_adapter():
                logits, _ = forward_lm(self.policy.lm, self.policy.kind, ids, mask)
        return response_logprobs(logits, ids, P)

    # ------------------------------------------------------------------ one step
    def step(self) -> dict:
        """Rollout, reward, GAE, PPO epochs. Returns this step's statistics (also kept in history)."""
        cfg = self.cfg
        t0 = time.perf_counter()
        pick = self.rng.integers(len(self.prompts), size=cfg.batch_size)
        texts, metas = [self.prompts[i][0] for i in pick], [self.prompts[i][1] for i in pick]
        ids, mask, P = self.generate(texts)
        responses = self.decode(ids, P)
        scores = torch.tensor([float(s) for s in self.reward_fn(responses, metas)], dtype=torch.float32)
        if scores.shape != (cfg.batch_size,):
            raise ValueError(f"the reward function returned {tuple(scores.shape)} scores for {cfg.batch_size} responses")
        if not torch.isfinite(scores).all():
            bad = int((~torch.isfinite(scores)).sum())
            print(f"[ppo] the reward was NaN or infinite for {bad} of {cfg.batch_size} responses: step skipped, "
                  "weights unchanged (check the reward function)")
            row = {"skipped": True, "bad_rewards": bad, "seconds": time.perf_counter() - t0}
            self.history.rows.append(row)
            return row
        scores = scores.to(self.device)
        with torch.no_grad():
            self.policy.eval()
            logits, values = self.policy(ids, mask)
            old_logp = response_logprobs(logits, ids, P)  # (B, T)
            old_values = values[:, P - 1 : -1]  # the value *before* each response token is chosen
            ref_logp = self._ref_logprobs(ids, mask, P)
            kl = old_logp - ref_logp  # (B, T) k1 estimate per token
            rewards = -self.kl_ctl.beta * kl
            rewards[:, -1] += scores
            adv, returns = self.gae_fn(rewards, old_values, cfg.gamma, cfg.lam)
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)  # whitened over the batch
        self.policy.train()
        stats = {"pg_loss": [], "vf_loss": [], "clipfrac": [], "approx_kl": []}
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(cfg.batch_size, generator=self.gen)
            for s in range(0, cfg.batch_size, cfg.minibatch_size):
                mb = order[s : s + cfg.minibatch_size]
                logits_mb, values_mb = self.policy(ids[mb], mask[mb])
                logp = response_logprobs(logits_mb, ids[mb], P)
                v = values_mb[:, P - 1 : -1]
                pg = self.surrogate_fn(logp, old_logp[mb], adv[mb], cfg.clip)
                vf = value_loss(v, old_values[mb], returns[mb], cfg.value_clip)
                loss = pg + cfg.vf_coef * vf
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.opt.step()
                with torch.no_grad():
                    ratio = torch.exp(logp - old_logp[mb])
                    stats["pg_loss"].append(pg.item())
                    stats["vf_loss"].append(vf.item())
                    stats["clipfrac"].append(((ratio - 1).abs() > cfg.clip).float().mean().item())
                    stats["approx_kl"].append((old_logp[mb] - logp).mean().item())
        kl_seq = float(kl.sum(1).mean())
        beta = self.kl_ctl.beta
        self.kl_ctl.update(kl_seq, cfg.batch_size)
        row = {"reward": float(scores.mean()), "kl": kl_seq, "beta": beta, "skipped": False,
               "seconds": time.perf_counter() - t0, "sample": responses[0],
               **{k: float(np.mean(v)) for k, v in stats.items()}}
        self.history.rows.append(row)
        return row

    def train(self, steps: int, progress: bool = True, desc: str = "PPO") -> PPOHistory:
        """`steps` PPO steps with a progress bar showing the mean reward and KL."""
        from tqdm.auto import tqdm

        bar = tqdm(range(steps), desc=desc, disable=not progress, mininterval=0.5)
        for _ in bar:
            row = self.step()
            if not row.get("skipped"):
                bar.set_postfix(reward=f"{row['reward']:.3f}", kl=f"{row['kl']:.3f}")
        return self.history

    @property
    def steps_per_second(self) -> float:
        secs = [r["seconds"] for r in self.history.rows if not r.get("skipped")]
        return len(secs) / sum(secs) if secs else math.nan


def solve_bandit(payouts: Sequence[float], steps: int = 60, seed: int = 0) -> np.ndarray:
    """PPO on a K-armed bandit (one-token episodes, noisy payouts); returns the final arm probabilities (K,).

    The exercise's reference: the same PPOTrainer that aligns the course GPT, on the smallest task.
    """

    class Arms(nn.Module):
        returns_hidden, hidden_size = True, 1

        def __init__(self, k: int):
            super().__init__()
            self.logits = nn.Parameter(torch.zeros(k))

        def forward(self, ids, attention_mask=None):
            B, L = ids.shape
            return self.logits.expand(B, L, -1), torch.zeros(B, L, 1)

    class Tok:
        def encode_ordinary(self, text):
            return [0]

        def decode(self, ids):
            return " ".join(map(str, ids))

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = Arms(len(payouts))
    cfg = PPOConfig(batch_size=32, response_len=1, ppo_epochs=4, minibatch_size=16, lr=0.05, init_kl_coef=0.0,
                    target_kl=None, seed=seed)
    reward = lambda texts, metas: [payouts[int(t)] + 0.1 * rng.standard_normal() for t in texts]  # noqa: E731
    PPOTrainer(model, Tok(), reward, [("pull", None)], cfg).train(steps, progress=False)
    return torch.softmax(model.logits.detach(), 0).numpy()
