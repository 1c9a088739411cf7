"""A KV cache for the course GPT: compute each token's keys and values once.

Generating without a cache, step t runs the model on all t tokens so far, although only
the last position's logits are used: the keys and values of tokens 0..t-1 are recomputed
at every step. For n new tokens that is 1 + 2 + ... + n = O(n^2) token-forwards (and the
attention inside each forward is itself O(t^2)).

The keys and values of a token never change once computed: with a causal mask, token i
only looks at tokens 0..i, so later tokens cannot change what earlier ones produced. So
keep them:

    prefill:  run the prompt (T tokens) once; every layer stores k, v     (B, H_kv, T, hd)
    decode:   run ONE new token at position p; each layer appends its k, v
              at slot p and attends over slots 0..p                     (B, H_kv, p + 1, hd)

Each step now costs one token-forward plus attention over p cached positions: O(n) for
n tokens, so the speed-up grows with the length generated. The price is memory:

    bytes = 2 (k and v) · n_layer · n_kv_head · head_dim · tokens · bytes per number (· batch)

which is why grouped-query attention (fewer key/value heads, `n_kv_head < n_head`) and
low-precision caches matter for long contexts.

`KVCache` preallocates one key and one value tensor per layer, (B, H_kv, max_len, hd),
and fills them left to right, so memory is known up front and nothing is copied as the
sequence grows (Hugging Face's `DynamicCache` concatenates instead; its `StaticCache`
preallocates like this one). It follows the cache protocol of
`llmcourse.models.gpt.GPT.forward(idx, cache=c, start_pos=p)`: each attention layer
calls `c.update(layer_idx, k_new, v_new)` and attends over what it returns.

    cache = KVCache.for_model(model, batch_size=1)
    logits = forward_cached(model, prompt, cache)           # prefill
    logits = forward_cached(model, next_token, cache)       # one step at a time
    generate_cached(model, prompt, 100, temperature=0)      # the whole loop; same tokens as model.generate

A cache cannot slide: positions (learned, RoPE, ALiBi) are baked into the stored keys, so
generation with a cache stops at the model's context (`block_size`) with a clear error,
where `GPT.generate` would crop and recompute.
"""

from __future__ import annotations

from typing import Any

import math

import torch
from torch import nn

from llmcourse.inference.sampling import check_generation_args, finish_eos, sample_next

__all__ = [
    "KVCache", "attention_step", "bytes_per_element", "forward_cached", "generate_cached", "kv_cache_bytes",
    "kv_cache_bytes_for", "measured_cache_bytes", "write_kv",
]


def bytes_per_element(dtype: torch.dtype | int) -> int:
    """Bytes of one number: 4 for float32, 2 for bfloat16/float16, 1 for int8 (an int is passed through)."""
    if isinstance(dtype, torch.dtype):
        return torch.empty((), dtype=dtype).element_size()
    if isinstance(dtype, int) and not isinstance(dtype, bool) and dtype > 0:
        return dtype
    raise TypeError(f"dtype must be a torch.dtype or a positive number of bytes, got {dtype!r}")


def kv_cache_bytes(n_layer: int, n_kv_head: int, head_dim: int, n_tokens: int,
                   dtype: torch.dtype | int = torch.float32, batch_size: int = 1) -> int:
    """Memory of a KV cache: 2 · n_layer · n_kv_head · head_dim · n_tokens · bytes · batch.

    The 2 is one tensor for keys and one for values. `dtype` is a torch dtype or a number of
    bytes per element. Grouped-query attention enters through n_kv_head (not n_head).
    """
    for name, value in (("n_layer", n_layer), ("n_kv_head", n_kv_head), ("head_dim", head_dim),
                        ("n_tokens", n_tokens), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return 2 * n_layer * n_kv_head * head_dim * n_tokens * bytes_per_element(dtype) * batch_size


def kv_cache_bytes_for(config: Any, n_tokens: int, dtype: torch.dtype | int = torch.float32,
                       batch_size: int = 1) -> int:
    """`kv_cache_bytes` for a model config: a `GPTConfig` or a Hugging Face config.

    For Hugging Face configs with sliding-window layers (Gemma 3: five local layers for one
    global), a sliding layer of `DynamicCache` keeps only its last `sliding_window - 1`
    tokens, so those layers count min(n_tokens, sliding_window - 1) tokens.
    """
    config = getattr(config, "text_config", None) or config  # multimodal HF configs nest the LM
    if hasattr(config, "n_kv_head"):  # GPTConfig
        return kv_cache_bytes(config.n_layer, config.n_kv_head, config.head_dim, n_tokens, dtype, batch_size)
    n_layer = config.num_hidden_layers
    n_kv = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    layer_types = getattr(config, "layer_types", None) or ["full_attention"] * n_layer
    window = getattr(config, "sliding_window", None)
    total = 0
    for kind in layer_types:
        tokens = n_tokens
        if kind == "sliding_attention" and window:
            tokens = min(n_tokens, window - 1)
        total += kv_cache_bytes(1, n_kv, head_dim, tokens, dtype, batch_size)
    return total


def measured_cache_bytes(cache: Any) -> int:
    """Bytes actually held by a cache's tensors (sum of `tensor.nbytes`).

    Works for `KVCache` (its preallocated buffers, so capacity, not fill), for Hugging Face
    caches (`DynamicCache`, `StaticCache`: each layer's `keys` and `values`) and for nested
    tuples/lists of tensors (the legacy `past_key_values` format).
    """
    if isinstance(cache, torch.Tensor):
        return cache.nbytes
    if isinstance(cache, KVCache):
        return sum(t.nbytes for t in cache.keys + cache.values)
    if hasattr(cache, "layers"):  # transformers >= 4.56 Cache objects
        total = 0
        for layer in cache.layers:
            for name in ("keys", "values"):
                t = getattr(layer, name, None)
                if isinstance(t, torch.Tensor):
                    total += t.nbytes
        return total
    if isinstance(cache, (tuple, list)):
        return sum(measured_cache_bytes(c) for c in cache if c is not None)
    raise TypeError(f"do not know how to measure a {type(cache).__name__}; pass a KVCache, a Hugging Face "
                    "Cache or a tuple of tensors")


def write_kv(k_cache: torch.Tensor, v_cache: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor,
             pos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Write k_new, v_new (B, H_kv, T, hd) into the buffers (B, H_kv, max_len, hd) at slots pos .. pos + T - 1.

    The buffers already hold `pos` positions. The write is in place (nothing old is copied)
    and the return values are *views* of slots 0 .. pos + T - 1, what attention reads.
    """
    end = pos + k_new.shape[2]
    if end > k_cache.shape[2]:
        raise ValueError(f"KV cache overflow: {pos} positions stored + {k_new.shape[2]} new > capacity "
                         f"max_len={k_cache.shape[2]}; make a larger cache (at most the model's block_size) "
                         "or generate fewer tokens")
    k_cache[:, :, pos:end] = k_new  # (B, H_kv, T, hd) written in place
    v_cache[:, :, pos:end] = v_new
    return k_cache[:, :, :end], v_cache[:, :, :end]  # views (B, H_kv, end, hd)


def attention_step(x_new: torch.Tensor, w_qkv: torch.Tensor, w_out: torch.Tensor, k_cache: torch.Tensor,
                   v_cache: torch.Tensor, pos: int, n_head: int) -> torch.Tensor:
    """One decoding step of one attention layer (no biases): x_new (B, 1, C) -> (B, 1, C).

    The new token's key and value go into the caches at slot `pos` (they hold `pos` earlier
    ones); its query attends over slots 0..pos. No causal mask: every cached key is in the
    past of the new token.
    """
    B, _, C = x_new.shape
    hd = C // n_head
    q, k, v = (x_new @ w_qkv.T).split(C, dim=-1)  # (B, 1, C) each
    q, k, v = (t.view(B, 1, n_head, hd).transpose(1, 2) for t in (q, k, v))  # (B, H, 1, hd)
    keys, values = write_kv(k_cache, v_cache, k, v, pos)  # (B, H, pos + 1, hd)
    weights = (q @ keys.transpose(-2, -1) / math.sqrt(hd)).softmax(dim=-1)  # (B, H, 1, pos + 1)
    y = (weights @ values).transpose(1, 2).reshape(B, 1, C)  # heads side by side again
    return y @ w_out.T  # (B, 1, C)


class KVCache:
    """Preallocated keys and values of every layer: n_layer x (B, H_kv, max_len, hd), twice.

    `update(layer_idx, k, v)` writes the new positions after those already stored for
    that layer and returns views of everything stored so far, (B, H_kv, length, hd).
    `len(cache)` is the number of positions stored (after a complete forward, every layer
    holds the same number). Running past `max_len` raises; `truncate(n)` forgets all
    positions from n on (to roll back, or to reuse the buffers: `reset()`).
    """

    def __init__(self, n_layer: int, batch_size: int, n_kv_head: int, head_dim: int, max_len: int, *,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> None:
        for name, value in (("n_layer", n_layer), ("n_kv_head", n_kv_head), ("head_dim", head_dim),
                            ("max_len", max_len)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"KVCache needs a positive integer {name}, got {value!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"KVCache needs batch_size >= 1, got {batch_size!r}: an empty batch has nothing to "
                             "cache; skip generation for it")
        self.n_layer, self.batch_size, self.n_kv_head, self.head_dim = n_layer, batch_size, n_kv_head, head_dim
        self.max_len, self.dtype = max_len, dtype
        shape = (batch_size, n_kv_head, max_len, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]  # (B, H_kv, max_len, hd)
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.lengths = [0] * n_layer  # positions stored per layer

    @classmethod
    def for_model(cls, model: nn.Module, batch_size: int = 1, max_len: int | None = None,
                  dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> KVCache:
        """A cache shaped for a course GPT: n_layer, n_kv_head (GQA-aware), head_dim from its config.

        max_len defaults to the model's context (block_size) and may not exceed it; dtype and
        device default to the model's parameters'.
        """
        c = model.config
        if max_len is None:
            max_len = c.block_size
        if max_len > c.block_size:
            raise ValueError(f"max_len={max_len} is longer than the model's context block_size={c.block_size}; "
                             "the model cannot use positions past it")
        p = next(model.parameters())
        return cls(c.n_layer, batch_size, c.n_kv_head, c.head_dim, max_len,
                   dtype=dtype or p.dtype, device=device or p.device)

    def __len__(self) -> int:
        return min(self.lengths)

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated buffers (what the memory formula gives for max_len tokens)."""
        return measured_cache_bytes(self)

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H_kv, T, hd) at the next T slots of layer `layer_idx`; return all stored k, v."""
        if not 0 <= layer_idx < self.n_layer:
            raise IndexError(f"layer_idx {layer_idx} out of range for a cache of {self.n_layer} layers")
        want = (self.batch_size, self.n_kv_head, k.shape[-2], self.head_dim)
        if k.dim() != 4 or tuple(k.shape) != want or v.shape != k.shape:
            raise ValueError(f"k and v must be (batch={self.batch_size}, n_kv_head={self.n_kv_head}, T, "
                             f"head_dim={self.head_dim}), got {tuple(k.shape)} and {tuple(v.shape)}; "
                             "build the cache with KVCache.for_model(model, batch_size=idx.shape[0])")
        start = self.lengths[layer_idx]
        k_all, v_all = write_kv(self.keys[layer_idx], self.values[layer_idx], k, v, start)  # (B, H_kv, end, hd)
        self.lengths[layer_idx] = k_all.shape[2]
        return k_all, v_all

    def truncate(self, length: int) -> KVCache:
        """Forget positions >= length in every layer (the buffers stay allocated)."""
        if not 0 <= length <= self.max_len:
            raise ValueError(f"length must be in [0, {self.max_len}], got {length}")
        self.lengths = [min(n, length) for n in self.lengths]
        return self

    def reset(self) -> KVCache:
        """Empty the cache for a new sequence, keeping its memory."""
        return self.truncate(0)

    def __repr__(self) -> str:
        return (f"KVCache(n_layer={self.n_layer}, batch={self.batch_size}, n_kv_head={self.n_kv_head}, "
                f"head_dim={self.head_dim}, length={len(self)}/{self.max_len}, {self.dtype}, "
                f"{self.nbytes / 2**20:.2f} MiB)")


def forward_cached(model: nn.Module, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Run the new tokens idx (B, T) at the positions after those in `cache`; return logits (B, T, V).

    The cache's length is the start position, so prefill (empty cache, the whole prompt)
    and decoding (one token) are the same call. If the forward fails, the cache is rolled
    back to where it was, so nothing already stored is lost.
    """
    if idx.dim() != 2:
        raise ValueError(f"idx must be (batch, length) token ids, got shape {tuple(idx.shape)}")
    if idx.shape[0] != cache.batch_size:
        raise ValueError(f"idx has batch {idx.shape[0]} but the cache was built for batch {cache.batch_size}")
    start = len(cache)
    if start + idx.shape[1] > cache.max_len:
        raise ValueError(f"KV cache overflow: {start} positions stored + {idx.shape[1]} new > capacity "
                         f"max_len={cache.max_len}; make a larger cache (at most the model's block_size) "
                         "or generate fewer tokens")
    try:
        logits, _ = model(idx, cache=cache, start_pos=start)  # (B, T, V)
    except BaseException:
        cache.truncate(start)
        raise
    return logits


@torch.no_grad()
def generate_cached(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, seed: int | None = None, generator: torch.Generator | None = None,
                    eos_token_id: int | None = None, cache: KVCache | None = None) -> torch.Tensor:
    """`GPT.generate` with a KV cache: append max_new_tokens tokens to idx (B, T) -> (B, T + new).

    Same arguments and the same tokens as `model.generate` (greedy with temperature=0;
    sampling draws from the same distributions with the same generator), but each step runs
    one token instead of the whole sequence. The prompt plus the tokens fed back
    (T + max_new_tokens - 1) must fit in the model's context: a cache cannot crop.
    Pass `cache` to reuse preallocated buffers (it is reset first).
    """
    if idx.dim() != 2:
        raise ValueError(f"idx must be (batch, length) token ids, got shape {tuple(idx.shape)}")
    B, T = idx.shape
    if B == 0:
        raise ValueError("empty batch: idx has no rows; give at least one prompt")
    if T == 0:
        raise ValueError("empty prompt: give at least one token per row (a BOS token, say)")
    check_generation_args(max_new_tokens, temperature, top_k)
    if max_new_tokens == 0:
        return idx
    needed = T + max_new_tokens - 1  # positions the model sees: the prompt and all but the last new token
    block = model.config.block_size
    if needed > block:
        raise ValueError(f"prompt ({T}) + max_new_tokens ({max_new_tokens}) - 1 = {needed} positions exceed the "
                         f"model's context block_size={block}; a KV cache cannot crop the context. Generate at most "
                         f"{block - T + 1} tokens, or use model.generate, which crops and recomputes")
    if cache is None:
        cache = KVCache.for_model(model, batch_size=B, max_len=needed)
    elif cache.batch_size != B or cache.max_len < needed:
        raise ValueError(f"the cache holds batch {cache.batch_size} x {cache.max_len} positions; this call needs "
                         f"batch {B} x {needed}")
    cache.reset()
    if seed is not None:
        generator = torch.Generator(device=idx.device).manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        done = torch.zeros(B, dtype=torch.bool, device=idx.device)
        new = idx  # prefill: the whole prompt
        out = [idx]
        for step in range(max_new_tokens):
            logits = forward_cached(model, new, cache)  # (B, T_new, V)
            next_id = sample_next(logits[:, -1, :], temperature, top_k, generator)  # (B, 1)
            next_id, all_done = finish_eos(next_id, done, eos_token_id)
            out.append(next_id)
            new = next_id  # decode: one token at a time
            if all_done:
                break
    finally:
        model.train(was_training)
    return torch.cat(out, dim=1)
