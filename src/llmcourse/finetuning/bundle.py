"""The LoRA artifact: base model + adapter, saved through the artifact door as plain parts.

    {"model": the base GPT (frozen weights the adapter was trained on), "tokenizer": ...,
     "adapter": {name: tensor} (only the LoRA matrices: kilobytes),
     "lora": {"r", "alpha", "target_modules", "base"}, "metrics": {...}}

`model_from_lora_bundle(bundle)` rebuilds the adapted model (merged into plain linear
layers with `merge=True`, for serving).
"""

from __future__ import annotations

import copy

from torch import nn

from llmcourse.finetuning.lora import apply_lora, load_lora_state_dict, lora_state_dict, merge_lora

__all__ = ["lora_bundle", "model_from_lora_bundle"]


def lora_bundle(base: nn.Module, adapted: nn.Module, tokenizer, r: int, alpha: float, target_modules: list[str],
                base_name: str = "course-gpt-pretrained", metrics: dict | None = None) -> dict:
    """The parts to save: `base` must be the unadapted model (a copy taken before apply_lora)."""
    return {"model": base, "tokenizer": tokenizer, "adapter": lora_state_dict(adapted),
            "lora": {"r": r, "alpha": alpha, "target_modules": list(target_modules), "base": base_name},
            "metrics": metrics or {}}


def model_from_lora_bundle(bundle: dict, merge: bool = False) -> nn.Module:
    """The base model with the saved adapter applied (a copy; the bundle's base is left untouched)."""
    missing = {"model", "adapter", "lora"} - set(bundle)
    if missing:
        raise ValueError(f"not a LoRA bundle: missing {sorted(missing)} (save it with lora_bundle(...))")
    cfg = bundle["lora"]
    model = apply_lora(copy.deepcopy(bundle["model"]), cfg["target_modules"], cfg["r"], cfg["alpha"])
    load_lora_state_dict(model, bundle["adapter"])
    return merge_lora(model) if merge else model
