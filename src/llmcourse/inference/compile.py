"""torch.compile and CUDA graphs for the decoding step.

In eager PyTorch every operation of a forward pass is dispatched from Python one by one:
for a small model, or one token at a time, that overhead (and on a GPU, one kernel launch
per op) costs more than the arithmetic. Two remedies:

    torch.compile          traces the step once and generates fused code for it (Inductor:
                           C++/OpenMP on a CPU, Triton on a GPU); it needs the same
                           shapes every call, which the static cache provides
    CUDA graphs            record the GPU kernels of one step once and replay them with a
                           single launch: torch.compile(mode="reduce-overhead") on CUDA

Compiling costs time up front (seconds to minutes), paid back over many tokens.

    generate_compiled(model, prompts, 64)                      # CPU: Inductor
    generate_compiled(model, prompts, 64, "reduce-overhead")   # GPU: CUDA graphs too
"""

from __future__ import annotations

import torch

from llmcourse.inference.sampling import SamplingParams

__all__ = ["cuda_graphs_available", "generate_compiled"]


def cuda_graphs_available() -> bool:
    """CUDA graphs need a CUDA device."""
    return torch.cuda.is_available()


def generate_compiled(model, prompts: list[list[int]], max_new_tokens: int, mode: str | None = None,
                      sampling: SamplingParams | None = None, eos_token_id: int | None = None) -> list[list[int]]:
    """`generate_static` with the decoding step compiled by torch.compile (mode: None, "reduce-overhead"...)."""
    from llmcourse.inference.static_cache import generate_static

    return generate_static(model, prompts, max_new_tokens, sampling, compile=mode or True, eos_token_id=eos_token_id)
