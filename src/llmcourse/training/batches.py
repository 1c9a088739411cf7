"""Batches for language modelling: random windows of one long token stream.

A causal LM learns to predict every next token at once. Cut a window of block_size + 1
tokens out of the corpus at a random offset; the first block_size are the input x, the
same window shifted by one is the target y:

    tokens  t0 t1 t2 t3 t4
    x       t0 t1 t2 t3          position i of y is what should follow x[: i + 1]
    y          t1 t2 t3 t4

so one window gives block_size training examples, with contexts of length 1 .. block_size.
"""

from __future__ import annotations

import torch

__all__ = ["get_batch", "split_tokens"]


def split_tokens(ids: torch.Tensor | list[int], val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a token stream into (train, val): the first (1 - val_fraction) and the rest.

    A contiguous split (not a shuffle), so validation text is text the model never saw.
    """
    data = torch.as_tensor(ids, dtype=torch.long)
    if data.dim() != 1:
        raise ValueError(f"expected a 1-D token stream, got shape {tuple(data.shape)}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = int(len(data) * (1 - val_fraction))
    return data[:n], data[n:]


def get_batch(data: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator | None = None,
              device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """batch_size random windows: x (B, T) and y = x shifted by one (B, T), T = block_size."""
    if len(data) < block_size + 1:
        raise ValueError(f"the token stream has {len(data)} tokens; a window needs block_size + 1 = "
                         f"{block_size + 1}. Use more text or a smaller block_size")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = torch.arange(block_size + 1)  # (T + 1,)
    windows = data[starts[:, None] + offsets]  # (B, T + 1)
    x, y = windows[:, :-1], windows[:, 1:]
    return x.to(device), y.to(device)
