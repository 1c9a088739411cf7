"""Model FLOPs utilisation (MFU): how much of the machine's peak arithmetic training uses.

Training a transformer costs, per token (Kaplan et al. 2020; PaLM appendix B):

    6 N                  every weight takes part in one multiply-add (2 FLOPs) forward and two
                         backward (input and weight gradients): 2 + 4 = 6 FLOPs per parameter
  + 12 L T d             attention scores Q K^T and the weighted sum A V: 2 * 2 * T * d FLOPs per
                         layer per token forward (full T x T, as PaLM counts), times 3 for backward

with N the parameters that multiply (the embedding lookup costs nothing; a tied output
head does multiply, so count it once), L layers, T the sequence length and d = n_embd.
MFU = FLOPs per token * tokens per second / peak FLOP/s.

The peak: on a GPU, the datasheet's dense tensor-core figure for the precision; on a
CPU there is no honest datasheet number for one process, so we *measure* the rate of a
large matrix multiply in that precision with the threads torch uses, and say so.
"""

from __future__ import annotations

import time
from functools import lru_cache

import torch
from torch import nn

__all__ = ["GPU_PEAK_TFLOPS", "flops_per_token", "mfu", "peak_flops"]

# dense (no sparsity) peak TFLOP/s per precision, from the vendors' datasheets
GPU_PEAK_TFLOPS = {
    "H200": {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0},
    "H100": {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0},  # SXM; PCIe is 756
    "A100": {"bf16": 312.0, "fp16": 312.0, "fp32": 19.5},
    "L4": {"bf16": 121.0, "fp16": 121.0, "fp32": 30.3},
    "A10": {"bf16": 125.0, "fp16": 125.0, "fp32": 31.2},
    "T4": {"bf16": 65.0, "fp16": 65.0, "fp32": 8.1},  # T4 has no bf16 units; autocast emulates it slowly
    "V100": {"bf16": 125.0, "fp16": 125.0, "fp32": 15.7},
    "4090": {"bf16": 165.2, "fp16": 165.2, "fp32": 82.6},
}


def matmul_params(model: nn.Module) -> int:
    """Parameters that take part in a matrix multiply: all, minus position tables and an untied embedding."""
    n = sum(p.numel() for p in model.parameters())
    pos = getattr(model, "pos_emb", None)
    if pos is not None:
        n -= sum(p.numel() for p in pos.parameters())
    pos = getattr(model, "pos", None)  # BERT's learned positions
    if isinstance(pos, nn.Embedding):
        n -= pos.weight.numel()
    config = getattr(model, "config", None)
    if config is not None and not getattr(config, "tie_weights", True):
        n -= model.tok_emb.weight.numel()  # the lookup table; lm_head stays
    return n


def flops_per_token(model: nn.Module, seq_len: int) -> float:
    """Training FLOPs per token: 6 N + 12 L T d (forward + backward)."""
    c = model.config
    return 6.0 * matmul_params(model) + 12.0 * c.n_layer * seq_len * c.n_embd


@lru_cache(maxsize=8)
def _measured_cpu_peak(dtype: torch.dtype, threads: int, budget_s: float = 0.05) -> float:
    """FLOP/s of the best of 3 square `F.linear` products, n growing from 256 until one takes `budget_s`.

    `F.linear` because it is what the models' layers call, and on CPUs the 16-bit types take a
    different (oneDNN) path there than in a plain `a @ b`. Adaptive, because an emulated
    precision (bf16 on a CPU without bf16 units) is several times slower than fp32.
    """
    import torch.nn.functional as F

    n = 256
    while True:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        F.linear(a, b)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            F.linear(a, b)
            best = min(best, time.perf_counter() - start)
        if best >= budget_s or n >= 2048:
            return 2 * n ** 3 / best
        n *= 2


def peak_flops(device: str | torch.device = "cpu", precision: str = "fp32") -> tuple[float, str]:
    """(peak FLOP/s, where the number comes from) for this device and precision."""
    from llmcourse.training.precision import precision_dtype

    dtype = precision_dtype(precision)
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, table in GPU_PEAK_TFLOPS.items():
            if key in name:
                return table[precision] * 1e12, f"{name} datasheet, dense {precision}"
        raise ValueError(f"no datasheet peak for {name}: add it to GPU_PEAK_TFLOPS")
    threads = torch.get_num_threads()
    return _measured_cpu_peak(dtype, threads), f"measured {precision} matmul peak of this CPU ({threads} threads)"


def mfu(model: nn.Module, seq_len: int, tokens_per_second: float, device: str | torch.device = "cpu",
        precision: str = "fp32", world_size: int = 1) -> float:
    """Model FLOPs utilisation in [0, 1]: achieved FLOP/s over world_size devices' peak."""
    peak, _ = peak_flops(device, precision)
    return flops_per_token(model, seq_len) * tokens_per_second / (peak * world_size)
