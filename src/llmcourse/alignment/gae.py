"""Generalised advantage estimation (Schulman et al., 2016): how much better was each action?

PPO needs, for every generated token t, an *advantage*: how much better the rest of the
episode went than the value head expected when it was at t. With per-token rewards r_t
and value estimates V_t (both (B, T)), the one-step surprise is the TD error

    delta_t = r_t + gamma * V_{t+1} - V_t            (V_T = 0: the episode ends after T)

and GAE mixes the surprises of all later steps with weights (gamma * lam)^l:

    A_t = delta_t + (gamma lam) delta_{t+1} + (gamma lam)^2 delta_{t+2} + ...
        = delta_t + gamma * lam * A_{t+1}           (computed backwards in one pass)

lam = 0 trusts the value head (low variance, biased), lam = 1 uses the actual returns (no
bias, high variance). The value head's regression target is the return R_t = A_t + V_t.
"""

from __future__ import annotations

import torch

__all__ = ["compute_gae"]


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float = 1.0,
                lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns), each (B, T), from rewards and values (B, T); nothing is bootstrapped after T."""
    if rewards.shape != values.shape or rewards.dim() != 2:
        raise ValueError(f"rewards and values must both be (B, T), got {tuple(rewards.shape)} and "
                         f"{tuple(values.shape)}")
    if not (0.0 <= gamma <= 1.0 and 0.0 <= lam <= 1.0):
        raise ValueError(f"gamma and lam must be in [0, 1], got {gamma}, {lam}")
    values = values.detach()
    T = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[:, 0])  # V_T = 0: the episode is over
    running = torch.zeros_like(rewards[:, 0])  # A_{t+1}
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]  # (B,)
        running = delta + gamma * lam * running
        advantages[:, t] = running
        next_value = values[:, t]
    return advantages, advantages + values
