"""What every model of the course shares: the ignore label, padding, input checks, initialisation.

The GPT, BERT and T5 of weeks 2-3 take batches of token ids (B, T) and predict tokens at
some of the positions. Four small pieces are the same for all of them:

* `IGNORE` (-100): the label of a position that carries no loss. It is the default
  `ignore_index` of `F.cross_entropy`, so labels built here work there unchanged.
* `pad_batch`: right-pad lists of token ids into one (B, T) tensor.
* `check_ids`: one clear error for inputs no model accepts (not (B, T), empty, too long,
  ids outside the vocabulary) instead of an index error deep inside an embedding.
* `init_weights`: GPT-2's initialisation, normal(0, 0.02) weights and zero biases.

and `label_loss`, the mean cross-entropy over the positions that carry a label.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["IGNORE", "INIT_STD", "check_ids", "init_weights", "label_loss", "pad_batch"]

IGNORE = -100  # label of positions that carry no loss (F.cross_entropy's ignore_index)
INIT_STD = 0.02  # GPT-2's standard deviation for embeddings and linear layers


def check_ids(ids: torch.Tensor, block_size: int, what: str = "ids", vocab_size: int | None = None) -> None:
    """Clear errors for the inputs every model refuses: not (B, T), empty, too long, unknown ids."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
        shape = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"{what} must be a (batch, length) tensor of token ids, got {shape}; "
                         "add a batch dimension with ids[None]")
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"empty batch: {what} has shape {tuple(ids.shape)}; pass at least one sequence "
                         "of at least one token")
    if ids.is_floating_point():
        raise TypeError(f"{what} must be integer token ids, got dtype {ids.dtype}")
    if ids.shape[1] > block_size:
        raise ValueError(f"{what} has {ids.shape[1]} positions but the model's context is block_size="
                         f"{block_size}; crop the input (ids[:, :{block_size}]) or build the model with a "
                         "larger block_size")
    if vocab_size is not None and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"{what} holds ids in [{int(ids.min())}, {int(ids.max())}] but the vocabulary has "
                         f"{vocab_size} entries; encode with the tokenizer the model was built for")


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, device: str | torch.device | None = None) -> torch.Tensor:
    """Right-pad token lists to one (B, max length) tensor of int64."""
    if len(seqs) == 0:
        raise ValueError("empty batch: pass at least one sequence")
    T = max(len(s) for s in seqs)
    if T == 0:
        raise ValueError("every sequence in the batch is empty: nothing to encode")
    out = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out.to(device) if device is not None else out


def init_weights(module: nn.Module) -> None:
    """GPT-2/BERT initialisation: normal(0, 0.02) weights, zero biases (use with `model.apply`)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def label_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions whose label is not IGNORE (0 when there are none).

    logits (B, T, V), labels (B, T). BERT's masked positions, T5's target tokens and the
    prefix LM's answer tokens all use it; the softmax runs in float32.
    """
    V = logits.shape[-1]
    total = F.cross_entropy(logits.reshape(-1, V).float(), labels.reshape(-1), ignore_index=IGNORE, reduction="sum")
    count = (labels != IGNORE).sum().clamp(min=1)
    return total / count
