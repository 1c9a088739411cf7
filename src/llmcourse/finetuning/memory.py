"""What training costs in memory, by formula and measured, and what a step costs in time.

Training with AdamW in float32 keeps, for N parameters of which N_t are trained:

    weights        4 N          bytes
    gradients      4 N_t        one per trained parameter
    Adam states    8 N_t        two running averages (m and v) per trained parameter
    activations    what the forward pass saves for the backward pass: grows with
                   batch x length x width x layers (and x length again for attention scores)

Full fine-tuning pays 16 bytes per parameter before activations; LoRA pays 4 per frozen
parameter and 16 per (few) trained ones; QLoRA stores the frozen ones in ~0.5 byte.

Measuring: on a GPU, `torch.cuda.max_memory_allocated`. On a CPU torch has no such
counter, so `PeakMemory` watches every operation (a `TorchDispatchMode`): each new tensor
storage adds its bytes and its release takes them off; the peak is the high-water mark.
Memory that existed before (the weights) is counted separately with `tensor_bytes`.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["PeakMemory", "StepCost", "adamw_memory_formula", "gpt_activation_bytes", "measure_step",
           "tensor_bytes"]


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind `tensors` (shared or tied tensors count once)."""
    seen, total = set(), 0
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        st = t.untyped_storage()
        key = (st.data_ptr(), st.device)
        if key not in seen:
            seen.add(key)
            total += st.nbytes()
    return total


def _model_tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    out = list(model.parameters()) + list(model.buffers())
    for m in model.modules():  # NF4 codes and scales are kept outside parameters and buffers
        q = getattr(m, "nf4", None)
        if q is not None:
            out += [q.packed, q.absmax] + ([q.absmax_scale] if q.absmax_scale is not None else [])
    return out


class PeakMemory(TorchDispatchMode):
    """Count the bytes of tensors allocated inside `with PeakMemory() as pm:`; `pm.peak` is the high-water mark.

    On CUDA it reads the allocator's own counters instead (set `device="cuda"`).
    """

    def __init__(self, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.cuda = torch.device(device).type == "cuda"
        self.live: dict[tuple, int] = {}
        self.current = self.peak = 0

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
            return self
        return super().__enter__()

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self._start
            self.current = torch.cuda.memory_allocated() - self._start
            return False
        return super().__exit__(*exc)

    def _track(self, t: torch.Tensor) -> None:
        st = t.untyped_storage()
        n = st.nbytes()
        key = (st.data_ptr(), n)
        if n == 0 or key in self.live:
            return
        self.live[key] = n
        self.current += n
        self.peak = max(self.peak, self.current)
        weakref.finalize(st, self._release, key)

    def _release(self, key: tuple) -> None:
        n = self.live.pop(key, 0)
        self.current -= n

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {a.untyped_storage().data_ptr() for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)}
        for t in tree_flatten(out)[0]:  # views and in-place results reuse an input's storage: not new memory
            if isinstance(t, torch.Tensor) and t.device.type != "meta" and t.untyped_storage().data_ptr() not in inputs:
                self._track(t)
        return out


@dataclass
class StepCost:
    """Memory (bytes) and time (seconds) of one training step, measured."""

    weights: int  # parameters, buffers and quantised codes before the step
    optimizer: int  # optimizer state after the step (Adam: m and v of trained parameters)
    step_peak: int  # high-water mark of memory allocated during the step (activations, grads, states)
    seconds: float  # wall-clock time of the step (median of the timed steps)

    @property
    def peak(self) -> int:
        """Weights plus the step's high-water mark (optimizer state is inside it on the first step)."""
        return self.weights + self.step_peak


def measure_step(model: torch.nn.Module, step: Callable[[], object], optimizer: torch.optim.Optimizer | None = None,
                 timed_steps: int = 2, device: str | torch.device = "cpu") -> StepCost:
    """Run `step()` once under PeakMemory (a fresh optimizer's states are allocated then), then
    `timed_steps` more for the time. `step()` does forward, backward and optimizer.step()."""
    for p in model.parameters():
        p.grad = None
    weights = tensor_bytes(_model_tensors(model))
    if optimizer is not None and any(optimizer.state.values()):
        weights += tensor_bytes(t for s in optimizer.state.values() for t in s.values())
    with PeakMemory(device) as pm:
        step()
    opt_bytes = 0
    if optimizer is not None:
        opt_bytes = tensor_bytes(t for s in optimizer.state.values() for t in s.values()
                                 if isinstance(t, torch.Tensor) and t.numel() > 1)
    times = []
    for _ in range(timed_steps):
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return StepCost(weights, opt_bytes, pm.peak, times[len(times) // 2] if times else float("nan"))


def adamw_memory_formula(n_params: int, n_trainable: int, bytes_per_weight: float = 4.0,
                         bytes_per_trained: int = 4) -> dict[str, float]:
    """Bytes of weights, gradients and Adam states for AdamW training (activations aside)."""
    weights = n_params * bytes_per_weight
    grads = n_trainable * bytes_per_trained
    adam = 2 * n_trainable * 4  # m and v, kept in float32
    return {"weights": weights, "gradients": grads, "adam": adam, "total": weights + grads + adam}


def gpt_activation_bytes(config, batch: int, length: int, bytes_per_number: int = 4,
                         checkpointing: bool = False) -> int:
    """Activations the course GPT (Llama-style) saves for backward, counted tensor by tensor.

    Per block and token: the residual input and the two norms' outputs (3C), q, k, v before
    and after rotary embedding (2·(C + 2·C_kv)), the attention output (C), the SwiGLU MLP's
    gate, up, silu(gate) and product (4F); per head, the attention probabilities over the
    keys (H·T, the from-scratch attention keeps its softmax output). Then the final norm
    and the logits with their log-softmax (2V per token). With checkpointing only each
    block's input (C) is kept, plus one block's worth during its recomputation.
    """
    C, F, H, V = config.n_embd, config.ffn_hidden, config.n_head, config.vocab_size
    kv = config.n_kv_head * config.head_dim
    per_token_block = 3 * C + 2 * (C + 2 * kv) + C + 4 * F + H * length
    tokens = batch * length
    blocks = config.n_layer * per_token_block if not checkpointing else config.n_layer * C + per_token_block
    head = C + 2 * V
    return int(tokens * (blocks + head) * bytes_per_number)
