"""Neurons, layers and MLPs made of scalar `Value`s (after micrograd's nn.py).

A neuron computes act(w . x + b) with one weight per input. A layer is a list of
neurons that read the same inputs; an MLP is a list of layers, each feeding the
next. Every weight is a `Value`, so the loss of any computation on an MLP can be
back-propagated to all of them, and `parameters()` lists them for the optimiser.

Weights start uniform in [-1, 1] from `rng` (a `random.Random`), so a model built
with the same seed is the same model. The last layer of an MLP is linear (no
nonlinearity): its outputs are scores, to be fed to a loss.
"""

from __future__ import annotations

import random
from typing import Sequence

from llmcourse.autograd.engine import Number, Value


class Module:
    """Anything with parameters: `parameters()` lists them, `zero_grad()` resets their grads."""

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        return []


class Neuron(Module):
    """act(sum_i w_i x_i + b), with act = tanh, relu or none."""

    def __init__(self, nin: int, nonlin: str | None = "tanh", rng: random.Random | None = None) -> None:
        if nin < 1:
            raise ValueError(f"a neuron needs at least one input, not {nin}")
        if nonlin not in ("tanh", "relu", None):
            raise ValueError(f"nonlin must be 'tanh', 'relu' or None, not {nonlin!r}")
        rng = rng or random.Random()
        self.w = [Value(rng.uniform(-1, 1), label="w") for _ in range(nin)]
        self.b = Value(0.0, label="b")
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Value | Number]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"this neuron takes {len(self.w)} inputs, got {len(x)}")
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        if self.nonlin == "tanh":
            return act.tanh()
        if self.nonlin == "relu":
            return act.relu()
        return act

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self) -> str:
        return f"{self.nonlin or 'linear'} Neuron({len(self.w)})"


class Layer(Module):
    """`nout` neurons reading the same `nin` inputs; returns a list (or one Value if nout == 1)."""

    def __init__(self, nin: int, nout: int, nonlin: str | None = "tanh", rng: random.Random | None = None) -> None:
        if nout < 1:
            raise ValueError(f"a layer needs at least one neuron, not {nout}")
        rng = rng or random.Random()
        self.neurons = [Neuron(nin, nonlin, rng) for _ in range(nout)]

    def __call__(self, x: Sequence[Value | Number]) -> Value | list[Value]:
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons[:2])}{', ...' if len(self.neurons) > 2 else ''}] x{len(self.neurons)}"


class MLP(Module):
    """Layers of sizes nin -> nouts[0] -> ... -> nouts[-1]; hidden layers use `nonlin`, the last is linear."""

    def __init__(self, nin: int, nouts: Sequence[int], nonlin: str = "tanh", seed: int | None = None,
                 rng: random.Random | None = None) -> None:
        if not nouts:
            raise ValueError("an MLP needs at least one layer size in nouts")
        rng = rng or random.Random(seed)
        sizes = [nin, *nouts]
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin if i < len(nouts) - 1 else None, rng)
                       for i in range(len(nouts))]

    def __call__(self, x: Sequence[Value | Number]) -> Value | list[Value]:
        out: Value | list[Value] | Sequence[Value | Number] = x
        for layer in self.layers:
            out = layer(out if isinstance(out, (list, tuple)) else [out])
        return out  # type: ignore[return-value]

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
