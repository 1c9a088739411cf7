"""Model adapters: what an inference engine needs from a model, one layer at a time.

An engine does not call `model(idx)`: it owns the KV cache (paged, shared between
requests) and the attention over it, and it runs the tokens of *many* sequences at once,
flattened into one list of N tokens with their own positions (vLLM's layout):

    x = adapter.embed(tokens, positions)                         (N,) -> (N, C)
    for layer in range(n_layer):
        q, k, v = adapter.qkv(layer, x, positions)              (N, H, hd), (N, H_kv, hd) x2
        ... the engine stores k, v and computes attention -> a   (N, H * hd)
        x = adapter.finish(layer, x, a)                          output projection, residual, MLP
    logits = adapter.logits(x)                                   (N, V)

Everything but attention is per-token, so it runs on the whole flat batch at once. The
adapters reuse the model's own modules (its weights, norms, rotary tables), so the engine
computes exactly the model's function:

    GPTAdapter     the course GPT (RoPE, learned, sinusoidal or no positions; GQA)
    Gemma3Adapter  Hugging Face Gemma 3 (q/k norms, sandwich norms, sliding-window layers,
                   local and global RoPE bases, scaled embeddings)
    LlamaAdapter   Hugging Face Llama (what `GPT.to_hf()` returns)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from llmcourse.nn.positions import rotate_half, sinusoidal_positions

__all__ = ["Gemma3Adapter", "GPTAdapter", "LlamaAdapter", "ModelAdapter", "adapt", "run_model"]


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (N, heads, hd) by per-token cos/sin (N, hd) (rotate-half convention)."""
    cos, sin = cos[:, None, :], sin[:, None, :]
    return (x * cos + rotate_half(x) * sin).to(x.dtype)


class ModelAdapter:
    """The engine's view of a model. Subclasses set the sizes and implement the four steps."""

    n_layer: int
    n_head: int
    n_kv_head: int
    head_dim: int
    vocab_size: int
    max_len: int  # longest sequence (prompt + generated) the model accepts
    scale: float  # attention logits are q·k * scale
    eos_token_id: int | None = None
    name: str = "model"

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        p = next(model.parameters())
        self.dtype, self.device = p.dtype, p.device

    def window(self, layer: int) -> int | None:
        """Sliding-window size of a layer (a key is seen while query - key < window), None = global."""
        return None

    def embed(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def qkv(self, layer: int, x: torch.Tensor, positions: torch.Tensor):
        raise NotImplementedError

    def finish(self, layer: int, x: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class GPTAdapter(ModelAdapter):
    """The course GPT (`llmcourse.models.GPT`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        c = model.config
        if c.positions == "alibi":
            raise ValueError("the engine's attention adds no ALiBi bias; serve a RoPE (Llama-style) course GPT")
        self.n_layer, self.n_head, self.n_kv_head, self.head_dim = c.n_layer, c.n_head, c.n_kv_head, c.head_dim
        self.vocab_size, self.max_len, self.scale = c.vocab_size, c.block_size, 1.0 / math.sqrt(c.head_dim)
        self.name = "course-gpt"

    def embed(self, tokens, positions):
        m = self.model
        x = m.tok_emb(tokens)  # (N, C)
        if m.config.positions == "learned":
            x = x + m.pos_emb(positions)
        elif m.config.positions == "sinusoidal":
            from llmcourse.models.gpt import SINUSOIDAL_SCALE

            x = x + SINUSOIDAL_SCALE * sinusoidal_positions(positions, m.config.n_embd).to(x.dtype)
        return x

    def _cos_sin(self, positions, dtype):
        """The rotary tables of this step's positions, computed once and shared by every layer."""
        cached = getattr(self, "_rope_cache", None)
        if cached is None or cached[0] is not positions:
            self._rope_cache = (positions, *self.model.rotary(positions, dtype=dtype))
        return self._rope_cache[1], self._rope_cache[2]

    def qkv(self, layer, x, positions):
        block = self.model.blocks[layer]
        N = x.shape[0]
        q, k, v = block.attn.qkv(block.norm1(x)).split(block.attn.split_sizes, dim=-1)
        q = q.view(N, self.n_head, self.head_dim)
        k = k.view(N, self.n_kv_head, self.head_dim)
        v = v.view(N, self.n_kv_head, self.head_dim)
        if self.model.rotary is not None:
            cos, sin = self._cos_sin(positions, x.dtype)  # (N, hd)
            q, k = _rope(q, cos, sin), _rope(k, cos, sin)
        return q, k, v

    def finish(self, layer, x, attn):
        block = self.model.blocks[layer]
        x = x + block.attn.proj(attn)
        return x + block.mlp(block.norm2(x))

    def logits(self, x):
        return self.model.lm_head(self.model.norm_f(x))


class LlamaAdapter(ModelAdapter):
    """A Hugging Face LlamaForCausalLM (e.g. `GPT.to_hf()`), default RoPE only."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        c = model.config
        self.n_layer, self.n_head = c.num_hidden_layers, c.num_attention_heads
        self.n_kv_head = c.num_key_value_heads or c.num_attention_heads
        self.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.vocab_size, self.max_len = c.vocab_size, c.max_position_embeddings
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.eos_token_id = _first(getattr(c, "eos_token_id", None))
        self.name = getattr(c, "name_or_path", "") or "llama"

    def embed(self, tokens, positions):
        return self.model.model.embed_tokens(tokens)

    def qkv(self, layer, x, positions):
        lay = self.model.model.layers[layer]
        h = lay.input_layernorm(x)
        at = lay.self_attn
        N = x.shape[0]
        q = at.q_proj(h).view(N, -1, self.head_dim)
        k = at.k_proj(h).view(N, -1, self.head_dim)
        v = at.v_proj(h).view(N, -1, self.head_dim)
        cos, sin = _hf_rope(self, x, positions)  # (N, hd), once per step
        return _rope(q, cos, sin), _rope(k, cos, sin), v

    def finish(self, layer, x, attn):
        lay = self.model.model.layers[layer]
        x = x + lay.self_attn.o_proj(attn)
        return x + lay.mlp(lay.post_attention_layernorm(x))

    def logits(self, x):
        return self.model.lm_head(self.model.model.norm(x))


class Gemma3Adapter(ModelAdapter):
    """A Hugging Face Gemma3ForCausalLM (Gemma 3 270M, SEA-LION v4's family)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        c = model.config
        if getattr(c, "attn_logit_softcapping", None):
            raise ValueError("attention logit soft-capping is not supported by the engine")
        self.config = c
        self.n_layer, self.n_head, self.n_kv_head = c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads
        self.head_dim, self.vocab_size = c.head_dim, c.vocab_size
        self.max_len = c.max_position_embeddings
        self.scale = c.query_pre_attn_scalar ** -0.5
        self.layer_types = list(c.layer_types)
        self.eos_token_id = _first(getattr(model.generation_config, "eos_token_id", None) or c.eos_token_id)
        self.name = "gemma-3"

    def window(self, layer):
        return self.config.sliding_window if self.layer_types[layer] == "sliding_attention" else None

    def embed(self, tokens, positions):
        return self.model.model.embed_tokens(tokens)  # scaled by sqrt(hidden) inside

    def qkv(self, layer, x, positions):
        lay = self.model.model.layers[layer]
        at = lay.self_attn
        h = lay.input_layernorm(x)
        N = x.shape[0]
        q = at.q_norm(at.q_proj(h).view(N, -1, self.head_dim))
        k = at.k_norm(at.k_proj(h).view(N, -1, self.head_dim))
        v = at.v_proj(h).view(N, -1, self.head_dim)
        cos, sin = _hf_rope(self, x, positions, self.layer_types[layer])  # (N, hd), once per step and layer type
        return _rope(q, cos, sin), _rope(k, cos, sin), v

    def finish(self, layer, x, attn):
        lay = self.model.model.layers[layer]
        x = x + lay.post_attention_layernorm(lay.self_attn.o_proj(attn))
        return x + lay.post_feedforward_layernorm(lay.mlp(lay.pre_feedforward_layernorm(x)))

    def logits(self, x):
        logits = self.model.lm_head(self.model.model.norm(x))
        cap = getattr(self.config, "final_logit_softcapping", None)
        return torch.tanh(logits / cap) * cap if cap else logits


def _hf_rope(adapter, x, positions, *layer_type):
    """A Hugging Face model's rotary cos/sin for this step's positions, cached per layer type."""
    cache = getattr(adapter, "_rope_cache", None)
    if cache is None or cache[0] is not positions:
        cache = adapter._rope_cache = (positions, {})
    key = layer_type[0] if layer_type else None
    if key not in cache[1]:
        cos, sin = adapter.model.model.rotary_emb(x[None], positions[None], *layer_type)  # (1, N, hd)
        cache[1][key] = (cos[0], sin[0])
    return cache[1][key]


def _first(value):
    return value[0] if isinstance(value, (list, tuple)) and value else value


def adapt(model: nn.Module | ModelAdapter) -> ModelAdapter:
    """The adapter for a model: the course GPT, HF Gemma 3 or HF Llama (an adapter passes through)."""
    if isinstance(model, ModelAdapter):
        return model
    from llmcourse.models.gpt import GPT

    if isinstance(model, GPT):
        return GPTAdapter(model)
    kind = getattr(getattr(model, "config", None), "model_type", None)
    if kind in ("gemma3_text", "gemma3"):
        return Gemma3Adapter(model)
    if kind == "llama":
        return LlamaAdapter(model)
    raise TypeError(f"no engine adapter for {type(model).__name__} (model_type {kind!r}); the engine serves the "
                    "course GPT, Gemma 3 and Llama models")


@torch.no_grad()
def run_model(adapter: ModelAdapter, tokens: torch.Tensor, positions: torch.Tensor, attend,
              select: torch.Tensor | None = None) -> torch.Tensor:
    """Run the flat token batch through every layer; `attend(layer, q, k, v) -> (N, H * hd)`.

    Returns logits (N, V), or only for the rows in `select` (a prefill needs the last
    token's logits only, and the output head is the widest matrix of a small model).
    """
    x = adapter.embed(tokens, positions)
    for layer in range(adapter.n_layer):
        q, k, v = adapter.qkv(layer, x, positions)
        x = adapter.finish(layer, x, attend(layer, q, k, v))
    return adapter.logits(x if select is None else x[select])
