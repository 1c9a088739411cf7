"""Batched generation: many prompts in one forward pass, with left padding and an attention mask.

One prompt at a time leaves most of the hardware idle: a forward pass over B rows costs
little more than over one (the weights are read once for all rows). Prompts have
different lengths, so a batch is padded to the longest. Decoder-only models pad on the
LEFT, so that every row's last real token sits in the same column and the next token of
every row is appended in the same place:

    prompts    [5, 6, 7]        [8, 9]          [4]
    ids        5 6 7            P 8 9           P P 4          (P = pad)
    mask       1 1 1            0 1 1           0 0 1

The mask keeps padding out of attention (no real token may attend to a pad), and each
token's position is counted from its row's first real token (positions 0 1 2 / - 0 1 /
- - 0), so a padded row computes exactly what it would alone. `left_pad` is week 3's
(`batch_generate.py`, greedy on the growing cache); `generate_batched` runs the batch on
the static cache of `static_cache.py`, with any sampling.

This is *static* batching: the batch runs until its longest request is done. Continuous
batching (`llmcourse.serving.Engine`) refills finished rows at every step.
"""

from __future__ import annotations

from llmcourse.inference.sampling import SamplingParams

__all__ = ["generate_batched"]


def generate_batched(model, prompts: list[list[int]], max_new_tokens: int, sampling: SamplingParams | None = None,
                     pad_id: int = 0, eos_token_id: int | None = None) -> list[list[int]]:
    """Each prompt's new tokens, generated together in one left-padded batch (greedy unless `sampling`)."""
    from llmcourse.inference.static_cache import generate_static

    return generate_static(model, prompts, max_new_tokens, sampling, pad_id, eos_token_id=eos_token_id)
