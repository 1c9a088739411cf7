"""Generating for several prompts at once, with one KV cache: left padding and an attention mask.

One prompt at a time leaves most of a machine idle: a decoding step multiplies a (1, C)
vector by every weight matrix, and the weights are read from memory for one token. A
batch of B prompts reads them once for B tokens, so a step costs about the same and
yields B tokens. Prompts have different lengths, so the batch is padded:

    prompt a:   <pad> <pad>  The  cat          left padding: every row's next token
    prompt b:    Once  upon    a  time         is in the same (last) column

and an attention mask (B, S) marks the padding keys (0), which no query may look at. Why
left and not right? With right padding the rows' last tokens sit in different columns
and each step would have to write each row's new token at its own position.

Left padding moves a prompt's tokens to later positions. With relative positions (RoPE,
ALiBi) or none, attention scores depend only on distances between tokens, so the shift
changes nothing and the batch produces exactly what each prompt would alone. Learned and
sinusoidal positions are absolute: a shifted prompt is a different input, so they are
refused here (they would need per-row positions).

    generate_batch(model, [[5, 6, 7], [9]], max_new_tokens=20)   # -> [[...20 ids], [...20 ids]]
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from llmcourse.inference.kv_cache import KVCache
from llmcourse.inference.sampling import check_generation_args, finish_eos

__all__ = ["generate_batch", "left_pad"]

RELATIVE_POSITIONS = ("rope", "alibi", "none")


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int = 0,
             device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, P), attention_mask (B, P)): prompts left-padded to the longest, mask 1 = real token."""
    if len(prompts) == 0 or any(len(p) == 0 for p in prompts):
        raise ValueError("give at least one prompt, each of at least one token (a BOS token, say)")
    P = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), P), pad_id, dtype=torch.long)
    mask = torch.zeros(len(prompts), P, dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, P - len(p):] = torch.as_tensor(list(p), dtype=torch.long)
        mask[b, P - len(p):] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def generate_batch(model: nn.Module, prompts: Sequence[Sequence[int]], max_new_tokens: int, pad_id: int = 0,
                   eos_token_id: int | None = None) -> list[list[int]]:
    """Greedy continuations of several prompts in one batch: one list of new token ids per prompt.

    The same tokens as `model.generate(prompt[None], n, temperature=0)` run on each prompt
    alone (for models with rope, alibi or no positions). Rows that produced `eos_token_id`
    stop there (their list ends with it).
    """
    check_generation_args(max_new_tokens, 0.0)
    positions = model.config.positions
    if positions not in RELATIVE_POSITIONS:
        raise ValueError(f"left padding shifts every prompt to later positions, which changes the output of a model "
                         f"with {positions!r} positions (absolute); batch prompts of equal length instead, or use a "
                         f"model with {', '.join(RELATIVE_POSITIONS)} positions")
    device = next(model.parameters()).device
    idx, mask = left_pad(prompts, pad_id, device)  # (B, P) each
    B, P = idx.shape
    if max_new_tokens == 0:
        return [[] for _ in prompts]
    needed = P + max_new_tokens - 1
    if needed > model.config.block_size:
        raise ValueError(f"the longest prompt ({P}) + max_new_tokens ({max_new_tokens}) - 1 = {needed} positions "
                         f"exceed block_size={model.config.block_size}; generate fewer tokens")
    cache = KVCache.for_model(model, batch_size=B, max_len=needed)
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(idx, attention_mask=mask, cache=cache, start_pos=0)  # prefill (B, P, V)
        done = torch.zeros(B, dtype=torch.bool, device=device)
        out = []
        for step in range(max_new_tokens):
            next_id = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
            next_id, all_done = finish_eos(next_id, done, eos_token_id)
            out.append(next_id)
            if all_done or step == max_new_tokens - 1:
                break
            mask = torch.cat([mask, torch.ones(B, 1, dtype=mask.dtype, device=device)], dim=1)  # (B, S + 1)
            logits, _ = model(next_id, attention_mask=mask, cache=cache, start_pos=P + step)  # (B, 1, V)
    finally:
        model.train(was_training)
    rows = torch.cat(out, dim=1).tolist()  # (B, n)
    if eos_token_id is not None:
        rows = [row[: row.index(eos_token_id) + 1] if eos_token_id in row else row for row in rows]
    return rows
