"""Measuring a quantised model: perplexity, a task metric, size and speed — and the peers.

    perplexity(logits_fn, ids, window)      exp(mean next-token loss) over held-out text
    next_token_accuracy(logits_fn, ids)     how often the top-1 prediction is the next token
    bnb_quantize(model, "int8" | "nf4")     the same model with bitsandbytes' layers (the peer)
    torchao_int8(model)                     torchao's INT8 weight-only quantisation
    llamacpp_quantize(src, dst, "Q4_K_M")   llama.cpp's own quantiser on a GGUF file

A `logits_fn` maps token ids (1, T) to logits (1, T, V), so the course GPT, a Hugging Face
model and llama.cpp are measured by the same code on the same windows.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["bnb_quantize", "gpt_logits", "hf_logits", "llamacpp_logits_fn", "llamacpp_quantize", "next_token_accuracy",
           "perplexity", "tokens_per_second", "torchao_int8"]

LogitsFn = Callable[[torch.Tensor], torch.Tensor]


def gpt_logits(model) -> LogitsFn:
    return lambda ids: model(ids)[0]


def hf_logits(model) -> LogitsFn:
    return lambda ids: model(ids).logits


def llamacpp_logits_fn(llm) -> LogitsFn:
    """llama.cpp (a model loaded with logits_all=True) as a logits function."""
    from llmcourse.inference.llamacpp import llamacpp_logits

    return lambda ids: torch.from_numpy(llamacpp_logits(llm, ids[0].tolist()))[None]


def _windows(ids: list[int], window: int, max_windows: int | None) -> list[torch.Tensor]:
    if len(ids) < 2:
        raise ValueError("perplexity needs at least two tokens of text")
    out = [torch.tensor([ids[i:i + window]]) for i in range(0, len(ids) - 1, window) if len(ids[i:i + window]) > 1]
    return out[:max_windows] if max_windows else out


@torch.no_grad()
def perplexity(logits_fn: LogitsFn, ids: list[int], window: int, max_windows: int | None = None) -> float:
    """exp(mean cross-entropy of each next token) over non-overlapping windows of the text."""
    total, count = 0.0, 0
    for x in _windows(ids, window, max_windows):
        logits = logits_fn(x).float()[0, :-1]  # (T - 1, V)
        total += F.cross_entropy(logits, x[0, 1:], reduction="sum").item()
        count += x.shape[1] - 1
    return math.exp(total / count)


@torch.no_grad()
def next_token_accuracy(logits_fn: LogitsFn, ids: list[int], window: int, max_windows: int | None = None) -> float:
    """Fraction of positions where the most likely next token is the real one (a task metric)."""
    hits, count = 0, 0
    for x in _windows(ids, window, max_windows):
        pred = logits_fn(x)[0, :-1].argmax(-1)
        hits += int((pred == x[0, 1:]).sum())
        count += x.shape[1] - 1
    return hits / count


def tokens_per_second(generate: Callable[[], int], repeats: int = 1) -> float:
    """Run `generate()` (returning how many tokens it made) and return tokens per second (best of repeats)."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = generate()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def bnb_quantize(model: nn.Module, kind: str, skip: tuple[str, ...] = ("lm_head",)) -> nn.Module:
    """A copy of `model` with every nn.Linear replaced by bitsandbytes' Linear8bitLt ("int8", LLM.int8()
    with threshold 6) or Linear4bit ("nf4", blocks of 64, float32 compute), on the CPU."""
    import warnings

    import bitsandbytes as bnb

    warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")  # it says so on every call
    model = copy.deepcopy(model)
    for name, lin in [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) and not n.endswith(skip)]:
        w = lin.weight.detach()
        if kind == "int8":
            new = bnb.nn.Linear8bitLt(lin.in_features, lin.out_features, bias=lin.bias is not None,
                                      has_fp16_weights=False, threshold=6.0)
            new.weight = bnb.nn.Int8Params(w.clone(), requires_grad=False, has_fp16_weights=False)
        elif kind == "nf4":
            new = bnb.nn.Linear4bit(lin.in_features, lin.out_features, bias=lin.bias is not None,
                                    compute_dtype=torch.float32, quant_type="nf4")
            new.weight = bnb.nn.Params4bit(w.clone(), requires_grad=False, quant_type="nf4", blocksize=64)
        else:
            raise ValueError(f"kind must be 'int8' or 'nf4', got {kind!r}")
        if lin.bias is not None:
            new.bias = nn.Parameter(lin.bias.detach().clone(), requires_grad=False)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, new.to("cpu"))
    return model.eval()


def torchao_int8(model: nn.Module) -> nn.Module:
    """A copy of `model` with torchao's INT8 weight-only quantisation (per-channel) of its linears."""
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    model = copy.deepcopy(model)
    quantize_(model, Int8WeightOnlyConfig(), filter_fn=lambda m, fqn: isinstance(m, nn.Linear) and "lm_head" not in fqn)
    return model.eval()


@contextlib.contextmanager
def _quiet_c_output():
    """Send file descriptors 1 and 2 to /dev/null for a moment (C libraries write there directly)."""
    import os
    import sys

    sys.stdout.flush(), sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1), os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        for fd in saved + [null]:
            os.close(fd)


def llamacpp_quantize(src: str | Path, dst: str | Path, qtype: str = "Q4_K_M") -> Path:
    """llama.cpp's own quantiser (what `llama-quantize` does): src GGUF (F16/F32) -> dst in `qtype`.

    Tensors whose rows do not fit the k-quant super-blocks (256 values) get a fallback type,
    as llama.cpp decides.
    """
    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype}", None)
    if ftype is None:
        raise ValueError(f"llama.cpp has no file type {qtype!r} (e.g. Q8_0, Q4_0, Q4_K_M, Q5_K_M)")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 1
    with _quiet_c_output():  # llama.cpp logs every tensor from C, past Python's sys.stdout
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama.cpp could not quantise {src} to {qtype} (code {rc})")
    return Path(dst)
