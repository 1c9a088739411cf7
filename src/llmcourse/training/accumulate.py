"""One optimiser step over several micro-batches: gradient accumulation (and the place DDP syncs).

A batch too big for memory is split into k micro-batches. Gradients add up across
backward calls (`.grad += ...`), so running backward on each micro-batch's loss divided
by k leaves exactly the gradient of the mean loss over the whole batch:

    grad( (1/k) sum_i L_i ) = sum_i grad(L_i / k)

provided every micro-batch has the same number of tokens (true for fixed-length
windows; with padding, weight each micro-batch by its token count instead). Under DDP
each backward would all-reduce the gradients across ranks; `no_sync()` turns that off
for the first k-1 micro-batches, so the network is used once per step.

    loss, grad_norm, stepped = train_step(model, optimizer, micro_batches, loss_fn)
"""

from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import torch
from torch import nn

from llmcourse.training.precision import autocast

__all__ = ["StepResult", "accumulated_gradients", "train_step"]


class StepResult(tuple):
    """(mean loss, gradient norm before clipping, whether the optimiser stepped)."""

    def __new__(cls, loss: float, grad_norm: float, stepped: bool):
        return super().__new__(cls, (loss, grad_norm, stepped))

    loss = property(lambda self: self[0])
    grad_norm = property(lambda self: self[1])
    stepped = property(lambda self: self[2])


def accumulated_gradients(model: nn.Module, micro_batches: Sequence, loss_fn: Callable) -> list[torch.Tensor]:
    """The gradient of the mean loss over all micro-batches, accumulated one micro-batch at a time."""
    model.zero_grad(set_to_none=True)
    k = len(micro_batches)
    for batch in micro_batches:
        (loss_fn(model, batch) / k).backward()
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, micro_batches: Sequence, loss_fn: Callable,
               *, device: str | torch.device = "cpu", precision: str = "fp32",
               scaler: torch.amp.GradScaler | None = None, grad_clip: float | None = 1.0) -> StepResult:
    """Forward/backward every micro-batch (loss / k), then clip and step once.

    Under autocast for bf16/fp16; with `scaler` (fp16) the loss is scaled before backward,
    gradients unscaled before clipping, and the step skipped when they overflowed.
    A DDP-wrapped model synchronises gradients only on the last micro-batch.
    """
    k = len(micro_batches)
    if k == 0:
        raise ValueError("train_step needs at least one micro-batch")
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for i, batch in enumerate(micro_batches):
        sync = i == k - 1
        ctx = model.no_sync() if (not sync and hasattr(model, "no_sync")) else contextlib.nullcontext()
        with ctx:
            with autocast(device, precision):
                loss = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss is {loss.item()}: lower the learning rate (or use bf16 "
                                         "instead of fp16)")
            scaled = loss / k
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
        total += loss.item()
    if scaler is not None:
        scaler.unscale_(optimizer)
    params = [p for p in model.parameters() if p.grad is not None]
    if grad_clip:
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    else:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
    if scaler is not None:
        before = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        stepped = not (scaler.is_enabled() and scaler.get_scale() < before)
    else:
        optimizer.step()
        stepped = True
    return StepResult(total / k, norm, stepped)
