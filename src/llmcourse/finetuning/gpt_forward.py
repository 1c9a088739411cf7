"""The course GPT's forward pass opened up: from embeddings, with any attention mask,
with gradient checkpointing — what fine-tuning needs and `GPT.forward` does not offer.

* `gpt_hidden(model, idx | embeds, mask)`: the final hidden states (B, T, C) before the
  output head. A reward model reads them; prompt tuning feeds `embeds` with its soft
  prompt in front; packing passes a block-diagonal causal `mask` so documents packed
  into one row never attend to each other.
* `enable_gradient_checkpointing(model)`: each block keeps only its input during the
  forward pass and recomputes the rest in the backward pass — activation memory of one
  block instead of all of them, for about one extra forward pass of compute.
"""

from __future__ import annotations

import types

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from llmcourse.models.gpt import GPT, SINUSOIDAL_SCALE
from llmcourse.nn.positions import sinusoidal_positions

__all__ = ["disable_gradient_checkpointing", "enable_gradient_checkpointing", "gpt_hidden", "gpt_logits"]


def gpt_hidden(model: GPT, idx: torch.Tensor | None = None, *, embeds: torch.Tensor | None = None,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """Final hidden states (B, T, C) of the course GPT, after the last norm.

    Give token ids `idx` (B, T) or input embeddings `embeds` (B, T, C). `mask` (B, 1, T, T)
    bool, True = may attend, replaces the causal mask (it must be causal itself); None = causal.
    """
    if (idx is None) == (embeds is None):
        raise ValueError("give exactly one of idx (token ids) or embeds (input embeddings)")
    if model.config.positions == "alibi":
        raise ValueError("gpt_hidden supports learned, sinusoidal, rope and no positions (not alibi)")
    x = model.tok_emb(idx) if embeds is None else embeds  # (B, T, C)
    T = x.shape[1]
    if T > model.config.block_size:
        raise ValueError(f"sequence of {T} tokens is longer than block_size={model.config.block_size}")
    positions = torch.arange(T, device=x.device)
    if model.config.positions == "learned":
        x = x + model.pos_emb(positions)
    elif model.config.positions == "sinusoidal":
        x = x + SINUSOIDAL_SCALE * sinusoidal_positions(positions, model.config.n_embd).to(x.dtype)
    x = model.drop(x)
    rope = model.rotary(positions, dtype=x.dtype) if model.rotary is not None else None
    is_causal = mask is None
    for block in model.blocks:
        x = block(x, mask, is_causal, rope, None)  # (B, T, C)
    return model.norm_f(x)


def gpt_logits(model: GPT, idx: torch.Tensor | None = None, *, embeds: torch.Tensor | None = None,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (B, T, vocab) of the course GPT through `gpt_hidden` (see there)."""
    return model.lm_head(gpt_hidden(model, idx, embeds=embeds, mask=mask))


def _checkpointed_forward(self: nn.Module, *args):
    if torch.is_grad_enabled() and self.training:
        # recompute this block in the backward pass instead of keeping its activations
        return checkpoint(type(self).forward, self, *args, use_reentrant=False)
    return type(self).forward(self, *args)


def enable_gradient_checkpointing(model: GPT) -> GPT:
    """Checkpoint every block of the course GPT (in place; weights and state dict unchanged)."""
    for block in model.blocks:
        block.forward = types.MethodType(_checkpointed_forward, block)
    return model


def disable_gradient_checkpointing(model: GPT) -> GPT:
    """Undo `enable_gradient_checkpointing`."""
    for block in model.blocks:
        block.__dict__.pop("forward", None)
    return model
