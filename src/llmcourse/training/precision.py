"""Mixed precision: compute in 16 bits where it is safe, keep the weights in 32.

A matrix multiply in bfloat16 or float16 moves half the bytes of float32 and, on GPUs
with tensor cores (and CPUs with AVX-512 BF16 or AMX), runs many times faster.
`torch.autocast` runs the operations that benefit (matmuls, convolutions) in the low
precision and keeps the sensitive ones (softmax, norms, losses) in float32, while the
parameters and the optimiser stay in float32 ("master weights").

    bf16   8 exponent bits, like float32: the same range, less precision. No loss scaling.
    fp16   5 exponent bits: gradients below ~6e-8 flush to zero. A GradScaler multiplies
           the loss by a large factor S before backward (so small gradients survive),
           divides the gradients by S before the optimiser step, and *skips* the step
           when it finds inf/NaN (S was too large); S halves after an overflow and
           doubles after `growth_interval` clean steps.

`autocast(device, precision)` and `grad_scaler(device, precision)` are what the training
step uses; fp32 gives a no-op context and a disabled scaler.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["PRECISIONS", "LossScaler", "autocast", "grad_scaler", "precision_dtype"]

PRECISIONS = ("fp32", "bf16", "fp16")


def precision_dtype(precision: str) -> torch.dtype:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _device_type(device: str | torch.device) -> str:
    return torch.device(device).type


def autocast(device: str | torch.device, precision: str):
    """The autocast context for this device and precision (a null context for fp32)."""
    dtype = precision_dtype(precision)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=_device_type(device), dtype=dtype)


def grad_scaler(device: str | torch.device, precision: str, init_scale: float = 2.0 ** 16,
                growth_interval: int = 2000) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 and fp32 have float32's range and need none)."""
    precision_dtype(precision)
    return torch.amp.GradScaler(_device_type(device), init_scale=init_scale, growth_interval=growth_interval,
                                enabled=precision == "fp16")


class LossScaler:
    """Dynamic loss scaling from scratch: what torch.amp.GradScaler does, in a dozen lines.

        scaler = LossScaler()
        scaler.scale(loss).backward()      # gradients are S times too large: small ones survive fp16
        scaler.step(optimizer)             # divide by S; skip the step if any gradient is inf/NaN
        scaler.update()                    # overflow: S *= 0.5; `growth_interval` clean steps: S *= 2
    """

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000):
        self.scale_value = float(init_scale)
        self.growth_factor, self.backoff_factor, self.growth_interval = growth_factor, backoff_factor, growth_interval
        self.good_steps = 0
        self.found_inf = False

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return loss * self.scale_value

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Unscale the gradients; step unless one is inf/NaN. Returns whether it stepped."""
        inv = 1.0 / self.scale_value
        self.found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.mul_(inv)
                    if not torch.isfinite(p.grad).all():
                        self.found_inf = True
        if not self.found_inf:
            optimizer.step()
        return not self.found_inf

    def update(self) -> None:
        if self.found_inf:
            self.scale_value *= self.backoff_factor
            self.good_steps = 0
        else:
            self.good_steps += 1
            if self.good_steps == self.growth_interval:
                self.scale_value *= self.growth_factor
                self.good_steps = 0

    def get_scale(self) -> float:
        return self.scale_value
