"""Small statistics every evaluation needs: bootstrap confidence intervals.

A benchmark score is a mean over items, and items are a sample: another 200 items of the
same kind would give a different number. The bootstrap asks how different, without a
formula: resample the items with replacement many times, recompute the mean each time,
and read the 2.5% and 97.5% percentiles of those means (a 95% interval). Two models
whose intervals overlap a lot may not differ at all.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["bootstrap_ci", "bootstrap_distribution"]


def bootstrap_distribution(values: Sequence[float] | np.ndarray, stat: Callable[[np.ndarray], float] = np.mean,
                           n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """`stat` of `n_boot` resamples (with replacement) of `values` along the first axis."""
    x = np.asarray(values)
    if len(x) == 0:
        raise ValueError("cannot bootstrap an empty sample")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    if stat is np.mean and x.ndim == 1:  # the common case, vectorised
        return x[idx].mean(axis=1)
    return np.array([stat(x[i]) for i in idx])


def bootstrap_ci(values: Sequence[float] | np.ndarray, alpha: float = 0.05, n_boot: int = 1000, seed: int = 0,
                 stat: Callable[[np.ndarray], float] = np.mean) -> tuple[float, float]:
    """Percentile bootstrap interval (1 - alpha) of `stat` over `values`."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    dist = bootstrap_distribution(values, stat, n_boot, seed)
    lo, hi = np.percentile(dist, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)
