"""Catastrophic forgetting, and one classic brake on it: L2-SP (Li et al., 2018).

Fine-tuning on a narrow domain pulls the weights wherever that domain's loss wants them,
and what the model knew before (general text) degrades. L2-SP adds a spring that pulls
the weights back towards the pre-trained starting point θ0 rather than towards zero
(plain weight decay):

    loss = task loss + (alpha / 2) · Σ ||θ - θ0||²        (over the trained parameters)

alpha trades adaptation against forgetting; the notebook measures both.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["l2sp_loss_fn", "l2sp_penalty", "snapshot"]


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every trainable parameter: θ0, the anchor of L2-SP."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def l2sp_penalty(model: nn.Module, reference: dict[str, torch.Tensor], alpha: float) -> torch.Tensor:
    """(alpha / 2) · Σ over trainable parameters of ||θ - θ0||² (θ0 from `reference`, by name)."""
    total = torch.zeros((), device=next(model.parameters()).device)
    for name, p in model.named_parameters():
        if p.requires_grad:
            total = total + (p - reference[name]).pow(2).sum()
    return 0.5 * alpha * total


def l2sp_loss_fn(base_loss: Callable, reference: dict[str, torch.Tensor], alpha: float,
                 penalty: Callable = l2sp_penalty) -> Callable:
    """A loss for `llmcourse.training.train`: the base loss plus the L2-SP penalty."""
    return lambda model, batch: base_loss(model, batch) + penalty(model, reference, alpha)
