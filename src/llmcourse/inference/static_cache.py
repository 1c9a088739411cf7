"""A static KV cache: fixed-shape decoding steps, batches with left padding, ready for torch.compile.

3.2's `KVCache` preallocates its buffers but hands attention a *growing* view (the first
p positions), so every step has new shapes. A compiler (torch.compile) or a CUDA graph
records one shape; new shapes mean recompiling or re-recording. A *static* cache gives
every decoding step exactly the same shapes:

    keys, values   (B, H_kv, L, hd) for L = the longest sequence, allocated once
    step t         write the new key at slot p (index_copy_, a tensor index), then attend
                   over all L slots with a mask "slot <= p and slot is a real token"

The masked slots cost a little extra arithmetic; in exchange one compiled graph serves
every step (Hugging Face's StaticCache, and CUDA graphs in vLLM, work this way).

Batches of prompts of different lengths are **left-padded**: row b starts with pad_b
padding slots, so all rows end at the same slot and the next token of every row is
written at one slot index. The padding slots are masked out of attention, and each real
token keeps its true position (slot - pad_b) for RoPE, so every row computes exactly what
it would alone.

    out = generate_static(model, [[1, 2, 3], [4, 5]], max_new_tokens=10)     # new tokens per row
"""

from __future__ import annotations

import torch

from llmcourse.inference.sampling import SamplingParams, check_generation_args, sample_with
from llmcourse.nn.mha import repeat_kv

__all__ = ["StaticKVCache", "generate_static"]


class StaticKVCache:
    """Keys and values (B, H_kv, L, hd) per layer, and which slots hold real tokens."""

    def __init__(self, adapter, batch: int, length: int) -> None:
        shape = (batch, adapter.n_kv_head, length, adapter.head_dim)
        self.keys = [torch.zeros(shape, dtype=adapter.dtype, device=adapter.device) for _ in range(adapter.n_layer)]
        self.values = [torch.zeros(shape, dtype=adapter.dtype, device=adapter.device)
                       for _ in range(adapter.n_layer)]
        self.valid = torch.zeros((batch, length), dtype=torch.bool, device=adapter.device)  # (B, L)
        self.length = length

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.keys + self.values)


def _forward(adapter, cache: StaticKVCache, ids: torch.Tensor, positions: torch.Tensor, slot: torch.Tensor,
             real: torch.Tensor) -> torch.Tensor:
    """Run ids (B, T) whose first token goes to cache slot `slot` (a 0-d tensor); logits of the last (B, V).

    real (B, T): which of the new tokens are real (False for left padding). Shapes depend
    only on (B, T): with T = 1 every decoding step is the same graph.
    """
    B, T = ids.shape
    L = cache.length
    slots = slot + torch.arange(T, device=ids.device)  # (T,)
    cache.valid.index_copy_(1, slots, real)
    k_slot = torch.arange(L, device=ids.device)
    mask = cache.valid[:, None, None, :] & (k_slot[None, None, None, :] <= slots[None, None, :, None])  # (B,1,T,L)
    x = adapter.embed(ids.reshape(-1), positions.reshape(-1))  # (B*T, C)
    for layer in range(adapter.n_layer):
        q, k, v = adapter.qkv(layer, x, positions.reshape(-1))  # (B*T, H, hd), (B*T, H_kv, hd) x2
        q = q.view(B, T, *q.shape[1:]).transpose(1, 2)  # (B, H, T, hd)
        cache.keys[layer].index_copy_(2, slots, k.view(B, T, *k.shape[1:]).transpose(1, 2))
        cache.values[layer].index_copy_(2, slots, v.view(B, T, *v.shape[1:]).transpose(1, 2))
        n_rep = q.shape[1] // adapter.n_kv_head
        keys, values = repeat_kv(cache.keys[layer], n_rep), repeat_kv(cache.values[layer], n_rep)  # (B, H, L, hd)
        window = adapter.window(layer)
        m = mask if window is None else mask & (slots[None, None, :, None] - k_slot < window)
        a = torch.nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask=m, scale=adapter.scale)
        x = adapter.finish(layer, x, a.transpose(1, 2).reshape(B * T, -1))
    return adapter.logits(x.view(B, T, -1)[:, -1])  # (B, V)


@torch.no_grad()
def generate_static(model, prompts: list[list[int]], max_new_tokens: int, sampling: SamplingParams | None = None,
                    pad_id: int = 0, compile: bool | str = False, eos_token_id: int | None = None) -> list[list[int]]:
    """Generate for a batch of prompts with a static cache and left padding; returns each row's new tokens.

    Greedy unless `sampling`. `compile=True` (or a torch.compile mode such as
    "reduce-overhead", which records CUDA graphs on a GPU) compiles the decoding step.
    Rows that produce `eos_token_id` stop (their output ends with it).
    """
    from llmcourse.inference.batch_generate import left_pad
    from llmcourse.serving.adapters import adapt

    check_generation_args(max_new_tokens)
    adapter = adapt(model)
    ids, attn = left_pad(prompts, pad_id)
    B, T = ids.shape
    if T + max_new_tokens - 1 > adapter.max_len:
        raise ValueError(f"the longest prompt ({T}) + max_new_tokens ({max_new_tokens}) - 1 exceeds the model's "
                         f"context {adapter.max_len}")
    sampling = sampling or SamplingParams(temperature=0.0)
    generator = sampling.generator(adapter.device)
    ids, attn = ids.to(adapter.device), attn.to(adapter.device)
    cache = StaticKVCache(adapter, B, T + max_new_tokens)
    pad = (1 - attn).sum(dim=1)  # (B,) padding slots in front of each row
    positions = (torch.arange(T, device=ids.device)[None] - pad[:, None]).clamp(min=0)  # (B, T) true positions
    step = _forward
    if compile:
        step = torch.compile(_forward, mode=None if compile is True else compile, dynamic=False)
    logits = _forward(adapter, cache, ids, positions, torch.tensor(0, device=ids.device), attn.bool())  # prefill
    real = torch.ones((B, 1), dtype=torch.bool, device=ids.device)
    out = []
    done = torch.zeros(B, dtype=torch.bool, device=ids.device)
    seen = ids.clone()
    for t in range(max_new_tokens):
        nxt = sample_with(sampling, logits, seen, generator)  # (B, 1)
        if eos_token_id is not None:
            nxt = nxt.masked_fill(done[:, None], eos_token_id)
            done |= nxt[:, 0] == eos_token_id
        out.append(nxt)
        seen = torch.cat([seen, nxt], dim=1)
        if t == max_new_tokens - 1 or bool(done.all()):
            break
        pos = positions[:, -1:] + t + 1  # (B, 1)
        logits = step(adapter, cache, nxt, pos, torch.tensor(T + t, device=ids.device), real)
    tokens = torch.cat(out, dim=1).tolist()
    if eos_token_id is not None:
        tokens = [row[: row.index(eos_token_id) + 1] if eos_token_id in row else row for row in tokens]
    return tokens
