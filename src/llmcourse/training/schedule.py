"""Learning-rate schedules: warmup + cosine decay, and scaling the learning rate with the batch.

Warmup: Adam's second-moment estimates are noise for the first few hundred steps, and a
full learning rate then can blow the model up; rising linearly from ~0 avoids that.
Cosine decay then lowers it smoothly to min_lr, which is where most of the final loss
improvement comes from.

Bigger batches average away gradient noise, so they allow a bigger step. Two rules of
thumb, from a (base batch, base lr) that works:

    linear   lr = base_lr * (batch / base_batch)          (Goyal et al. 2017, SGD, with warmup)
    sqrt     lr = base_lr * sqrt(batch / base_batch)      (Krizhevsky 2014; closer for Adam)

Both break down past the "critical batch size", where more data per step stops helping.
"""

from __future__ import annotations

import math

import torch

__all__ = ["cosine_schedule", "scaled_lr", "warmup_cosine"]


def warmup_cosine(step: int, steps: int, warmup: int = 0, min_ratio: float = 0.1) -> float:
    """The learning-rate multiplier at `step` (0-based): linear warmup to 1, cosine decay to min_ratio."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return min_ratio + 0.5 * (1 - min_ratio) * (1 + math.cos(math.pi * progress))


def cosine_schedule(optimizer: torch.optim.Optimizer, steps: int, warmup: int = 0,
                    min_ratio: float = 0.1) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR with `warmup_cosine`: its state_dict goes into checkpoints."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, warmup, min_ratio))


def scaled_lr(base_lr: float, base_batch: int, batch: int, rule: str = "sqrt") -> float:
    """The learning rate for `batch` given one that works at `base_batch`: linear, sqrt or none."""
    if base_batch < 1 or batch < 1:
        raise ValueError(f"batch sizes must be positive, got {base_batch} and {batch}")
    ratio = batch / base_batch
    if rule == "linear":
        return base_lr * ratio
    if rule == "sqrt":
        return base_lr * math.sqrt(ratio)
    if rule == "none":
        return base_lr
    raise ValueError(f"rule must be 'linear', 'sqrt' or 'none', got {rule!r}")
