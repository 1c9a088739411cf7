"""QLoRA (Dettmers et al., 2023): LoRA on top of a base model frozen in 4-bit NF4.

    frozen base  W  stored as NF4 codes + double-quantised block scales (~4.1 bits/weight)
    forward      y = x · dequant(W)^T  (in bfloat16)  +  (alpha/r) · x A^T B^T  (LoRA, float32)
    backward     gradients flow to A and B only; dequant(W) is recomputed, never stored

The frozen weights shrink ~7.8x against float32; the trained LoRA matrices and their Adam
states stay small. Embeddings and norms are kept in the compute dtype, as bitsandbytes and
transformers do when loading a model in 4-bit.

The compute dtype defaults to bfloat16 on a GPU (QLoRA's choice) and to float32 on a CPU:
CPUs without bfloat16 instructions (most laptops) multiply bfloat16 matrices an order of
magnitude slower than float32 ones. On a CPU the memory saved is then the 4-bit weights'
alone; embeddings stay float32.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from llmcourse.finetuning.lora import apply_lora
from llmcourse.quantization.nf4 import quantize_model_nf4

__all__ = ["apply_qlora", "default_compute_dtype", "peft_bnb_twin"]


def default_compute_dtype(model: nn.Module) -> torch.dtype:
    """bfloat16 for a model on a GPU, float32 on a CPU (see the module docstring)."""
    return torch.bfloat16 if next(model.parameters()).device.type == "cuda" else torch.float32


def apply_qlora(model: nn.Module, target_modules: Iterable[str], r: int, alpha: float, dropout: float = 0.0,
                blocksize: int = 64, double_quant: bool = True, compute_dtype: torch.dtype | None = None,
                skip: tuple[str, ...] = ("lm_head",)) -> nn.Module:
    """Quantise every linear layer (but `skip`) to NF4, keep the rest in `compute_dtype`, add LoRA to targets.

    In place; returns the model. Only the LoRA matrices train (float32).
    """
    compute_dtype = compute_dtype or default_compute_dtype(model)
    quantize_model_nf4(model, skip=skip, blocksize=blocksize, double_quant=double_quant, compute_dtype=compute_dtype)
    for p in model.parameters():  # embeddings, norms: frozen, in the compute dtype
        p.requires_grad_(False)
        if p.is_floating_point():
            p.data = p.data.to(compute_dtype)
    apply_lora(model, target_modules, r, alpha, dropout)
    for name, p in model.named_parameters():
        if "lora_" in name:
            p.data = p.data.float()
    return model


def peft_bnb_twin(model: nn.Module, ours: nn.Module, target_modules: Iterable[str], r: int, alpha: float,
                  compute_dtype: torch.dtype | None = None, blocksize: int = 64, double_quant: bool = True,
                  skip: tuple[str, ...] = ("lm_head",)) -> nn.Module:
    """The reference QLoRA a practitioner would build: bitsandbytes `Linear4bit` (NF4) layers under peft's
    LoRA, from the float `model`, with the LoRA matrices copied from `ours` (made by `apply_qlora`).

    Non-quantised weights are cast to `compute_dtype` and LoRA kept in float32, as in `apply_qlora`.
    """
    import copy

    import bitsandbytes as bnb
    import peft

    from llmcourse.finetuning.lora import LoRALinear

    compute_dtype = compute_dtype or default_compute_dtype(model)
    twin = copy.deepcopy(model)
    device = next(model.parameters()).device
    for name, mod in list(twin.named_modules()):
        if isinstance(mod, nn.Linear) and not any(s in name for s in skip):
            q = bnb.nn.Linear4bit(mod.in_features, mod.out_features, bias=mod.bias is not None,
                                  compute_dtype=compute_dtype, quant_type="nf4", compress_statistics=double_quant)
            q.weight = bnb.nn.Params4bit(mod.weight.data.clone().float(), requires_grad=False, quant_type="nf4",
                                         compress_statistics=double_quant, blocksize=blocksize)
            if mod.bias is not None:
                q.bias = nn.Parameter(mod.bias.data.clone().to(compute_dtype), requires_grad=False)
            parent, _, child = name.rpartition(".")
            setattr(twin.get_submodule(parent) if parent else twin, child, q.to(device))
    for p in twin.parameters():
        if p.is_floating_point():
            p.data = p.data.to(compute_dtype)
    twin = peft.get_peft_model(twin, peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=list(target_modules),
                                                     lora_dropout=0.0))
    for name, mod in ours.named_modules():
        if isinstance(mod, LoRALinear):
            layer = twin.base_model.model.get_submodule(name)
            layer.lora_A["default"].weight.data = mod.lora_A.data.clone().float()
            layer.lora_B["default"].weight.data = mod.lora_B.data.clone().float()
    return twin
