"""The scalar autograd engine against PyTorch on the same MLP, and the cost of Python's cycle collector.

One full-batch training step (forward, backward, SGD update) of MLP(2, [16, 16, 1]) on
two-moons points: micrograd with the cycle collector running, micrograd with it paused
(`gc_paused`, what `fit` does), and the same network as float64 torch tensors.
"""

from __future__ import annotations

import gc

import torch
from sklearn.datasets import make_moons

from llmcourse.autograd import MLP, Value, gc_paused, hinge_loss
from llmcourse.bench import Bench, benchmark


def _micrograd_step(model: MLP, X, y) -> None:
    inputs = [[Value(float(a)), Value(float(b))] for a, b in X]
    loss = hinge_loss([model(x) for x in inputs], [float(t) for t in y], model.parameters())
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= 0.01 * p.grad


def _torch_step(params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> None:
    W1, b1, W2, b2, W3, b3 = params
    h = torch.relu(X @ W1 + b1)  # (N, 16)
    h = torch.relu(h @ W2 + b2)  # (N, 16)
    scores = (h @ W3 + b3)[:, 0]  # (N,)
    loss = torch.relu(1 - y * scores).mean() + 1e-4 * sum((p**2).sum() for p in params)
    for p in params:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= 0.01 * p.grad


@benchmark("micrograd")
def run(b: Bench) -> None:
    for n in (30, 100):
        X, y01 = make_moons(n_samples=n, noise=0.1, random_state=1)
        y = 2 * y01 - 1
        model = MLP(2, [16, 16, 1], nonlin="relu", seed=0)
        gc.enable()
        b.measure(f"micrograd step, {n} points, gc running", lambda: _micrograd_step(model, X, y), repeats=5,
                  group=f"{n} points")

        def paused() -> None:
            with gc_paused():
                _micrograd_step(model, X, y)

        b.measure(f"micrograd step, {n} points, gc paused", paused, repeats=5, group=f"{n} points")
        g = torch.Generator().manual_seed(0)
        params = [(torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
                  for shape in [(2, 16), (16,), (16, 16), (16,), (16, 1), (1,)]]
        tX, ty = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
        b.measure(f"torch step, {n} points", lambda: _torch_step(params, tX, ty), repeats=20, group=f"{n} points")
        b.ratio(f"gc running / paused, {n} points", f"micrograd step, {n} points, gc running",
                f"micrograd step, {n} points, gc paused")
        b.ratio(f"micrograd (paused) / torch, {n} points", f"micrograd step, {n} points, gc paused",
                f"torch step, {n} points")
    b.note("one step = forward over all points, hinge loss + L2, backward, SGD update; torch in float64 on CPU")
