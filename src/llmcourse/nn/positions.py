"""Positional information: sinusoidal, learned, rotary (RoPE) and ALiBi.

Attention by itself is blind to order: permute the tokens and each output is permuted the
same way. A language model needs to know *where* each token is. Four classic answers:

* **Sinusoidal** (Vaswani et al. 2017): add a fixed vector to each token embedding,
  PE[pos, 2i] = sin(pos / base^(2i/d)), PE[pos, 2i+1] = cos(pos / base^(2i/d)). Many
  frequencies, like the hands of a clock; defined for any position.
* **Learned** (GPT-2, BERT): an embedding table with one trainable vector per position.
  Simple and strong, but it has nothing to say beyond the last row it was trained with.
* **RoPE**, rotary embeddings (Su et al. 2021; Llama, Gemma, Qwen): do not add anything
  to the embeddings; instead rotate every (query, key) pair of features by an angle
  proportional to the position. The dot product of a rotated query at position m and a
  rotated key at position n then depends only on m - n: attention sees *relative* positions.
* **ALiBi** (Press et al. 2022; BLOOM, MPT): no embedding at all; add a bias
  -slope_h * (i - j) to the attention score of query i and key j. Each head h has its own
  slope, so some heads look far back and others only nearby. Extrapolates to lengths longer
  than those seen in training.

Conventions that matter when loading real weights:
* our RoPE uses the "rotate half" layout of Hugging Face's Llama (feature i pairs with
  i + d/2, not with i + 1), so exported weights work in `LlamaForCausalLM` unchanged;
* our ALiBi slopes are BLOOM's (also for head counts that are not powers of two). BLOOM adds
  slope * j (key position only); that differs from -slope * (i - j) by a constant per query
  row, which softmax ignores, so the attention weights are identical.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "LearnedPositions", "RotaryEmbedding", "alibi_bias", "alibi_slopes", "apply_rotary", "llama3_inv_freq",
    "rope", "rope_inv_freq", "rotate_half", "sinusoidal_positions",
]


# ----------------------------------------------------------------------------- sinusoidal
def sinusoidal_positions(positions: torch.Tensor | int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Sinusoidal position vectors: (T,) positions (or an int T for 0..T-1) -> (T, dim).

    Even features are sines, odd features cosines, of angle pos / base^(2i/dim).
    """
    if isinstance(positions, int):
        positions = torch.arange(positions)
    pos = positions.float().unsqueeze(-1)  # (T, 1)
    i = torch.arange(0, dim, 2, dtype=torch.float32, device=pos.device)  # (dim/2,) = 2i
    angle = pos / base ** (i / dim)  # (T, ceil(dim/2))
    pe = torch.zeros(*positions.shape, dim, device=pos.device)  # (T, dim)
    pe[..., 0::2] = torch.sin(angle)
    pe[..., 1::2] = torch.cos(angle[..., : dim // 2])
    return pe


# ----------------------------------------------------------------------------- learned
class LearnedPositions(nn.Module):
    """One trainable vector per position 0 .. max_len-1: (T,) positions -> (T, dim)."""

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(max_len, dim)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        if positions.numel() and int(positions.max()) >= self.table.num_embeddings:
            raise ValueError(
                f"position {int(positions.max())} has no learned embedding (table size "
                f"{self.table.num_embeddings}): learned positions cannot go past the training context"
            )
        return self.table(positions)  # (T, dim)


# ----------------------------------------------------------------------------- RoPE
def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension: a 90 degree turn of each pair."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys (B, H, T, hd) by position: x*cos + rotate_half(x)*sin.

    cos, sin: (T, hd) or (B, T, hd) from `RotaryEmbedding`; they broadcast over heads.
    """
    if cos.dim() == 3:  # (B, T, hd) -> (B, 1, T, hd)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return (x * cos + rotate_half(x) * sin).to(x.dtype)


def rope_inv_freq(head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """RoPE's frequencies (hd/2,): pair i turns by base^(-2i/hd) radians per position."""
    if head_dim % 2:
        raise ValueError(f"RoPE rotates pairs of features: head_dim must be even, got {head_dim}")
    return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))  # (hd/2,)


def rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0,
         inv_freq: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate queries or keys x (B, H, T, hd) by their positions (T,): RoPE in one function.

    Feature i is paired with feature i + hd/2 ("rotate half", Hugging Face Llama's layout)
    and the pair turns by angle position * inv_freq[i]. `inv_freq` defaults to
    `rope_inv_freq(hd, base)`; pass scaled frequencies (`llama3_inv_freq`) for long contexts.
    """
    hd = x.shape[-1]
    inv_freq = rope_inv_freq(hd, base) if inv_freq is None else inv_freq
    angles = positions.float()[:, None] * inv_freq.to(positions.device)[None, :]  # (T, hd/2)
    emb = torch.cat([angles, angles], dim=-1)  # (T, hd): the same angle for i and i + hd/2
    return apply_rotary(x, emb.cos().to(x.dtype), emb.sin().to(x.dtype))


def llama3_inv_freq(head_dim: int, base: float = 10000.0, factor: float = 8.0, low_freq_factor: float = 1.0,
                    high_freq_factor: float = 4.0, original_max_position: int = 8192) -> torch.Tensor:
    """Llama 3.1's RoPE frequencies for a context `factor` times longer than trained (hd/2,).

    A pair whose wavelength (2 pi / frequency, in positions) is short compared with the
    training context has turned many times during training: every angle it will meet was
    seen, so it is kept. A pair whose wavelength exceeds the context never completed a turn:
    past the context it would show angles never seen, so it is slowed down by `factor`
    (position interpolation). In between, the two are blended smoothly:

        wavelen < original / high_freq_factor:  keep
        wavelen > original / low_freq_factor:   inv_freq / factor
        otherwise: s = (original / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
                   (1 - s) * inv_freq / factor + s * inv_freq
    """
    if factor <= 0 or high_freq_factor <= low_freq_factor:
        raise ValueError(f"need factor > 0 and high_freq_factor > low_freq_factor, got {factor}, "
                         f"{high_freq_factor}, {low_freq_factor}")
    inv_freq = rope_inv_freq(head_dim, base)  # (hd/2,)
    wavelen = 2 * math.pi / inv_freq  # positions per full turn
    low_freq_wavelen = original_max_position / low_freq_factor
    high_freq_wavelen = original_max_position / high_freq_factor
    smooth = (original_max_position / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, blended)
    return torch.where(wavelen < high_freq_wavelen, inv_freq, out)


class RotaryEmbedding(nn.Module):
    """cos/sin tables for rotary embeddings; the same numbers as HF Llama's `LlamaRotaryEmbedding`.

    Pair i of a head (features i and i + hd/2) turns at frequency base^(-2i/hd): the first
    pairs spin fast (fine, local position), the last ones slowly (coarse, far position).
    `inv_freq` is a buffer: assign scaled frequencies (`llama3_inv_freq`) to stretch the context.
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.base = base
        self.register_buffer("inv_freq", rope_inv_freq(head_dim, base), persistent=False)  # (hd/2,)

    def forward(self, positions: torch.Tensor, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """positions (T,) or (B, T) -> (cos, sin), each (..., T, hd)."""
        freqs = positions.float().unsqueeze(-1) * self.inv_freq.to(positions.device)  # (..., T, hd/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (..., T, hd): the same angle for i and i + hd/2
        return emb.cos().to(dtype), emb.sin().to(dtype)


# ----------------------------------------------------------------------------- ALiBi
def alibi_slopes(n_heads: int) -> torch.Tensor:
    """Per-head slopes (n_heads,): a geometric sequence 2^(-8/n), 2^(-16/n), ... (BLOOM's rule).

    For a head count that is not a power of two, take the slopes of the nearest lower power
    of two and interleave extra slopes from the next power of two (as the ALiBi paper and
    BLOOM do).
    """
    if n_heads < 1:
        raise ValueError(f"n_heads must be positive, got {n_heads}")
    closest = 2 ** math.floor(math.log2(n_heads))
    base = 2.0 ** (-(2.0 ** -(math.log2(closest) - 3)))  # = 2^(-8/closest)
    slopes = [base ** p for p in range(1, closest + 1)]
    if closest != n_heads:
        extra = 2.0 ** (-(2.0 ** -(math.log2(2 * closest) - 3)))  # = 2^(-4/closest)
        slopes += [extra ** p for p in range(1, 2 * (n_heads - closest), 2)]
    return torch.tensor(slopes, dtype=torch.float32)


def alibi_bias(n_heads: int, L: int, S: int | None = None, offset: int | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
    """The additive ALiBi bias (n_heads, L, S): -slope_h * (i + offset - j) for query i, key j.

    By default the L queries are the last L of the S keys (offset = S - L), as in a causal
    model with or without a KV cache. Combine it with a causal mask: future keys (j >
    i + offset) get a positive distance-reversed bias here and must be blocked with -inf.
    """
    S = L if S is None else S
    offset = S - L if offset is None else offset
    slopes = alibi_slopes(n_heads).to(device)  # (H,)
    i = torch.arange(L, device=device).unsqueeze(1) + offset  # (L, 1) absolute query positions
    j = torch.arange(S, device=device).unsqueeze(0)  # (1, S)
    distance = (i - j).float()  # (L, S)
    return -slopes[:, None, None] * distance  # (H, L, S)
