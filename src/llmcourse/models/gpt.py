"""A GPT in one file: the decoder-only transformer of weeks 2-6.

    tokens (B, T)
      -> token embedding (+ position embedding, for learned/sinusoidal positions)
      -> n_layer x Block:   x = x + attention(norm1(x))     tokens talk to earlier tokens
                            x = x + mlp(norm2(x))           each token thinks on its own
      -> final norm -> lm_head (tied to the token embedding) -> logits (B, T, vocab)

Trained to predict token t+1 from tokens 0..t with cross-entropy. Norms come *before*
each sublayer (pre-norm, as in GPT-2 and every modern LLM), so the residual stream `x`
is a clean highway from the embedding to the output.

One config switches between model families:

    GPTConfig(...)                      GPT-2: LayerNorm, learned positions, GELU, biases
    GPTConfig.llama_style(...)          Llama: RMSNorm, RoPE, SwiGLU, no biases, (GQA)
    fields norm / positions / activation / n_kv_head / attn_impl mix and match.

Attention is `llmcourse.nn.MultiHeadAttention`, which by default runs the from-scratch
`scaled_dot_product_attention` of notebook 2.1; `attn_impl="sdpa"` (or
`model.set_attn_impl("sdpa")`) switches to torch's fused kernel for speed, with the same
numbers.

Context length. `block_size` is the longest sequence the model accepts; `forward` raises
for longer input. `generate()` keeps going past it by *cropping*: before each step the
context is cut to its last `block_size` tokens, so the model forgets the beginning.
Models without learned positions (sinusoidal, rope, alibi, none) can be evaluated on
longer sequences after `extend_context(n)` (the length-extrapolation experiment of 3.1).

KV cache (3.2). `forward(idx, cache=c, start_pos=p)` runs the T new tokens at positions
p..p+T-1. Each attention layer calls `c.update(layer_idx, k, v)` with its new keys and
values (B, n_kv_head, T, head_dim) and attends over what it returns (the cache's keys
and values so far, which must then hold p + T positions). Positions (learned,
sinusoidal, RoPE, ALiBi) and the causal mask use `start_pos`, so prefill (p = 0, the
prompt) and one-token steps (T = 1) give the same logits as a full forward.

Interop (`llmcourse.models.interop`): `GPT.from_hf(GPT2LMHeadModel)` copies Hugging Face
GPT-2 weights (equal logits); `model.to_hf()` exports a Llama-style model to
`LlamaForCausalLM` (equal logits), which week 6 turns into GGUF.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.inference.sampling import check_generation_args, finish_eos, sample_next
from llmcourse.models.common import IGNORE, INIT_STD, init_weights
from llmcourse.nn.attention import causal_mask
from llmcourse.nn.feedforward import ACTIVATIONS, FeedForward, matched_hidden_size
from llmcourse.nn.mha import KVCacheLike, MultiHeadAttention
from llmcourse.nn.norms import make_norm
from llmcourse.nn.positions import LearnedPositions, RotaryEmbedding, alibi_bias, sinusoidal_positions

__all__ = ["GPT", "GPTConfig", "next_token_loss"]

POSITIONS = ("learned", "sinusoidal", "rope", "alibi", "none")
# Sinusoidal vectors have entries of size ~1 (RMS 1/sqrt(2)), fifty times our embeddings at
# initialisation: added as they are, positions drown the tokens and training stalls. The
# original Transformer multiplied its embeddings by sqrt(d_model); we scale the fixed table
# down to the embeddings' size instead, which keeps the tied output head unchanged.
SINUSOIDAL_SCALE = INIT_STD / math.sqrt(0.5)
NORMS = ("layernorm", "rmsnorm")


@dataclass
class GPTConfig:
    """Everything that defines a GPT's shape. Defaults: a small GPT-2-style character model."""

    vocab_size: int = 65
    block_size: int = 128  # longest context (tokens)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    n_kv_head: int | None = None  # None = n_head (plain multi-head); fewer = grouped-query attention
    ffn_hidden: int | None = None  # None = 4 * n_embd, or the parameter-matched 8/3 * n_embd for swiglu
    dropout: float = 0.0
    bias: bool = True  # biases in linear layers and LayerNorm
    norm: str = "layernorm"  # layernorm | rmsnorm
    norm_eps: float = 1e-5
    positions: str = "learned"  # learned | sinusoidal | rope | alibi | none
    rope_theta: float = 10000.0
    activation: str = "gelu"  # relu | gelu | gelu_tanh | swiglu
    tie_weights: bool = True  # lm_head shares the token embedding matrix
    attn_impl: str = "ours"  # ours (notebook 2.1's function) | sdpa (torch's fused kernel)

    def __post_init__(self) -> None:
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if self.ffn_hidden is None:
            self.ffn_hidden = matched_hidden_size(self.n_embd, self.activation) if self.activation in ACTIVATIONS else 0
        for name, value, allowed in (("norm", self.norm, NORMS), ("positions", self.positions, POSITIONS),
                                     ("activation", self.activation, ACTIVATIONS),
                                     ("attn_impl", self.attn_impl, ("ours", "sdpa"))):
            if value not in allowed:
                raise ValueError(f"GPTConfig.{name}={value!r} is not one of {', '.join(allowed)}")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "n_kv_head"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head} (head_dim = n_embd / n_head)")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_kv_head={self.n_kv_head} must divide n_head={self.n_head} for grouped-query attention")
        if self.positions == "rope" and self.head_dim % 2:
            raise ValueError(f"rope needs an even head_dim, got {self.head_dim} (n_embd / n_head)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def llama_style(cls, **overrides) -> GPTConfig:
        """A Llama-style config: RMSNorm, RoPE, SwiGLU, no biases; pass n_kv_head for GQA."""
        kw = dict(norm="rmsnorm", positions="rope", activation="swiglu", bias=False, norm_eps=1e-5)
        kw.update(overrides)
        return cls(**kw)

    def replace(self, **changes) -> GPTConfig:
        """A copy with some fields changed (ffn_hidden is recomputed unless given)."""
        if "activation" in changes or "n_embd" in changes:
            changes.setdefault("ffn_hidden", None)
        return dataclasses.replace(self, **changes)


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = IGNORE) -> torch.Tensor:
    """Cross-entropy of next-token prediction: -mean log p(target), over all positions.

    logits (B, T, V), targets (B, T); positions whose target is `ignore_index` do not count.
    log_softmax subtracts the row maximum first, so large logits do not overflow.
    """
    keep = targets != ignore_index  # (B, T)
    if targets.is_floating_point():
        raise TypeError(f"targets must be integer token ids, got dtype {targets.dtype}")
    bad = keep & ((targets < 0) | (targets >= logits.shape[-1]))
    if bad.any():
        value = int(targets[bad][0])
        raise ValueError(f"target {value} is not a token id in [0, {logits.shape[-1]}); mark positions to ignore "
                         f"with {ignore_index} (ignore_index), as torch's cross_entropy does — not -1")
    log_probs = logits.float().log_softmax(dim=-1)  # (B, T, V)
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T) log p(target)
    return -(picked * keep).sum() / keep.sum().clamp(min=1)


class Block(nn.Module):
    """One pre-norm transformer block: attention then MLP, each added to the residual stream."""

    def __init__(self, config: GPTConfig, layer_idx: int = 0) -> None:
        super().__init__()
        c = config
        self.layer_idx = layer_idx
        self.norm1 = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.attn = MultiHeadAttention(c.n_embd, c.n_head, c.n_kv_head, bias=c.bias, dropout=c.dropout,
                                       attn_impl=c.attn_impl)
        self.norm2 = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.mlp = FeedForward(c.n_embd, c.ffn_hidden, c.activation, bias=c.bias, dropout=c.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = True,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None, cache: KVCacheLike | None = None) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C); by default causal self-attention over the T tokens."""
        x = x + self.attn(self.norm1(x), mask=mask, is_causal=is_causal, rope=rope, cache=cache,
                          layer_idx=self.layer_idx)  # (B, T, C)
        x = x + self.mlp(self.norm2(x))  # (B, T, C)
        return x


class GPT(nn.Module):
    """A decoder-only transformer language model. `forward(idx, targets)` -> (logits, loss)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos_emb = LearnedPositions(c.block_size, c.n_embd) if c.positions == "learned" else None
        self.rotary = RotaryEmbedding(c.head_dim, c.rope_theta) if c.positions == "rope" else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c, i) for i in range(c.n_layer))
        self.norm_f = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.tok_emb.weight  # one matrix reads and writes tokens
        self.apply(init_weights)  # GPT-2's normal(0, 0.02), zero biases
        for name, p in self.named_parameters():  # GPT-2: shrink the layers that write into the residual stream
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, mean=0.0, std=INIT_STD / math.sqrt(2 * c.n_layer))

    # ------------------------------------------------------------------ bookkeeping
    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; by default without position and (untied) token embeddings."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            if self.pos_emb is not None:
                n -= self.pos_emb.table.weight.numel()
            if not self.config.tie_weights:
                n -= self.tok_emb.weight.numel()
        return n

    def set_attn_impl(self, impl: str) -> GPT:
        """Switch every layer between "ours" (notebook 2.1) and "sdpa" (torch's fused kernel)."""
        if impl not in ("ours", "sdpa"):
            raise ValueError(f"attn_impl must be 'ours' or 'sdpa', got {impl!r}")
        self.config.attn_impl = impl
        for block in self.blocks:
            block.attn.attn_impl = impl
        return self

    def extend_context(self, block_size: int) -> GPT:
        """Accept sequences up to `block_size` (for evaluating length extrapolation).

        Only for positions that exist at any length (sinusoidal, rope, alibi, none): learned
        positions have no vector beyond the table they were trained with.
        """
        if self.config.positions == "learned" and block_size > self.config.block_size:
            raise ValueError("learned positions cannot extend past their table "
                             f"({self.config.block_size}); use sinusoidal, rope, alibi or none")
        self.config.block_size = block_size
        return self

    # ------------------------------------------------------------------ forward
    def _attention_mask(self, T: int, start_pos: int, attention_mask: torch.Tensor | None,
                        device: torch.device) -> tuple[torch.Tensor | None, bool]:
        """(mask, is_causal) for T queries at positions start_pos.. over S = start_pos + T keys."""
        S = start_pos + T
        pad = None
        if attention_mask is not None:
            if attention_mask.dim() != 2 or attention_mask.shape[1] != S:
                raise ValueError(f"attention_mask must be (batch, {S}) of 0/1 covering all keys "
                                 f"(cached and new), got shape {tuple(attention_mask.shape)}")
            pad = attention_mask.to(device=device).bool()[:, None, None, :]  # (B, 1, 1, S)
        if self.config.positions == "alibi":
            bias = alibi_bias(self.config.n_head, T, S, offset=start_pos, device=device)  # (H, T, S)
            bias = bias.masked_fill(~causal_mask(T, S, offset=start_pos, device=device), float("-inf"))
            if pad is not None:
                bias = bias.unsqueeze(0).masked_fill(~pad, float("-inf"))  # (B, H, T, S)
            return bias, False
        return pad, True

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *,
                attention_mask: torch.Tensor | None = None, cache: KVCacheLike | None = None,
                start_pos: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids -> (logits (B, T, vocab), loss or None).

        targets (B, T): next-token ids; -100 entries are ignored in the loss.
        attention_mask (B, start_pos + T): 1 = real token, 0 = padding (keys only).
        cache, start_pos: KV-cache decoding (see the module docstring).
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must be (batch, length) token ids, got shape {tuple(idx.shape)}; "
                             "add a batch dimension with idx[None]")
        B, T = idx.shape
        if B == 0 or T == 0:
            raise ValueError(f"idx is empty (shape {tuple(idx.shape)}): give at least one sequence of at least "
                             "one token")
        if start_pos + T > self.config.block_size:
            raise ValueError(
                f"sequence of {start_pos + T} tokens is longer than block_size={self.config.block_size}; "
                "crop it to the last block_size tokens (generate() does), train with a larger block_size, "
                "or for non-learned positions call model.extend_context(n)"
            )
        if int(idx.min()) < 0 or int(idx.max()) >= self.config.vocab_size:
            raise ValueError(f"token ids must be in [0, {self.config.vocab_size}), got "
                             f"[{int(idx.min())}, {int(idx.max())}]")
        device = idx.device
        positions = torch.arange(start_pos, start_pos + T, device=device)  # (T,)
        x = self.tok_emb(idx)  # (B, T, C)
        if self.config.positions == "learned":
            x = x + self.pos_emb(positions)  # (T, C) broadcasts over the batch
        elif self.config.positions == "sinusoidal":
            x = x + SINUSOIDAL_SCALE * sinusoidal_positions(positions, self.config.n_embd).to(x.dtype)
        x = self.drop(x)
        rope = self.rotary(positions, dtype=x.dtype) if self.rotary is not None else None  # (T, hd) x2
        mask, is_causal = self._attention_mask(T, start_pos, attention_mask, device)
        for block in self.blocks:
            x = block(x, mask, is_causal, rope, cache)  # (B, T, C)
        x = self.norm_f(x)
        logits = self.lm_head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise ValueError(f"targets must have idx's shape {tuple(idx.shape)}, got {tuple(targets.shape)}")
            loss = next_token_loss(logits, targets)
        return logits, loss

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 seed: int | None = None, generator: torch.Generator | None = None,
                 eos_token_id: int | None = None) -> torch.Tensor:
        """Append `max_new_tokens` sampled tokens to idx (B, T); returns (B, T + new).

        temperature 0 is greedy; top_k keeps the k most likely tokens. `seed` (or a
        `generator`) makes sampling reproducible without touching the global RNG.
        Context longer than block_size is cropped to its last block_size tokens before each
        step. Rows that produced `eos_token_id` are padded with it; generation stops early
        when every row has. Runs in eval mode (dropout off) and restores the mode after.
        """
        if idx.dim() != 2 or idx.shape[1] == 0 or idx.shape[0] == 0:
            raise ValueError(f"idx must be (batch, length) token ids with batch >= 1 and length >= 1, got shape "
                             f"{tuple(idx.shape)}")
        check_generation_args(max_new_tokens, temperature, top_k)
        if seed is not None:
            generator = torch.Generator(device=idx.device).manual_seed(seed)
        was_training = self.training
        self.eval()
        done = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            context = idx[:, -self.config.block_size:]  # crop: the model sees at most block_size tokens
            logits, _ = self(context)
            next_id = sample_next(logits[:, -1, :], temperature, top_k, generator)  # (B, 1)
            next_id, all_done = finish_eos(next_id, done, eos_token_id)
            idx = torch.cat([idx, next_id], dim=1)
            if all_done:
                break
        self.train(was_training)
        return idx

    # ------------------------------------------------------------------ saving
    def save(self, folder: str | os.PathLike) -> Path:
        """Write config.json and model.safetensors into `folder` (created if needed).

        Each file is written under a temporary name and renamed when complete, so a crash
        never leaves a half-written checkpoint in place of a good one.
        """
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        if self.config.tie_weights:
            state.pop("lm_head.weight")  # the same tensor as tok_emb.weight; safetensors stores it once
        tmp_weights, tmp_config = folder / ".model.safetensors.tmp", folder / ".config.json.tmp"
        try:
            save_file(state, str(tmp_weights))
            tmp_config.write_text(json.dumps(dataclasses.asdict(self.config), indent=1))
            os.replace(tmp_weights, folder / "model.safetensors")
            os.replace(tmp_config, folder / "config.json")
        finally:
            tmp_weights.unlink(missing_ok=True)
            tmp_config.unlink(missing_ok=True)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike, device: str | torch.device = "cpu") -> GPT:
        """A GPT saved with `save()` (safetensors: no code runs while loading).

        A damaged checkpoint (a truncated weights file, a config.json with fields a
        GPTConfig does not have, weights of another shape) is a ValueError that names the
        file and says how to make it again.
        """
        from safetensors.torch import load_file

        folder = Path(folder)
        config_file, weights_file = folder / "config.json", folder / "model.safetensors"
        if not config_file.is_file() or not weights_file.is_file():
            raise FileNotFoundError(f"{folder} does not hold a saved GPT (config.json + model.safetensors)")
        redo = "re-save the model with model.save(folder), or re-run the notebook that made it"
        try:
            fields = json.loads(config_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{config_file} is not valid JSON ({err}); {redo}") from None
        if not isinstance(fields, dict):
            raise ValueError(f"{config_file} should hold a JSON object of GPTConfig fields, got "
                             f"{type(fields).__name__}; {redo}")
        known = {f.name for f in dataclasses.fields(GPTConfig)}
        foreign = sorted(set(fields) - known)
        if foreign:
            raise ValueError(f"{config_file} has fields a GPTConfig does not have: {', '.join(foreign)} (known: "
                             f"{', '.join(sorted(known))}); was it written by another library? {redo}")
        try:
            model = cls(GPTConfig(**fields))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{config_file} describes no valid GPT: {err}; {redo}") from None
        try:
            state = load_file(str(weights_file))
        except Exception as err:  # safetensors' SafetensorError (truncated or not a safetensors file), OSError
            raise ValueError(f"{weights_file} cannot be read ({type(err).__name__}: {err}): the file is damaged or "
                             f"incomplete (a save that was interrupted?); {redo}") from None
        if model.config.tie_weights and "tok_emb.weight" in state:
            state["lm_head.weight"] = state["tok_emb.weight"]
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise ValueError(f"{weights_file} does not fit the model of {config_file.name}: "
                             f"{' '.join(line.strip() for line in first[:3])}; {redo}") from None
        return model.to(device)

    # ------------------------------------------------------------------ Hugging Face interop
    @classmethod
    def from_hf(cls, hf_model: nn.Module, attn_impl: str = "ours") -> GPT:
        """A GPT with the weights of a Hugging Face `GPT2LMHeadModel` (see `llmcourse.models.interop`)."""
        from llmcourse.models.interop import gpt_from_hf

        return gpt_from_hf(hf_model, attn_impl)

    def to_hf(self) -> nn.Module:
        """This Llama-style GPT as a Hugging Face `LlamaForCausalLM` (see `llmcourse.models.interop`)."""
        from llmcourse.models.interop import gpt_to_hf

        return gpt_to_hf(self)
