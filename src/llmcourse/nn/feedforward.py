"""The feed-forward (MLP) sublayer of a transformer block, in three flavours.

Attention mixes information *between* tokens; the feed-forward network then processes
each token on its own: widen (d -> h), apply a nonlinearity, narrow back (h -> d).
About two thirds of a transformer's parameters live here.

* **ReLU** (the original Transformer):  down(relu(up(x)))
* **GELU** (GPT-2, BERT): a smooth ReLU, x * Phi(x). "gelu_tanh" is the tanh approximation
  GPT-2 was trained with (Hugging Face calls it "gelu_new").
* **SwiGLU** (Llama, PaLM, Gemma's GeGLU cousin): a *gated* unit with two input
  projections, down(silu(gate(x)) * up(x)). The gate decides, per hidden unit, how much of
  `up(x)` passes through.

SwiGLU has three weight matrices instead of two, so at the same hidden width it has 1.5x
the parameters. To compare fairly we shrink its hidden width to 2/3:
`matched_hidden_size(d, "swiglu")` = round(8d/3) against 4d for ReLU/GELU, which is how
Llama sizes its MLP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ACTIVATIONS", "FeedForward", "matched_hidden_size", "swiglu"]

ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "swiglu")


def matched_hidden_size(d_model: int, activation: str, expansion: int = 4, multiple_of: int = 1) -> int:
    """Hidden width giving (about) the parameters of a 2-matrix MLP of width expansion*d_model.

    relu/gelu: expansion * d_model. swiglu (3 matrices): 2/3 of that, rounded to a multiple
    of `multiple_of` (Llama uses 256 for hardware-friendly shapes; 1 matches most closely).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; use one of {', '.join(ACTIVATIONS)}")
    hidden = expansion * d_model
    if activation == "swiglu":
        hidden = round(2 * hidden / 3)
        hidden = max(multiple_of, multiple_of * round(hidden / multiple_of))
    return hidden


def swiglu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    """The SwiGLU MLP on weights in `nn.Linear` layout (out, in): down(silu(x W_g^T) * x W_u^T)."""
    return F.linear(F.silu(F.linear(x, w_gate)) * F.linear(x, w_up), w_down)  # (..., d)


class FeedForward(nn.Module):
    """Position-wise MLP: (B, T, d) -> (B, T, d) with activation relu | gelu | gelu_tanh | swiglu.

    Weights: `up` (d -> h) and `down` (h -> d), plus `gate` (d -> h) for swiglu.
    """

    def __init__(self, d_model: int, hidden: int | None = None, activation: str = "gelu",
                 bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; use one of {', '.join(ACTIVATIONS)}")
        hidden = hidden or matched_hidden_size(d_model, activation)
        self.activation = activation
        self.up = nn.Linear(d_model, hidden, bias=bias)
        self.gate = nn.Linear(d_model, hidden, bias=bias) if activation == "swiglu" else None
        self.down = nn.Linear(hidden, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, T, d)
        if self.activation == "swiglu":
            h = F.silu(self.gate(x)) * self.up(x)  # (B, T, h)
        elif self.activation == "relu":
            h = F.relu(self.up(x))
        elif self.activation == "gelu":
            h = F.gelu(self.up(x))
        else:  # gelu_tanh, GPT-2's approximation
            h = F.gelu(self.up(x), approximate="tanh")
        return self.dropout(self.down(h))  # (B, T, d)
