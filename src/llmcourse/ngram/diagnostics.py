"""Looking inside a network while it trains (makemore part 3): activations, gradients, init, learning rate.

A deep stack of tanh layers trains well only when the signal keeps its size on the way
forward and the gradient keeps its size on the way back. Three numbers per layer say
whether it does:

* the **spread of the activations** (std of the tanh outputs): around 0.6-0.8 is healthy;
  near 0 the layer passes nothing on, near 1 it is saturated;
* the **saturation**: the share of tanh outputs with |t| > 0.97, where tanh is flat and
  the gradient 1 - t^2 almost vanishes. A neuron saturated for *every* example is
  **dead**: it never learns again;
* the **update-to-data ratio** of each weight matrix, lr * std(grad) / std(weight): how
  much one step changes it, relative to its size. About 1e-3 is a good pace.

The weights' initial scale decides the first two. `nn.Linear`'s default draws from
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), a std of 1/sqrt(3 fan_in): each tanh layer then
shrinks the signal. `torch.randn` (std 1) makes pre-activations of size sqrt(fan_in):
everything saturates. Kaiming's rule, std = gain / sqrt(fan_in) with tanh's gain 5/3,
keeps the spread layer after layer; the output layer is scaled down so that the first
loss is close to log(V) (a uniform guess) rather than a confident wrong one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DeepMLP", "LayerStats", "TrainStats", "init_default", "init_kaiming", "init_randn", "layer_stats",
           "lr_sweep", "train_with_stats"]

SATURATED = 0.97  # |tanh| above this: the local gradient 1 - t^2 is below 0.06
TANH_GAIN = 5 / 3


class DeepMLP(nn.Module):
    """emb -> [Linear -> (BatchNorm) -> tanh] x n_layers -> Linear: a deep character model.

    Without batch norm (the default) its health depends entirely on the initial scale of
    its weights, which is what the diagnostics look at. `forward(x)` keeps the tanh
    outputs of the last call in `self.acts` (with their gradients after `backward()`).
    """

    def __init__(self, vocab_size: int, block_size: int = 3, n_embd: int = 10, n_hidden: int = 100,
                 n_layers: int = 4, batchnorm: bool = False, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, not {n_layers}")
        self.block_size = block_size
        self.emb = nn.Embedding(vocab_size, n_embd)
        sizes = [block_size * n_embd] + [n_hidden] * n_layers
        self.hidden = nn.ModuleList(nn.Linear(a, b, bias=not batchnorm) for a, b in zip(sizes, sizes[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(n_hidden) for _ in range(n_layers)) if batchnorm else None
        self.out = nn.Linear(n_hidden, vocab_size)
        self.acts: list[torch.Tensor] = []
        with torch.no_grad():  # reproducible default init from `generator` (torch's own rule)
            self.emb.weight.copy_(torch.randn(vocab_size, n_embd, generator=generator))
            for lin in [*self.hidden, self.out]:
                bound = 1 / math.sqrt(lin.in_features)
                lin.weight.copy_(torch.rand(lin.weight.shape, generator=generator) * 2 * bound - bound)
                if lin.bias is not None:
                    lin.bias.copy_(torch.rand(lin.bias.shape, generator=generator) * 2 * bound - bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x).flatten(1)  # (B, T*E)
        self.acts = []
        for i, lin in enumerate(self.hidden):
            h = lin(h)  # (B, H)
            if self.norms is not None:
                h = self.norms[i](h)
            h = torch.tanh(h)
            if h.requires_grad:
                h.retain_grad()  # keep d loss / d activation for the gradient histograms
            self.acts.append(h)
        return self.out(h)  # (B, V)

    @property
    def linears(self) -> list[nn.Linear]:
        return [*self.hidden, self.out]


# ----------------------------------------------------------------------------- initialisations
@torch.no_grad()
def init_default(model: DeepMLP, generator: torch.Generator | None = None) -> DeepMLP:
    """nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights and biases (std 1/sqrt(3 fan_in))."""
    for lin in model.linears:
        bound = 1 / math.sqrt(lin.in_features)
        lin.weight.copy_(torch.rand(lin.weight.shape, generator=generator) * 2 * bound - bound)
        if lin.bias is not None:
            lin.bias.copy_(torch.rand(lin.bias.shape, generator=generator) * 2 * bound - bound)
    return model


@torch.no_grad()
def init_randn(model: DeepMLP, generator: torch.Generator | None = None) -> DeepMLP:
    """Unit-Gaussian weights, no fan-in scaling: pre-activations of size sqrt(fan_in) saturate tanh."""
    for lin in model.linears:
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=generator))
        if lin.bias is not None:
            lin.bias.zero_()
    return model


@torch.no_grad()
def init_kaiming(model: DeepMLP, gain: float = TANH_GAIN, last_scale: float = 0.1,
                 generator: torch.Generator | None = None) -> DeepMLP:
    """Kaiming init for tanh: weights ~ N(0, (gain / sqrt(fan_in))^2), zero biases; last layer x last_scale."""
    for lin in model.linears:
        std = gain / math.sqrt(lin.in_features)
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=generator) * std)
        if lin.bias is not None:
            lin.bias.zero_()
    model.out.weight.mul_(last_scale / gain)  # the output layer is linear (no tanh to compensate for)
    return model


# ----------------------------------------------------------------------------- statistics
@dataclass
class LayerStats:
    """One hidden layer after a forward and backward pass on a batch."""

    layer: int
    act_mean: float
    act_std: float
    saturated: float  # share of |tanh| > SATURATED
    dead: float  # share of neurons saturated for every example of the batch
    grad_std: float  # std of d loss / d activation
    acts: torch.Tensor = field(repr=False)  # (B, H) tanh outputs, for histograms
    grads: torch.Tensor = field(repr=False)  # (B, H) their gradients


def layer_stats(model: DeepMLP, X: torch.Tensor, Y: torch.Tensor) -> tuple[float, list[LayerStats]]:
    """(loss, per-layer statistics) of one forward and backward pass on the batch X, Y.

    Batch norm (if any) uses the batch's statistics; parameter gradients are cleared after.
    """
    model.train()
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(X), Y)
    loss.backward()
    stats = []
    for i, a in enumerate(model.acts):
        t = a.detach()
        sat = t.abs() > SATURATED  # (B, H)
        stats.append(LayerStats(i + 1, t.mean().item(), t.std().item(), sat.float().mean().item(),
                                sat.all(dim=0).float().mean().item(), a.grad.std().item(), t, a.grad.detach()))
    model.zero_grad(set_to_none=True)
    return loss.item(), stats


@dataclass
class TrainStats:
    """What `train_with_stats` recorded: the loss and each weight's log10 update-to-data ratio per step."""

    losses: list[float] = field(default_factory=list)
    update_ratio: list[list[float]] = field(default_factory=list)  # [step][linear layer]


def train_with_stats(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, steps: int, lr: float = 0.1,
                     batch_size: int = 32, generator: torch.Generator | None = None) -> TrainStats:
    """Minibatch SGD on cross-entropy, recording log10(lr * std(grad) / std(weight)) of each matrix."""
    matrices = [p for p in model.parameters() if p.dim() == 2 and p is not getattr(model, "emb").weight]
    out = TrainStats()
    model.train()
    for _ in range(steps):
        ix = torch.randint(0, X.shape[0], (batch_size,), generator=generator)
        loss = F.cross_entropy(model(X[ix]), Y[ix])
        model.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            out.update_ratio.append([math.log10(max(lr * p.grad.std().item() / p.std().item(), 1e-12))
                                     for p in matrices])
            for p in model.parameters():
                p -= lr * p.grad
        out.losses.append(loss.item())
    return out


def lr_sweep(make_model: Callable[[], nn.Module], X: torch.Tensor, Y: torch.Tensor, lrs: Sequence[float],
             steps: int, batch_size: int = 32, seed: int = 0, progress: bool = False) -> list[float]:
    """For each learning rate: train a fresh model (same init, same batches) for `steps` SGD steps.

    Returns the mean minibatch loss of the last quarter of the steps for each rate: too
    small a rate has not got far, too large a one is noisy or diverges (inf), and the best
    sits in between, usually a little below where the loss blows up.
    """
    results = []
    rates = lrs
    if progress:
        from tqdm.auto import tqdm

        rates = tqdm(lrs, desc="learning rates", leave=False)
    for lr in rates:
        torch.manual_seed(seed)
        model = make_model()
        g = torch.Generator().manual_seed(seed)
        losses = train_with_stats(model, X, Y, steps, lr, batch_size, g).losses
        tail = losses[-max(1, steps // 4):]
        mean = sum(tail) / len(tail)
        results.append(mean if math.isfinite(mean) else math.inf)
    return results
