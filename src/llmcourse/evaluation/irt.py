"""Item response theory (2PL) from scratch: how able is each model, how hard and how telling is each item.

Psychometrics' answer to "what does a test score mean?" (used by tinyBenchmarks to
evaluate LLMs on 100 items instead of thousands). Model i has an ability theta_i; item j
has a difficulty b_j and a discrimination a_j > 0; the chance that i gets j right is

    P(y_ij = 1) = sigmoid(a_j * (theta_i - b_j))

An easy item (low b) is passed by weak models too; a discriminating item (large a) flips
sharply from wrong to right around theta = b, so it separates models of nearby ability.

Fitting: joint maximum a posteriori over all theta, a, b with gentle priors (theta ~ N(0, 1)
fixes the scale, b ~ N(0, 2^2), log a ~ N(0, 1)), by L-BFGS on the whole response matrix.
Once items are fitted, a *new* model's ability is estimated from its answers to any
subset of items alone (`fit_ability`), and its full-benchmark score predicted from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["IRT2PL", "ability_map", "fit_irt", "fit_ability"]


@dataclass
class IRT2PL:
    a: np.ndarray  # (N,) discrimination, > 0
    b: np.ndarray  # (N,) difficulty
    theta: np.ndarray  # (M,) abilities of the models it was fitted on

    def prob(self, theta: np.ndarray | float, items: np.ndarray | None = None) -> np.ndarray:
        """P(correct) of ability/abilities `theta` on `items` (all by default): (M, N) or (N,)."""
        a, b = (self.a, self.b) if items is None else (self.a[items], self.b[items])
        th = np.asarray(theta, dtype=float)
        return 1 / (1 + np.exp(-(a * (th[..., None] - b))))


def _check(responses: np.ndarray) -> torch.Tensor:
    y = np.asarray(responses)
    if y.ndim != 2 or y.size == 0:
        raise ValueError(f"responses must be a (models, items) 0/1 matrix, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("responses must hold 0 (wrong) and 1 (right) only")
    return torch.as_tensor(y, dtype=torch.float64)


def fit_irt(responses: np.ndarray, steps: int = 150, prior_b: float = 2.0, prior_log_a: float = 1.0) -> IRT2PL:
    """Fit a 2PL model to a (models, items) 0/1 matrix by joint MAP (L-BFGS)."""
    y = _check(responses)
    M, N = y.shape
    p_item = y.mean(0).clamp(0.02, 0.98)
    theta = torch.zeros(M, dtype=torch.float64, requires_grad=True)
    b = (-torch.log(p_item / (1 - p_item))).clone().requires_grad_(True)  # start: difficulty from the pass rate
    log_a = torch.zeros(N, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([theta, b, log_a], lr=1.0, max_iter=steps, tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = log_a.exp() * (theta[:, None] - b[None, :])  # (M, N)
        nll = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum")
        prior = 0.5 * (theta ** 2).sum() + 0.5 * ((b / prior_b) ** 2).sum() + 0.5 * ((log_a / prior_log_a) ** 2).sum()
        loss = nll + prior
        loss.backward()
        return loss

    opt.step(closure)
    return IRT2PL(log_a.detach().exp().numpy(), b.detach().numpy(), theta.detach().numpy())


def ability_map(a: np.ndarray, b: np.ndarray, answers: np.ndarray) -> float:
    """MAP ability (prior N(0, 1)) of one model from its 0/1 answers to items of discrimination a, difficulty b."""
    a = np.asarray(a, dtype=float)
    return fit_ability(IRT2PL(a, np.asarray(b, dtype=float), np.zeros(0)), np.arange(len(a)), answers)


def fit_ability(model: IRT2PL, items: np.ndarray, answers: np.ndarray, steps: int = 100) -> float:
    """MAP ability (prior N(0, 1), searched in [-8, 8]) of a new model from its 0/1 `answers` on `items`."""
    items = np.asarray(items)
    y = torch.as_tensor(np.asarray(answers, dtype=float), dtype=torch.float64)
    if y.shape != items.shape:
        raise ValueError(f"{len(answers)} answers for {len(items)} items")
    a, b, y = model.a[items], model.b[items], y.numpy()

    def slope(theta: float) -> float:  # d/dtheta of the log posterior: decreasing, so one root
        p = 1 / (1 + np.exp(-a * (theta - b)))
        return float((a * (y - p)).sum() - theta)

    lo, hi = -8.0, 8.0  # bisection: slower than Newton, but it cannot overshoot on steep items
    for _ in range(steps):
        mid = (lo + hi) / 2
        if slope(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return (lo + hi) / 2
