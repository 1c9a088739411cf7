"""LoRA: fine-tune a frozen linear layer through a low-rank update (Hu et al., 2021).

A fine-tuned weight differs from the pre-trained one by ΔW, and that change has low
"intrinsic rank". LoRA keeps W frozen and learns ΔW = B·A as two thin matrices:

    y = x W^T + b  +  (alpha / r) · dropout(x) A^T B^T        A: (r, in)   B: (out, r)

A starts random (Kaiming-uniform, as in peft) and B at zero, so training starts exactly
at the pre-trained model. r·(in + out) trainable numbers instead of in·out: for a 640 x
640 projection and r = 8, 10,240 instead of 409,600 (2.5%). After training, B·A can be
folded into W (`merge()`): the merged model is a plain nn.Linear, with no extra latency.

This is the same computation as peft's `LoraLayer` (default init, `lora_dropout` on the
input, `scaling = lora_alpha / r`), checked in tests: same A and B give the same outputs,
the same gradients, and `merge()` gives peft's `merge_and_unload()` weights.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

__all__ = ["LoRALinear", "apply_lora", "linear_module_names", "load_lora_state_dict", "lora_state_dict",
           "mark_only_lora_trainable", "merge_lora", "trainable_parameters"]


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update B·A scaled by alpha / r.

    `base` may be an nn.Linear or any module with `in_features`, `out_features` and a
    `dequantized_weight()` (the NF4 linear of QLoRA); its parameters are frozen here.
    """

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        in_f, out_f = getattr(base, "in_features", None), getattr(base, "out_features", None)
        if in_f is None or out_f is None:
            raise TypeError(f"LoRALinear wraps a linear layer (nn.Linear or NF4Linear), got {type(base).__name__}")
        if not isinstance(r, int) or r < 1:
            raise ValueError(f"LoRA rank r must be a positive integer, got {r!r}")
        if r > min(in_f, out_f):
            raise ValueError(f"LoRA rank r={r} is larger than the layer ({out_f} x {in_f}): a rank above "
                             f"min(in, out) = {min(in_f, out_f)} adds nothing a full update would not; use r <= "
                             f"{min(in_f, out_f)} (typically 4-64)")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        self.in_features, self.out_features = in_f, out_f
        dtype = _float_dtype(base)
        self.lora_A = nn.Parameter(torch.empty(r, in_f, dtype=dtype))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(out_f, r, dtype=dtype))  # (out, r): zero, so ΔW starts at 0
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # peft's default (nn.Linear's own init)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)  # (..., out) the frozen path
        h = self.dropout(x).to(self.lora_A.dtype) @ self.lora_A.T  # (..., r) down to rank r
        return y + (h @ self.lora_B.T).to(y.dtype) * self.scaling  # (..., out) back up, scaled

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (alpha / r) · B·A, (out, in)."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def merge(self) -> nn.Linear:
        """A plain nn.Linear with W + ΔW: the fine-tuned layer at no extra inference cost."""
        weight = self.base.dequantized_weight() if hasattr(self.base, "dequantized_weight") else self.base.weight
        bias = getattr(self.base, "bias", None)
        merged = nn.Linear(self.in_features, self.out_features, bias=bias is not None,
                           dtype=self.lora_A.dtype, device=self.lora_A.device)
        with torch.no_grad():
            merged.weight.copy_(weight.detach().to(self.lora_A.dtype) + self.delta_weight())
            if bias is not None:
                merged.bias.copy_(bias.detach())
        return merged

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, r={self.r}, alpha={self.alpha}"


def _float_dtype(module: nn.Module) -> torch.dtype:
    dtype = getattr(module, "compute_dtype", None)
    if dtype is not None:
        return dtype
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def linear_module_names(model: nn.Module) -> list[str]:
    """Names of every nn.Linear in `model` (what LoRA can target)."""
    return [name for name, mod in model.named_modules() if isinstance(mod, nn.Linear) or
            type(mod).__name__ in ("NF4Linear", "Linear4bit")]


def _matches(name: str, targets: Iterable[str]) -> bool:
    """peft's rule: a module matches a target when its name is the target or ends with "." + target."""
    return any(name == t or name.endswith("." + t) for t in targets)


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def mark_only_lora_trainable(model: nn.Module) -> nn.Module:
    """Freeze every parameter except the LoRA A and B matrices."""
    for name, p in model.named_parameters():
        p.requires_grad_("lora_A" in name or "lora_B" in name)
    return model


def apply_lora(model: nn.Module, target_modules: Iterable[str], r: int, alpha: float,
               dropout: float = 0.0, lora_cls: type | None = None) -> nn.Module:
    """Wrap every nn.Linear whose name matches `target_modules` in a LoRALinear; freeze the rest.

    Names match as in peft: "qkv" matches "blocks.0.attn.qkv". Works in place and returns
    `model`. Raises ValueError (listing the linear layers there are) when nothing matches.
    `lora_cls` builds each wrapper (default LoRALinear; a notebook passes the learner's class).
    """
    lora_cls = lora_cls or LoRALinear
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    targets = list(target_modules)
    linears = linear_module_names(model)
    chosen = [n for n in linears if _matches(n, targets)]
    if not chosen:
        short = sorted({n.rsplit(".", 1)[-1] for n in linears})
        raise ValueError(f"LoRA target_modules {targets} match no linear layer of this "
                         f"{type(model).__name__}. Its linear layers are named {short} "
                         f"(full names like {linears[:3]}); pass some of those")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in chosen:
        _set_module(model, name, lora_cls(model.get_submodule(name), r, alpha, dropout))
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by its merged nn.Linear (in place); returns the model."""
    names = [n for n, m in model.named_modules() if callable(getattr(m, "merge", None)) and hasattr(m, "lora_A")]
    for name in names:
        _set_module(model, name, model.get_submodule(name).merge())
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA matrices: the adapter file (kilobytes), not the model (megabytes)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if "lora_A" in k or "lora_B" in k}


def load_lora_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Load saved LoRA matrices into a model that `apply_lora` prepared with the same targets and rank."""
    own = {k for k in model.state_dict() if "lora_A" in k or "lora_B" in k}
    if set(state) != own:
        missing, extra = sorted(own - set(state))[:3], sorted(set(state) - own)[:3]
        raise ValueError(f"the adapter does not fit this model (missing {missing}, unexpected {extra}): apply_lora "
                         "with the same target_modules and r first")
    model.load_state_dict(state, strict=False)
    return model


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts (shared tensors counted once; NF4 weights count as numbers)."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    for m in model.modules():  # frozen 4-bit weights live outside parameters()
        if hasattr(m, "nf4"):
            total += math.prod(m.nf4.shape)
    return trainable, total
