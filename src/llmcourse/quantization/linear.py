"""Quantised linear layers that run, and `quantize_model` to swap them into a model.

Each layer keeps its weight in the small format and computes y = x W^T + b from it:

    Int8Linear          per-output-channel absmax INT8 weights; y = (x @ q^T) · scale
                        (the scale of row j factors out of the dot product for output j)
    Int4Linear          group-wise INT4 (packed two per byte); dequantised in forward
    Int8OutlierLinear   LLM.int8(): INT8 weights, INT8 activations except outlier columns
    "nf4"               4-bit NormalFloat blocks: week 5's `llmcourse.quantization.nf4` layers

Weight-only schemes save memory (the weights are 4x or 8x smaller); whether they are
faster depends on a kernel that reads the small format directly — in eager PyTorch on a
CPU, dequantising costs more than it saves, which is what llama.cpp's kernels fix.
`quantize_model(model, "int8")` replaces every `nn.Linear` (except those named in
`skip`, by default the output head, as bitsandbytes does) and returns the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.quantization.int4 import dequantize_int4, quantize_int4
from llmcourse.quantization.int8 import absmax_quantize, check_finite
from llmcourse.quantization.outliers import int8_outlier_matmul, vectorwise_quantize

__all__ = ["Int4Linear", "Int8Linear", "Int8OutlierLinear", "SCHEMES", "model_nbytes",
           "quantize_model"]


class _QuantLinear(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        check_finite(linear.weight.detach(), "weight matrix")
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Int8Linear(_QuantLinear):
    """Weight-only INT8, one absmax scale per output row."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__(linear)
        qt = absmax_quantize(linear.weight.detach(), dim=0)
        self.register_buffer("weight_q", qt.q)  # (out, in) int8
        self.register_buffer("scale", qt.scale.flatten())  # (out,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight_q.to(x.dtype)) * self.scale.to(x.dtype)  # (..., out)
        return y if self.bias is None else y + self.bias


class Int4Linear(_QuantLinear):
    """Weight-only group-wise INT4 (asymmetric, `group_size` weights per scale).

    A row whose length is not a multiple of the group size (the course GPT's SwiGLU width,
    171) is padded with zero columns to the next multiple; they quantise to exact zeros
    and are cut off again in forward.
    """

    def __init__(self, linear: nn.Linear, group_size: int = 64) -> None:
        super().__init__(linear)
        w = linear.weight.detach()
        pad = -self.in_features % group_size
        self.qw = quantize_int4(F.pad(w, (0, pad)), group_size)
        self.register_buffer("packed", self.qw.packed)
        self.register_buffer("scales", self.qw.scale)
        self.register_buffer("zeros", self.qw.zero)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = dequantize_int4(self.qw)[:, : self.in_features].to(x.dtype)  # (out, in)
        return F.linear(x, w, self.bias)


class Int8OutlierLinear(_QuantLinear):
    """LLM.int8(): INT8 weights and activations, activation columns >= threshold in float."""

    def __init__(self, linear: nn.Linear, threshold: float = 6.0) -> None:
        super().__init__(linear)
        self.threshold = threshold
        q, absmax = vectorwise_quantize(linear.weight.detach())
        self.register_buffer("weight_q", q)  # (out, in) int8
        self.register_buffer("weight_absmax", absmax)  # (out,)
        self.last_outliers = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, cols = int8_outlier_matmul(x, self.weight_q, self.weight_absmax, self.threshold, self.bias)
        self.last_outliers = int(cols.numel())
        return y.to(x.dtype)


SCHEMES = {"int8": Int8Linear, "int4": Int4Linear, "int8-outliers": Int8OutlierLinear, "nf4": None}


def quantize_model(model: nn.Module, scheme: str, skip: tuple[str, ...] = ("lm_head",), **kwargs) -> nn.Module:
    """Replace every nn.Linear of `model` (in place) by the quantised layer of `scheme`.

    Layers whose name ends with one of `skip` stay in float (the output head, tied to the
    embedding in the course GPT). Returns the model, in eval mode.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    if scheme == "nf4":
        from llmcourse.quantization.nf4 import quantize_model_nf4

        return quantize_model_nf4(model, skip=skip, compute_dtype=torch.float32, **kwargs).eval()
    make = SCHEMES[scheme]
    targets = [(name, mod) for name, mod in model.named_modules()
               if isinstance(mod, nn.Linear) and not name.endswith(skip)]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(linear, **kwargs))
    return model.eval()


def model_nbytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer, each shared tensor counted once (tied embeddings)."""
    seen, total = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        key = t.data_ptr()
        if key in seen:
            continue
        seen.add(key)
        total += t.numel() * t.element_size()
    for mod in model.modules():  # quantised tensors kept as plain attributes (week 5's NF4Tensor)
        for value in vars(mod).values():
            if hasattr(value, "dequantize") and callable(getattr(value, "nbytes", None)):
                total += value.nbytes()
    return total
