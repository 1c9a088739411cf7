"""Timing generation token by token, with and without a KV cache (ours and Hugging Face's).

One run of n tokens gives the whole speed curve: we record the wall-clock time at which
each new token is ready, so `cum[k - 1]` is the time to generate the first k tokens and
`k / cum[k - 1]` is the tokens/s of a k-token generation (prefill included), for every k
up to n. `cum[k] - cum[k - 1]` is the latency of step k: flat with a cache (one token per
step), growing with the sequence without one (the whole prefix is recomputed).

Both runs are greedy, so they must produce the same tokens: the functions return the
tokens too, and callers should compare them.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from llmcourse.inference.kv_cache import KVCache, forward_cached

__all__ = ["gpt_step_times", "hf_cache", "hf_step_times", "step_latencies", "tokens_per_second"]


@torch.no_grad()
def gpt_step_times(model: nn.Module, idx: torch.Tensor, max_new_tokens: int,
                   use_cache: bool) -> tuple[torch.Tensor, list[float]]:
    """Greedy generation with a course GPT, timed: (tokens (B, T + n), cumulative seconds per new token).

    use_cache=False runs the whole sequence every step (what `GPT.generate` does, without
    cropping: prompt + n - 1 must fit in block_size); use_cache=True is `generate_cached`.
    """
    if idx.dim() != 2 or idx.shape[0] == 0 or idx.shape[1] == 0:
        raise ValueError(f"idx must be a non-empty (batch, length) tensor of token ids, got {tuple(idx.shape)}")
    if idx.shape[1] + max_new_tokens - 1 > model.config.block_size:
        raise ValueError(f"prompt ({idx.shape[1]}) + {max_new_tokens} new tokens - 1 exceed block_size="
                         f"{model.config.block_size}; time fewer tokens")
    was_training = model.training
    model.eval()
    cache = KVCache.for_model(model, idx.shape[0], idx.shape[1] + max_new_tokens - 1) if use_cache else None
    times: list[float] = []
    tokens, new = idx, idx
    start = time.perf_counter()
    for _ in range(max_new_tokens):
        if use_cache:
            logits = forward_cached(model, new, cache)  # (B, T_new, V): the prompt, then one token
        else:
            logits, _ = model(tokens)  # (B, T, V): everything, every step
        new = logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (B, 1)
        tokens = torch.cat([tokens, new], dim=1)
        if tokens.is_cuda:
            torch.cuda.synchronize()  # GPU work is asynchronous: wait for it before reading the clock
        times.append(time.perf_counter() - start)
    model.train(was_training)
    return tokens, times


@torch.no_grad()
def hf_step_times(model: nn.Module, input_ids: torch.Tensor, max_new_tokens: int,
                  use_cache: bool) -> tuple[torch.Tensor, list[float], object]:
    """Greedy `model.generate` of a Hugging Face LM, timed token by token.

    Returns (tokens (B, T + n), cumulative seconds per new token, the cache it built or
    None). A logits processor notes the time as each step's logits arrive, which is when
    the step's forward pass is done. Forces exactly n tokens (no early stop at EOS).
    """
    from transformers import LogitsProcessor, LogitsProcessorList

    times: list[float] = []

    class _Clock(LogitsProcessor):
        def __call__(self, input_ids, scores):  # noqa: D401 - transformers' signature
            if scores.is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
            return scores

    start = time.perf_counter()
    out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new_tokens,
                         min_new_tokens=max_new_tokens, do_sample=False, use_cache=use_cache,
                         logits_processor=LogitsProcessorList([_Clock()]), return_dict_in_generate=True,
                         pad_token_id=getattr(model.generation_config, "pad_token_id", None) or 0)
    return out.sequences, times, (hf_cache(out) if use_cache else None)


def hf_cache(output: object) -> object:
    """The KV cache of a Hugging Face model or generate output (`.cache` since transformers 5)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def tokens_per_second(cum_times: list[float], lengths: list[int] | tuple[int, ...]) -> list[float]:
    """Tokens/s of generating k tokens, for each k in `lengths`, from cumulative step times."""
    for k in lengths:
        if not 1 <= k <= len(cum_times):
            raise ValueError(f"length {k} is outside the {len(cum_times)} timed tokens")
    return [k / cum_times[k - 1] for k in lengths]


def step_latencies(cum_times: list[float]) -> list[float]:
    """Seconds each step took (the first one includes the prefill of the prompt)."""
    return [b - a for a, b in zip([0.0, *cum_times[:-1]], cum_times)]
