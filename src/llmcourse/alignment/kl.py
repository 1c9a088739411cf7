"""Keeping the policy close to where it started: KL estimates and the adaptive KL coefficient.

RL on a language model drifts: the policy finds text the reward likes that no longer reads
like language. The fix (Ziegler et al., 2019; InstructGPT) is a penalty on the KL divergence
from a frozen reference copy, KL(pi || pi_ref) = E_{x ~ pi}[log pi(x) - log pi_ref(x)].
The exact KL sums over the whole vocabulary; from *samples* of pi there are cheap
estimators (Schulman, "Approximating KL divergence", 2020). With r = pi_ref(x) / pi(x):

    k1 = -log r                  unbiased, high variance, can be negative
    k2 = (log r)^2 / 2           biased, low variance, >= 0
    k3 = (r - 1) - log r         unbiased, low variance, >= 0   (what GRPO uses)

The penalty's weight beta is adapted (Ziegler et al.): when the measured KL is above the
target, beta grows; below it, beta shrinks, by at most 20 % per `horizon` samples.
"""

from __future__ import annotations

import torch

__all__ = ["AdaptiveKLController", "kl_k1", "kl_k2", "kl_k3"]


def kl_k1(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-sample k1 = log pi(x) - log pi_ref(x) (unbiased, noisy, may be negative)."""
    return logp - ref_logp


def kl_k2(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-sample k2 = (log r)^2 / 2 with r = pi_ref / pi (biased, >= 0)."""
    return 0.5 * (ref_logp - logp) ** 2


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-sample k3 = (r - 1) - log r with r = pi_ref / pi (unbiased, >= 0)."""
    log_r = ref_logp - logp
    return torch.expm1(log_r) - log_r


class AdaptiveKLController:
    """beta <- beta * (1 + clip((KL - target) / target, -0.2, 0.2) * n / horizon) (Ziegler et al., 2019)."""

    def __init__(self, init_beta: float = 0.1, target: float | None = 6.0, horizon: int = 10_000):
        if init_beta < 0 or (target is not None and target <= 0) or horizon <= 0:
            raise ValueError(f"need init_beta >= 0, target > 0 (or None: fixed beta), horizon > 0; got "
                             f"{init_beta}, {target}, {horizon}")
        self.beta, self.target, self.horizon = float(init_beta), target, horizon

    def update(self, kl: float, n_samples: int) -> float:
        """Adapt beta to the KL measured on the last `n_samples` sequences; returns the new beta."""
        if self.target is not None:
            error = max(-0.2, min(0.2, (kl - self.target) / self.target))
            self.beta *= 1 + error * n_samples / self.horizon
        return self.beta
